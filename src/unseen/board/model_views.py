"""What a stored model *is*, for people: coefficients by feature name, trees, rounds; not array shapes.

Each party's board reads only the model parts its own node saved (``models/<job>/<component>/<slot>``), so a
party sees its own coefficients and never another's: the guest's hetero LR part holds the guest's weights and
intercept, a host's holds that host's weights. A SecureBoost guest knows its own splits by feature name and a
host's only as ``(host, split id)``; a host knows which of its own features and thresholds those ids stand for.
The horizontal aggregator's part carries the per-round history it kept.

Arrays are read with ``allow_pickle=False`` from files at most ``ARRAYS_READ_MAX`` bytes, and at most
``VALUES_SHOWN_MAX`` numbers are shown, so a damaged or huge file cannot stall the page.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ARRAYS_READ_MAX = 16 << 20
VALUES_SHOWN_MAX = 2000
TREES_DRAWN_MAX = 10


def number(value: object) -> float | None:
    """``value`` as a float when it is a finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def read_arrays(slot: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of a part's ``arrays.npz``, if small enough; missing or damaged ones are left out."""
    path = slot / "arrays.npz"
    found: dict[str, np.ndarray] = {}
    try:
        if path.stat().st_size > ARRAYS_READ_MAX:
            return found
        with np.load(path, allow_pickle=False) as archive:
            for name in names:
                if name in archive.files:
                    array = archive[name]
                    if array.size <= VALUES_SHOWN_MAX * 10:
                        found[name] = array
    except (OSError, ValueError, zipfile.BadZipFile):
        return {}
    return found


def _names(meta: dict[str, Any]) -> list[str]:
    names = meta.get("feature_names")
    return [str(n) for n in names] if isinstance(names, list) else []


def hetero_lr(meta: dict[str, Any], slot: Path) -> dict[str, Any]:
    """This party's coefficients by feature name, its intercept (the guest's), iterations and convergence."""
    arrays = read_arrays(slot, ("coef", "intercept"))
    names = _names(meta)
    coef = arrays.get("coef")
    rows: list[dict[str, Any]] = []
    if coef is not None and coef.ndim == 1:
        values = [float(v) for v in coef[:VALUES_SHOWN_MAX]]
        labels = names if len(names) == len(coef) else [f"x{i}" for i in range(len(coef))]
        rows = [{"feature": f, "weight": w} for f, w in zip(labels, values, strict=False)]
        rows.sort(key=lambda r: -abs(r["weight"]))
    intercept = arrays.get("intercept")
    losses = meta.get("loss_history")
    history = [v for v in losses if number(v) is not None] if isinstance(losses, list) else []
    return {
        "kind": "hetero_lr",
        "role": str(meta.get("role", "")),
        "iterations": meta.get("n_iter"),
        "converged": meta.get("converged") is True,
        "intercept": float(intercept.ravel()[0]) if intercept is not None and intercept.size else None,
        "coefficients": rows,
        "loss_history": history[:VALUES_SHOWN_MAX],
    }


def homo_nn(meta: dict[str, Any]) -> dict[str, Any]:
    """The aggregator's rounds (loss, accuracy, workers, seconds, who was missing), or a worker's summary."""
    rounds: list[dict[str, Any]] = []
    history = meta.get("history")
    for item in history[:VALUES_SHOWN_MAX] if isinstance(history, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("round"), int):
            continue
        missing = item.get("missing")
        rounds.append(
            {
                "round": int(item["round"]) + 1,  # stored 0-based; people count rounds from 1
                "workers": number(item.get("workers")),
                "seconds": number(item.get("seconds")),
                "loss": number(item.get("eval_loss")),
                "accuracy": number(item.get("eval_accuracy")),
                "missing": [str(m) for m in missing] if isinstance(missing, list) else [],
            }
        )
    architecture = meta.get("architecture")
    return {
        "kind": "homo_nn",
        "role": str(meta.get("role", "")),
        "framework": str(meta.get("framework", "")),
        "architecture": json.dumps(architecture) if isinstance(architecture, dict) else "",
        "rounds": rounds,
        "rounds_trained": meta.get("rounds_trained", len(rounds) or None),
        "final_loss": number(meta.get("final_loss")),
        "final_accuracy": number(meta.get("final_accuracy")),
        "stopped_early": meta.get("stopped_early") is True,
        "left": [str(p) for p in meta.get("left") or []] if isinstance(meta.get("left"), list) else [],
    }


def _tree(arrays: dict[str, np.ndarray], prefix: str, names: list[str], hosts: list[Any]) -> list[dict[str, Any]]:
    """One tree as nested nodes: the guest's own splits by feature name, a host's as its anonymous split id."""
    try:
        left, right = arrays[f"{prefix}left"].tolist(), arrays[f"{prefix}right"].tolist()
        owner, feature = arrays[f"{prefix}owner"].tolist(), arrays[f"{prefix}feature"].tolist()
        threshold, split_id = arrays[f"{prefix}threshold"].tolist(), arrays[f"{prefix}split_id"].tolist()
        weight, missing_left = arrays[f"{prefix}weight"].tolist(), arrays[f"{prefix}missing_left"].tolist()
    except KeyError:
        return []
    size = len(left)
    lines: list[dict[str, Any]] = []

    def walk(node: int, depth: int) -> None:
        if not 0 <= node < size or depth > 64 or len(lines) >= VALUES_SHOWN_MAX:
            return
        who = int(owner[node])
        if who < 0:
            lines.append({"depth": depth, "text": f"leaf {weight[node]:+.4g}", "leaf": True})
            return
        if who == 0:
            name = names[feature[node]] if 0 <= feature[node] < len(names) else f"x{feature[node]}"
            rule = f"{name} < {threshold[node]:.4g}" + (" (missing: yes)" if missing_left[node] else "")
        else:
            host = hosts[who - 1] if 0 < who <= len(hosts) else who
            rule = f"host {host}, split #{split_id[node]}"
        lines.append({"depth": depth, "text": rule, "leaf": False})
        walk(int(left[node]), depth + 1)
        walk(int(right[node]), depth + 1)

    walk(0, 0)
    return lines


def secureboost(meta: dict[str, Any], slot: Path) -> dict[str, Any]:
    """The guest's trees and feature importance; a host's count of splits it holds (their meaning stays there)."""
    names = _names(meta)
    importance_raw = meta.get("feature_importance")
    importance: list[dict[str, Any]] = []
    if isinstance(importance_raw, dict):
        for key, value in importance_raw.items():
            entry = value if isinstance(value, dict) else {"gain": value}
            gain, splits = number(entry.get("gain")), number(entry.get("splits"))
            if gain is not None:
                importance.append({"feature": str(key), "gain": gain, "splits": int(splits or 0)})
    importance.sort(key=lambda r: -r["gain"])
    count = meta.get("trees")
    trees: list[list[dict[str, Any]]] = []
    if isinstance(count, int) and count > 0:
        wanted = tuple(
            f"tree{i}_{field}"
            for i in range(min(count, TREES_DRAWN_MAX))
            for field in ("left", "right", "owner", "feature", "threshold", "split_id", "weight", "missing_left")
        )
        arrays = read_arrays(slot, wanted)
        hosts = meta.get("hosts") if isinstance(meta.get("hosts"), list) else []
        trees = [_tree(arrays, f"tree{i}_", names, hosts or []) for i in range(min(count, TREES_DRAWN_MAX))]
    return {
        "kind": "secureboost",
        "role": str(meta.get("role", "")),
        "objective": str(meta.get("objective", "")),
        "tree_count": count if isinstance(count, int) else None,
        "trees": [t for t in trees if t],
        "importance": importance[:VALUES_SHOWN_MAX],
        "splits": meta.get("splits"),
        "features": names[:VALUES_SHOWN_MAX],
    }


def summarise(meta: object, slot: Path) -> dict[str, Any] | None:
    """What a person reads of a model part, by its ``model`` field; None for a kind the board does not know."""
    if not isinstance(meta, dict):
        return None
    kind = meta.get("model")
    if kind == "hetero_lr":
        return hetero_lr(meta, slot)
    if kind == "homo_nn":
        return homo_nn(meta)
    if kind == "hetero_secureboost":
        return secureboost(meta, slot)
    return None

"""What the board shows, computed from the node's own records.

Plain functions from database rows to JSON-ready dicts, shared by the server-rendered pages and the JSON
endpoints the pages poll, so a page and its live updates always agree. Times are formatted here, once, so
the first render and every refresh print them the same way. Nothing here writes anything.
"""

from __future__ import annotations

import itertools
import json
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from unseen.board import evaluation_views, model_views
from unseen.node.data_api import table_json
from unseen.storage.models import FINAL_STATUSES, JobRecord, MetricRecord, Status, TableRecord, TaskRecord
from unseen.storage.tables import TableError, TableStore

FINAL = frozenset(s.value for s in FINAL_STATUSES)
STATES = [s.value for s in Status]
# A component that never runs at this party: what a participant's board shows for it ("not here"), rather
# than a `waiting` that would never end (a participant keeps rows for its own tasks alone).
ELSEWHERE = "not-here"
LOG_CHUNK_MAX = 256 * 1024
CURVE_MAX_POINTS = 2000
OTHER_JSON_MAX_CHARS = 20_000
_CHART_ORDER = {"line": 0, "roc": 1, "ks": 2, "xy": 2, "confusion": 3}
# Metric keys in words: (what it is, its x axis, what to add to the logged step so counts start at 1).
# Steps of rounds and trees are logged from 0; people count them from 1.
METRIC_WORDS: dict[str, tuple[str, str, int]] = {
    "loss": ("Training loss", "iteration", 0),
    "accuracy": ("Accuracy", "round", 0),
    "acc": ("Accuracy", "round", 0),
    "local_loss": ("This worker's local loss", "round", 1),
    "global_loss": ("Global loss (the aggregator's evaluation)", "round", 1),
    "global_accuracy": ("Global accuracy (the aggregator's evaluation)", "round", 1),
    "eval_loss": ("Global evaluation loss", "round", 1),
    "eval_accuracy": ("Global evaluation accuracy", "round", 1),
    "train_loss": ("Training loss", "round", 1),
    "valid_loss": ("Validation loss", "round", 1),
    "round_seconds": ("Seconds per round", "round", 1),
    "workers": ("Workers in the round", "round", 1),
    "bytes_sent": ("Bytes sent to workers", "round", 1),
    "epsilon": ("Privacy spent (ε)", "round", 1),
    "sample_epsilon": ("Privacy spent per sample (ε, DP-SGD)", "round", 1),
    "tree_seconds": ("Seconds per tree", "tree", 1),
}
# Counters that say how far a component is: shown as its progress (progress.py), not drawn as charts.
PROGRESS_ONLY = {"round", "rounds"}
VALUE_WORDS: dict[str, tuple[str, str]] = {
    "auc": ("AUC", "ratio3"),
    "log_loss": ("Log loss", "ratio3"),
    "ks": ("KS", "ratio3"),
    "ks_threshold": ("KS threshold", "ratio3"),
    "accuracy": ("Accuracy", "percent"),
    "precision": ("Precision", "percent"),
    "recall": ("Recall", "percent"),
    "f1": ("F1", "ratio3"),
    "precision_macro": ("Precision (macro)", "percent"),
    "recall_macro": ("Recall (macro)", "percent"),
    "f1_macro": ("F1 (macro)", "ratio3"),
    "rmse": ("RMSE", "number"),
    "mae": ("MAE", "number"),
    "r2": ("R²", "ratio3"),
    "rows": ("Rows", "rows"),
    "intersection_size": ("Intersection size", "rows"),
    "own_count": ("Rows here before the intersection", "rows"),
    "converged": ("Converged (1 yes, 0 no)", "number"),
    "epochs_run": ("Epochs run", "number"),
    "final_loss": ("Final loss", "number"),
    "final_accuracy": ("Final accuracy", "percent"),
}
_TASK_FILES_SHOWN_ELSEWHERE = {"task.json", "task.log", "result.json"}


# --- formatting ---------------------------------------------------------------------------------------------


def fmt_time(timestamp: float | None) -> str:
    """The node's local time, as the CLI prints it, or an empty string for 'not yet'."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else ""


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _duration(started: float | None, ended: float | None, now: float) -> float | None:
    if started is None:
        return None
    return (ended or now) - started


def config_of(job: JobRecord) -> dict[str, Any]:
    """The job config as stored; read as plain JSON so a job whose plug-in component is gone still shows."""
    try:
        config = json.loads(job.config_json)
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def components_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    components = config.get("components")
    return [c for c in components if isinstance(c, dict) and "name" in c] if isinstance(components, list) else []


def _parties_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    parties = config.get("parties")
    if not isinstance(parties, dict):
        return []
    return [{"role": str(role), "parties": list(ids)} for role, ids in parties.items() if isinstance(ids, list)]


# --- jobs ---------------------------------------------------------------------------------------------------


def roles_of(parties: list[dict[str, Any]], party_id: int | None) -> list[str]:
    """The roles ``party_id`` plays in a job (``guest``, ``host``, ``arbiter``; maybe several)."""
    return [p["role"] for p in parties if party_id is not None and party_id in p["parties"]]


def time_zone() -> str:
    """The zone the board's times are in (the node's local time), e.g. ``CET, UTC+01:00``."""
    offset = time.strftime("%z")
    return f"{time.strftime('%Z')}, UTC{offset[:3]}:{offset[3:]}" if offset else time.strftime("%Z")


def job_row(
    job: JobRecord,
    now: float,
    progress: dict[str, dict[str, Any]] | None = None,
    local_party: int | None = None,
) -> dict[str, Any]:
    """One line of the jobs page; ``progress`` (progress.progress_of) says how far its running components are,
    and ``local_party`` which roles this node's party plays in it."""
    config = config_of(job)
    parties = _parties_of(config)
    duration = _duration(job.started_at, job.ended_at, now)
    return {
        "job_id": job.job_id,
        "name": job.name,
        "status": job.status,
        "final": job.status in FINAL,
        "reason": job.reason,
        "initiator_party": job.initiator_party,
        "is_initiator": job.is_initiator,
        "parties": parties,
        "parties_text": " · ".join(f"{p['role']} {', '.join(map(str, p['parties']))}" for p in parties),
        "components": len(components_of(config)),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "duration_s": duration,
        "created": fmt_time(job.created_at),
        "started": fmt_time(job.started_at),
        "ended": fmt_time(job.ended_at),
        "duration": fmt_duration(duration),
        "url": f"/board/jobs/{job.job_id}",
        "progress": "; ".join(f"{name}: {p['text']}" for name, p in (progress or {}).items()),
        "my_roles": ", ".join(roles_of(parties, local_party)),
    }


def task_view(task: TaskRecord, now: float, local_party: int) -> dict[str, Any]:
    duration = _duration(task.started_at, task.ended_at, now)
    return {
        "component": task.component,
        "role": task.role,
        "party_id": task.party_id,
        "status": task.status,
        "final": task.status in FINAL,
        "reason": task.reason,
        "exit_code": task.exit_code,
        "started_at": task.started_at,
        "ended_at": task.ended_at,
        "started": fmt_time(task.started_at),
        "ended": fmt_time(task.ended_at),
        "duration": fmt_duration(duration),
        "local": task.party_id == local_party,
        "has_log": task.party_id == local_party and bool(task.log_path),
    }


def component_status(statuses: Iterable[str]) -> str:
    """One state for a component from its tasks' states: the one a person needs to notice first."""
    found = list(statuses)
    if not found:
        return Status.WAITING.value
    for worst in (Status.FAILED, Status.TIMEOUT, Status.RUNNING):
        if worst.value in found:
            return worst.value
    if all(s == Status.SUCCESS.value for s in found):
        return Status.SUCCESS.value
    if Status.CANCELED.value in found:
        return Status.CANCELED.value
    if Status.SUCCESS.value in found:
        return Status.RUNNING.value  # some parties done, others about to start
    return Status.WAITING.value


def _producers(component: dict[str, Any]) -> list[str]:
    inputs = component.get("inputs")
    if not isinstance(inputs, dict):
        return []
    return list(dict.fromkeys(str(ref).partition(".")[0] for ref in inputs.values()))


def dag_layout(components: Sequence[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(column, row) of each component: columns are topological levels (longest path from a source).

    Rows keep the config's order within a level, so the picture is the same on every refresh and node.
    """
    names = [str(c["name"]) for c in components]
    upstream = {str(c["name"]): [p for p in _producers(c) if p in names] for c in components}
    level: dict[str, int] = {}

    def level_of(name: str, path: frozenset[str]) -> int:
        if name in level:
            return level[name]
        if name in path:  # a cycle cannot pass validation; never loop on a damaged record
            return 0
        parents = upstream.get(name, [])
        level[name] = 1 + max((level_of(p, path | {name}) for p in parents), default=-1)
        return level[name]

    rows: dict[int, int] = {}
    layout: dict[str, tuple[int, int]] = {}
    for name in names:
        column = level_of(name, frozenset())
        layout[name] = (column, rows.get(column, 0))
        rows[column] = rows.get(column, 0) + 1
    return layout


def job_detail(
    job: JobRecord,
    tasks: Sequence[TaskRecord],
    now: float,
    local_party: int,
    progress: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The job page: the job, its DAG with a state per component (and how far a running one is), and every
    party's tasks."""
    config = config_of(job)
    progress = progress or {}
    components = components_of(config)
    layout = dag_layout(components)
    by_component: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        by_component.setdefault(task.component, []).append(task_view(task, now, local_party))
    nodes: list[dict[str, Any]] = []
    for component in components:
        name = str(component["name"])
        views = by_component.get(name, [])
        column, row = layout[name]
        status = component_status(v["status"] for v in views) if views or job.is_initiator else ELSEWHERE
        nodes.append(
            {
                "name": name,
                "type": str(component.get("component", "")),
                "roles": [str(r) for r in component.get("roles") or []],
                "upstream": [p for p in _producers(component) if p in layout],
                "status": status,
                "progress": progress[name] if name in progress and status == Status.RUNNING.value else None,
                "column": column,
                "row": row,
                "tasks": views,
                "url": f"/board/jobs/{job.job_id}/components/{name}",
            }
        )
    edges = [{"source": p, "target": n["name"]} for n in nodes for p in n["upstream"]]
    running = {n["name"]: n["progress"] for n in nodes if n["progress"]}
    return {
        **job_row(job, now, running, local_party),
        "timeout_s": config.get("timeout_s"),
        "initiator": config.get("initiator"),
        "config_text": config_yaml(job),
        "dag": {"nodes": nodes, "edges": edges, "columns": 1 + max((n["column"] for n in nodes), default=0)},
        "tasks": [t for n in nodes for t in n["tasks"]],
        "component_urls": {n["name"]: n["url"] for n in nodes},
    }


# The job's headline: results a person looks for first, by the scalar metric that carries them, in this order.
HEADLINE = {
    "auc": ("AUC", "ratio3"),
    "ks": ("KS", "ratio3"),
    "accuracy": ("Accuracy", "percent"),
    "final_accuracy": ("Final accuracy", "percent"),
    "f1": ("F1", "ratio3"),
    "f1_macro": ("F1 (macro)", "ratio3"),
    "rmse": ("RMSE", "number"),
    "r2": ("R²", "ratio3"),
    "intersection_size": ("Intersection", "rows"),
}


def fmt_metric(value: float, style: str) -> str:
    """A number as a person reads it: 0.9871 -> "0.987", 0.973 -> "97.3 %", 1234 -> "1,234 rows"."""
    if style == "percent":
        return f"{100 * value:.1f} %"
    if style == "ratio3":
        return f"{value:.3f}"
    if style == "rows":
        return f"{round(value):,} rows"
    return f"{value:.4g}"


def _finite(record: MetricRecord) -> float | None:
    """A metric's value when it is one finite number (stored values are JSON, and a metric may be a curve)."""
    try:
        value = json.loads(record.value_json)
    except ValueError:
        return None
    return model_views.number(value)


def headline(records: Sequence[MetricRecord]) -> list[dict[str, str]]:
    """The job's results at the top of its page: AUC, KS, accuracy, intersection size ... from the scalar
    metrics this node holds (the latest of each name per component), in HEADLINE's order."""
    found: dict[tuple[str, str], float] = {}
    for record in records:
        if record.step is not None or _base(record.name) not in HEADLINE:
            continue
        value = _finite(record)
        if value is not None:
            found[(_base(record.name), record.component)] = value
    order = list(HEADLINE)
    items = sorted(found.items(), key=lambda item: (order.index(item[0][0]), item[0][1]))
    return [
        {"label": HEADLINE[name][0], "value": fmt_metric(value, HEADLINE[name][1]), "component": component}
        for (name, component), value in items
    ]


def config_yaml(job: JobRecord) -> str:
    """The job's config as YAML, in the order it was written (what ``unseen job submit -c`` takes)."""
    return yaml.safe_dump(config_of(job), sort_keys=False, allow_unicode=True, width=100)


# --- components ---------------------------------------------------------------------------------------------


def component_config(job: JobRecord, component: str) -> dict[str, Any] | None:
    for entry in components_of(config_of(job)):
        if entry["name"] == component:
            return entry
    return None


def param_rows(entry: dict[str, Any]) -> list[dict[str, str]]:
    """Parameters as (name, value, scope): common ones, then each role's overrides."""
    rows = []
    params = entry.get("params")
    if isinstance(params, dict):
        rows += [{"name": str(k), "value": json.dumps(v), "scope": "all roles"} for k, v in params.items()]
    role_params = entry.get("role_params")
    if isinstance(role_params, dict):
        for role, overrides in role_params.items():
            if isinstance(overrides, dict):
                rows += [{"name": str(k), "value": json.dumps(v), "scope": str(role)} for k, v in overrides.items()]
    return rows


def output_tables(tables_dir: Path, job_id: str, component: str) -> list[dict[str, Any]]:
    """Tables this component wrote at this party: schema and row count from the Parquet footer, never rows."""
    namespace = f"job_{job_id}"
    folder = tables_dir / namespace
    prefix = f"{component}__"
    if not folder.is_dir():
        return []
    store = TableStore(tables_dir)
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob(f"{prefix}*.parquet")):
        name = f"{namespace}.{path.stem}"
        try:
            info = store.info(name)
        except (TableError, OSError, ValueError) as exc:
            found.append({"name": name, "slot": path.stem[len(prefix) :], "error": str(exc)})
            continue
        columns = [{"name": k, "dtype": v} for k, v in info.columns.items()]
        found.append({"name": name, "slot": path.stem[len(prefix) :], "rows": info.rows, "columns": columns})
    return found


def model_parts(models_dir: Path, job_id: str, component: str) -> list[dict[str, Any]]:
    """This party's share of the models the component saved: its metadata and each array's name, shape and
    dtype, read from the npz headers only (no array is loaded and nothing is unpickled)."""
    folder = models_dir / job_id / component
    if not folder.is_dir():
        return []
    parts = []
    for slot in sorted(p for p in folder.iterdir() if p.is_dir()):
        part: dict[str, Any] = {"slot": slot.name, "meta": "", "arrays": [], "summary": None}
        try:
            meta = json.loads((slot / "part.json").read_text())
            text = json.dumps(meta, indent=2)
            part["meta"] = text if len(text) <= OTHER_JSON_MAX_CHARS else text[:OTHER_JSON_MAX_CHARS] + "\n… (cut)"
            part["summary"] = model_views.summarise(meta, slot)
        except (OSError, ValueError):
            part["meta"] = ""
        tensors = slot / "tensors.safetensors"
        part["arrays"] = _safetensors_header(tensors) if tensors.is_file() else _npz_headers(slot / "arrays.npz")
        parts.append(part)
    return parts


SAFETENSORS_HEADER_MAX = 1 << 20


def _safetensors_header(path: Path) -> list[dict[str, Any]]:
    """Names, shapes and dtypes from a safetensors file's JSON header (at most 1 MiB, the first 200 tensors)."""
    try:
        with path.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 0 < size <= SAFETENSORS_HEADER_MAX:
                return []
            header = json.loads(handle.read(size))
    except (OSError, ValueError):
        return []
    if not isinstance(header, dict):
        return []
    arrays = []
    for name, info in list(header.items())[:201]:
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        arrays.append({"name": str(name), "shape": list(info.get("shape", [])), "dtype": str(info.get("dtype", ""))})
    return arrays[:200]


def _npz_headers(path: Path) -> list[dict[str, Any]]:
    arrays: list[dict[str, Any]] = []
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist()[:200]:
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
                arrays.append({"name": member.filename.removesuffix(".npy"), "shape": list(shape), "dtype": str(dtype)})
    except (OSError, ValueError, zipfile.BadZipFile):
        return arrays
    return arrays


def task_files(task_dir: Path) -> list[dict[str, Any]]:
    """Other files a task left in its folder (models, reports): names and sizes."""
    if not task_dir.is_dir():
        return []
    return [
        {"name": p.name, "size": p.stat().st_size}
        for p in sorted(task_dir.iterdir())
        if p.is_file() and p.name not in _TASK_FILES_SHOWN_ELSEWHERE
    ]


# --- metrics ------------------------------------------------------------------------------------------------


def _finite_list(value: object) -> list[float] | None:
    if not isinstance(value, list) or not value:
        return None
    numbers = [model_views.number(item) for item in value]
    return None if None in numbers else [n for n in numbers if n is not None]


def _thin(count: int) -> list[int]:
    """Indices to keep so a curve has at most CURVE_MAX_POINTS points, first and last included."""
    if count <= CURVE_MAX_POINTS:
        return list(range(count))
    stride = (count - 1) / (CURVE_MAX_POINTS - 1)
    return sorted({round(i * stride) for i in range(CURVE_MAX_POINTS)})


def _curves(value: object, *keys: str) -> list[list[float]] | None:
    if not isinstance(value, dict):
        return None
    lists = [_finite_list(value.get(k)) for k in keys]
    if any(v is None for v in lists):
        return None
    checked = [v for v in lists if v is not None]
    if len({len(v) for v in checked}) != 1:
        return None
    keep = _thin(len(checked[0]))
    return [[v[i] for i in keep] for v in checked]


def auc_of(fpr: Sequence[float], tpr: Sequence[float]) -> float:
    """Area under a ROC curve by the trapezoid rule, points taken in order of false-positive rate."""
    points = sorted(zip(fpr, tpr, strict=True))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(points))


def _base(name: str) -> str:
    return name.replace("/", ".").rsplit(".", 1)[-1]


def _title(name: str) -> tuple[str, str, int]:
    """A line chart's title in words, its x axis, and the offset from logged steps to what people count."""
    base = _base(name)
    prefix = name[: -len(base)].rstrip("./")
    if base in METRIC_WORDS:
        words, x_label, offset = METRIC_WORDS[base]
        return (
            (f"{words} per {x_label}" if x_label not in words else words) + (f" ({prefix})" if prefix else ""),
            x_label,
            offset,
        )
    return f"{name.replace('_', ' ')} per step", "step", 0


def value_words(name: str, value: float) -> tuple[str, str]:
    """A plain number's name in words and its value rounded for people."""
    base = _base(name)
    if base in VALUE_WORDS:
        label, style = VALUE_WORDS[base]
        prefix = name[: -len(base)].rstrip("./")
        return label + (f" ({prefix})" if prefix else ""), fmt_metric(value, style)
    return name.replace("_", " "), f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.4g}"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower() or "chart"


def metric_views(records: Sequence[MetricRecord], threshold: float | None = None) -> dict[str, Any]:
    """Charts for what a component logged, and only for what it logged.

    - a number logged per step (loss, accuracy): a line per party;
    - ``roc`` ``{"fpr", "tpr"}``: ROC curves with their AUC;
    - ``ks_curve`` ``{"threshold", "tpr", "fpr"}``: TPR and FPR by threshold, KS marked;
    - ``confusion_matrix`` ``{"matrix", "labels"}``: a heatmap per party;
    - numbers without a step: a table; any other JSON: shown as text.

    A structured metric that does not have the expected shape is shown as text instead of a wrong chart.
    Repeated structured metrics (one ROC per epoch) show their latest value. A binary evaluation's ROC curve
    and confusion matrix together also give KS by population fraction (instead of KS by threshold), gain, lift,
    precision-recall, and accuracy and F1 by threshold (evaluation_views). ``threshold`` is the cut-off the
    confusion matrix was computed at, when the component has one.
    """
    lines: dict[str, dict[str, list[list[float]]]] = {}
    values: list[dict[str, Any]] = []
    latest: dict[tuple[str, str], tuple[MetricRecord, Any]] = {}
    for record in records:
        who = f"{record.role}:{record.party_id}"
        try:
            value = json.loads(record.value_json)
        except ValueError:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            latest[(record.name, who)] = (record, value)
        elif record.step is None:
            label, text = value_words(record.name, float(value))
            values.append({"name": record.name, "who": who, "value": value, "label": label, "text": text})
        elif _base(record.name) not in PROGRESS_ONLY:
            lines.setdefault(record.name, {}).setdefault(who, []).append([float(record.step), float(value)])

    charts = [_line_chart(name, by_party) for name, by_party in lines.items()]
    curves: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (kind, metric name) -> one entry per party
    other: list[dict[str, Any]] = []
    derived, decided = _decision_charts(latest)
    charts += derived
    for (name, who), (record, value) in latest.items():
        base = _base(name)
        if base == "roc" and (roc := _roc_series(who, value)) is not None:
            curves.setdefault(("roc", name), []).append(roc)
        elif base == "ks_curve" and who in decided:
            continue  # drawn by population fraction from the ROC curve instead
        elif base == "ks_curve" and (ks := _ks_series(who, value)) is not None:
            curves.setdefault(("ks", name), []).append(ks)
        elif base == "confusion_matrix" and (matrix := _confusion(value)) is not None:
            charts.append(_confusion_chart(name, who, matrix, threshold))
        else:
            text = json.dumps(value, indent=2)
            if len(text) > OTHER_JSON_MAX_CHARS:
                text = text[:OTHER_JSON_MAX_CHARS] + "\n… (cut; see `unseen job metrics`)"
            other.append({"name": name, "who": who, "step": record.step, "text": text})
    charts += [_curve_chart(kind, name, parties) for (kind, name), parties in curves.items()]
    charts.sort(key=lambda chart: _CHART_ORDER[chart["kind"]])  # stable: curves of one kind keep their order
    return {
        "charts": charts,
        "values": values,
        "other": other,
        "flags": _convergence_flags(values),
        "count": len(records),
    }


def _decision_charts(latest: dict[tuple[str, str], tuple[MetricRecord, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    """The decision charts of each party that logged a ROC curve with thresholds and a binary confusion matrix,
    and those parties (their KS is then drawn by population fraction, not by threshold)."""
    charts: list[dict[str, Any]] = []
    decided: set[str] = set()
    for (name, who), (_, value) in latest.items():
        if _base(name) != "roc" or (roc := _curves(value, "fpr", "tpr", "thresholds")) is None:
            continue
        matrix = next((v for (n, w), (_, v) in latest.items() if w == who and _base(n) == "confusion_matrix"), None)
        fpr, tpr, cuts = roc
        found = evaluation_views.decision_charts(
            who, {"fpr": fpr, "tpr": tpr, "thresholds": cuts}, matrix, _slug(f"{name}-{who}")
        )
        charts += found
        if found:
            decided.add(who)
    return charts, decided


def _convergence_flags(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whether each party's model converged (a ``converged`` metric, 1 or 0), to show above the charts."""
    by_party: dict[str, dict[str, float]] = {}
    for value in values:
        by_party.setdefault(value["who"], {})[value["name"]] = float(value["value"])
    flags = []
    for who, named in by_party.items():
        if "converged" not in named:
            continue
        converged, epochs = named["converged"] == 1.0, int(named.get("epochs_run", 0))
        text = (
            f"converged in {epochs} epochs"
            if converged
            else f"did not converge in {epochs} epochs: raise max_iter or learning_rate"
        )
        flags.append({"who": who, "converged": converged, "text": text})
    return flags


def _line_chart(name: str, by_party: dict[str, list[list[float]]]) -> dict[str, Any]:
    title, x_label, offset = _title(name)
    return {
        "id": f"line-{_slug(name)}",
        "kind": "line",
        "metric": name,
        "title": title,
        "x_label": x_label,
        "series": [
            {"name": who, "points": sorted([x + offset, y] for x, y in points)} for who, points in by_party.items()
        ],
    }


def _confusion_chart(
    name: str, who: str, matrix: tuple[list[str], list[list[float]]], threshold: float | None
) -> dict[str, Any]:
    """Counts, each cell's share of all rows and of its actual class, and the threshold they were cut at."""
    labels, counts = matrix
    total = sum(sum(row) for row in counts) or 1.0
    at = f" at threshold {threshold:g}" if threshold is not None and len(labels) == 2 else ""
    return {
        "id": f"confusion-{_slug(name)}-{_slug(who)}",
        "kind": "confusion",
        "metric": name,
        "title": f"Confusion matrix{at} ({who})",
        "labels": labels,
        "matrix": counts,
        "percent": [[round(100 * c / total, 1) for c in row] for row in counts],
        "row_percent": [[round(100 * c / (sum(row) or 1.0), 1) for c in row] for row in counts],
        "threshold": threshold,
    }


def _curve_chart(kind: str, name: str, parties: list[dict[str, Any]]) -> dict[str, Any]:
    prefix = name[: -len(_base(name))].rstrip("./")
    where = f" ({prefix})" if prefix else ""
    if kind == "roc":
        summary = ", ".join(f"{p['auc']:.3f} ({p['name']})" for p in parties)
        title = f"ROC curve{where} · AUC {summary}"
    else:
        summary = ", ".join(f"{p['ks']:.3f} at threshold {p['at']:.3g} ({p['name']})" for p in parties)
        title = f"KS by threshold{where}: {summary}"
    return {"id": f"{kind}-{_slug(name)}", "kind": kind, "metric": name, "title": title, "series": parties}


def _roc_series(who: str, value: object) -> dict[str, Any] | None:
    curve = _curves(value, "fpr", "tpr")
    if curve is None:
        return None
    fpr, tpr = curve
    return {"name": who, "points": [[x, y] for x, y in zip(fpr, tpr, strict=True)], "auc": auc_of(fpr, tpr)}


def _ks_series(who: str, value: object) -> dict[str, Any] | None:
    curve = _curves(value, "threshold", "tpr", "fpr")
    if curve is None:
        return None
    threshold, tpr, fpr = curve
    gaps = [t - f for t, f in zip(tpr, fpr, strict=True)]
    best = max(range(len(gaps)), key=gaps.__getitem__)
    return {"name": who, "threshold": threshold, "tpr": tpr, "fpr": fpr, "ks": gaps[best], "at": threshold[best]}


def _confusion(value: object) -> tuple[list[str], list[list[float]]] | None:
    if not isinstance(value, dict):
        return None
    matrix = value.get("matrix")
    if not isinstance(matrix, list) or not matrix or len(matrix) > 100:
        return None
    rows = [_finite_list(row) for row in matrix]
    if any(r is None or len(r) != len(matrix) for r in rows):
        return None
    labels = value.get("labels")
    if not (isinstance(labels, list) and len(labels) == len(matrix)):
        labels = list(range(len(matrix)))
    return [str(label) for label in labels], [r for r in rows if r is not None]


def threshold_of(entry: dict[str, Any]) -> float | None:
    """The cut-off an ``evaluation`` component's confusion matrix is computed at (its default: 0.5)."""
    if entry.get("component") != "evaluation":
        return None
    params = entry.get("params")
    value = params.get("threshold", 0.5) if isinstance(params, dict) else 0.5
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.5


def privacy_spent(records: Sequence[MetricRecord], entry: dict[str, Any]) -> dict[str, Any] | None:
    """(epsilon, delta) spent so far when differential privacy is on: the latest ``epsilon`` (update DP, the
    aggregator's and the workers' round summaries) or ``sample_epsilon`` (DP-SGD at a worker), and the
    configured delta. None when nothing logged an epsilon (DP is off)."""
    latest: dict[str, tuple[int, float]] = {}
    for record in records:
        if _base(record.name) not in {"epsilon", "sample_epsilon"}:
            continue
        value = _finite(record)
        if value is not None:
            step = record.step if record.step is not None else -1
            if _base(record.name) not in latest or step >= latest[_base(record.name)][0]:
                latest[_base(record.name)] = (step, value)
    if not latest:
        return None
    name = "epsilon" if "epsilon" in latest else "sample_epsilon"
    params = entry.get("params")
    dp = params.get("dp") if isinstance(params, dict) else None
    delta = dp.get("delta", 1e-5) if isinstance(dp, dict) else 1e-5
    step, epsilon = latest[name]
    return {
        "epsilon": epsilon,
        "delta": delta if isinstance(delta, int | float) else None,
        "kind": "per sample (DP-SGD)" if name == "sample_epsilon" else "per worker (DP-FedAvg)",
        "after_round": step + 1 if step >= 0 else None,
    }


# --- logs and data ------------------------------------------------------------------------------------------


def read_log_chunk(path: Path, offset: int, complete: bool, limit: int = LOG_CHUNK_MAX) -> dict[str, Any]:
    """The part of a task's log after ``offset``, for a page that follows the log as it grows.

    ``offset < 0`` asks for the last ``limit`` bytes (the first look at a long log). The text ends at a line
    end unless ``complete`` (the task has ended), so a line the task is still writing is sent once, whole.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return {"text": "", "offset": 0, "size": 0, "skipped": 0, "missing": True}
    skipped = 0
    if offset < 0 or offset > size:
        offset = max(0, size - limit) if offset < 0 else 0
        skipped = offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(limit)
    if skipped:
        start = data.find(b"\n") + 1  # begin at a whole line
        data, offset, skipped = data[start:], offset + start, offset + start
    if not (complete and offset + len(data) >= size):
        end = data.rfind(b"\n") + 1
        if end:
            data = data[:end]
        elif len(data) < limit:
            data = b""
    return {
        "text": data.decode("utf-8", errors="replace"),
        "offset": offset + len(data),
        "size": size,
        "skipped": skipped,
        "missing": False,
    }


def table_view(record: TableRecord) -> dict[str, Any]:
    """A stored table as the data page shows it: what the REST API serves (schema and size, never a row)."""
    return {**table_json(record), "created": fmt_time(record.created_at)}

"""How far a running component is (epoch 12 of 30, tree 3 of 5, round 7 of 20), from the metrics it logs.

One rule per component kind: the unit, the parameter that holds the total, and the per-step metrics whose
latest step says how many are done. The board (job page, job list) and the CLI (``unseen job query``) both
use it, so they say the same. Pure functions on plain values: importing this loads no web or database code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProgressRule:
    unit: str
    total_param: str
    counters: tuple[str, ...]  # per-step metrics: the largest step + 1 is how many units are done


RULES = {
    "hetero_lr": ProgressRule("epoch", "max_iter", ("loss",)),  # the guest's loss per epoch
    "hetero_secureboost": ProgressRule("tree", "num_trees", ("train_loss",)),  # the guest's loss per boosting round
    "homo_nn": ProgressRule("round", "rounds", ("round", "round_seconds", "local_loss")),  # workers and arbiter
}

Point = tuple[str, str, int | None]  # (component, metric name, step); a point without a step is skipped


def default_total(kind: str, param: str) -> int | None:
    """The component's default for ``param``, from its parameter model (None if it cannot be read)."""
    try:
        from unseen.components.registry import get_component

        default = get_component(kind).params.model_fields[param].default
    except (LookupError, ImportError, AttributeError, TypeError, ValueError):
        return None
    return default if isinstance(default, int) and not isinstance(default, bool) else None


Defaults = Callable[[str, str], int | None]


def _total(entry: dict[str, Any], rule: ProgressRule, kind: str, defaults: Defaults) -> int | None:
    params = entry.get("params")
    value = params.get(rule.total_param) if isinstance(params, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return defaults(kind, rule.total_param)


def progress_of(
    components: Iterable[dict[str, Any]],
    points: Iterable[Point],
    defaults: Callable[[str, str], int | None] = default_total,
) -> dict[str, dict[str, Any]]:
    """Per component name: ``{"unit", "done", "total", "text", "percent"}`` for the kinds in RULES that have
    logged at least one step on this node. ``components`` are the job config's entries."""
    done: dict[str, int] = {}
    rules: dict[str, tuple[ProgressRule, dict[str, Any]]] = {}
    for entry in components:
        rule = RULES.get(str(entry.get("component")))
        if rule is not None:
            rules[str(entry.get("name"))] = (rule, entry)
    for component, name, step in points:
        found = rules.get(component)
        if found is None or step is None or name.rsplit("/", 1)[-1] not in found[0].counters:
            continue
        done[component] = max(done.get(component, 0), step + 1)
    result: dict[str, dict[str, Any]] = {}
    for component, steps in done.items():
        rule, entry = rules[component]
        total = _total(entry, rule, str(entry.get("component")), defaults)
        count = min(steps, total) if total else steps
        text = f"{rule.unit} {count} of {total}" if total else f"{rule.unit} {count}"
        percent = round(100 * count / total) if total else None
        result[component] = {"unit": rule.unit, "done": count, "total": total, "text": text, "percent": percent}
    return result

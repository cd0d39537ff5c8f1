"""``evaluation``: metrics of a model's predictions against the true labels, at the party that holds them.

It runs at the guest only, on a table the guest already has: its own labels (the table's declared label
column, else the column ``label``) beside the predictions an upstream component wrote there
(``predict_score`` for a binary task, ``predict_label`` for multi-class, ``predict_value`` for regression).
Nothing is sent to any partner; the metrics go to the guest's node, like every metric. The arithmetic lives
in ``unseen.evaluation``; this module only picks the task, the columns, and the metric names the CLI and the
board read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role

if TYPE_CHECKING:
    from unseen.runtime.context import Context
    from unseen.storage.tables import Table

LABEL_COLUMN = "label"
PREDICTION_COLUMNS = {
    "binary": "predict_score",
    "multiclass": "predict_label",
    "regression": "predict_value",
}


class EvaluationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_type: Literal["auto", "binary", "multiclass", "regression"] = Field(
        "auto",
        description="auto: binary if labels are 0/1, multiclass if they are few integers, regression otherwise",
    )
    threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="binary only: a row is predicted positive when predict_score >= threshold"
    )


def _column(table: Table, name: str, task: str) -> np.ndarray:
    if name not in table.columns:
        raise ValueError(
            f"evaluation ({task}) needs a column '{name}' in its input 'data'; the table has {sorted(table.columns)}. "
            f"Wire the output of a predicting component, or set task_type if '{task}' is the wrong task."
        )
    return table.columns[name]


def run(ctx: Context, params: EvaluationParams) -> None:
    # Imported here, not at module level: the node imports SPEC to validate job configs and needs no sklearn.
    from unseen.evaluation import binary_metrics, infer_task_type, multiclass_metrics, regression_metrics

    table = ctx.read_input("data")
    labels = _column(table, table.label_column or LABEL_COLUMN, params.task_type)
    task = infer_task_type(labels) if params.task_type == "auto" else params.task_type
    predictions = _column(table, PREDICTION_COLUMNS[task], task)

    if task == "binary":
        binary = binary_metrics(labels, predictions, threshold=params.threshold)
        scalars = binary.scalars()
        ctx.metrics.log_json("roc", binary.curve.roc_dict())
        ctx.metrics.log_json("ks_curve", binary.curve.ks_dict())
        ctx.metrics.log_json("confusion_matrix", binary.at_threshold.confusion_matrix.to_dict())
        rows = binary.rows
    elif task == "multiclass":
        multiclass = multiclass_metrics(labels, predictions)
        scalars = multiclass.scalars()
        ctx.metrics.log_json("confusion_matrix", multiclass.confusion_matrix.to_dict())
        rows = multiclass.rows
    else:
        regression = regression_metrics(labels, predictions)
        scalars = regression.scalars()
        rows = regression.rows

    for name, value in scalars.items():
        ctx.metrics.log(name, value)
    summary = " ".join(f"{name}={value:.4f}" for name, value in scalars.items())
    how = "inferred from the labels" if params.task_type == "auto" else "as configured"
    ctx.logger.info("evaluation: %s task (%s), %d rows: %s", task, how, rows, summary)


SPEC = ComponentSpec(
    name="evaluation",
    roles=frozenset({Role.GUEST}),
    params=EvaluationParams,
    run=run,
    inputs=("data",),
    description="metrics of predictions against the guest's own labels: AUC, KS, F1, ...; nothing leaves the guest",
)

"""``metrics_demo``, a component the board's browser tests plug into real nodes through UNSEEN_COMPONENTS.

It reads ``demo_source``'s table and logs everything the board draws (loss per iteration, accuracy per round,
a ROC curve, a KS curve, a confusion matrix, a plain number) with log lines along the way, then writes an
output table and a model, so every part of the component page has something real to show. The numbers are
made up but deterministic; ``delay_s`` slows the steps down so a test can watch the log and charts grow.
"""

from __future__ import annotations

import math
import time

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.context import Context
from unseen.runtime.parties import Role
from unseen.storage.models_store import ModelPart


class MetricsDemoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(10, ge=1, le=1000)
    delay_s: float = Field(0.0, ge=0, le=5)
    learning_rate: float = 0.1
    fail_after: int | None = Field(None, ge=0, description="raise after this many steps (a failed task's log)")


def run_metrics(ctx: Context, params: MetricsDemoParams) -> None:
    table = ctx.read_input("data")
    ctx.logger.info("metrics_demo: training on %d rows as %s", table.rows, ctx.role.value)
    for step, _ in ctx.iterations(params.steps):
        loss = 0.7 * math.exp(-0.3 * step) + 0.05 + (0.01 if ctx.role == Role.HOST else 0.0)
        ctx.metrics.log("loss", loss, step=step)
        ctx.metrics.log("accuracy", 0.5 + 0.4 * (1 - math.exp(-0.4 * step)), step=step)
        ctx.logger.info("iteration %d: loss %.4f", step, loss)
        if params.fail_after is not None and step + 1 >= params.fail_after:
            ctx.logger.warning("metrics_demo: told to fail after %d steps", params.fail_after)
            raise RuntimeError("metrics_demo failed on purpose")
        time.sleep(params.delay_s)
    fpr = [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0]
    tpr = [0.0, 0.4, 0.6, 0.75, 0.85, 0.92, 0.97, 1.0]
    ctx.metrics.log_json("roc", {"fpr": fpr, "tpr": tpr, "thresholds": [1.0, 0.9, 0.8, 0.6, 0.5, 0.4, 0.2, 0.0]})
    thresholds = [round(1 - i / 10, 2) for i in range(11)]
    ctx.metrics.log_json(
        "ks_curve",
        {
            "threshold": thresholds,
            "tpr": [min(1.0, (1 - t) ** 0.5) for t in thresholds],
            "fpr": [(1 - t) ** 2 for t in thresholds],
        },
    )
    ctx.metrics.log_json("confusion_matrix", {"labels": ["0", "1"], "matrix": [[18, 3], [4, 15]]})
    ctx.metrics.log("auc", 0.861)
    ids = table["id"]
    ctx.write_output("data", {"id": ids, "label": (ids % 2).astype(np.int64), "predict_score": (ids % 7) / 7.0})
    ctx.write_model(
        "model",
        ModelPart(meta={"kind": "demo", "role": ctx.role.value, "features": ["x0", "x1"]}, arrays={"coef": np.ones(2)}),
    )
    ctx.logger.info("metrics_demo: done after %d iterations", params.steps)


SPEC = ComponentSpec(
    name="metrics_demo",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=MetricsDemoParams,
    run=run_metrics,
    inputs=("data",),
    outputs=("data", "model"),
    description="logs every kind of metric the board draws, with log lines (tests only)",
)

"""``hetero_lr``: logistic regression over vertically split data, the Paillier key held by the arbiter.

Guest and hosts read the aligned tables the ``psi`` component wrote (same rows, same order at every party; the
guest's carries the label). They train together as :mod:`unseen.vertical.hetero_lr` describes, each keeps only
its own coefficients (the ``model`` output, JSON + npz, no code on load), and then score the same rows: the
hosts send their partial scores to the guest, which writes ``predictions`` (id, label, ``predict_score``) for
``evaluation``. The arbiter has no data; it holds the key and stores only a training summary.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role

if TYPE_CHECKING:
    from unseen.runtime.context import Context
    from unseen.vertical.hetero_lr import HeteroLRConfig, TrainingSummary

SCORE_COLUMN = "predict_score"


class HeteroLRParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_iter: int = Field(200, ge=1, le=100_000, description="epochs at most (passes over the data)")
    batch_size: int = Field(
        -1, ge=-1, description="rows per mini-batch; -1: the whole table. Must exceed every party's feature count"
    )
    learning_rate: float | None = Field(
        None, gt=0, le=100, description="step size at epoch 0; unset: 0.7 for block_newton, 0.15 for the others"
    )
    optimizer: Literal["sgd", "nesterov_momentum_sgd", "rmsprop", "adagrad", "adam", "block_newton"] = Field(
        "block_newton", description="how each party turns its own gradient into a step on its own weights"
    )
    lr_decay: float = Field(0.0, ge=0, description="decay d of the schedule (0: constant rate)")
    lr_schedule: Literal["inverse", "inverse_sqrt", "step"] = Field(
        "inverse",
        description="inverse: lr/(1+d*t); inverse_sqrt: lr/sqrt(1+d*t); step: lr/(1+d*floor(t/lr_step)); t = epoch",
    )
    lr_step: int = Field(10, ge=1, description="epochs per step of the 'step' schedule")
    alpha: float | None = Field(
        None,
        ge=0,
        description="L2 strength: loss = mean Taylor loss + alpha/2 |w|^2 (scikit-learn's C = 1/(alpha n)); "
        "unset: 1/n, scikit-learn's default C = 1",
    )
    tol: float = Field(
        1e-4, ge=0, description="stop when the relative loss change (or the weight change) is below this"
    )
    min_iter: int = Field(10, ge=1, le=100_000, description="epochs at least before stopping early")
    n_iter_no_change: int = Field(
        3, ge=1, le=1000, description="epochs in a row whose change is below tol before training stops"
    )
    early_stop: Literal["loss_diff", "weight_diff"] = Field(
        "loss_diff",
        description="loss_diff: |loss_t-1 - loss_t| / loss_t < tol; weight_diff: |w_t - w_t-1| < tol",
    )
    key_bits: int = Field(2048, ge=1024, le=8192, description="Paillier modulus size; 2048 gives ~112-bit security")
    fit_intercept: bool = Field(True, description="the guest holds an intercept")
    shuffle: bool = Field(True, description="a new random batch order each epoch (mini-batch only)")
    random_seed: int | None = Field(None, description="seeds the batch order only; keys and masks are always random")
    feature_bits: int = Field(
        16,
        ge=8,
        le=30,
        description="fixed-point precision of features in the encrypted gradient (relative, per column)",
    )
    workers: int = Field(0, ge=0, le=1024, description="processes for the Paillier work at this party; 0: one per core")

    @field_validator("batch_size")
    @classmethod
    def _batch_size(cls, value: int) -> int:
        if value == 0:
            raise ValueError("batch_size must be -1 (the whole table) or at least 1")
        return value

    @field_validator("key_bits")
    @classmethod
    def _key_bits(cls, value: int) -> int:
        if value % 2:
            raise ValueError("key_bits must be even")
        return value

    def to_config(self) -> HeteroLRConfig:
        from unseen.vertical.hetero_lr import HeteroLRConfig

        return HeteroLRConfig(**self.model_dump(exclude={"workers"}))


def run(ctx: Context, params: HeteroLRParams) -> None:
    # Imported here: the node imports SPEC to validate job configs and needs neither gmpy2 nor the algorithm.
    from unseen.storage.models_store import ModelPart
    from unseen.storage.tables import Table
    from unseen.vertical.hetero_lr import PROTOCOL
    from unseen.vertical.hetero_lr_arbiter import fit_arbiter
    from unseen.vertical.hetero_lr_engine import make_engine
    from unseen.vertical.hetero_lr_guest import fit_guest, predict_guest
    from unseen.vertical.hetero_lr_host import fit_host, predict_host

    config = params.to_config()
    train, predict = ctx.sub("train"), ctx.sub("predict")
    common = {"model": "hetero_lr", "protocol": PROTOCOL, "role": ctx.role.value, "party_id": ctx.party_id}

    if ctx.role is Role.ARBITER:
        arbiter = fit_arbiter(train, config)
        summary = arbiter.summary
        meta = {**common, "key_bits": arbiter.key_bits, "n_iter": summary.n_iter, "converged": summary.converged}
        ctx.write_model("model", ModelPart({**meta, "loss_history": summary.loss_history}))
        return

    table = ctx.read_input("data")
    features = table.features()
    engine = make_engine(params.workers, table.rows)
    try:
        if ctx.role is Role.GUEST:
            if table.label_column is None:
                raise ValueError("the guest's input table has no label column; upload it with --label-column")
            labels = table[table.label_column]
            guest = fit_guest(train, features, labels, config, engine)
            report_convergence(ctx, guest.summary, config)
            ctx.write_model(
                "model",
                ModelPart(
                    {
                        **common,
                        "feature_names": table.feature_names,
                        "label_column": table.label_column,
                        "fit_intercept": config.fit_intercept,
                        "n_iter": guest.summary.n_iter,
                        "converged": guest.summary.converged,
                        "loss_history": guest.summary.loss_history,
                    },
                    {"coef": guest.coef, "intercept": np.array([guest.intercept])},
                ),
            )
            scores = predict_guest(predict, features, guest.coef, guest.intercept)
            columns = {table.label_column: labels, SCORE_COLUMN: scores}
            if table.id_column is not None:
                columns = {table.id_column: table.ids, **columns}
            ctx.write_output("predictions", Table(columns, table.id_column, table.label_column))
            ctx.logger.info("hetero_lr: %d rows scored after %d epochs", table.rows, guest.summary.n_iter)
        else:
            host = fit_host(train, features, config, engine)
            ctx.write_model(
                "model",
                ModelPart(
                    {
                        **common,
                        "feature_names": table.feature_names,
                        "n_iter": host.summary.n_iter,
                        "converged": host.summary.converged,
                    },
                    {"coef": host.coef},
                ),
            )
            predict_host(predict, features, host.coef)
    finally:
        engine.close()


def report_convergence(ctx: Context, summary: TrainingSummary, config: HeteroLRConfig) -> None:
    """Say whether training converged where the user looks: metrics (CLI, board) and the task log.

    ``converged`` (1 or 0) and ``epochs_run`` always; ``loss_change`` (the last epoch's relative loss change)
    and ``tol`` with ``early_stop: loss_diff``, so that ``unseen job submit --wait`` and ``unseen job metrics``
    can say by how much it missed.
    """
    from unseen.vertical.hetero_lr import loss_changes

    ctx.metrics.log("converged", 1.0 if summary.converged else 0.0)
    ctx.metrics.log("epochs_run", float(summary.n_iter))
    change = loss_changes(summary.loss_history)[-1] if summary.loss_history else math.inf
    if config.early_stop == "loss_diff" and math.isfinite(change):
        ctx.metrics.log("loss_change", change)
        ctx.metrics.log("tol", config.tol)
    if summary.converged:
        ctx.logger.info("hetero_lr: converged after %d epochs", summary.n_iter)
    else:
        ctx.logger.warning(
            "hetero_lr: did not converge in %d epochs (last relative loss change %.2g, tol %g); "
            "raise max_iter or learning_rate",
            summary.n_iter,
            change,
            config.tol,
        )


SPEC = ComponentSpec(
    name="hetero_lr",
    roles=frozenset({Role.GUEST, Role.HOST, Role.ARBITER}),
    params=HeteroLRParams,
    run=run,
    inputs=("data",),
    outputs=("predictions", "model"),
    description="vertical logistic regression: Paillier key at the arbiter, masked gradients, federated scoring",
)

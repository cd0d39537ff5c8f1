"""``hetero_secureboost``: gradient-boosted trees over vertically split data, the Paillier key held by the guest.

Guest and hosts read the aligned tables the ``psi`` component wrote (same rows, same order; the guest's carries the
label). They train as :mod:`unseen.vertical.secureboost` describes. Each party stores only its own part of the
model (JSON + npz, no code on load): the guest every tree's structure, leaf weights and its own splits, plus the
feature importance (its features by name, the hosts' by anonymous id); each host its own splits, under random ids
the guest cannot map to a feature. Then both score the same rows together and the guest writes ``predictions``
for ``evaluation`` (``predict_score`` for binary, ``predict_label`` and ``predict_score`` for multi-class,
``predict_value`` for regression).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role

if TYPE_CHECKING:
    from unseen.runtime.context import Context
    from unseen.vertical.secureboost import SecureBoostConfig


class HeteroSecureBoostParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objective: Literal["binary", "multiclass", "regression"] = Field(
        "binary", description="binary: log-loss on 0/1 labels; multiclass: softmax; regression: squared error"
    )
    num_class: int = Field(2, ge=2, le=1000, description="classes (multiclass only: labels 0..num_class-1)")
    num_trees: int = Field(5, ge=1, le=10_000, description="boosting rounds (multiclass: one tree per class each)")
    max_depth: int = Field(3, ge=1, le=16, description="depth of every tree")
    learning_rate: float = Field(0.3, gt=0, le=10, description="shrinkage of every leaf weight")
    max_bin: int = Field(32, ge=2, le=1024, description="bins per feature (quantiles); missing values get their own")
    reg_lambda: float = Field(1.0, ge=0, description="L2 regularisation of leaf weights")
    min_child_weight: float = Field(1e-3, ge=0, description="least hessian sum in a child")
    min_child_samples: int = Field(1, ge=1, description="least rows in a child")
    gamma: float = Field(0.0, ge=0, description="least gain for a split")
    subsample: float = Field(1.0, gt=0, le=1, description="fraction of rows drawn for each tree (hidden from hosts)")
    colsample: float = Field(1.0, gt=0, le=1, description="fraction of each party's features drawn for each tree")
    guest_only_trees: int = Field(0, ge=0, description="the first rounds use the guest's features only")
    validation_fraction: float = Field(
        0.0, ge=0, lt=1, description="rows held out (at the guest, hidden from hosts) for the validation metric"
    )
    early_stopping_rounds: int = Field(0, ge=0, description="stop after this many rounds without a better metric")
    key_bits: int = Field(2048, ge=1024, le=8192, description="Paillier modulus size; 2048 gives ~112-bit security")
    random_seed: int | None = Field(None, description="seeds the guest's row and feature sampling only")
    workers: int = Field(0, ge=0, le=1024, description="processes for the Paillier work at this party; 0: one per core")

    @model_validator(mode="after")
    def _consistent(self) -> HeteroSecureBoostParams:
        self.to_config()  # one place for the cross-field rules (key size, multiclass classes, early stopping)
        if self.key_bits % 2:
            raise ValueError("key_bits must be even")
        return self

    def to_config(self) -> SecureBoostConfig:
        from unseen.vertical.secureboost import SecureBoostConfig

        return SecureBoostConfig(**self.model_dump(exclude={"workers"}))


def run(ctx: Context, params: HeteroSecureBoostParams) -> None:
    # Imported here: the node imports SPEC to validate job configs and needs neither gmpy2 nor the algorithm.
    from unseen.storage.models_store import ModelPart
    from unseen.storage.tables import Table
    from unseen.vertical.secureboost import PROTOCOL
    from unseen.vertical.secureboost_guest import fit_guest, model_meta, predict_guest
    from unseen.vertical.secureboost_host import fit_host, predict_host
    from unseen.vertical.secureboost_objective import transform

    config = params.to_config()
    train, predict = ctx.sub("train"), ctx.sub("predict")
    common = {"model": "hetero_secureboost", "protocol": PROTOCOL, "role": ctx.role.value, "party_id": ctx.party_id}
    table = ctx.read_input("data")
    features = table.features()

    if ctx.role is Role.GUEST:
        if table.label_column is None:
            raise ValueError("the guest's input table has no label column; upload it with --label-column")
        labels = table[table.label_column]
        fit = fit_guest(train, features, labels, config, params.workers, table.feature_names)
        model = fit.model
        arrays = {"base": model.base}
        for index, tree in enumerate(model.trees):
            arrays.update(tree.to_arrays(f"tree{index}_"))
        meta = {
            **common,
            **model_meta(model, table.feature_names),
            "feature_names": table.feature_names,
            "label_column": table.label_column,
            "best_round": fit.best_round,
            "history": fit.history,
        }
        ctx.write_model("model", ModelPart(meta, arrays))
        ctx.metrics.log_json("feature_importance", model.importance)
        raw = predict_guest(predict, features, model)
        out = transform(config.objective, raw)
        columns: dict[str, np.ndarray] = {table.label_column: labels}
        if config.objective == "binary":
            columns["predict_score"] = out
        elif config.objective == "multiclass":
            columns["predict_label"] = out.argmax(axis=1).astype(np.int64)
            columns["predict_score"] = out.max(axis=1)
        else:
            columns["predict_value"] = out
        if table.id_column is not None:
            columns = {table.id_column: table.ids, **columns}
        ctx.write_output("predictions", Table(columns, table.id_column, table.label_column))
        ctx.logger.info("hetero_secureboost: %d trees, %d rows scored", len(model.trees), table.rows)
    else:
        host = fit_host(train, features, config, params.workers)
        meta = {**common, "feature_names": table.feature_names, "splits": len(host.model.split_ids)}
        ctx.write_model("model", ModelPart(meta, host.model.to_arrays()))
        predict_host(predict, features, host.model)
        ctx.logger.info("hetero_secureboost: %d splits of this host stored", len(host.model.split_ids))


SPEC = ComponentSpec(
    name="hetero_secureboost",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=HeteroSecureBoostParams,
    run=run,
    inputs=("data",),
    outputs=("predictions", "model"),
    description="vertical gradient-boosted trees (SecureBoost): the guest's Paillier key, packed encrypted histograms",
)

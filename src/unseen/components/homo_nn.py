"""``homo_nn``: a neural network trained by horizontal federated learning (same features, different users).

The arbiter aggregates (FedAvg, FedProx or the parameter server; :mod:`unseen.horizontal.aggregator`); the guest
and every host are workers that train on their own rows (:mod:`unseen.horizontal.worker`) through the PyTorch or
Keras 3 adapter. With ``secure_aggregation.enabled`` the arbiter learns only the sum of the workers' updates;
with ``dp`` it learns a noised sum (update DP) or each worker's steps are DP-SGD (sample DP, PyTorch).

``mode: train`` (default): at the end every worker and the arbiter store the global model (``model`` output,
safetensors + JSON, no code on load) and each worker writes ``predictions`` for its own rows (``predict_label``,
and ``predict_score`` for two classes) so ``evaluation`` can score them. ``mode: predict`` loads the ``model``
input (an earlier homo_nn's output at the same party) and writes ``predictions`` for the ``data`` input.

Data: a table's columns (reshaped by ``model.input_shape``), or a record table the reader passes on unloaded: a
``cifar10-bin`` upload (the ResNets; images augmented per batch) or a ``criteo-tsv`` upload (``dlrm``; streamed a
row group at a time), through :mod:`unseen.datasets.sources`.

Models: built-ins (``mlp``, ``resnet20/32/44/56/110/18``, ``dlrm``) or ``package.module:function`` from a module the
node's operator listed in ``allowed_model_modules``; every node checks that when the job is proposed
(:func:`code_modules`), so an initiator can never make a node import code its operator did not allow.
See docs/horizontal.md.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role

if TYPE_CHECKING:
    from unseen.horizontal.data import TrainingData
    from unseen.horizontal.strategy import Instruction, Strategy
    from unseen.horizontal.weights import Weights
    from unseen.horizontal.worker import EvalResult, FitResult, GradientResult, LocalTrainer
    from unseen.models.config import DLRMConfig
    from unseen.runtime.context import Context
    from unseen.storage.tables import Table

BUILTIN_MODELS = ("mlp", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet18", "dlrm")
_MODULE_FUNCTION = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}:[A-Za-z_][A-Za-z0-9_]{0,63}$"
)
LABEL, SCORE = "predict_label", "predict_score"


class DLRMParams(BaseModel):
    """DLRM's sizes (``models.config.DLRMConfig``). The arbiter builds the model too and holds no table, so the
    vocabulary is a parameter; each worker checks it equals its table's (``unseen data upload --vocab-size``)."""

    model_config = ConfigDict(extra="forbid")

    vocab_sizes: int | list[int] = Field(
        100_000, description="ids per categorical column: one size for all 26, or 26 sizes (the upload's --vocab-size)"
    )
    embedding_dim: int = Field(16, ge=1, le=1024)
    bottom_mlp: list[int] = Field(default_factory=lambda: [512, 256, 64], description="hidden layers of the bottom MLP")
    top_mlp: list[int] = Field(default_factory=lambda: [512, 256], description="hidden layers of the top MLP")

    @model_validator(mode="after")
    def _sizes(self) -> DLRMParams:
        sizes = [self.vocab_sizes] if isinstance(self.vocab_sizes, int) else self.vocab_sizes
        if len(sizes) not in (1, 26) or any(not 2 <= v <= 1 << 31 for v in sizes):
            raise ValueError("model.dlrm.vocab_sizes: one size or 26 sizes, each from 2 to 2^31")
        for name, layers in (("bottom_mlp", self.bottom_mlp), ("top_mlp", self.top_mlp)):
            if len(layers) > 16 or any(not 1 <= h <= 1 << 16 for h in layers):
                raise ValueError(f"model.dlrm.{name}: at most 16 layers of 1..65536 units")
        return self

    def vocabulary(self) -> tuple[int, ...]:
        return (self.vocab_sizes,) * 26 if isinstance(self.vocab_sizes, int) else tuple(self.vocab_sizes)


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("mlp", description="a built-in (mlp, resnet20/32/44/56/110/18, dlrm) or package.module:function")
    input_dim: int = Field(0, ge=0, le=1 << 24, description="features per row (mlp and user builders)")
    hidden: list[int] = Field(default_factory=lambda: [64], description="mlp: hidden layer sizes")
    num_classes: int = Field(10, ge=1, le=1 << 20, description="outputs; 1 with loss mse")
    input_shape: list[int] | None = Field(None, description="reshape each row to this (e.g. [3, 32, 32] for resnets)")
    options: dict[str, int | float | str | bool] = Field(
        default_factory=dict, description="keyword arguments passed to a user builder"
    )
    dlrm: DLRMParams = Field(default_factory=DLRMParams, description="dlrm: vocabulary and layer sizes")

    @model_validator(mode="after")
    def _known(self) -> ModelParams:
        if self.name not in BUILTIN_MODELS and not _MODULE_FUNCTION.match(self.name):
            raise ValueError(f"model.name must be one of {', '.join(BUILTIN_MODELS)} or package.module:function")
        if self.name == "mlp" and self.input_dim < 1:
            raise ValueError("model.input_dim (features per row) is required for the mlp")
        if len(self.hidden) > 64 or any(not 1 <= h <= 1 << 16 for h in self.hidden):
            raise ValueError("model.hidden: at most 64 layers of 1..65536 units")
        if self.input_shape is not None and (len(self.input_shape) > 4 or min(self.input_shape, default=0) < 1):
            raise ValueError("model.input_shape: 1 to 4 positive sizes")
        return self

    @property
    def module(self) -> str | None:
        """The user module this model imports, or None for a built-in."""
        return None if self.name in BUILTIN_MODELS else self.name.partition(":")[0]


class DataParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label_column: str | None = Field(None, description="default: the input table's declared label column")
    feature_columns: list[str] | None = Field(None, description="default: every column but id and label")
    validation_fraction: float = Field(
        0.0, ge=0.0, lt=1.0, description="rows held out for the per-round evaluation; 0: evaluate on training rows"
    )
    predictions: Literal["all", "validation"] = Field(
        "all", description="rows the predictions output covers: every row, or only the held-out ones"
    )


class StrategyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["fedavg", "fedprox", "param_server"] = "fedavg"
    proximal_mu: float = Field(0.01, ge=0.0, le=1e6, description="fedprox: mu of the proximal term")
    server_lr: float = Field(1.0, gt=0.0, le=1e3, description="fedavg/fedprox: step on the mean change")
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="param_server: the aggregator's optimizer")
    server_momentum: float = Field(0.9, ge=0.0, lt=1.0, description="param_server sgd: momentum")
    steps: int = Field(1, ge=1, le=1 << 16, description="param_server: batches per gradient contribution")


class SecureAggregationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    neighbours: int = Field(0, ge=0, le=1024, description="k: mask against k others (even; 0 = all, SecAgg)")
    ring_bits: Literal[32, 64] = Field(64, description="the ring Z/2^k of the masked sums: 32 halves bytes and masks")
    clip: float | None = Field(
        None, gt=0.0, description="each coordinate of a weighted update clipped to +-clip (65536 in 2^64, 256 in 2^32)"
    )
    frac_bits: int | None = Field(None, ge=8, le=48, description="fixed-point fraction bits (32 in 2^64, 18 in 2^32)")
    threshold: int = Field(
        0, ge=0, le=1024, description="t of Shamir's t-of-k among a worker's k neighbours; 0 = k // 2 + 1"
    )

    @model_validator(mode="after")
    def _threshold_fits(self) -> SecureAggregationParams:
        # Its errors name the bounds: k and t, and that one worker's encoding fits the ring (each round then
        # checks its workers' sum).
        self.secagg_config(0.0)
        return self

    def secagg_config(self, wait_s: float) -> Any:
        """The ``SecAggConfig`` these settings make (a worker waits up to ``wait_s`` for the aggregator)."""
        from unseen.horizontal.secagg import SecAggConfig

        settings = {"neighbours": self.neighbours, "threshold": self.threshold, "wait_s": wait_s}
        return SecAggConfig.in_ring(self.ring_bits, self.frac_bits, self.clip, **settings)


class DPParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["off", "update", "sample"] = Field(
        "off", description="update: DP-FedAvg (clip each worker's update, Gaussian noise); sample: Opacus DP-SGD"
    )
    noise_multiplier: float = Field(1.0, gt=0.0, le=1e3)
    clip_norm: float = Field(1.0, gt=0.0, description="update: L2 bound of one worker's update; sample: per sample")
    delta: float = Field(1e-5, gt=0.0, lt=1.0)
    noise_at: Literal["aggregator", "workers"] = Field("aggregator", description="update DP: who adds the noise")


class HomoNNParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["train", "predict"] = "train"
    framework: Literal["torch", "keras"] = "torch"
    model: ModelParams = Field(default_factory=lambda: ModelParams(input_dim=1))
    data: DataParams = Field(default_factory=DataParams)
    strategy: StrategyParams = Field(default_factory=StrategyParams)
    loss: Literal["cross_entropy", "binary_cross_entropy", "mse"] = "cross_entropy"
    rounds: int = Field(10, ge=1, le=100_000)
    local_epochs: int = Field(1, ge=1, le=10_000)
    batch_size: int = Field(32, ge=1, le=1 << 20)
    lr: float = Field(0.05, gt=0.0, le=100.0, description="the workers' learning rate (param_server: the server's)")
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="the workers' local optimizer")
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    fraction: float = Field(1.0, gt=0.0, le=1.0, description="workers selected per round")
    min_workers: int = Field(1, ge=1, le=100_000, description="a round needs this many; fewer: the job fails")
    round_deadline_s: float = Field(600.0, gt=0.0, le=86_400.0)
    eval_every: int = Field(1, ge=1)
    patience: int = Field(0, ge=0, description="early stopping: rounds without improvement; 0 = off")
    min_delta: float = Field(0.0, ge=0.0)
    checkpoint: bool = Field(False, description="checkpoint the global model every round at the arbiter")
    seed: int | None = Field(None, description="initial weights and worker selection")
    threads: int = Field(
        0,
        ge=0,
        le=1024,
        description="intra-op CPU threads of torch (or TensorFlow, for Keras on it) at each party; 0: the "
        "library's default (every core). "
        "Several workers on one machine: cores / workers (spinning threads of oversubscribed cores run 10x slower)",
    )
    secure_aggregation: SecureAggregationParams = Field(default_factory=SecureAggregationParams)
    dp: DPParams = Field(default_factory=DPParams)

    @model_validator(mode="after")
    def _consistent(self) -> HomoNNParams:
        if self.dp.mode == "sample" and self.framework != "torch":
            raise ValueError("dp.mode 'sample' (Opacus DP-SGD) needs framework: torch")
        if self.dp.mode == "sample" and self.strategy.name == "param_server":
            raise ValueError("dp.mode 'sample' trains locally; use fedavg or fedprox")
        if self.model.name == "dlrm" and self.loss != "binary_cross_entropy":
            raise ValueError("model dlrm predicts a click (one logit): set loss: binary_cross_entropy")
        if self.data.predictions == "validation" and self.data.validation_fraction == 0:
            raise ValueError("data.predictions 'validation' needs data.validation_fraction > 0")
        if self.secure_aggregation.neighbours % 2:
            raise ValueError("secure_aggregation.neighbours must be even (0: every other worker)")
        count = builtin_parameter_count(self.model)
        if count is not None and count > MAX_PARAMETERS:
            raise ValueError(
                f"model {self.model.name} would have {count:,} parameters, more than the {MAX_PARAMETERS:,} a "
                "built-in may have; make it smaller (hidden sizes; dlrm: vocab_sizes, embedding_dim, the MLPs)"
            )
        return self


MAX_PARAMETERS = 1 << 30
"""A built-in model's size bound (4 GiB of float32 weights, each party holding a few copies): the initiator
chooses the sizes, and every party, the arbiter included, builds the model, so sizes are checked before any
party allocates them."""


def dlrm_config(dims: DLRMParams) -> DLRMConfig:
    from unseen.models.config import DLRMConfig

    return DLRMConfig(dims.vocabulary(), embedding_dim=dims.embedding_dim, bottom_mlp=tuple(dims.bottom_mlp),
                      top_mlp=tuple(dims.top_mlp))  # fmt: skip


def builtin_parameter_count(spec: ModelParams) -> int | None:
    """The weights a built-in model would have, from its sizes alone (None for an operator-allowed builder)."""
    if spec.name == "mlp":
        return sum((inputs + 1) * outputs for inputs, outputs in itertools.pairwise([spec.input_dim, *spec.hidden,
                                                                                    spec.num_classes]))  # fmt: skip
    if spec.name == "dlrm":
        return dlrm_config(spec.dlrm).parameter_count()
    if spec.name.startswith("resnet"):
        from unseen.models.config import resnet_by_name

        return resnet_by_name(spec.name, spec.num_classes).parameter_count()
    return None


def tolerated_roles(params: HomoNNParams) -> frozenset[Role]:
    """Training may lose workers (the aggregator's quorum decides); a predict step may not."""
    return frozenset({Role.GUEST, Role.HOST}) if params.mode == "train" else frozenset()


def code_modules(params: HomoNNParams) -> tuple[str, ...]:
    """The user module the task would import (checked against the node's allow-list at proposal)."""
    module = params.model.module
    return () if module is None else (module,)


# --- models ---------------------------------------------------------------------------------------------------


def build_model(params: HomoNNParams) -> Any:
    """A fresh model for ``params.framework``: a torch ``nn.Module`` or a ``keras.Model``."""
    spec = params.model
    if spec.name == "mlp":
        layers = [spec.input_dim, *spec.hidden, spec.num_classes]
        if params.framework == "torch":
            from unseen.horizontal import torch as adapter

            return adapter.mlp(layers)
        from unseen.horizontal import keras as kadapter

        return kadapter.mlp(layers)
    if spec.name.startswith("resnet"):
        from unseen.models.config import resnet_by_name

        config = resnet_by_name(spec.name, spec.num_classes)
        if params.framework == "torch":
            from unseen.models.torch_resnet import build_resnet

            return build_resnet(config)
        from unseen.models.keras_resnet import build_resnet as build_keras_resnet

        # channel-major images (as CIFAR files store them) on every backend; TensorFlow convolves channels-last
        tensorflow = _keras_backend() == "tensorflow"
        return build_keras_resnet(
            config, data_format="channels_last" if tensorflow else "channels_first", input_format="channels_first"
        )
    if spec.name == "dlrm":
        dlrm = dlrm_config(spec.dlrm)
        if params.framework == "torch":
            from unseen.models.torch_dlrm import build_dlrm

            return build_dlrm(dlrm)
        from unseen.models.keras_dlrm import build_dlrm as build_keras_dlrm

        return build_keras_dlrm(dlrm)
    import importlib

    module_name, _, function = spec.name.partition(":")
    builder = getattr(importlib.import_module(module_name), function, None)
    if not callable(builder):
        raise ValueError(f"{module_name} has no function {function}")
    return builder(framework=params.framework, input_dim=spec.input_dim, num_classes=spec.num_classes, **spec.options)


def _seed(params: HomoNNParams) -> None:
    if params.seed is None:
        return
    if params.framework == "torch":
        import torch

        torch.manual_seed(params.seed)
    else:
        from unseen.horizontal import keras as adapter  # not keras itself: the adapter sets KERAS_BACKEND first

        adapter.set_random_seed(params.seed)


def _keras_backend() -> str:
    from unseen.horizontal import keras as adapter  # not keras itself: the adapter sets KERAS_BACKEND first

    return adapter.backend_name()


def limit_threads(params: HomoNNParams) -> None:
    """``params.threads`` intra-op CPU threads for the library that computes: torch, or TensorFlow under Keras on the
    ``tensorflow`` backend (which must not need torch installed); nothing for 0 or another Keras backend."""
    if not params.threads:
        return
    backend = "torch" if params.framework == "torch" else _keras_backend()
    if backend == "torch":
        import torch

        torch.set_num_threads(params.threads)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(params.threads)


def initial_weights(params: HomoNNParams) -> Weights:
    _seed(params)
    model = build_model(params)
    if params.framework == "torch":
        from unseen.horizontal import torch as adapter

        return {n: a.copy() for n, a in adapter.get_weights(model).items()}
    from unseen.horizontal import keras as kadapter

    return {n: a.copy() for n, a in kadapter.get_weights(model).items()}


def make_trainer(params: HomoNNParams, data: TrainingData, validation: TrainingData | None) -> Any:
    """The framework adapter's LocalTrainer (it also has ``predict``) for this worker's rows."""
    model = build_model(params)
    lr = params.lr
    if params.framework == "torch":
        from unseen.horizontal import torch as adapter

        dp = None
        if params.dp.mode == "sample":
            dp = adapter.SampleDP(params.dp.noise_multiplier, params.dp.clip_norm, params.dp.delta)
        return adapter.TorchTrainer(model, data, x_val=validation, lr=lr, optimizer=params.optimizer,
                                    momentum=params.momentum, loss=params.loss, seed=params.seed, dp=dp)  # fmt: skip
    from unseen.horizontal import keras as kadapter

    return kadapter.KerasTrainer(model, data, x_val=validation, lr=lr, optimizer=params.optimizer,
                                 momentum=params.momentum, loss=params.loss, seed=params.seed)  # fmt: skip


def make_strategy(params: HomoNNParams) -> Strategy:
    from unseen.horizontal.fedavg import FedAvg
    from unseen.horizontal.fedprox import FedProx
    from unseen.horizontal.param_server import SGD, Adam, ParameterServer

    s = params.strategy
    if s.name == "fedavg":
        return FedAvg(params.local_epochs, params.batch_size, s.server_lr)
    if s.name == "fedprox":
        return FedProx(params.local_epochs, params.batch_size, s.server_lr, proximal_mu=s.proximal_mu)
    optimizer = Adam(lr=params.lr) if s.optimizer == "adam" else SGD(lr=params.lr, momentum=s.server_momentum)
    return ParameterServer(optimizer, steps=s.steps, batch_size=params.batch_size)


# --- data -----------------------------------------------------------------------------------------------------


def _rows(params: HomoNNParams, table: Table, need_labels: bool) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    label = params.data.label_column or table.label_column
    names = params.data.feature_columns or [n for n in table.feature_names if n != label]
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"homo_nn: feature columns {missing[:5]} are not in the input table")
    if params.model.input_dim and len(names) != params.model.input_dim and params.model.input_shape is None:
        raise ValueError(
            f"homo_nn: model.input_dim is {params.model.input_dim} but the table has {len(names)} features"
        )
    x = np.column_stack([table.columns[n].astype(np.float32) for n in names]) if names else np.zeros((table.rows, 0))
    if params.model.input_shape is not None:
        x = x.reshape((table.rows, *params.model.input_shape))
    if label is None or label not in table.columns:
        if need_labels:
            raise ValueError("homo_nn: the input table has no label column; upload it with --label-column")
        return x, None, names
    return x, np.asarray(table.columns[label]), names


def _labels(params: HomoNNParams, y: np.ndarray) -> np.ndarray:
    if params.loss == "cross_entropy":
        if y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("homo_nn: cross_entropy needs integer class labels")
        labels = y.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= params.model.num_classes):
            raise ValueError(f"homo_nn: labels must be in 0..{params.model.num_classes - 1}")
        return labels
    return y.astype(np.float32)


def _predictions(params: HomoNNParams, outputs: np.ndarray, rows: WorkerRows) -> Table:
    from unseen.storage.tables import Table

    columns: dict[str, np.ndarray] = {}
    if rows.id_column is not None and rows.ids is not None:
        columns[rows.id_column] = rows.ids
    label = rows.label_column if rows.labels is not None else None
    if label is not None and rows.labels is not None:
        columns[label] = rows.labels
    if params.loss == "cross_entropy":
        columns[LABEL] = outputs.argmax(axis=1).astype(np.int64)
        if outputs.shape[1] == 2:
            shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            columns[SCORE] = (shifted[:, 1] / shifted.sum(axis=1)).astype(np.float64)
    elif params.loss == "binary_cross_entropy":
        columns[SCORE] = (1.0 / (1.0 + np.exp(-outputs.reshape(-1).astype(np.float64)))).astype(np.float64)
    else:
        columns["predict_value"] = outputs.reshape(-1).astype(np.float64)
    return Table(columns, rows.id_column if rows.id_column in columns else None, label)


@dataclass
class WorkerRows:
    """A worker's data as the trainer sees it: training rows, validation rows (None: evaluate on the training rows)
    and the rows the predictions output covers, with their labels, ids and the names of their columns."""

    train: TrainingData
    validation: TrainingData | None
    scored: TrainingData
    labels: np.ndarray | None
    label_column: str | None
    ids: np.ndarray | None = None
    id_column: str | None = None
    feature_names: list[str] | None = None


def _fits_model(params: HomoNNParams, kind: str | None) -> None:
    """A clear error when the input table is not what the model reads."""
    name = params.model.name
    if name == "dlrm" and kind != "criteo-tsv":
        what = f"a {kind} table" if kind else "a table of columns"
        raise ValueError(
            f"homo_nn: model dlrm needs a criteo-tsv table (upload with --format criteo-tsv); input 'data' is {what}"
        )
    if kind == "criteo-tsv" and name != "dlrm":
        raise ValueError(f"homo_nn: input 'data' is a criteo-tsv table; it trains model dlrm, not {name}")
    if kind == "cifar10-bin":
        if not name.startswith("resnet"):
            raise ValueError(
                f"homo_nn: input 'data' is a cifar10-bin table of 3x32x32 images; it trains resnet20/32/44/56/110/18, "
                f"not {name}"
            )
        if params.loss != "cross_entropy" or params.model.num_classes < 10:
            raise ValueError("homo_nn: CIFAR-10 has 10 classes: use loss cross_entropy and model.num_classes 10")


def _record_rows(params: HomoNNParams, path: Path, kind: str, predicting: bool) -> WorkerRows:
    from unseen.datasets.sources import CifarData, CriteoData

    fraction = 0.0 if predicting else params.data.validation_fraction
    seed = params.seed or 0
    if kind == "cifar10-bin":
        everything = CifarData.from_table(path)
        fixed = everything.take(np.arange(everything.num_samples), augment=False)
        if fraction == 0:
            return WorkerRows(everything, None, fixed, fixed.labels(), "label")
        order = np.random.default_rng(params.seed).permutation(everything.num_samples)
        held = max(1, round(fraction * len(order)))
        validation = everything.take(np.sort(order[:held]), augment=False)
        train = everything.take(order[held:])
        scored = validation if params.data.predictions == "validation" else fixed
        return WorkerRows(train, validation, scored, scored.labels(), "label")
    train_rows = CriteoData(path, "train" if fraction else "all", fraction, seed)
    if train_rows.vocab_sizes != list(params.model.dlrm.vocabulary()):
        raise ValueError(
            f"homo_nn: this party's Criteo table was hashed into vocabularies of {sorted(set(train_rows.vocab_sizes))} "
            f"ids but model.dlrm.vocab_sizes is {params.model.dlrm.vocab_sizes}: set it to the upload's --vocab-size"
        )
    validation_rows = CriteoData(path, "validation", fraction, seed) if fraction else None
    if validation_rows is not None and validation_rows.num_samples == 0:
        raise ValueError("homo_nn: the validation fraction holds out no row of this party's Criteo table")
    if validation_rows is not None and params.data.predictions == "validation":
        rows_scored = validation_rows
    else:
        rows_scored = CriteoData(path, "all", 0.0, seed)
    return WorkerRows(train_rows, validation_rows, rows_scored, rows_scored.labels().astype(np.int64), "label")


def _table_rows(params: HomoNNParams, table: Table, predicting: bool) -> WorkerRows:
    from unseen.horizontal.data import ArrayData

    x, y, names = _rows(params, table, need_labels=not predicting)
    ids = table.ids if table.id_column is not None else None
    if y is None:
        everything = ArrayData((x,), np.zeros(len(x), dtype=np.int64))
        return WorkerRows(everything, None, everything, None, None, ids, table.id_column, names)
    label = params.data.label_column or table.label_column
    everything = ArrayData((x,), _labels(params, y))
    if predicting or params.data.validation_fraction == 0 or len(y) < 2:
        return WorkerRows(everything, None, everything, y, label, ids, table.id_column, names)
    order = np.random.default_rng(params.seed).permutation(len(y))
    held = max(1, round(params.data.validation_fraction * len(y)))
    validation_order = np.sort(order[:held])
    validation, train = everything.take(validation_order), everything.take(order[held:])
    if params.data.predictions == "validation":
        scored_ids = None if ids is None else ids[validation_order]
        return WorkerRows(train, validation, validation, y[validation_order], label, scored_ids, table.id_column, names)
    return WorkerRows(train, validation, everything, y, label, ids, table.id_column, names)


def load_rows(ctx: Context, params: HomoNNParams, predicting: bool = False) -> WorkerRows:
    """This worker's rows from input ``data``: a record table streamed from its stored file, or a table's columns."""
    from unseen.datasets.record_tables import stored_format

    path = ctx.input_path("data")
    kind = stored_format(path)
    _fits_model(params, kind)
    if kind is not None:
        return _record_rows(params, path, kind, predicting)
    return _table_rows(params, ctx.read_input("data"), predicting)


# --- the task -------------------------------------------------------------------------------------------------


class _Logged:
    """The worker's trainer, logging per round at this party its local loss, its training throughput
    (``train_samples_per_s``: samples of the fit or gradient over its seconds, weights in and out included) and
    DP-SGD's epsilon."""

    def __init__(self, trainer: LocalTrainer, ctx: Context) -> None:
        self.trainer, self.ctx = trainer, ctx

    def _throughput(self, samples: int, began: float, step: int) -> None:
        seconds = time.perf_counter() - began
        if seconds > 0:
            self.ctx.metrics.log("train_samples_per_s", samples / seconds, step=step)

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        began = time.perf_counter()
        result = self.trainer.fit(weights, instruction)
        self._throughput(result.num_samples * instruction.local_epochs, began, instruction.server_round)
        self.ctx.metrics.log("local_loss", result.loss, step=instruction.server_round)
        epsilon = getattr(self.trainer, "epsilon", None)
        if epsilon is not None:
            self.ctx.metrics.log("sample_epsilon", epsilon, step=instruction.server_round)
        return result

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        began = time.perf_counter()
        result = self.trainer.gradient(weights, instruction)
        self._throughput(result.num_samples, began, instruction.server_round)
        return result

    def evaluate(self, weights: Weights) -> EvalResult:
        return self.trainer.evaluate(weights)


PROGRESS_NAMES = {"workers": "workers", "seconds": "round_seconds", "eval_loss": "global_loss",
                  "eval_accuracy": "global_accuracy", "epsilon": "epsilon"}  # fmt: skip


def _progress_logger(ctx: Context) -> Any:
    """Log the aggregator's summary of each round at this worker, so the initiator's CLI can show progress.

    The summary comes from another party: only finite numbers in range are kept, under fixed names."""

    def log(progress: Mapping[str, object]) -> None:
        done, total = progress.get("round"), progress.get("rounds")
        if not (isinstance(done, int) and isinstance(total, int) and 0 < done <= total <= 1 << 20):
            return
        figures: dict[str, float] = {"round": done, "rounds": total}
        for key, name in PROGRESS_NAMES.items():
            value = progress.get(key)
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
            if math.isfinite(number) and abs(number) < 1e12:
                figures[name] = number
        ctx.metrics.log_all(figures, step=done - 1)  # one call to the node per round, before training starts

    return log


def _summers(params: HomoNNParams, wait_s: float) -> tuple[Any, Any]:
    from unseen.horizontal.summation import PlainSum

    if not params.secure_aggregation.enabled:
        return PlainSum(), PlainSum()
    from unseen.horizontal.secagg import SecAggClient, SecAggServer

    config = params.secure_aggregation.secagg_config(wait_s)
    return SecAggServer(config), SecAggClient(config)


def _dp(params: HomoNNParams) -> Any:
    if params.dp.mode != "update":
        return None
    from unseen.horizontal.dp import DPConfig

    shares = params.min_workers if params.dp.noise_at == "workers" else 1
    return DPConfig(params.dp.noise_multiplier, params.dp.clip_norm, params.dp.delta, params.dp.noise_at, shares)


def _meta(params: HomoNNParams, ctx: Context, **extra: Any) -> dict[str, Any]:
    return {
        "model": "homo_nn",
        "framework": params.framework,
        "architecture": params.model.model_dump(mode="json"),
        "loss": params.loss,
        "role": ctx.role.value,
        "party_id": ctx.party_id,
        **extra,
    }


def run(ctx: Context, params: HomoNNParams) -> None:
    from unseen.storage.models_store import ModelPart

    limit_threads(params)
    if params.mode == "predict":
        _predict(ctx, params)
        return
    server, client = _summers(params, ctx.recv_timeout)
    if ctx.role is Role.ARBITER:
        _aggregate(ctx, params, server)
        return
    from unseen.horizontal.worker import decline, run_worker

    federation = ctx.sub("fl")
    try:
        rows = load_rows(ctx, params)
        trainer = make_trainer(params, rows.train, rows.validation)
    except Exception as exc:  # the task fails with exc; first the aggregator hears why, so it need not wait
        with contextlib.suppress(Exception):  # best effort: an unreachable arbiter must not hide exc
            decline(federation, f"{type(exc).__name__}: {exc}")
        raise
    result = run_worker(
        federation, _Logged(trainer, ctx), summer=client, dp=_dp(params), on_progress=_progress_logger(ctx)
    )
    if result.status != "done" or result.weights is None:
        raise RuntimeError(f"this worker left the job: {result.reason or 'the aggregator dismissed it'}")
    meta = _meta(params, ctx, feature_names=rows.feature_names, label_column=rows.label_column,
                 rounds_trained=result.rounds_trained, final_loss=result.final_loss)  # fmt: skip
    ctx.write_model("model", ModelPart(meta, dict(result.weights), "safetensors"))
    outputs = trainer.predict(result.weights, rows.scored)
    ctx.write_output("predictions", _predictions(params, outputs, rows))
    ctx.logger.info(
        "homo_nn: trained %d rounds on %d rows; model stored", result.rounds_trained, rows.train.num_samples
    )


def _aggregate(ctx: Context, params: HomoNNParams, server: Any) -> None:
    from unseen.horizontal.aggregator import FederatedConfig, run_aggregator
    from unseen.storage.models_store import ModelPart

    checkpoint = None
    if params.checkpoint and ctx.models is not None:
        folder = ctx.models.folder(ctx.job_id, ctx.component, "checkpoint")
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint = folder / "global.npz"
    config = FederatedConfig(
        rounds=params.rounds, fraction=params.fraction, min_workers=params.min_workers,
        round_deadline_s=params.round_deadline_s, eval_every=params.eval_every, patience=params.patience,
        min_delta=params.min_delta, checkpoint_path=checkpoint, seed=params.seed,
    )  # fmt: skip
    result = run_aggregator(ctx.sub("fl"), make_strategy(params), initial_weights(params), config, server, _dp(params))
    history = [
        {"round": r.server_round, "workers": r.contributors, "seconds": r.seconds, "eval_loss": r.eval_loss,
         "eval_accuracy": r.eval_accuracy, "missing": r.missing}
        for r in result.history
    ]  # fmt: skip
    meta = _meta(params, ctx, history=history, stopped_early=result.stopped_early, final_loss=result.final_loss,
                 final_accuracy=result.final_accuracy, left=[str(p) for p in result.left])  # fmt: skip
    ctx.write_model("model", ModelPart(meta, dict(result.weights), "safetensors"))


def _predict(ctx: Context, params: HomoNNParams) -> None:
    if ctx.role is Role.ARBITER:
        return
    from unseen.horizontal.weights import check_same_layout

    part = ctx.read_model("model")
    if part.meta.get("model") != "homo_nn" or part.meta.get("framework") != params.framework:
        raise ValueError("homo_nn predict: the model input is not a homo_nn model of this framework")
    rows = load_rows(ctx, params, predicting=True)
    trainer = make_trainer(params, rows.scored, None)
    fresh = initial_weights(params)
    stored = {name: part.arrays[name] for name in fresh if name in part.arrays}  # safetensors keeps names sorted
    if len(stored) != len(part.arrays):
        raise ValueError("the stored model holds tensors this model does not have")
    check_same_layout(fresh, stored, "the stored model")
    outputs = trainer.predict(stored, rows.scored)
    ctx.write_output("predictions", _predictions(params, outputs, rows))
    ctx.logger.info("homo_nn: %d rows predicted", rows.scored.num_samples)


SPEC = ComponentSpec(
    name="homo_nn",
    roles=frozenset({Role.GUEST, Role.HOST, Role.ARBITER}),
    params=HomoNNParams,
    run=run,
    inputs=("data", "model"),
    outputs=("predictions", "model"),
    description="horizontal FL of a neural network (PyTorch or Keras): FedAvg/FedProx/parameter server, "
    "secure aggregation, DP",
    optional_inputs=("model",),
    tolerates_failed=tolerated_roles,
    code_modules=code_modules,
)

"""The Keras 3 adapter: a ``keras.Model`` as a :class:`~unseen.horizontal.worker.LocalTrainer`, one code path.

Keras runs on whatever backend ``KERAS_BACKEND`` names; importing this module sets it to ``torch`` when unset
(no TensorFlow needed). Everything here goes through backend-neutral Keras APIs (``fit``, ``evaluate``,
``train_on_batch``, ``Variable.assign``), so the same code trains on torch, TensorFlow or JAX.

Weights cross as named numpy arrays keyed by each variable's ``path`` (``dense/kernel``), in ``model.weights``
order, non-trainable ones (BatchNorm statistics) included. A round compiles the model with a fresh optimizer
(SGD with momentum, or Adam) and runs ``model.fit`` for ``local_epochs``. FedProx is a decoupled proximal step
after every batch, ``w <- w - lr * mu * (w - w_global)`` (a callback; Keras has no backend-neutral hook to edit
gradients). The parameter-server ``gradient()`` is exact with no backend code: from ``w``, one
``train_on_batch`` with plain SGD at learning rate 1 leaves ``w - g``, so ``g = w - w'``; non-trainable weights
get a zero gradient.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras

from unseen.horizontal.strategy import Instruction
from unseen.horizontal.weights import Weights
from unseen.horizontal.worker import EvalResult, FitResult, GradientResult

LossName = Literal["cross_entropy", "binary_cross_entropy", "mse"]
OptimizerName = Literal["sgd", "adam"]


def weight_names(model: Any) -> list[str]:
    names = [str(v.path) for v in model.weights]
    if len(set(names)) != len(names):
        raise ValueError("the Keras model has two weights with the same path; name its layers uniquely")
    return names


def get_weights(model: Any) -> Weights:
    """The model's weights (trainable and not) as named numpy arrays, keyed by variable path."""
    return {str(v.path): np.asarray(keras.ops.convert_to_numpy(v.value)) for v in model.weights}


def set_weights(model: Any, weights: Mapping[str, np.ndarray]) -> None:
    names = weight_names(model)
    if names != list(weights):
        missing = sorted(set(names) - set(weights))[:5]
        extra = sorted(set(weights) - set(names))[:5]
        raise ValueError(f"the weights do not match the model: missing {missing}, unexpected {extra}")
    for variable in model.weights:
        value = np.asarray(weights[str(variable.path)])
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"weight {variable.path} has shape {value.shape}, the model's {tuple(variable.shape)}")
        variable.assign(value.astype(variable.dtype))


def mlp(layers: list[int]) -> Any:
    """``layers[0]`` inputs, ReLU hidden layers, ``layers[-1]`` outputs (logits); layers named ``dense_<i>``."""
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"an MLP needs at least an input and an output size, all positive; got {layers}")
    inputs = keras.Input(shape=(layers[0],), name="features")
    x = inputs
    for i, units in enumerate(layers[1:]):
        last = i == len(layers) - 2
        x = keras.layers.Dense(units, activation=None if last else "relu", name=f"dense_{i}")(x)
    return keras.Model(inputs, x, name="mlp")


def _loss(name: LossName) -> Any:
    if name == "cross_entropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if name == "binary_cross_entropy":
        return keras.losses.BinaryCrossentropy(from_logits=True)
    return keras.losses.MeanSquaredError()


def _metrics(name: LossName) -> list[Any]:
    if name == "cross_entropy":
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if name == "binary_cross_entropy":
        return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
    return []


class _Proximal(keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self, anchors: list[np.ndarray], step: float) -> None:
        super().__init__()
        self.anchors, self.step = anchors, step

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        for variable, anchor in zip(self.model.trainable_weights, self.anchors, strict=True):
            variable.assign(variable - self.step * (variable - anchor))


class KerasTrainer:
    """Local training of a Keras ``model`` on the worker's rows; evaluation on ``(x_val, y_val)`` (else train)."""

    def __init__(
        self,
        model: Any,
        x: np.ndarray,
        y: np.ndarray,
        *,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        lr: float = 0.01,
        optimizer: OptimizerName = "sgd",
        momentum: float = 0.0,
        loss: LossName = "cross_entropy",
        seed: int | None = None,
        eval_batch_size: int = 1024,
    ) -> None:
        if len(x) != len(y) or len(y) == 0:
            raise ValueError(f"a worker needs rows: {len(x)} feature rows, {len(y)} labels")
        label_dtype = np.int64 if loss == "cross_entropy" else np.float32
        self.model = model
        self.names = weight_names(model)
        self.x, self.y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=label_dtype)
        self.x_val = self.x if x_val is None else np.asarray(x_val, dtype=np.float32)
        self.y_val = self.y if y_val is None else np.asarray(y_val, dtype=label_dtype)
        self.lr, self.optimizer_name, self.momentum, self.loss_name = lr, optimizer, momentum, loss
        self.rng = np.random.default_rng(seed)
        self.eval_batch_size = eval_batch_size
        self._compiled: str | None = None
        self._cursor = 0
        self._order = self.rng.permutation(len(self.y))
        if seed is not None:
            keras.utils.set_random_seed(seed)

    @property
    def num_samples(self) -> int:
        return len(self.y)

    def _compile(self, how: str) -> None:
        if how == "gradient":
            optimizer = keras.optimizers.SGD(learning_rate=1.0)
        elif self.optimizer_name == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=self.lr)
        else:
            optimizer = keras.optimizers.SGD(learning_rate=self.lr, momentum=self.momentum)
        self.model.compile(optimizer=optimizer, loss=_loss(self.loss_name), metrics=_metrics(self.loss_name))
        self._compiled = how

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        set_weights(self.model, weights)
        self._compile("fit")  # a fresh local optimizer every round, as FedAvg's workers start
        callbacks = []
        if instruction.proximal_mu > 0:
            anchors = [np.asarray(weights[str(v.path)]) for v in self.model.trainable_weights]
            callbacks.append(_Proximal(anchors, self.lr * instruction.proximal_mu))
        order = self.rng.permutation(len(self.y))  # shuffled here so the seed fixes the batches on any backend
        history = self.model.fit(
            self.x[order],
            self.y[order],
            batch_size=instruction.batch_size,
            epochs=instruction.local_epochs,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
        losses = history.history.get("loss", [])
        return FitResult(get_weights(self.model), self.num_samples, float(np.mean(losses)) if losses else 0.0)

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        if self._compiled != "gradient":
            self._compile("gradient")
        trainable = {str(v.path) for v in self.model.trainable_weights}
        sums = {n: np.zeros(np.shape(w), dtype=np.float64) for n, w in weights.items()}
        rows, losses = 0, []
        for _ in range(instruction.steps):
            if self._cursor >= len(self._order):
                self._order, self._cursor = self.rng.permutation(len(self.y)), 0
            batch = self._order[self._cursor : self._cursor + instruction.batch_size]
            self._cursor += instruction.batch_size
            set_weights(self.model, weights)
            logs = self.model.train_on_batch(self.x[batch], self.y[batch], return_dict=True)
            after = get_weights(self.model)
            for name in trainable:
                sums[name] += (np.asarray(weights[name], dtype=np.float64) - after[name]) * len(batch)
            rows += len(batch)
            losses.append(float(logs["loss"]))
        set_weights(self.model, weights)
        return GradientResult({n: s / rows for n, s in sums.items()}, rows, float(np.mean(losses)))

    def predict(self, weights: Weights | None, x: np.ndarray) -> np.ndarray:
        if weights is not None:
            set_weights(self.model, weights)
        return np.asarray(
            self.model.predict(np.asarray(x, dtype=np.float32), batch_size=self.eval_batch_size, verbose=0)
        )

    def evaluate(self, weights: Weights) -> EvalResult:
        set_weights(self.model, weights)
        if self._compiled is None:
            self._compile("fit")
        logs = self.model.evaluate(self.x_val, self.y_val, batch_size=self.eval_batch_size, verbose=0, return_dict=True)
        loss = float(logs["loss"])
        return EvalResult(
            loss if math.isfinite(loss) else float("inf"), float(logs.get("accuracy", 0.0)), len(self.y_val)
        )


__all__ = ["KerasTrainer", "get_weights", "mlp", "set_weights", "weight_names"]

"""The Keras 3 adapter: a ``keras.Model`` as a :class:`~unseen.horizontal.worker.LocalTrainer`, one code path.

Keras runs on whatever backend ``KERAS_BACKEND`` names; importing this module sets it to ``torch`` when unset
(no TensorFlow needed). Everything here goes through backend-neutral Keras APIs (``fit``, ``evaluate``,
``train_on_batch``, ``Variable.assign``), so the same code trains on torch, TensorFlow or JAX.

Weights cross as named numpy arrays keyed by each variable's ``path`` (``dense/kernel``), in ``model.weights``
order, non-trainable ones (BatchNorm statistics) included. A round starts a fresh optimizer state
(SGD with momentum, or Adam) and runs ``train_on_batch`` on the batches of ``local_epochs`` epochs of the worker's
:class:`~unseen.horizontal.data.TrainingData`, each prepared in a background thread during the step before.
FedProx is a decoupled proximal step after every batch, ``w <- w - lr * mu * (w - w_global)`` (Keras has no
backend-neutral hook to edit gradients). Evaluation runs the model on ordered batches and scores the logits in
numpy (``data.loss_and_correct``), as the PyTorch adapter does. The parameter-server ``gradient()`` is exact
with no backend code: from ``w``, one ``train_on_batch`` with plain SGD at learning rate 1 leaves ``w - g``, so
``g = w - w'``; non-trainable weights get a zero gradient.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras

from unseen.horizontal.data import (
    ArrayData,
    BatchStream,
    TrainingData,
    as_data,
    label_dtype,
    loss_and_correct,
    mean_loss,
    prefetched,
)
from unseen.horizontal.strategy import Instruction
from unseen.horizontal.weights import Weights
from unseen.horizontal.worker import EvalResult, FitResult, GradientResult

LossName = Literal["cross_entropy", "binary_cross_entropy", "mse"]
CALIBRATION_BATCHES = 20
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


def set_random_seed(seed: int) -> None:
    """Seed Keras (and its backend) through this module, which picked the backend before importing Keras."""
    keras.utils.set_random_seed(seed)


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


def _inputs(inputs: tuple[np.ndarray, ...]) -> Any:
    """One array for a single-input model, a list for a model of several inputs (DLRM: dense, sparse)."""
    return inputs[0] if len(inputs) == 1 else list(inputs)


class KerasTrainer:
    """Local training of a Keras ``model`` on the worker's rows; evaluation on the validation rows (else train).

    ``data`` / ``x_val`` as for :class:`unseen.horizontal.torch.TorchTrainer`: a ``TrainingData`` source or an array
    with its labels. Every step is one ``train_on_batch`` on a batch prepared ahead in a background thread, so
    sources that augment or stream train exactly as rows in memory do."""

    def __init__(
        self,
        model: Any,
        data: np.ndarray | TrainingData,
        y: np.ndarray | None = None,
        *,
        x_val: np.ndarray | TrainingData | None = None,
        y_val: np.ndarray | None = None,
        lr: float = 0.01,
        optimizer: OptimizerName = "sgd",
        momentum: float = 0.0,
        loss: LossName = "cross_entropy",
        seed: int | None = None,
        eval_batch_size: int = 1024,
    ) -> None:
        self.model = model
        self.names = weight_names(model)
        self.data = as_data(data, y)
        if self.data.num_samples == 0:
            raise ValueError("a worker needs rows: its data holds none")
        self.validation = self.data if x_val is None else as_data(x_val, y_val)
        self.lr, self.optimizer_name, self.momentum, self.loss_name = lr, optimizer, momentum, loss
        self._label_dtype = label_dtype(loss)
        self.rng = np.random.default_rng(seed)
        self.eval_batch_size = eval_batch_size
        self._compiled: str | None = None
        self._fresh: list[np.ndarray] = []  # the optimizer's variables as built: what a fresh one holds
        self._stream = BatchStream(self.data, self.rng)
        self._gradients_only = False  # parameter-server mode: batch-norm statistics never reach the server
        if seed is not None:
            keras.utils.set_random_seed(seed)

    @property
    def num_samples(self) -> int:
        return self.data.num_samples

    def _compile(self, how: str) -> None:
        """Compile once per mode; later rounds of the same mode put the optimizer's variables (step count,
        momenta) back to their values as built, which is a fresh optimizer without a new compile: on
        TensorFlow a compile discards the traced step and prediction functions, and every round traced them
        again (a retracing warning per round, seconds a round for DLRM)."""
        if self._compiled == how and self._fresh:
            for variable, value in zip(self.model.optimizer.variables, self._fresh, strict=True):
                variable.assign(value)
            return
        if how == "gradient":
            optimizer = keras.optimizers.SGD(learning_rate=1.0)
        elif self.optimizer_name == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=self.lr)
        else:
            optimizer = keras.optimizers.SGD(learning_rate=self.lr, momentum=self.momentum)
        self.model.compile(optimizer=optimizer, loss=_loss(self.loss_name))
        optimizer.build(self.model.trainable_variables)
        self._fresh = [np.array(v) for v in optimizer.variables]
        self._compiled = how

    def _train_step(self, inputs: tuple[np.ndarray, ...], labels: np.ndarray) -> float:
        logs = self.model.train_on_batch(_inputs(inputs), np.asarray(labels, dtype=self._label_dtype), return_dict=True)
        return float(logs["loss"])

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        set_weights(self.model, weights)
        self._compile("fit")  # a fresh local optimizer state every round, as FedAvg's workers start
        anchors: list[np.ndarray] = []
        if instruction.proximal_mu > 0:
            anchors = [np.asarray(weights[str(v.path)]) for v in self.model.trainable_weights]
        step = self.lr * instruction.proximal_mu
        losses = []
        for _ in range(instruction.local_epochs):
            for inputs, labels in prefetched(lambda: self.data.epoch(instruction.batch_size, self.rng)):
                losses.append(self._train_step(inputs, labels))
                for variable, anchor in zip(self.model.trainable_weights if anchors else [], anchors, strict=True):
                    variable.assign(variable - step * (variable - anchor))
        return FitResult(get_weights(self.model), self.num_samples, float(np.mean(losses)) if losses else 0.0)

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        self._gradients_only = True
        if self._compiled != "gradient":
            self._compile("gradient")  # once: the step count it keeps is not state (SGD without momentum)
        trainable = {str(v.path) for v in self.model.trainable_weights}
        sums = {n: np.zeros(np.shape(w), dtype=np.float64) for n, w in weights.items()}
        rows, losses = 0, []
        for _ in range(instruction.steps):
            inputs, labels = self._stream.take(instruction.batch_size)
            set_weights(self.model, weights)
            losses.append(self._train_step(inputs, labels))
            after = get_weights(self.model)
            for name in trainable:
                sums[name] += (np.asarray(weights[name], dtype=np.float64) - after[name]) * len(labels)
            rows += len(labels)
        set_weights(self.model, weights)
        return GradientResult({n: s / rows for n, s in sums.items()}, rows, float(np.mean(losses)))

    def _outputs(self, data: TrainingData) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for inputs, labels in prefetched(lambda: data.ordered(self.eval_batch_size)):
            yield np.asarray(self.model.predict_on_batch(_inputs(inputs))), labels

    def predict(self, weights: Weights | None, data: np.ndarray | TrainingData) -> np.ndarray:
        """The model's outputs (logits) for every row of ``data`` in its ``ordered`` order (or the array ``data``)."""
        if weights is not None:
            set_weights(self.model, weights)
            self._calibrate()
        source = ArrayData((data,), np.zeros(len(data))) if isinstance(data, np.ndarray) else data
        outputs = [out for out, _ in self._outputs(source)]
        return np.concatenate(outputs) if outputs else np.zeros((0,))

    def _calibrate(self) -> None:
        """As the PyTorch adapter's: in parameter-server mode re-estimate the batch-norm statistics from up to
        ``CALIBRATION_BATCHES`` of this worker's batches, a cumulative average (momentum k / (k + 1) at the k-th)."""
        norms = [layer for layer in self.model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        if not self._gradients_only or not norms:
            return
        saved = [layer.momentum for layer in norms]
        for layer in norms:
            layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, dtype="float32"))
            layer.moving_variance.assign(np.ones(layer.moving_variance.shape, dtype="float32"))
        batches = prefetched(lambda: self.data.epoch(self.eval_batch_size // 4 or 1, self.rng))
        for k, (inputs, _) in enumerate(itertools.islice(batches, CALIBRATION_BATCHES)):
            for layer in norms:
                layer.momentum = k / (k + 1)
            self.model(_inputs(inputs), training=True)
        batches.close()
        for layer, momentum in zip(norms, saved, strict=True):
            layer.momentum = momentum

    def evaluate(self, weights: Weights) -> EvalResult:
        set_weights(self.model, weights)
        self._calibrate()
        total, correct, rows = 0.0, 0, 0
        for out, labels in self._outputs(self.validation):
            batch_loss, batch_correct = loss_and_correct(out, labels, self.loss_name)
            total, correct, rows = total + batch_loss, correct + batch_correct, rows + len(labels)
        return EvalResult(mean_loss(total, rows), correct / max(rows, 1), rows)


def backend_name() -> str:
    """The backend Keras runs on in this process: ``torch`` unless ``KERAS_BACKEND`` named another before Keras
    was first imported (``tensorflow`` with the ``tf`` extra)."""
    return str(keras.backend.backend())


__all__ = ["KerasTrainer", "backend_name", "get_weights", "mlp", "set_random_seed", "set_weights", "weight_names"]

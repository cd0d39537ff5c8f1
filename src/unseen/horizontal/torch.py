"""The PyTorch adapter: a ``torch.nn.Module`` as a :class:`~unseen.horizontal.worker.LocalTrainer`.

Weights cross as the module's ``state_dict`` in named numpy arrays. On the CPU :func:`get_weights` returns views
of the module's own tensors (no copy; they stay valid until the module is next trained) and :func:`set_weights`
copies each array into the existing tensor in place, so a round costs one copy in and none out. bfloat16 tensors
(which numpy cannot hold) cross as float32 and are cast back on the way in.

Local training is plain mini-batch training: ``local_epochs`` epochs of shuffled batches of ``batch_size`` rows
from a :class:`~unseen.horizontal.data.TrainingData` (rows in memory, or a source that augments or streams them),
each prepared in a background thread while the module trains on the one before,
a fresh optimizer per round (SGD with momentum, or Adam), the FedProx gradient ``mu (w - w_global)`` added to every
parameter's gradient when the instruction carries ``proximal_mu``. ``gradient()`` (the parameter-server mode)
averages the loss gradient over ``steps`` batches; buffers (BatchNorm statistics) get a zero gradient there.

Sample-level DP-SGD (Abadi et al. 2016) runs through Opacus when ``dp`` is given: per-sample clipping to
``max_grad_norm``, Gaussian noise ``noise_multiplier * max_grad_norm``, Poisson-sampled batches, and Opacus's RDP
accountant: :attr:`TorchTrainer.epsilon` is the (epsilon, ``delta``) spent so far at this worker. With DP the
FedProx term is applied as a decoupled step after the optimizer's (Opacus recomputes the gradient from the
clipped per-sample gradients, which would drop an added term).

torch and Opacus are imported by this module only; the algorithm core never imports it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

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


@dataclass(frozen=True)
class SampleDP:
    """Opacus DP-SGD at one worker: what each sample's gradient is clipped to and how much noise is added."""

    noise_multiplier: float
    max_grad_norm: float = 1.0
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if not (self.noise_multiplier > 0 and self.max_grad_norm > 0 and 0 < self.delta < 1):
            raise ValueError("sample DP needs noise_multiplier > 0, max_grad_norm > 0 and delta in (0, 1)")


def get_weights(module: nn.Module) -> Weights:
    """The module's state as named numpy arrays: views of its CPU tensors (bfloat16 converted to float32)."""
    out: Weights = {}
    for name, tensor in module.state_dict().items():
        value = tensor.detach()
        if value.dtype == torch.bfloat16:
            value = value.float()
        out[name] = value.cpu().numpy()
    return out


def set_weights(module: nn.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Copy each named array into the module's tensor of that name, in place; names and shapes must match."""
    state = module.state_dict()
    if list(state) != list(weights):
        missing = sorted(set(state) - set(weights))[:5]
        extra = sorted(set(weights) - set(state))[:5]
        raise ValueError(f"the weights do not match the module: missing {missing}, unexpected {extra}")
    with torch.no_grad():
        for name, tensor in state.items():
            value = np.asarray(weights[name])  # not ascontiguousarray: it makes a 0-d array (a counter) 1-d
            source = torch.from_numpy(value if value.flags.c_contiguous else value.copy())
            if tuple(source.shape) != tuple(tensor.shape):
                raise ValueError(f"tensor {name} has shape {tuple(source.shape)}, the module's {tuple(tensor.shape)}")
            tensor.copy_(source.to(dtype=tensor.dtype))


def mlp(layers: list[int]) -> nn.Module:
    """``layers[0]`` inputs, ReLU hidden layers, ``layers[-1]`` outputs (logits)."""
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"an MLP needs at least an input and an output size, all positive; got {layers}")
    modules: list[nn.Module] = []
    for i, (inputs, outputs) in enumerate(itertools.pairwise(layers)):
        modules.append(nn.Linear(inputs, outputs))
        if i < len(layers) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def _loss_fn(name: LossName) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name == "cross_entropy":
        return nn.functional.cross_entropy
    if name == "binary_cross_entropy":
        return lambda logits, y: nn.functional.binary_cross_entropy_with_logits(logits.reshape(-1), y.float())
    return lambda out, y: nn.functional.mse_loss(out.reshape(-1), y.float())


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A batch array as a tensor without a copy where it can: floats as float32, integers (ids) as they are."""
    if array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array))


class TorchTrainer:
    """Local training of ``module`` on the worker's rows; evaluation on the validation rows (else the training rows).

    ``data`` is a :class:`~unseen.horizontal.data.TrainingData` (rows in memory, or a CIFAR-10 / Criteo source
    that augments or streams) or, for rows in memory, an array ``x`` with labels ``y``; ``validation`` likewise
    (or ``x_val``, ``y_val``). The module is called with the batch's inputs in order (``module(*inputs)``: DLRM
    takes dense and sparse features). Labels are class indices for ``cross_entropy``, 0/1 for
    ``binary_cross_entropy``, numbers for ``mse``. Batches are prepared ahead of the step (``data.prefetched``).
    """

    def __init__(
        self,
        module: nn.Module,
        data: np.ndarray | TrainingData,
        y: np.ndarray | None = None,
        *,
        x_val: np.ndarray | TrainingData | None = None,
        y_val: np.ndarray | None = None,
        lr: float = 0.01,
        optimizer: OptimizerName = "sgd",
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        loss: LossName = "cross_entropy",
        seed: int | None = None,
        dp: SampleDP | None = None,
        eval_batch_size: int = 1024,
    ) -> None:
        self.module = module
        self.data = as_data(data, y)
        if self.data.num_samples == 0:
            raise ValueError("a worker needs rows: its data holds none")
        self.validation = self.data if x_val is None else as_data(x_val, y_val)
        self.lr, self.optimizer_name, self.momentum, self.weight_decay = lr, optimizer, momentum, weight_decay
        self.loss_name: LossName = loss
        self.loss = _loss_fn(loss)
        self._label_dtype = label_dtype(loss)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator()
        self.generator.manual_seed(seed if seed is not None else int(torch.seed() % (1 << 63)))
        if dp is not None and not isinstance(self.data, ArrayData):
            raise ValueError(
                "sample DP (Opacus DP-SGD) needs the worker's rows in memory; this data source streams or augments "
                "its rows (a CIFAR-10 or Criteo table): use dp.mode 'update' (DP-FedAvg) instead"
            )
        self.dp = dp
        self.eval_batch_size = eval_batch_size
        self._stream = BatchStream(self.data, self.rng)
        self._private: _Private | None = None
        self._gradients_only = False  # parameter-server mode: batch-norm statistics never reach the server

    @property
    def num_samples(self) -> int:
        return self.data.num_samples

    @property
    def epsilon(self) -> float | None:
        """The (epsilon, dp.delta) this worker's DP-SGD has spent so far, from Opacus's RDP accountant."""
        if self._private is None or self.dp is None:
            return None
        steps = self._private.engine.accountant.history
        return float(self._private.engine.get_epsilon(self.dp.delta)) if steps else 0.0

    def _optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.module.parameters() if p.requires_grad]
        if self.optimizer_name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)

    def _labels(self, labels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(labels, dtype=self._label_dtype))

    def _step_loss(self, inputs: tuple[np.ndarray, ...], labels: np.ndarray) -> torch.Tensor:
        loss: torch.Tensor = self.loss(self.module(*(_tensor(a) for a in inputs)), self._labels(labels))
        return loss

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        set_weights(self.module, weights)
        mu = instruction.proximal_mu
        anchors = [p.detach().clone() for p in self.module.parameters()] if mu > 0 else []
        self.module.train()
        if self.dp is not None:
            losses = self._fit_private(instruction, anchors)
        else:
            optimizer = self._optimizer()
            losses = []
            for _ in range(instruction.local_epochs):
                batches = prefetched(lambda: self.data.epoch(instruction.batch_size, self.rng))
                for inputs, labels in batches:
                    optimizer.zero_grad(set_to_none=True)
                    loss = self._step_loss(inputs, labels)
                    loss.backward()  # type: ignore[no-untyped-call]
                    if mu > 0:
                        with torch.no_grad():
                            for param, anchor in zip(self.module.parameters(), anchors, strict=True):
                                if param.grad is not None:
                                    param.grad.add_(param.detach() - anchor, alpha=mu)
                    optimizer.step()
                    losses.append(float(loss.detach()))
        return FitResult(get_weights(self.module), self.num_samples, float(np.mean(losses)) if losses else 0.0)

    def _fit_private(self, instruction: Instruction, anchors: list[torch.Tensor]) -> list[float]:
        private = self._make_private(instruction.batch_size)
        losses: list[float] = []
        mu = instruction.proximal_mu
        for _ in range(instruction.local_epochs):
            for *xb, yb in private.loader:
                if len(yb) == 0:  # Poisson sampling may draw an empty batch; Opacus still counts the step
                    continue
                private.optimizer.zero_grad(set_to_none=True)
                loss = self.loss(private.module(*xb), yb)
                loss.backward()  # type: ignore[no-untyped-call]
                private.optimizer.step()
                if mu > 0:
                    with torch.no_grad():
                        for param, anchor in zip(self.module.parameters(), anchors, strict=True):
                            param.sub_(param.detach() - anchor, alpha=self.lr * mu)
                losses.append(float(loss.detach()))
        return losses

    def _make_private(self, batch_size: int) -> _Private:
        """Opacus wraps the module, optimizer and loader once; the accountant then counts every step of the job."""
        if self._private is not None and self._private.batch_size == batch_size:
            return self._private
        if self._private is not None:
            raise ValueError("with sample DP the batch size cannot change between rounds (the accountant assumes one)")
        from opacus import PrivacyEngine

        assert self.dp is not None and isinstance(self.data, ArrayData)
        tensors = [_tensor(a) for a in self.data.inputs]
        dataset = torch.utils.data.TensorDataset(*tensors, self._labels(self.data.label))
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, generator=self.generator)
        engine = PrivacyEngine(accountant="rdp")
        module, optimizer, private_loader = engine.make_private(
            module=self.module,
            optimizer=self._optimizer(),
            data_loader=loader,
            noise_multiplier=self.dp.noise_multiplier,
            max_grad_norm=self.dp.max_grad_norm,
            poisson_sampling=True,
        )
        self._private = _Private(engine, module, optimizer, private_loader, batch_size)
        return self._private

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        self._gradients_only = True
        set_weights(self.module, weights)
        self.module.train()
        params = dict(self.module.named_parameters())
        sums = {name: torch.zeros_like(p) for name, p in params.items()}
        rows, losses = 0, []
        for _ in range(instruction.steps):
            inputs, labels = self._stream.take(instruction.batch_size)
            self.module.zero_grad(set_to_none=True)
            loss = self._step_loss(inputs, labels)
            loss.backward()  # type: ignore[no-untyped-call]
            with torch.no_grad():
                for name, param in params.items():
                    if param.grad is not None:
                        sums[name].add_(param.grad, alpha=len(labels))
            rows += len(labels)
            losses.append(float(loss.detach()))
        out: Weights = {}
        for name, tensor in self.module.state_dict().items():
            grad = sums.get(name)
            out[name] = (grad / rows).float().cpu().numpy() if grad is not None else np.zeros(tuple(tensor.shape))
        return GradientResult(out, rows, float(np.mean(losses)))

    @torch.no_grad()
    def _outputs(self, data: TrainingData) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self.module.eval()
        for inputs, labels in prefetched(lambda: data.ordered(self.eval_batch_size)):
            yield self.module(*(_tensor(a) for a in inputs)).float().cpu().numpy(), labels

    def predict(self, weights: Weights | None, data: np.ndarray | TrainingData) -> np.ndarray:
        """The module's outputs (logits) for every row of ``data`` in its ``ordered`` order (or for the array
        ``data``), in batches, with ``weights`` loaded first when given."""
        if weights is not None:
            set_weights(self.module, weights)
            self._calibrate()
        source = ArrayData((data,), np.zeros(len(data))) if isinstance(data, np.ndarray) else data
        outputs = [out for out, _ in self._outputs(source)]
        return np.concatenate(outputs) if outputs else np.zeros((0,))

    @torch.no_grad()
    def _calibrate(self) -> None:
        """In parameter-server mode the server steps only parameters, so the global batch-norm statistics stay
        at their initial values; before evaluating or predicting, this worker re-estimates them from up to
        ``CALIBRATION_BATCHES`` batches of its own training rows (a cumulative average), as a data-parallel
        replica keeps its own. Nothing to do for models without batch norm or after FedAvg (which averages them)."""
        norms = [m for m in self.module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not self._gradients_only or not norms:
            return
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batches
        self.module.train()
        batches = prefetched(lambda: self.data.epoch(self.eval_batch_size // 4 or 1, self.rng))
        for inputs, _ in itertools.islice(batches, CALIBRATION_BATCHES):
            self.module(*(_tensor(a) for a in inputs))
        batches.close()
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum

    def evaluate(self, weights: Weights) -> EvalResult:
        set_weights(self.module, weights)
        self._calibrate()
        total, correct, rows = 0.0, 0, 0
        for out, labels in self._outputs(self.validation):
            batch_loss, batch_correct = loss_and_correct(out, labels, self.loss_name)
            total, correct, rows = total + batch_loss, correct + batch_correct, rows + len(labels)
        return EvalResult(mean_loss(total, rows), correct / max(rows, 1), rows)


@dataclass
class _Private:
    engine: Any
    module: nn.Module
    optimizer: torch.optim.Optimizer
    loader: Any
    batch_size: int


__all__ = ["SampleDP", "TorchTrainer", "get_weights", "mlp", "set_weights"]

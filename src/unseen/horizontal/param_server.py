"""The parameter-server mode: workers send gradients, the aggregator holds the optimizer and the weights.

Synchronous data-parallel SGD with a parameter server (Li et al., "Scaling Distributed Machine Learning with
the Parameter Server", OSDI 2014; Dean et al., "Large Scale Distributed Deep Networks", NeurIPS 2012, in its
synchronous form), as the Intel CCZoo horizontal-FL demo runs it.

Each round is one optimizer step. The aggregator sends the global weights; each selected worker computes the
gradient of its loss at those weights, averaged over ``steps`` mini-batches of ``batch_size`` (``steps = k``
sends every k batches, with the gradients accumulated), and contributes ``n_k * g_k`` with weight ``n_k``
(the rows it used). The aggregator applies the sample-weighted mean gradient with its optimizer, which it
alone holds: :class:`SGD` (momentum, optionally Nesterov, and weight decay, as ``torch.optim.SGD``) or
:class:`Adam` (as ``torch.optim.Adam``, Kingma & Ba, ICLR 2015).

What the worker must do: ``LocalTrainer.gradient(weights, instruction)``; it never steps an optimizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from unseen.horizontal.strategy import Instruction, Task, mean_of
from unseen.horizontal.weights import Weights


class Optimizer(Protocol):
    def step(self, weights: Weights, gradient: Mapping[str, np.ndarray]) -> Weights: ...

    def state(self) -> Weights: ...

    def load_state(self, state: Mapping[str, np.ndarray]) -> None: ...


def _cast_like(values: Mapping[str, np.ndarray], like: Mapping[str, np.ndarray]) -> Weights:
    return {n: np.asarray(v).astype(np.asarray(like[n]).dtype) for n, v in values.items()}


@dataclass
class SGD:
    """``torch.optim.SGD``: ``g += wd * w; b = momentum * b + (1 - dampening) * g; w -= lr * (g + momentum * b
    if nesterov else b)``; the first step sets ``b = g``."""

    lr: float = 0.01
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    _buffers: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def step(self, weights: Weights, gradient: Mapping[str, np.ndarray]) -> Weights:
        out: dict[str, np.ndarray] = {}
        for name, tensor in weights.items():
            w = np.asarray(tensor, dtype=np.float64)
            g = np.asarray(gradient[name], dtype=np.float64) + self.weight_decay * w
            if self.momentum:
                previous = self._buffers.get(name)
                buf = g.copy() if previous is None else self.momentum * previous + (1 - self.dampening) * g
                self._buffers[name] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            out[name] = w - self.lr * g
        return _cast_like(out, weights)

    def state(self) -> Weights:
        return {f"momentum/{n}": b for n, b in self._buffers.items()}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self._buffers = {n.removeprefix("momentum/"): np.asarray(v, dtype=np.float64) for n, v in state.items()}


@dataclass
class Adam:
    """``torch.optim.Adam`` (no amsgrad): bias-corrected first and second moments, ``eps`` outside the root."""

    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    _m: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _v: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _t: int = 0

    def step(self, weights: Weights, gradient: Mapping[str, np.ndarray]) -> Weights:
        self._t += 1
        out: dict[str, np.ndarray] = {}
        for name, tensor in weights.items():
            w = np.asarray(tensor, dtype=np.float64)
            g = np.asarray(gradient[name], dtype=np.float64) + self.weight_decay * w
            m = self.beta1 * self._m.get(name, np.zeros_like(w)) + (1 - self.beta1) * g
            v = self.beta2 * self._v.get(name, np.zeros_like(w)) + (1 - self.beta2) * g * g
            self._m[name], self._v[name] = m, v
            m_hat = m / (1 - self.beta1**self._t)
            v_hat = v / (1 - self.beta2**self._t)
            out[name] = w - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return _cast_like(out, weights)

    def state(self) -> Weights:
        return {
            "step": np.array(self._t, dtype=np.int64),
            **{f"m/{n}": m for n, m in self._m.items()},
            **{f"v/{n}": v for n, v in self._v.items()},
        }

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self._t = int(state["step"]) if "step" in state else 0
        self._m = {n[2:]: np.asarray(a, dtype=np.float64) for n, a in state.items() if n.startswith("m/")}
        self._v = {n[2:]: np.asarray(a, dtype=np.float64) for n, a in state.items() if n.startswith("v/")}


@dataclass
class ParameterServer:
    optimizer: Optimizer
    steps: int = 1
    batch_size: int = 32
    task: ClassVar[Task] = "gradient"

    def instruction(self, server_round: int) -> Instruction:
        return Instruction("gradient", server_round, batch_size=self.batch_size, steps=self.steps)

    def apply(self, weights: Weights, total: Mapping[str, np.ndarray], total_weight: float) -> Weights:
        return self.optimizer.step(weights, mean_of(total, total_weight))

    def state(self) -> Weights:
        return self.optimizer.state()

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.optimizer.load_state(state)

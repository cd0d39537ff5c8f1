"""FedProx: Federated Optimization in Heterogeneous Networks.

Li, Sahu, Zaheer, Sanjabi, Talwalkar, Smith, MLSys 2020 (arXiv:1812.06127), algorithm 2.

Aggregation is FedAvg's. What changes is the worker's local objective: it minimises

    F_k(w) + (mu / 2) * ||w - w_global||^2,

which keeps a worker with skewed data from drifting far from the global model. What the worker must do:
train as for FedAvg, adding :func:`proximal_gradient` (``mu * (w - w_global)``) to each gradient before its
optimizer step (a framework adapter applies it to its autograd gradients; :func:`proximal_loss` is the term
to add to the reported loss). ``mu`` reaches the worker in the round's instruction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from unseen.horizontal.fedavg import FedAvg
from unseen.horizontal.strategy import Instruction


@dataclass
class FedProx(FedAvg):
    proximal_mu: float = 0.01

    def __post_init__(self) -> None:
        if not self.proximal_mu >= 0:
            raise ValueError(f"proximal_mu must be >= 0, got {self.proximal_mu}")

    def instruction(self, server_round: int) -> Instruction:
        return Instruction(
            "fit",
            server_round,
            local_epochs=self.local_epochs,
            batch_size=self.batch_size,
            proximal_mu=self.proximal_mu,
        )


def proximal_gradient(
    weights: Mapping[str, np.ndarray], global_weights: Mapping[str, np.ndarray], mu: float
) -> dict[str, np.ndarray]:
    """The gradient of ``(mu/2) ||w - w_global||^2``: add it to the loss gradient, tensor by tensor."""
    return {
        n: (mu * (np.asarray(w, dtype=np.float64) - np.asarray(global_weights[n], dtype=np.float64))).astype(
            np.result_type(np.asarray(w).dtype, np.float32)
        )
        for n, w in weights.items()
    }


def proximal_loss(weights: Mapping[str, np.ndarray], global_weights: Mapping[str, np.ndarray], mu: float) -> float:
    """``(mu/2) ||w - w_global||^2``."""
    return (
        0.5
        * mu
        * float(sum(np.sum(np.square(np.asarray(w, dtype=np.float64) - global_weights[n])) for n, w in weights.items()))
    )

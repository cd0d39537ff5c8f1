"""FedAvg: Communication-Efficient Learning of Deep Networks from Decentralized Data.

McMahan, Moore, Ramage, Hampson, Agüera y Arcas, AISTATS 2017 (arXiv:1602.05629), algorithm 1.

Each round the selected workers start from the global weights ``w``, train ``local_epochs`` epochs of
mini-batch SGD (batch ``batch_size``) on their own rows, and contribute ``n_k * (w_k - w)`` with weight ``n_k``
(their sample count). The aggregator's new model is the sample-weighted mean of the workers' models,

    w' = w + server_lr * sum_k n_k (w_k - w) / sum_k n_k,

which with ``server_lr = 1`` is exactly ``sum_k n_k w_k / sum_k n_k`` (the paper's update). Sending changes
rather than models keeps the values small, which is what fixed-point secure aggregation and DP clipping need.

What the worker must do: ``LocalTrainer.fit(weights, instruction)`` returning its trained weights and ``n_k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from unseen.horizontal.strategy import Instruction, Task, mean_of
from unseen.horizontal.weights import Weights, add_scaled


@dataclass
class FedAvg:
    local_epochs: int = 1
    batch_size: int = 32
    server_lr: float = 1.0
    task: ClassVar[Task] = "fit"

    def instruction(self, server_round: int) -> Instruction:
        return Instruction("fit", server_round, local_epochs=self.local_epochs, batch_size=self.batch_size)

    def apply(self, weights: Weights, total: Mapping[str, np.ndarray], total_weight: float) -> Weights:
        return add_scaled(weights, mean_of(total, total_weight), self.server_lr)

    def state(self) -> Weights:
        return {}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        return None


def weighted_average(models: Sequence[Mapping[str, np.ndarray]], counts: Sequence[int]) -> Weights:
    """``sum_k n_k w_k / sum_k n_k`` directly: the reference FedAvg's aggregate is tested against."""
    total = float(sum(counts))
    out: Weights = {}
    for name in models[0]:
        acc = np.zeros(np.shape(models[0][name]), dtype=np.float64)
        for model, count in zip(models, counts, strict=True):
            acc += np.asarray(model[name], dtype=np.float64) * count
        out[name] = acc / total
    return out

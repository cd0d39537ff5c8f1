"""Differential privacy for horizontal FL: DP-FedAvg with a maintained RDP accountant.

McMahan, Ramage, Talwar, Zhang, "Learning Differentially Private Recurrent Language Models", ICLR 2018
(DP-FedAvg, worker-level DP). Each selected worker clips its model change to L2 norm ``clip_norm`` (C) and
contributes it with weight 1; Gaussian noise of standard deviation ``noise_multiplier * C`` (sigma * C) is
added to the SUM, which is then divided by the number of contributors. Workers are sampled independently
with probability ``q`` each round (Poisson sampling, which is what the accountant assumes).

Where the noise is added (``noise_at``):

* ``"aggregator"``: the aggregator adds N(0, sigma^2 C^2) to the sum. Central DP: a trusted aggregator
  sees the clipped updates (or, with secure aggregation, their exact sum);
* ``"workers"``: each worker adds N(0, sigma^2 C^2 / m) to its own clipped change, ``m = noise_shares``
  (set it to the minimum number of workers per round). With secure aggregation the aggregator then sees
  only a sum that already carries at least sigma^2 C^2 of noise whenever at least ``m`` workers contribute
  (Distributed DP; the noise of fewer than ``m`` honest workers is not enough).

The spent (epsilon, delta) is computed by ``dp-accounting``'s RDP accountant (Mironov 2017; the sampled
Gaussian mechanism of Mironov, Talwar, Zhang 2019) for the noise multiplier, sampling rate and rounds.
Limits: numpy's Gaussian sampler is not hardened against floating-point attacks (Mironov 2012); the
per-round loss and accuracy statistics are not noised.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from unseen.horizontal.weights import Weights, l2_norm


@dataclass(frozen=True)
class DPConfig:
    noise_multiplier: float
    clip_norm: float
    delta: float = 1e-5
    noise_at: Literal["aggregator", "workers"] = "aggregator"
    noise_shares: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier >= 0):
            raise ValueError("noise_multiplier must be a finite number >= 0")
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ValueError("clip_norm must be a finite number > 0")
        if not 0 < self.delta < 1:
            raise ValueError("delta must be in (0, 1)")
        if self.noise_at not in ("aggregator", "workers") or self.noise_shares < 1:
            raise ValueError("noise_at must be 'aggregator' or 'workers', and noise_shares >= 1")

    @property
    def worker_std(self) -> float:
        """Each worker's noise (``noise_at == "workers"``): the shares add up to sigma * C."""
        return (
            self.noise_multiplier * self.clip_norm / math.sqrt(self.noise_shares) if self.noise_at == "workers" else 0.0
        )

    @property
    def aggregator_std(self) -> float:
        return self.noise_multiplier * self.clip_norm if self.noise_at == "aggregator" else 0.0


def new_rng() -> np.random.Generator:
    """A generator seeded from the operating system's CSPRNG: noise must not be predictable."""
    return np.random.default_rng(secrets.randbits(128))


def clip(change: Mapping[str, np.ndarray], clip_norm: float) -> Weights:
    """``change * min(1, C / ||change||_2)``, the norm taken over all tensors together."""
    norm = l2_norm(change)
    scale = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return {n: np.asarray(t, dtype=np.float64) * scale for n, t in change.items()}


def gaussian(size: int, std: float, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, std, size=size) if std > 0 else np.zeros(size)


def epsilon_for(noise_multiplier: float, sampling_rate: float, steps: int, delta: float) -> float:
    """The accountant's epsilon after ``steps`` rounds of the Poisson-sampled Gaussian mechanism."""
    import dp_accounting
    from dp_accounting.rdp import RdpAccountant

    if steps == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)), steps
    )
    accountant = RdpAccountant()
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


class PrivacyLedger:
    """The (epsilon, delta) spent so far, one round at a time (for the per-round log)."""

    def __init__(self, config: DPConfig, sampling_rate: float, rounds_done: int = 0) -> None:
        if not 0 < sampling_rate <= 1:
            raise ValueError(f"the sampling rate must be in (0, 1], got {sampling_rate}")
        self.config = config
        self.sampling_rate = sampling_rate
        self.rounds = rounds_done

    def step(self) -> float:
        self.rounds += 1
        return self.epsilon

    @property
    def epsilon(self) -> float:
        return epsilon_for(self.config.noise_multiplier, self.sampling_rate, self.rounds, self.config.delta)

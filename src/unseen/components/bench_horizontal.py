"""``bench_horizontal``: the horizontal-FL round loop on real nodes, timed, for ``benchmarks/horizontal.py``.

The arbiter runs :func:`~unseen.horizontal.aggregator.run_aggregator` with FedAvg; the guest and every host
run :func:`~unseen.horizontal.worker.run_worker`, with secure aggregation when ``secure`` is on. Two models:

* ``digits``: scikit-learn's 8x8 digits, split IID across the workers (worker ``i`` of ``W`` takes every
  ``W``-th row of a seeded permutation), the numpy reference MLP (``horizontal/reference.py``) as trainer;
* ``synthetic``: one float32 tensor of ``parameters`` values and a trainer that adds a fixed small change
  (no compute), so a round measures the protocol and the federation alone.

It exists to measure, so every side records wall-clock stamps per round (same machine: comparable) and
logs them as the JSON metric ``rounds``:

* arbiter: ``start_at`` (the round's instruction is made, before orders and weights go out),
  ``collect_start_at`` / ``collect_end_at`` (the sum under the round's deadline: the gather, or the four
  secure-aggregation exchanges), ``apply_start_at`` / ``end_at`` (the strategy's update), ``seconds``;
* worker: ``weights_at`` (the trainer is first called: the global weights are in hand), ``trained_at``
  (local training and evaluation done), ``contributed_at`` (its contribution sent), ``fit_s``, ``samples``
  and ``bytes_sent`` (every byte this worker's task sent in that round, as encoded for the wire).

Rounds with ``server_round < warmup`` are marked so the benchmark can leave them out.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.horizontal.aggregator import FederatedConfig, run_aggregator, workers_of
from unseen.horizontal.fedavg import FedAvg
from unseen.horizontal.reference import MLPTrainer, init_mlp
from unseen.horizontal.secagg import SecAggClient, SecAggConfig, SecAggServer
from unseen.horizontal.strategy import Instruction, Task
from unseen.horizontal.summation import PlainSum, SumClient, Summed, SumServer
from unseen.horizontal.weights import Weights
from unseen.horizontal.worker import EvalResult, FitResult, GradientResult, LocalTrainer, run_worker
from unseen.runtime.federation import Federation, Gathered, GroupFederation, broadcast_in_turn, gather_in_turn
from unseen.runtime.parties import PartyRef, Role
from unseen.transport import codec
from unseen.values import JsonValue, Value

if TYPE_CHECKING:
    from unseen.runtime.context import Context

MAX_PARAMETERS = 64 * 1024 * 1024


class BenchHorizontalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Literal["digits", "synthetic"] = Field("digits", description="digits MLP, or a synthetic update")
    parameters: int = Field(1_000_000, ge=1, le=MAX_PARAMETERS, description="synthetic: the model's size")
    hidden: int = Field(32, ge=0, le=4096, description="digits: hidden units of the MLP (0: logistic)")
    rounds: int = Field(5, ge=1, le=10_000, description="timed rounds")
    warmup: int = Field(1, ge=0, le=100, description="untimed rounds first")
    local_epochs: int = Field(1, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=1 << 20)
    lr: float = Field(0.1, gt=0, le=10)
    secure: bool = Field(False, description="secure aggregation (SecAgg+) instead of plain sums")
    neighbours: int = Field(0, ge=0, le=1000, description="SecAgg+ neighbourhood size k (even); 0 = all")
    ring_bits: Literal[32, 64] = Field(64, description="SecAgg+ ring")
    frac_bits: int | None = Field(None, ge=8, le=48, description="SecAgg+ fraction bits; None: the ring's default")
    round_deadline_s: float = Field(600.0, gt=0, le=86_400)
    seed: int = Field(0, ge=0, le=2**31)
    threads: int = Field(0, ge=0, le=256, description="BLAS threads of each worker's trainer; 0: the library's default")


# --- counting what a task sends ------------------------------------------------------------------------


class CountingFederation:
    """A federation that forwards everything and counts the encoded bytes this task sends (header excluded:
    the body is what scales with the model; a header is some tens of bytes)."""

    def __init__(self, inner: Federation) -> None:
        self.inner = inner
        self.bytes_sent = 0
        self.messages_sent = 0

    def _count(self, value: Value, recipients: int) -> None:
        self.bytes_sent += int(codec.encode(value).header.size) * recipients
        self.messages_sent += recipients

    def send(self, tag: str, value: Value, to: PartyRef) -> None:
        self._count(value, 1)
        self.inner.send(tag, value, to)

    def recv(self, tag: str, frm: PartyRef, timeout: float) -> Value:
        return self.inner.recv(tag, frm, timeout)

    def gather(self, tag: str, frm: Sequence[PartyRef], deadline: float) -> Gathered:
        if isinstance(self.inner, GroupFederation):
            return self.inner.gather(tag, frm, deadline)
        return gather_in_turn(self.inner.recv, tag, list(frm), deadline)

    def broadcast(self, tag: str, value: Value, to: Sequence[PartyRef]) -> dict[PartyRef, str]:
        self._count(value, len(to))
        if isinstance(self.inner, GroupFederation):
            return self.inner.broadcast(tag, value, to)
        return broadcast_in_turn(self.inner.send, tag, value, list(to))


def counted(ctx: Context) -> tuple[Context, CountingFederation]:
    """The same task context over a :class:`CountingFederation`."""
    from unseen.runtime.context import Context

    federation = CountingFederation(ctx._federation)  # a benchmark wraps its own task's channel
    wrapped = Context(
        job_id=ctx.job_id,
        component=ctx.component,
        me=ctx.me,
        parties=ctx.parties,
        federation=federation,
        metrics=ctx.metrics,
        logger=ctx.logger,
        recv_timeout=ctx.recv_timeout,
        tables=ctx.tables,
        models=ctx.models,
        inputs=ctx.inputs,
    )
    return wrapped, federation


# --- models and trainers -------------------------------------------------------------------------------


def digits_split(index: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Worker ``index`` of ``count``: its IID share of 80 % of the digits (train) and of the other 20 %."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.8 * len(y))
    train, test = order[:cut][index::count], order[cut:][index::count]
    features = (x / 16.0).astype(np.float32)
    return features[train], y[train].astype(np.int64), features[test], y[test].astype(np.int64)


def initial_weights(params: BenchHorizontalParams) -> Weights:
    if params.model == "digits":
        return init_mlp(64, 10, params.hidden, seed=params.seed)
    return {"w": np.zeros(params.parameters, dtype=np.float32)}


@dataclass
class SyntheticTrainer:
    """Adds a fixed change of the model's size: the protocol's cost without any training."""

    samples: int = 100
    seed: int = 0
    _change: np.ndarray | None = field(default=None, init=False, repr=False)

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        tensor = weights["w"]
        if self._change is None or self._change.shape != tensor.shape:
            self._change = np.random.default_rng(self.seed).uniform(-1e-3, 1e-3, tensor.shape).astype(np.float32)
        return FitResult({"w": tensor + self._change}, self.samples, 1.0)

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        raise ValueError("the synthetic trainer only fits")

    def evaluate(self, weights: Weights) -> EvalResult:
        return EvalResult(1.0, 0.5, self.samples)


@dataclass
class TimedTrainer:
    """Stamps when each round's first trainer call starts (weights in hand) and when training ends."""

    inner: LocalTrainer
    pending_at: float | None = None
    pending_eval_s: float = 0.0
    rounds: dict[int, dict[str, float]] = field(default_factory=dict)

    def evaluate(self, weights: Weights) -> EvalResult:
        start = time.time()
        if self.pending_at is None:
            self.pending_at = start
        result = self.inner.evaluate(weights)
        self.pending_eval_s += time.time() - start
        return result

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        start = time.time()
        weights_at = self.pending_at if self.pending_at is not None else start
        result = self.inner.fit(weights, instruction)
        done = time.time()
        self.rounds[instruction.server_round] = {
            "weights_at": weights_at,
            "trained_at": done,
            "fit_s": done - start,
            "eval_s": self.pending_eval_s,
            "samples": float(result.num_samples * instruction.local_epochs),
        }
        self.pending_at, self.pending_eval_s = None, 0.0
        return result

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        return self.inner.gradient(weights, instruction)


@dataclass
class TimedSumClient:
    """Stamps when each contribution has been sent and how many bytes the task sent while contributing."""

    inner: SumClient
    counter: CountingFederation
    trainer: TimedTrainer
    secure: bool = False

    def __post_init__(self) -> None:
        self.secure = self.inner.secure

    def weight(self, num_samples: int) -> float:
        return self.inner.weight(num_samples)

    def prepare(self, ctx: Context, aggregator: PartyRef, setup: JsonValue = None) -> None:
        self.inner.prepare(ctx, aggregator, setup)

    def contribute(self, ctx: Context, aggregator: PartyRef, vector: np.ndarray) -> None:
        before = self.counter.bytes_sent
        self.inner.contribute(ctx, aggregator, vector)
        if self.trainer.rounds:
            latest = self.trainer.rounds[max(self.trainer.rounds)]
            if "contributed_at" not in latest:  # the final evaluation's contribution is not a round's
                latest["contributed_at"] = time.time()
                latest["bytes_sent"] = float(self.counter.bytes_sent - before)
                latest["prepared_wait_s"] = float(getattr(self.inner, "last_wait_s", 0.0))


@dataclass
class TimedSumServer:
    inner: SumServer
    rounds: list[dict[str, float]]

    @property
    def secure(self) -> bool:  # the aggregator's plan tells the workers whether the sum is secure
        return bool(getattr(self.inner, "secure", False))

    def begin(self, ctx: Context, workers: list[PartyRef], length: int, minimum: int) -> dict[str, JsonValue] | None:
        return self.inner.begin(ctx, workers, length, minimum)

    def collect(self, ctx: Context, workers: list[PartyRef], length: int, deadline_s: float, minimum: int) -> Summed:
        start = time.time()
        summed = self.inner.collect(ctx, workers, length, deadline_s, minimum)
        if self.rounds and "collect_start_at" not in self.rounds[-1]:
            self.rounds[-1] |= {"collect_start_at": start, "collect_end_at": time.time()}
        return summed


@dataclass
class TimedFedAvg:
    inner: FedAvg
    rounds: list[dict[str, float]]
    task: ClassVar[Task] = "fit"

    def instruction(self, server_round: int) -> Instruction:
        self.rounds.append({"server_round": float(server_round), "start_at": time.time()})
        return self.inner.instruction(server_round)

    def apply(self, weights: Weights, total: Mapping[str, np.ndarray], total_weight: float) -> Weights:
        start = time.time()
        result = self.inner.apply(weights, total, total_weight)
        self.rounds[-1] |= {"apply_start_at": start, "end_at": time.time()}
        return result

    def state(self) -> Weights:
        return self.inner.state()

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.inner.load_state(state)


# --- the roles -----------------------------------------------------------------------------------------


def _secagg(params: BenchHorizontalParams) -> SecAggConfig:
    settings = {"neighbours": params.neighbours, "stage_deadline_s": params.round_deadline_s}
    return SecAggConfig.in_ring(params.ring_bits, params.frac_bits, **settings)


def _arbiter(ctx: Context, params: BenchHorizontalParams) -> None:
    rounds: list[dict[str, float]] = []
    summer: SumServer = SecAggServer(_secagg(params)) if params.secure else PlainSum()
    config = FederatedConfig(
        rounds=params.warmup + params.rounds,
        min_workers=len(workers_of(ctx)),
        round_deadline_s=params.round_deadline_s,
        seed=params.seed,
    )
    strategy = TimedFedAvg(FedAvg(local_epochs=params.local_epochs, batch_size=params.batch_size), rounds)
    result = run_aggregator(ctx, strategy, initial_weights(params), config, TimedSumServer(summer, rounds))
    for record, stamps in zip(result.history, rounds, strict=False):
        stamps["seconds"] = record.seconds
        stamps["warmup"] = float(record.server_round < params.warmup)
    timed = [r["seconds"] for r in rounds if not r.get("warmup")]
    ctx.metrics.log("round_seconds_median", float(np.median(timed)))
    ctx.metrics.log_json("rounds", {"rounds": rounds, "workers": len(workers_of(ctx))})
    if result.final_accuracy is not None:
        ctx.logger.info("final accuracy %.4f", result.final_accuracy)


def _worker(ctx: Context, params: BenchHorizontalParams) -> None:
    workers = workers_of(ctx)
    index = workers.index(ctx.me)
    inner: LocalTrainer
    if params.model == "digits":
        x, y, x_val, y_val = digits_split(index, len(workers), params.seed)
        inner = MLPTrainer(x, y, lr=params.lr, seed=params.seed + index, x_val=x_val, y_val=y_val)
    else:
        inner = SyntheticTrainer(seed=params.seed + index)
    wrapped, counter = counted(ctx)
    trainer = TimedTrainer(inner)
    client: SumClient = SecAggClient(_secagg(params)) if params.secure else PlainSum()
    summer = TimedSumClient(client, counter, trainer)
    run_worker(wrapped, trainer, summer, wait_s=params.round_deadline_s + 60)
    rounds: list[dict[str, Any]] = [
        {"server_round": r, "warmup": r < params.warmup, **stamps} for r, stamps in sorted(trainer.rounds.items())
    ]
    ctx.metrics.log_json("rounds", {"rounds": rounds, "bytes_sent_total": counter.bytes_sent})


def run(ctx: Context, params: BenchHorizontalParams) -> None:
    if ctx.role == Role.ARBITER:
        _arbiter(ctx, params)
        return
    with contextlib.ExitStack() as limits:
        if params.threads:
            from threadpoolctl import threadpool_limits

            limits.enter_context(threadpool_limits(limits=params.threads))
        _worker(ctx, params)


SPEC = ComponentSpec(
    name="bench_horizontal",
    roles=frozenset({Role.ARBITER, Role.GUEST, Role.HOST}),
    params=BenchHorizontalParams,
    run=run,
    description="FedAvg rounds (digits MLP or a synthetic model), plain or secure; logs per-round timings and bytes",
)

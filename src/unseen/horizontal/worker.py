"""A worker's round loop (the guest and every host): train on its own rows, contribute, receive the model.

The framework adapter provides a :class:`LocalTrainer`; this loop never sees a framework. The caller builds
the trainer (imports its framework, reads its rows) BEFORE calling :func:`run_worker`: the worker says
"ready" to the aggregator only then, and the aggregator's round deadlines start after every worker's ready.
Everything the aggregator sends is checked before use (the plan, each order, the weights' names and shapes,
the instruction's numbers), and every wait is bounded by ``wait_s``. The worker follows its own privacy
settings: it refuses an aggregator whose plan says secure aggregation or DP is off when its own says on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from unseen.horizontal import contribution
from unseen.horizontal.dp import DPConfig, clip, gaussian, new_rng
from unseen.horizontal.strategy import Instruction
from unseen.horizontal.summation import PlainSum, RoundFailedError, SumClient
from unseen.horizontal.weights import Weights, check_same_layout, difference
from unseen.values import TensorRecord

if TYPE_CHECKING:
    from unseen.runtime.context import Context
    from unseen.runtime.parties import PartyRef

MAX_ROUNDS = 1 << 20


@dataclass(frozen=True)
class FitResult:
    weights: Weights
    num_samples: int
    loss: float = 0.0


@dataclass(frozen=True)
class GradientResult:
    gradient: Weights
    num_samples: int
    loss: float = 0.0


@dataclass(frozen=True)
class EvalResult:
    loss: float
    accuracy: float
    num_samples: int


class LocalTrainer(Protocol):
    """What a framework adapter implements: local training and evaluation on the worker's own rows."""

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        """Train from ``weights`` for ``instruction.local_epochs`` epochs of ``instruction.batch_size``; with
        ``instruction.proximal_mu > 0`` add ``fedprox.proximal_gradient(w, weights, mu)`` to every gradient."""

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        """The mean loss gradient at ``weights`` over ``instruction.steps`` batches (parameter-server mode)."""

    def evaluate(self, weights: Weights) -> EvalResult:
        """Loss and accuracy of ``weights`` on the worker's validation rows."""


@dataclass
class WorkerResult:
    status: Literal["done", "left"]
    weights: Weights | None
    rounds_trained: int
    final_loss: float | None = None
    reason: str = ""


def run_worker(
    ctx: Context,
    trainer: LocalTrainer,
    summer: SumClient | None = None,
    dp: DPConfig | None = None,
    wait_s: float | None = None,
    on_progress: Callable[[Mapping[str, object]], None] | None = None,
) -> WorkerResult:
    """``on_progress`` receives the aggregator's summary of the last round (round, rounds, workers, seconds,
    eval_loss, eval_accuracy, epsilon) as it arrives with each order: untrusted, for display only."""
    summer = summer or PlainSum()
    wait = ctx.recv_timeout if wait_s is None else wait_s
    aggregator = ctx.arbiter
    start, rounds = _join(ctx.sub("setup"), aggregator, wait, summer.secure, dp is not None)
    rng = new_rng()
    trained = 0
    template: Weights | None = None
    for server_round in range(start, rounds + 1):
        rctx = ctx.sub(f"round-{server_round}")
        order = rctx.recv("order", frm=aggregator, timeout=wait)
        if not isinstance(order, dict):
            raise ValueError("the aggregator's order is not a JSON object")
        action = order.get("action")
        if action == "wait":
            continue
        if action == "leave":
            return WorkerResult("left", None, trained, reason=str(order.get("reason", ""))[:200])
        if action == "abort":
            raise RoundFailedError(f"the aggregator stopped the job: {str(order.get('reason', ''))[:2000]}")
        if action not in ("train", "final"):
            raise ValueError(f"unknown order {str(action)[:32]!r} from the aggregator")
        progress = order.get("progress")
        if on_progress is not None and isinstance(progress, dict):
            on_progress(progress)
        if action == "train":  # secure aggregation's exchanges run while the weights arrive and train
            summer.prepare(rctx, aggregator, order.get("sum_setup"))
        weights = _weights(rctx.recv("weights", frm=aggregator, timeout=wait), template)
        template = weights
        if action == "final":
            result = trainer.evaluate(weights)
            weight = 1.0 if dp is not None else summer.weight(result.num_samples)
            vector = contribution.pack(
                None, 0.0, eval_weight=weight, eval_loss=result.loss, eval_accuracy=result.accuracy
            )
            summer.contribute(rctx, aggregator, vector)
            return WorkerResult("done", weights, trained, final_loss=result.loss)
        instruction = Instruction.from_json(order.get("instruction"))
        if instruction.server_round != server_round:
            raise ValueError(
                f"the aggregator's instruction is for round {instruction.server_round}, not {server_round}"
            )
        vector = _train(trainer, weights, instruction, order.get("evaluate") is True, summer, dp, rng)
        summer.contribute(rctx, aggregator, vector)
        trained += 1
    raise RoundFailedError(f"the aggregator sent no final model after {rounds} rounds")


def decline(ctx: Context, reason: str) -> None:
    """Tell the aggregator this worker will not take part, and why (it failed to start: its rows do not fit the
    model, its framework is missing), so the join stage drops it at once instead of waiting out the ready
    deadline for a task that is already gone. ``ctx`` is the one :func:`run_worker` would have been given."""
    ctx.sub("setup").send("ready", {"ready": False, "reason": reason[:500]}, to=ctx.arbiter)


def _join(setup: Context, aggregator: PartyRef, wait: float, secure: bool, private: bool) -> tuple[int, int]:
    """Receive and check the plan, then tell the aggregator this worker is ready (or why it refuses).

    Called once the caller has built its trainer (framework imported, rows read): the aggregator's first
    round starts only after this "ready", so no round deadline counts a worker's start-up.
    """
    plan = setup.recv("plan", frm=aggregator, timeout=wait)
    try:
        start, rounds = _check_plan(plan, secure, private)
    except ValueError as exc:
        setup.send("ready", {"ready": False, "reason": str(exc)}, to=aggregator)
        raise
    setup.send("ready", {"ready": True}, to=aggregator)
    return start, rounds


def _check_plan(plan: object, secure: bool, private: bool) -> tuple[int, int]:
    if not isinstance(plan, dict):
        raise ValueError("the aggregator's plan is not a JSON object")
    start, rounds = plan.get("start_round"), plan.get("rounds")
    if not (isinstance(start, int) and isinstance(rounds, int) and 0 <= start <= rounds <= MAX_ROUNDS):
        raise ValueError("the aggregator's plan has no valid start_round and rounds")
    if secure and plan.get("secure") is not True:
        raise ValueError("this worker requires secure aggregation but the aggregator's plan does not use it")
    if private and plan.get("dp") is not True:
        raise ValueError("this worker requires differential privacy but the aggregator's plan does not apply it")
    return start, rounds


def _weights(value: object, template: Weights | None) -> Weights:
    if not isinstance(value, TensorRecord):
        raise ValueError(f"expected the global weights as a tensor record, got {type(value).__name__}")
    weights = value.floats()
    for name, tensor in weights.items():
        if tensor.dtype.kind == "f" and not np.all(np.isfinite(tensor)):
            raise ValueError(f"the global weights hold NaN or infinite values in {name}")
    if template is not None:
        check_same_layout(template, weights, "the global weights")
    return weights


def _train(
    trainer: LocalTrainer,
    weights: Weights,
    instruction: Instruction,
    evaluate: bool,
    summer: SumClient,
    dp: DPConfig | None,
    rng: np.random.Generator,
) -> np.ndarray:
    evaluated = trainer.evaluate(weights) if evaluate else None
    if instruction.task == "fit":
        fitted = trainer.fit(weights, instruction)
        check_same_layout(weights, fitted.weights, "the locally trained weights")
        change, samples, loss = difference(fitted.weights, weights), fitted.num_samples, fitted.loss
    else:
        grad = trainer.gradient(weights, instruction)
        check_same_layout(weights, grad.gradient, "the local gradient")
        change = {n: np.asarray(g, dtype=np.float64) for n, g in grad.gradient.items()}
        samples, loss = grad.num_samples, grad.loss
    if dp is not None:
        weight = 1.0
        change = clip(change, dp.clip_norm)
        std = dp.worker_std
        if std > 0:
            change = {n: t + gaussian(t.size, std, rng).reshape(t.shape) for n, t in change.items()}
    else:
        weight = summer.weight(samples)
        change = {n: t * weight for n, t in change.items()}
    eval_weight = weight if evaluated is not None else 0.0
    return contribution.pack(
        change,
        weight,
        train_loss=loss,
        eval_weight=eval_weight,
        eval_loss=evaluated.loss if evaluated else 0.0,
        eval_accuracy=evaluated.accuracy if evaluated else 0.0,
    )


__all__ = [
    "EvalResult",
    "FitResult",
    "GradientResult",
    "LocalTrainer",
    "WorkerResult",
    "run_worker",
]

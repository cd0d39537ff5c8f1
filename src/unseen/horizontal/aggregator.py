"""The aggregator's round loop (the job's arbiter: FedAvg's server, the parameter server).

Before round 1 comes a join stage: the aggregator sends every worker the plan and waits, under its own bounded
deadline (``ready_timeout_s``, by default the task's receive timeout), for each worker to say it is ready: a
worker says so only once it has imported its framework, read its rows and built its trainer. So a round's
deadline measures the round alone, never a worker's start-up; a worker not ready in time leaves the job (the
job fails naming the missing ones if fewer than ``min_workers`` are ready), one that refuses the plan says why.

Per round: pick the workers (a fraction of those still in, at least ``min_workers``; with DP each worker
independently with probability ``fraction``), send every worker still in its order for the round (train,
wait, or leave) and the selected ones the global weights (encoded once), get the SUM of their contributions
under ONE deadline (in clear or securely), apply the strategy, log the round, checkpoint. A worker that
misses the deadline is left out of the round and of the rest of the job (told to leave at the next
round); the round completes with the others if at least ``min_workers`` contributed, otherwise every worker
still in is told why and :class:`RoundFailedError` names the missing ones. No wait is unbounded.

After the last round (or an early stop) the workers evaluate the final model and receive it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from unseen.horizontal import checkpoint, contribution
from unseen.horizontal.dp import DPConfig, PrivacyLedger, gaussian, new_rng
from unseen.horizontal.strategy import Strategy
from unseen.horizontal.summation import PlainSum, RoundFailedError, Summed, SumServer, describe
from unseen.horizontal.weights import Weights, unflatten
from unseen.runtime.parties import PartyRef, Role
from unseen.values import JsonValue, TensorRecord

if TYPE_CHECKING:
    from unseen.runtime.context import Context

__all__ = ["AggregatorResult", "FederatedConfig", "RoundFailedError", "RoundRecord", "run_aggregator"]


@dataclass(frozen=True)
class FederatedConfig:
    rounds: int
    fraction: float = 1.0
    min_workers: int = 1
    round_deadline_s: float = 600.0
    eval_every: int = 1
    patience: int = 0  # early stopping: rounds without an eval-loss improvement of min_delta; 0 = off
    min_delta: float = 0.0
    checkpoint_path: Path | None = None
    seed: int | None = None
    ready_timeout_s: float | None = None  # the join stage's one deadline; None = the context's recv_timeout

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.min_workers < 1 or self.eval_every < 1 or self.patience < 0:
            raise ValueError("rounds, min_workers and eval_every must be >= 1, patience >= 0")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if not (math.isfinite(self.round_deadline_s) and self.round_deadline_s > 0):
            raise ValueError("round_deadline_s must be a positive number of seconds")
        ready = self.ready_timeout_s
        if ready is not None and not (math.isfinite(ready) and ready > 0):
            raise ValueError("ready_timeout_s must be a positive number of seconds")


@dataclass
class RoundRecord:
    server_round: int
    selected: int
    contributors: int
    missing: list[str]
    seconds: float
    train_loss: float | None
    eval_loss: float | None
    eval_accuracy: float | None
    epsilon: float | None = None


@dataclass
class AggregatorResult:
    weights: Weights
    history: list[RoundRecord] = field(default_factory=list)
    stopped_early: bool = False
    final_loss: float | None = None
    final_accuracy: float | None = None
    left: list[PartyRef] = field(default_factory=list)  # workers left out of the job after missing a deadline


def _refusal(value: object) -> str:
    """Why a worker's join answer is not a plain "ready" ('' when it is), bounded for the log."""
    if isinstance(value, dict) and value.get("ready") is True:
        return ""
    reason = value.get("reason") if isinstance(value, dict) else None
    told = " ".join(str(reason).split())[:500] if reason else ""  # a partner's words: one line, bounded
    return f"refused the plan: {told}" if told else "sent a malformed ready message"


def workers_of(ctx: Context) -> list[PartyRef]:
    """Every worker of the job: the guest and every host."""
    return sorted(dict.fromkeys(ctx.members(Role.GUEST) + ctx.members(Role.HOST)))


def run_aggregator(
    ctx: Context,
    strategy: Strategy,
    initial_weights: Mapping[str, np.ndarray],
    config: FederatedConfig,
    summer: SumServer | None = None,
    dp: DPConfig | None = None,
) -> AggregatorResult:
    loop = _Loop(ctx, strategy, dict(initial_weights), config, summer or PlainSum(), dp)
    return loop.run()


class _Loop:
    def __init__(
        self,
        ctx: Context,
        strategy: Strategy,
        weights: Weights,
        config: FederatedConfig,
        summer: SumServer,
        dp: DPConfig | None,
    ) -> None:
        self.ctx, self.strategy, self.weights, self.config, self.summer, self.dp = (
            ctx,
            strategy,
            weights,
            config,
            summer,
            dp,
        )
        self.live = workers_of(ctx)
        self.dismiss: list[PartyRef] = []
        self.left: list[PartyRef] = []
        self.start_round = 0
        self.best_loss = math.inf
        self.best_weights = dict(weights)
        self.stale = 0
        if dp is not None and dp.noise_at == "workers" and config.min_workers < dp.noise_shares:
            raise ValueError(
                f"with noise at the workers split {dp.noise_shares} ways, min_workers ({config.min_workers}) must be "
                "at least noise_shares, or a round could carry less than the promised noise"
            )
        self.ledger = PrivacyLedger(dp, config.fraction) if dp is not None else None
        self.noise_rng = new_rng()
        self.progress: dict[str, JsonValue] = {}  # the last round, as every worker is told with its next order
        self.unwritten: RoundRecord | None = None  # the last round, its metrics not yet written (see _log)
        self._resume()

    # -- checkpoint ------------------------------------------------------------------------------
    def _resume(self) -> None:
        path = self.config.checkpoint_path
        if path is None or not path.exists():
            return
        saved = checkpoint.load(path)
        if list(saved.weights) != list(self.weights) or any(
            saved.weights[n].shape != np.shape(self.weights[n]) for n in self.weights
        ):
            raise ValueError(f"checkpoint {path.name} holds a different model than the one given")
        self.weights = saved.weights
        self.strategy.load_state(saved.state)
        meta = saved.meta
        self.start_round = int(meta.get("next_round", 0))
        self.best_loss = float(meta.get("best_loss", math.inf))
        self.stale = int(meta.get("stale", 0))
        self.best_weights = dict(self.weights)
        if self.ledger is not None:
            self.ledger.rounds = self.start_round
        self.ctx.logger.info("resuming from checkpoint %s at round %d", path.name, self.start_round)

    def _save(self, next_round: int) -> None:
        if self.config.checkpoint_path is None:
            return
        meta: dict[str, Any] = {"next_round": next_round, "stale": self.stale}
        if math.isfinite(self.best_loss):
            meta["best_loss"] = self.best_loss
        checkpoint.save(self.config.checkpoint_path, self.weights, self.strategy.state(), meta)

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> AggregatorResult:
        result = AggregatorResult(self.weights)
        plan: dict[str, JsonValue] = {
            "start_round": self.start_round,
            "rounds": self.config.rounds,
            "task": self.strategy.task,
            "secure": bool(getattr(self.summer, "secure", False)),
            "dp": self.dp is not None,
        }
        self._join(plan)
        server_round = self.start_round
        while server_round < self.config.rounds:
            record = self._round(server_round)
            result.history.append(record)
            self._log(record)
            server_round += 1
            if self._should_stop(record):
                result.stopped_early = True
                self.weights = self.best_weights
                self._save(self.config.rounds)
                break
            self._save(server_round)
        loss, accuracy = self._final(server_round)
        self._write_log()
        result.weights, result.final_loss, result.final_accuracy = self.weights, loss, accuracy
        result.left = list(self.left)
        return result

    def _join(self, plan: dict[str, JsonValue]) -> None:
        """Send the plan, then wait (one deadline, not a round's) until every worker has started up."""
        setup = self.ctx.sub("setup")
        self._drop(setup.broadcast("plan", plan, self.live), dismiss=False)
        invited = list(self.live)
        wait = self.ctx.recv_timeout if self.config.ready_timeout_s is None else self.config.ready_timeout_s
        gathered = setup.gather("ready", invited, timeout=wait)
        refused = {p: _refusal(v) for p, v in gathered.values.items() if _refusal(v)}
        late = {p: f"not ready within {wait:g} s: {why}" for p, why in gathered.missing.items()}
        self._drop(refused, dismiss=False)  # a worker that refused the plan has stopped already
        self._drop(late, dismiss=True)  # one still starting up is told to leave at the first round
        if len(self.live) < self.config.min_workers:
            self._fail(
                self.start_round,
                f"only {len(self.live)} of {len(invited)} workers were ready, {self.config.min_workers} needed; "
                f"not ready: {describe({**refused, **late})}",
            )

    def _select(self, server_round: int) -> list[PartyRef]:
        rng = np.random.default_rng(None if self.config.seed is None else [self.config.seed, server_round])
        if self.dp is not None:  # Poisson sampling, as the accountant assumes
            return [p for p, u in zip(self.live, rng.random(len(self.live)), strict=True) if u < self.config.fraction]
        count = min(len(self.live), max(self.config.min_workers, math.ceil(self.config.fraction * len(self.live))))
        chosen = rng.choice(len(self.live), size=count, replace=False)
        return [self.live[i] for i in sorted(chosen)]

    def _orders(self, rctx: Context, selected: list[PartyRef], order: dict[str, JsonValue]) -> list[PartyRef]:
        """Send this round's orders; returns the selected workers that were reached."""
        waiting = [p for p in self.live if p not in selected]
        lost = rctx.broadcast("order", order, selected)
        lost |= rctx.broadcast("order", {"action": "wait"}, waiting) if waiting else {}
        if self.dismiss:
            rctx.broadcast("order", {"action": "leave", "reason": "missed a round's deadline"}, self.dismiss)
            self.dismiss = []
        self._drop(lost, dismiss=False)
        reached = [p for p in selected if p not in lost]
        if reached:
            lost = rctx.broadcast("weights", TensorRecord(self.weights), reached)
            self._drop(lost, dismiss=False)
        self._write_log()
        return [p for p in reached if p not in lost]

    def _round(self, server_round: int) -> RoundRecord:
        started = time.monotonic()
        rctx = self.ctx.sub(f"round-{server_round}")
        if len(self.live) < self.config.min_workers:
            self._fail(server_round, f"only {len(self.live)} workers remain, {self.config.min_workers} needed")
        selected = self._select(server_round)
        evaluate = server_round % self.config.eval_every == 0
        instruction = self.strategy.instruction(server_round).to_json()
        if len(selected) < self.config.min_workers:  # DP's Poisson sampling drew too few: the round is skipped
            self._orders(rctx, [], {})
            epsilon = self.ledger.step() if self.ledger is not None else None
            return RoundRecord(
                server_round, len(selected), 0, [], time.monotonic() - started, None, None, None, epsilon
            )
        order: dict[str, JsonValue] = {"action": "train", "instruction": instruction, "evaluate": evaluate}
        if self.progress:
            order["progress"] = self.progress
        try:
            setup = self.summer.begin(rctx, selected, contribution.length(self.weights), self.config.min_workers)
        except RoundFailedError as exc:
            self._fail(server_round, f"round {server_round} failed: {exc}")
        if setup is not None:
            order["sum_setup"] = setup
        reached = self._orders(rctx, selected, order)
        summed = self._collect(rctx, server_round, reached, contribution.length(self.weights))
        missing = {p: why for p, why in summed.missing.items()} | {
            p: "could not be reached" for p in selected if p not in reached
        }
        self._drop(summed.missing, dismiss=True)
        change, stats = contribution.unpack(summed.total, self.weights)
        if self.dp is not None:
            change = self._privatise(change, stats.total_weight, len(summed.contributors))
            total_weight = float(len(summed.contributors))
        else:
            total_weight = stats.total_weight
        if not (math.isfinite(total_weight) and total_weight > 0):  # a worker sent a zero or negative weight
            self._fail(server_round + 1, f"round {server_round}: the contributions' weights sum to {total_weight}")
        if evaluate and stats.eval_loss is not None:
            self._track_best(stats.eval_loss)
        self.weights = self.strategy.apply(self.weights, change, total_weight)
        epsilon = self.ledger.step() if self.ledger is not None else None
        return RoundRecord(
            server_round,
            len(selected),
            len(summed.contributors),
            [str(p) for p in sorted(missing)],
            time.monotonic() - started,
            stats.train_loss,
            stats.eval_loss if evaluate else None,
            stats.eval_accuracy if evaluate else None,
            epsilon,
        )

    def _privatise(self, change: Weights, weight_sum: float, contributors: int) -> Weights:
        assert self.dp is not None
        if round(weight_sum) != contributors:
            raise RoundFailedError("with DP every contribution has weight 1; the weights do not add up")
        std = self.dp.aggregator_std
        if std == 0:
            return change
        flat = np.concatenate([np.ravel(t) for t in change.values()]) if change else np.zeros(0)
        return unflatten(flat + gaussian(flat.size, std, self.noise_rng), change)

    def _collect(self, rctx: Context, server_round: int, workers: list[PartyRef], length: int) -> Summed:
        try:
            return self.summer.collect(rctx, workers, length, self.config.round_deadline_s, self.config.min_workers)
        except RoundFailedError as exc:
            self._fail(server_round + 1, f"round {server_round} failed: {exc}")

    def _drop(self, parties: Mapping[PartyRef, str], dismiss: bool) -> None:
        for party, why in parties.items():
            if party in self.live:
                self.live.remove(party)
                self.left.append(party)
                self.ctx.logger.warning("worker %s leaves the job: %s", party, why)
                if dismiss:
                    self.dismiss.append(party)

    def _fail(self, next_round: int, reason: str) -> NoReturn:
        """Tell every worker still listening why the job stops, then raise."""
        rctx = self.ctx.sub(f"round-{next_round}")
        rctx.broadcast("order", {"action": "abort", "reason": reason[:2000]}, self.live + self.dismiss)
        self._write_log()
        raise RoundFailedError(reason)

    def _track_best(self, loss: float) -> None:
        """``loss`` is that of the weights sent this round (the model before this round's update)."""
        if loss < self.best_loss - self.config.min_delta:
            self.best_loss, self.best_weights, self.stale = loss, dict(self.weights), 0
        else:
            self.stale += 1

    def _should_stop(self, record: RoundRecord) -> bool:
        return self.config.patience > 0 and record.eval_loss is not None and self.stale >= self.config.patience

    def _final(self, server_round: int) -> tuple[float | None, float | None]:
        """The workers evaluate the final model, report the (summed) result and keep the model."""
        rctx = self.ctx.sub(f"round-{server_round}")
        workers = list(self.live)
        final: dict[str, JsonValue] = {"action": "final"}
        if self.progress:
            final["progress"] = self.progress
        reached = self._orders(rctx, workers, final)
        if not reached:
            return None, None
        try:
            summed = self.summer.collect(rctx, reached, contribution.length(None), self.config.round_deadline_s, 1)
        except RoundFailedError as exc:
            self.ctx.logger.warning("no worker evaluated the final model: %s", exc)
            return None, None
        _, stats = contribution.unpack(summed.total, None)
        if summed.missing:
            self.ctx.logger.warning("final evaluation without %s", describe(summed.missing))
        if stats.eval_loss is not None:
            self.ctx.metrics.log("final_loss", stats.eval_loss)
        if stats.eval_accuracy is not None:
            self.ctx.metrics.log("final_accuracy", stats.eval_accuracy)
        return stats.eval_loss, stats.eval_accuracy

    def _log(self, record: RoundRecord) -> None:
        """The round's summary for the workers' next orders now; its metrics and log line once those orders
        and weights are out (``_write_log``), so a node call and a log write are not on the path from one
        round's sum to the next round's weights."""
        step = record.server_round
        self.progress = {"round": step + 1, "rounds": self.config.rounds, "workers": record.contributors,
                         "seconds": round(record.seconds, 4)}  # fmt: skip
        for name in ("eval_loss", "eval_accuracy", "epsilon"):
            value = getattr(record, name)
            if value is not None and math.isfinite(value):
                self.progress[name] = value
        self._write_log()  # never two rounds pending: an earlier one's, if no orders went out since
        self.unwritten = record

    def _write_log(self) -> None:
        """The metrics and log line of the round ``_log`` kept, if any: one node call, one log write."""
        record, self.unwritten = self.unwritten, None
        if record is None:
            return
        step = record.server_round
        metrics_bytes = sum(int(np.asarray(t).nbytes) for t in self.weights.values()) * record.selected
        figures = {"bytes_sent": metrics_bytes, "round_seconds": record.seconds, "workers": record.contributors}
        for name in ("train_loss", "eval_loss", "eval_accuracy", "epsilon"):
            value = getattr(record, name)
            if value is not None and math.isfinite(value):
                figures[name] = value
        self.ctx.metrics.log_all(figures, step=step)  # one call to the node per round, not seven
        self.ctx.logger.info(
            "round %d/%d: %d of %d selected workers in %.2f s, loss %s, accuracy %s%s",
            step + 1,
            self.config.rounds,
            record.contributors,
            record.selected,
            record.seconds,
            "n/a" if record.eval_loss is None else f"{record.eval_loss:.4f}",
            "n/a" if record.eval_accuracy is None else f"{record.eval_accuracy:.4f}",
            "" if record.missing == [] else f", missing {', '.join(record.missing)}",
        )

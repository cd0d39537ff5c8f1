"""Hetero LR, the guest's side: it holds the labels, announces the batch plan and assembles the loss.

See :mod:`unseen.vertical.hetero_lr` for the protocol and what each party learns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from unseen.crypto.packing import SlotLayout
from unseen.crypto.paillier import EncryptedVector, PublicKey
from unseen.runtime.context import Context
from unseen.runtime.parties import PartyRef
from unseen.vertical.hetero_lr import (
    LN2,
    LOSS_PART_FRAC_BITS,
    MEAN_SCALE_FRAC_BITS,
    VALUE_FRAC_BITS,
    WEIGHT_DIFF_FRAC_BITS,
    BatchPlan,
    HeteroLRConfig,
    HeteroLRProtocolError,
    PhaseClock,
    ScaledColumns,
    TrainingSummary,
    batch_positions,
    check_batches_hide_rows,
    check_value_range,
    ciphertexts,
    gradient_layout,
    loss_factor_column,
    mask_for_arbiter,
    plan_batches,
    public_key_from,
    sigmoid,
    unmask,
    wire,
)
from unseen.vertical.hetero_lr_engine import PaillierEngine, SerialEngine
from unseen.vertical.hetero_lr_optim import Optimizer, block_newton_preconditioner

FloatArray = npt.NDArray[np.float64]


@dataclass
class GuestFit:
    """The guest's part of the model: its own coefficients and the intercept, nothing of the hosts'."""

    coef: FloatArray
    intercept: float
    summary: TrainingSummary = field(default_factory=TrainingSummary)


def signed_labels(y: npt.ArrayLike) -> FloatArray:
    """Binary labels as -1/+1, the form the Taylor loss is written in; anything but two classes is refused."""
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one column, got shape {labels.shape}")
    values = set(np.unique(labels).tolist())
    if values <= {0, 1}:
        return np.where(labels == 1, 1.0, -1.0)
    if values <= {-1, 1}:
        return labels.astype(np.float64)
    raise ValueError(f"hetero LR needs binary labels (0/1 or -1/+1); found {sorted(values)[:10]}")


def fit_guest(
    ctx: Context,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    config: HeteroLRConfig,
    engine: PaillierEngine | None = None,
) -> GuestFit:
    """Train with the hosts and the arbiter; returns the guest's coefficients and the loss per epoch.

    ``x`` holds the guest's features and ``y`` its labels, rows in the order every party shares. ``ctx`` is a
    sub-context for this training (e.g. ``ctx.sub("train")``) so its tags do not collide with prediction's.
    """
    engine = engine or SerialEngine()
    augmented, labels, penalised = _training_data(x, y, config.fit_intercept)
    rows, columns = augmented.shape
    hosts, arbiter = ctx.hosts, ctx.arbiter
    if not hosts:
        raise ValueError("hetero LR needs at least one host")
    plan = BatchPlan(rows, plan_batches(rows, config.batch_size), config.max_iter, config.early_stop, config.shuffle)
    check_batches_hide_rows([len(b) for b in batch_positions(np.arange(rows), plan.batches)], columns, "guest")

    ctx.send("plan", plan.to_json(include_rows=True), to=hosts)
    ctx.send("plan", plan.to_json(include_rows=False), to=arbiter)
    public_key = public_key_from(ctx.recv("public_key", frm=arbiter), config.key_bits)

    scaled = ScaledColumns.of(augmented, config.feature_bits)
    weights = np.zeros(columns)
    alpha = config.alpha_for(rows)
    optimizer = _optimizer(config, augmented, alpha, penalised, 1 + len(hosts))
    rng = np.random.default_rng(config.random_seed)
    summary = TrainingSummary()
    clock = PhaseClock()

    for epoch, epoch_ctx in ctx.iterations(plan.max_iter):
        started = time.perf_counter()
        order = np.arange(rows, dtype=np.int64)
        if plan.shuffle and plan.batches > 1:
            order = rng.permutation(rows).astype(np.int64)
            epoch_ctx.send("order", order, to=hosts)
        rate = config.learning_rate_at(epoch)
        epoch_start = weights.copy()
        loss_sum: EncryptedVector | None = None
        batches = batch_positions(order, plan.batches)
        for index, positions in enumerate(batches):
            batch = _GuestBatch(
                epoch_ctx.sub(f"batch-{index}"), public_key, engine, clock, config, alpha, hosts, arbiter, scaled
            )
            pending, batch_loss = batch.begin(augmented[positions], labels[positions], positions, weights, penalised)
            loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
            if index == len(batches) - 1 and plan.early_stop == "loss_diff":
                # the epoch's loss is known before the last gradient comes back: send it now, so the arbiter
                # decides convergence in the same round trip instead of one more after the step
                with clock("loss"):
                    _report_epoch(epoch_ctx, public_key, hosts, arbiter, loss_sum, rows, None)
            weights = optimizer.step(weights, batch.finish(pending), rate)

        assert loss_sum is not None  # a plan has at least one batch
        with clock("loss"):
            if plan.early_stop == "weight_diff":
                _report_epoch(epoch_ctx, public_key, hosts, arbiter, loss_sum, rows, weights - epoch_start)
            loss, converged = _status(epoch_ctx.recv("status", frm=arbiter))
        summary.loss_history.append(loss)
        summary.n_iter = epoch + 1
        summary.epoch_seconds.append(time.perf_counter() - started)
        ctx.metrics.log("loss", loss, step=epoch)
        ctx.logger.info("hetero_lr epoch %d: loss %.6f, lr %.4g, %.1f s", epoch, loss, rate, summary.epoch_seconds[-1])
        if converged:
            summary.converged = True
            break

    summary.keep_phases(clock)
    if config.fit_intercept:
        return GuestFit(weights[:-1].copy(), float(weights[-1]), summary)
    return GuestFit(weights.copy(), 0.0, summary)


def _optimizer(
    config: HeteroLRConfig, augmented: FloatArray, alpha: float, penalised: FloatArray, parties: int
) -> Optimizer:
    """The guest's optimizer; ``block_newton`` is preconditioned by the guest's own columns (and intercept) only."""
    rows, columns = augmented.shape
    if config.optimizer != "block_newton":
        return Optimizer(config.optimizer, columns)
    return Optimizer(config.optimizer, columns, block_newton_preconditioner(augmented, rows, alpha, penalised, parties))


def _training_data(
    x: npt.ArrayLike, y: npt.ArrayLike, fit_intercept: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Features (with a ones column for the intercept), labels as -1/+1, and which weights L2 applies to."""
    features = np.asarray(x, dtype=np.float64)
    labels = signed_labels(y)
    if features.ndim != 2 or features.shape[0] != labels.shape[0]:
        raise ValueError(f"features {features.shape} and labels {labels.shape} must have the same rows")
    if not fit_intercept:
        return features, labels, np.ones(features.shape[1])
    augmented = np.column_stack([features, np.ones(features.shape[0])])
    penalised = np.ones(augmented.shape[1])
    penalised[-1] = 0.0  # the intercept is not regularised
    return augmented, labels, penalised


@dataclass
class _Pending:
    """A batch whose masked gradient is at the arbiter: the masks to remove, how it was packed, the L2 term."""

    masks: list[int]
    layout: SlotLayout
    size: int
    l2: FloatArray


class _GuestBatch:
    """One mini-batch as the guest runs it; a class only to keep the many shared inputs out of signatures."""

    def __init__(
        self,
        ctx: Context,
        public_key: PublicKey,
        engine: PaillierEngine,
        clock: PhaseClock,
        config: HeteroLRConfig,
        alpha: float,
        hosts: list[PartyRef],
        arbiter: PartyRef,
        scaled: ScaledColumns,
    ) -> None:
        self.ctx, self.public_key, self.engine, self.clock = ctx, public_key, engine, clock
        self.config, self.alpha, self.hosts, self.arbiter, self.scaled = config, alpha, hosts, arbiter, scaled

    def begin(
        self, x: FloatArray, y: FloatArray, positions: npt.NDArray[np.int64], weights: FloatArray, penalised: FloatArray
    ) -> tuple[_Pending, EncryptedVector]:
        """Send the masked gradient to the arbiter; return what ``finish`` needs and the encrypted loss sum."""
        ctx, clock, pk = self.ctx, self.clock, self.public_key
        size = len(positions)
        u = x @ weights
        v = 0.25 * u - 0.5 * y  # the guest's part of the residual d = u/4 - y/2
        check_value_range(v, "guest")
        layout = gradient_layout(pk, size, self.config.feature_bits, 1 + len(self.hosts))
        with clock("encrypt"):
            enc_v = self.engine.encrypt(pk, v, VALUE_FRAC_BITS)
        with clock("d"):
            enc_s = self._exchange(enc_v, size)
        factor = 0.5 * u - y  # loss: sum_i s_i (u_g,i / 2 - y_i), the terms with the hosts' scores
        matrix = np.column_stack([self.scaled.scaled[positions], loss_factor_column(factor, self.config.feature_bits)])
        with clock("xtd"):
            products = self.engine.x_transpose_dot(matrix, enc_s, self.config.feature_bits)
        columns = len(weights)
        with clock("mask"):
            masked, masks = mask_for_arbiter(products[:columns], x.T @ v, self.scaled.frac_bits, layout)
            ctx.send("gradient", wire(masked), to=self.arbiter)
        pending = _Pending(masks, layout, size, self.alpha * penalised * weights)
        with clock("loss"):
            known = (
                size * LN2
                + 0.5 * float(u @ v)
                - 0.25 * float(y @ u)
                + size * 0.5 * self.alpha * float(np.sum(penalised * weights**2))
            )
            # the loss column's exponents were scaled to LOSS_FACTOR_FRAC_BITS, not to feature_bits
            loss = EncryptedVector(pk, products.data[columns:], LOSS_PART_FRAC_BITS) + np.array([known])
            for host in self.hosts:
                loss = loss + ciphertexts(pk, ctx.recv("loss", frm=host), 1, LOSS_PART_FRAC_BITS, f"loss from {host}")
        return pending, loss

    def finish(self, pending: _Pending) -> FloatArray:
        """The batch's gradient (mean over its rows, with L2), from the arbiter's residues."""
        with self.clock("decrypt"):
            returned = self.ctx.recv("gradient", frm=self.arbiter)
        with self.clock("unmask"):
            gradient = unmask(self.public_key, returned, pending.masks, self.scaled.frac_bits, pending.layout)
            return gradient / pending.size + pending.l2

    def _exchange(self, enc_v: EncryptedVector, size: int) -> EncryptedVector:
        """Send each host ``[[v + s_others]]`` and return ``[[s]] = sum_h [[u_h / 4]]``.

        With one host the two encryptions overlap: the guest sends ``[[v]]`` before waiting for ``[[s_h]]``.
        With several, host h needs the other hosts' shares too, so the guest collects them first.
        """
        ctx, pk = self.ctx, self.public_key
        if len(self.hosts) == 1:
            ctx.send("enc_v", wire(enc_v), to=self.hosts[0])
            return ciphertexts(pk, ctx.recv("enc_s", frm=self.hosts[0]), size, VALUE_FRAC_BITS, "host scores")
        shares = [
            ciphertexts(pk, ctx.recv("enc_s", frm=host), size, VALUE_FRAC_BITS, f"scores of {host}")
            for host in self.hosts
        ]
        total = shares[0]
        for share in shares[1:]:
            total = total + share
        for index, host in enumerate(self.hosts):
            others = enc_v
            for other, share in enumerate(shares):
                if other != index:
                    others = others + share
            ctx.send("enc_v", wire(others), to=host)
        return total


def _report_epoch(
    ctx: Context,
    public_key: PublicKey,
    hosts: list[PartyRef],
    arbiter: PartyRef,
    loss_sum: EncryptedVector,
    rows: int,
    own_change: FloatArray | None,
) -> None:
    """Send the arbiter ``[[mean loss]]`` (and ``[[total squared weight change]]``); its verdict comes as status.

    The two scalars go re-randomised with full-length randomness, like everything the key holder decrypts.
    """
    mean_loss = loss_sum.mul(np.float64(1.0 / rows), frac_bits=MEAN_SCALE_FRAC_BITS)
    report = list(mean_loss.data)
    if own_change is not None:
        report.extend(_weight_change(ctx, public_key, hosts, own_change).data)
    message = EncryptedVector(public_key, report, 0).rerandomize()
    ctx.send("loss", wire(message), to=arbiter)


def _weight_change(
    ctx: Context, public_key: PublicKey, hosts: list[PartyRef], own_change: FloatArray
) -> EncryptedVector:
    """``[[sum over parties of |w_new - w_old|^2]]``: the hosts' terms arrive encrypted, the guest adds its own."""
    total = public_key.encrypt(np.array([float(own_change @ own_change)]), frac_bits=WEIGHT_DIFF_FRAC_BITS)
    for host in hosts:
        total = total + ciphertexts(
            public_key, ctx.recv("weight_diff", frm=host), 1, WEIGHT_DIFF_FRAC_BITS, f"weight change of {host}"
        )
    return total


def _status(message: object) -> tuple[float, bool]:
    if not isinstance(message, dict):
        raise HeteroLRProtocolError("the arbiter's status must be an object")
    loss, converged = message.get("loss"), message.get("converged")
    if not isinstance(loss, int | float) or isinstance(loss, bool) or not isinstance(converged, bool):
        raise HeteroLRProtocolError(f"the arbiter's status is malformed: {message!r:.200}")
    return float(loss), converged


def predict_guest(ctx: Context, x: npt.ArrayLike, coef: FloatArray, intercept: float) -> FloatArray:
    """Federated scores: ``sigmoid(x_g w_g + b + sum_h u_h)``, the hosts' partial scores ``u_h`` sent in clear.

    As in FATE, the guest learns each host's partial scores ``X_h w_h`` for the rows it scores; that is the
    price of predicting without another round of encryption, and why prediction is a separate, explicit step.
    """
    features = np.asarray(x, dtype=np.float64)
    scores = features @ coef + intercept
    for host in ctx.hosts:
        partial = ctx.recv("partial_scores", frm=host)
        if not isinstance(partial, np.ndarray) or partial.dtype != np.float64 or partial.shape != scores.shape:
            raise HeteroLRProtocolError(f"{host} sent partial scores that are not {scores.shape[0]} float64 values")
        scores = scores + partial
    return sigmoid(scores)


__all__ = ["GuestFit", "fit_guest", "predict_guest", "signed_labels"]

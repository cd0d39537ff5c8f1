"""Hetero LR, a host's side: features only, no labels; it follows the guest's batch plan.

See :mod:`unseen.vertical.hetero_lr` for the protocol and what each party learns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from unseen.crypto.paillier import EncryptedVector, PublicKey
from unseen.runtime.context import Context
from unseen.vertical.hetero_lr import (
    LOSS_PART_FRAC_BITS,
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
    public_key_from,
    rerandomize_for_peer,
    unmask,
    wire,
)
from unseen.vertical.hetero_lr_engine import PaillierEngine, SerialEngine
from unseen.vertical.hetero_lr_optim import Optimizer, block_newton_preconditioner

FloatArray = npt.NDArray[np.float64]


@dataclass
class HostFit:
    """A host's part of the model: its own coefficients only."""

    coef: FloatArray
    summary: TrainingSummary = field(default_factory=TrainingSummary)


def fit_host(ctx: Context, x: npt.ArrayLike, config: HeteroLRConfig, engine: PaillierEngine | None = None) -> HostFit:
    """Train with the guest and the arbiter; ``x`` holds this host's features, rows in the shared order."""
    engine = engine or SerialEngine()
    features = np.asarray(x, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] == 0:
        raise ValueError(f"a host needs a (rows, features) matrix with at least one feature, got {features.shape}")
    rows, columns = features.shape
    guest, arbiter = ctx.guest, ctx.arbiter

    plan = BatchPlan.from_json(ctx.recv("plan", frm=guest), rows=rows)
    check_batches_hide_rows([len(b) for b in batch_positions(np.arange(rows), plan.batches)], columns, "host")
    public_key = public_key_from(ctx.recv("public_key", frm=arbiter), config.key_bits)
    scaled = ScaledColumns.of(features, config.feature_bits)
    weights = np.zeros(columns)
    alpha = config.alpha_for(rows)
    parties = 1 + len(ctx.hosts)
    optimizer = (
        Optimizer(
            config.optimizer,
            columns,
            block_newton_preconditioner(features, rows, alpha, np.ones(columns), parties),
        )
        if config.optimizer == "block_newton"
        else Optimizer(config.optimizer, columns)
    )
    summary = TrainingSummary()
    clock = PhaseClock()

    for epoch, epoch_ctx in ctx.iterations(plan.max_iter):
        started = time.perf_counter()
        order = np.arange(rows, dtype=np.int64)
        if plan.shuffle and plan.batches > 1:
            order = _order(epoch_ctx.recv("order", frm=guest), rows)
        rate = config.learning_rate_at(epoch)
        epoch_start = weights.copy()
        for index, positions in enumerate(batch_positions(order, plan.batches)):
            batch_ctx = epoch_ctx.sub(f"batch-{index}")
            gradient = _host_batch(
                batch_ctx,
                public_key,
                engine,
                clock,
                config,
                alpha,
                parties,
                features[positions],
                scaled,
                positions,
                weights,
            )
            weights = optimizer.step(weights, gradient, rate)
        if plan.early_stop == "weight_diff":
            change = weights - epoch_start
            enc = public_key.encrypt(np.array([float(change @ change)]), frac_bits=WEIGHT_DIFF_FRAC_BITS)
            epoch_ctx.send("weight_diff", wire(enc), to=guest)
        status = epoch_ctx.recv("status", frm=arbiter)
        if not isinstance(status, dict) or not isinstance(status.get("converged"), bool):
            raise HeteroLRProtocolError(f"the arbiter's status is malformed: {status!r:.200}")
        summary.n_iter = epoch + 1
        summary.epoch_seconds.append(time.perf_counter() - started)
        if status["converged"]:
            summary.converged = True
            break

    summary.keep_phases(clock)
    return HostFit(weights.copy(), summary)


def _host_batch(
    ctx: Context,
    public_key: PublicKey,
    engine: PaillierEngine,
    clock: PhaseClock,
    config: HeteroLRConfig,
    alpha: float,
    parties: int,
    x: FloatArray,
    scaled: ScaledColumns,
    positions: npt.NDArray[np.int64],
    weights: FloatArray,
) -> FloatArray:
    """One batch: send ``[[u_h/4]]``, compute the masked gradient sum and the loss term, return the gradient."""
    guest, arbiter = ctx.guest, ctx.arbiter
    size = len(positions)
    u = x @ weights
    share = 0.25 * u
    check_value_range(share, "host")
    layout = gradient_layout(public_key, size, config.feature_bits, parties)
    with clock("encrypt"):
        ctx.send("enc_s", wire(engine.encrypt(public_key, share, VALUE_FRAC_BITS)), to=guest)
    with clock("d"):
        # [[v + s_others]]: d minus this host's own share, which it adds in clear below
        enc_rest = ciphertexts(public_key, ctx.recv("enc_v", frm=guest), size, VALUE_FRAC_BITS, "guest residuals")
    matrix = np.column_stack([scaled.scaled[positions], loss_factor_column(0.5 * u, config.feature_bits)])
    with clock("xtd"):
        products = engine.x_transpose_dot(matrix, enc_rest, config.feature_bits)
    columns = len(weights)
    with clock("mask"):
        masked, masks = mask_for_arbiter(products[:columns], x.T @ share, scaled.frac_bits, layout)
        ctx.send("gradient", wire(masked), to=arbiter)
    with clock("loss"):
        # [[sum_i u_h,i d_i / 2]] = sum_i (u_h,i / 2) [[v_i + s_others,i]] + sum_i u_h,i^2 / 8, plus this host's L2
        known = 0.125 * float(u @ u) + size * 0.5 * alpha * float(weights @ weights)
        loss = EncryptedVector(public_key, products.data[columns:], LOSS_PART_FRAC_BITS) + np.array([known])
        ctx.send("loss", wire(rerandomize_for_peer(loss)), to=guest)
    with clock("decrypt"):
        returned = ctx.recv("gradient", frm=arbiter)
    with clock("unmask"):
        gradient = unmask(public_key, returned, masks, scaled.frac_bits, layout) / size
        return gradient + alpha * weights


def _order(message: object, rows: int) -> npt.NDArray[np.int64]:
    """The epoch's row order from the guest: a permutation of 0..rows-1, checked as one."""
    if not isinstance(message, np.ndarray) or message.dtype != np.int64 or message.shape != (rows,):
        raise HeteroLRProtocolError(f"the guest's batch order must be {rows} int64 positions")
    if not np.array_equal(np.sort(message), np.arange(rows)):
        raise HeteroLRProtocolError("the guest's batch order is not a permutation of the rows")
    return message


def predict_host(ctx: Context, x: npt.ArrayLike, coef: FloatArray) -> None:
    """Send this host's partial scores ``X_h w_h`` to the guest, in clear (see ``predict_guest``)."""
    features = np.asarray(x, dtype=np.float64)
    ctx.send("partial_scores", np.ascontiguousarray(features @ coef, dtype=np.float64), to=ctx.guest)


__all__ = ["HostFit", "fit_host", "predict_host"]

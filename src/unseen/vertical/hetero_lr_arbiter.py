"""Hetero LR, the arbiter's side: it holds the Paillier key, decrypts masked sums and decides convergence.

It has no data. Every gradient it decrypts is masked with a uniform value mod n, so what it returns is a
uniformly random residue; the only plaintexts it reads are the epoch's mean loss and, with
``early_stop="weight_diff"``, the sum over parties of the squared weight change.
See :mod:`unseen.vertical.hetero_lr` for the protocol.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from unseen.crypto.paillier import EncryptedVector, PrivateKey, PublicKey, decrypt, generate_keypair
from unseen.runtime.context import Context
from unseen.runtime.parties import PartyRef
from unseen.values import BigInts, Value
from unseen.vertical.hetero_lr import (
    LOSS_FRAC_BITS,
    PROTOCOL,
    WEIGHT_DIFF_FRAC_BITS,
    BatchPlan,
    Convergence,
    HeteroLRConfig,
    HeteroLRProtocolError,
    PhaseClock,
    TrainingSummary,
)
from unseen.vertical.hetero_lr_optim import relative_change

MAX_COLUMNS = 1 << 20
"""More ciphertexts than this in one gradient is not a model this protocol was sized for: refuse it."""


@dataclass
class ArbiterFit:
    """What the arbiter keeps: a training summary, and no coefficients (it never sees any)."""

    key_bits: int
    summary: TrainingSummary = field(default_factory=TrainingSummary)
    weight_diffs: list[float] = field(default_factory=list)


def fit_arbiter(
    ctx: Context, config: HeteroLRConfig, keypair: tuple[PublicKey, PrivateKey] | None = None
) -> ArbiterFit:
    """Serve one training: announce a fresh public key, decrypt what the parties send, stop when converged.

    ``keypair`` replaces the fresh key for tests that must read what the arbiter could read; a deployment
    leaves it out, so every job has its own key and the private key never leaves this function.
    """
    # the key first: it is made while the guest and the hosts read their tables, before the plan arrives
    public_key, private_key = keypair or generate_keypair(config.key_bits)
    plan = BatchPlan.from_json(ctx.recv("plan", frm=ctx.guest))
    ctx.send("public_key", {"protocol": PROTOCOL, "n": public_key.to_wire()}, to=[ctx.guest, *ctx.hosts])
    parties = [ctx.guest, *ctx.hosts]
    summary = TrainingSummary()
    fit = ArbiterFit(public_key.bits, summary)
    clock = PhaseClock()
    previous: float | None = None
    rule = Convergence(config.tol, config.min_iter, config.n_iter_no_change)

    for epoch, epoch_ctx in ctx.iterations(plan.max_iter):
        started = time.perf_counter()
        for index in range(plan.batches):
            batch_ctx = epoch_ctx.sub(f"batch-{index}")
            for party in parties:
                with clock("wait"):
                    received = batch_ctx.recv("gradient", frm=party)
                with clock("decrypt"):
                    residues = private_key.raw_decrypt(_ciphertexts(public_key, received, party))
                batch_ctx.send("gradient", BigInts(int(r) for r in residues), to=party)

        with clock("wait"):
            received = epoch_ctx.recv("loss", frm=ctx.guest)
        expected = 2 if plan.early_stop == "weight_diff" else 1
        data = _ciphertexts(public_key, received, ctx.guest)
        if len(data) != expected:
            raise HeteroLRProtocolError(f"the guest's epoch report has {len(data)} values, expected {expected}")
        with clock("decrypt"):
            loss = float(decrypt(private_key, EncryptedVector(public_key, data[:1], LOSS_FRAC_BITS))[0])
            change = (
                math.sqrt(
                    max(
                        float(decrypt(private_key, EncryptedVector(public_key, data[1:], WEIGHT_DIFF_FRAC_BITS))[0]),
                        0.0,
                    )
                )
                if expected == 2
                else None
            )
        if change is not None:
            fit.weight_diffs.append(change)
        else:
            change = math.inf if previous is None else relative_change(previous, loss)
        converged = rule.update(change)
        previous = loss
        summary.loss_history.append(loss)
        summary.n_iter = epoch + 1
        epoch_ctx.send("status", {"loss": loss, "converged": converged}, to=ctx.guest)
        epoch_ctx.send("status", {"converged": converged}, to=ctx.hosts)
        summary.epoch_seconds.append(time.perf_counter() - started)
        ctx.logger.info("hetero_lr epoch %d: loss %.6f%s", epoch, loss, " (converged)" if converged else "")
        if converged:
            summary.converged = True
            break

    summary.keep_phases(clock)
    return fit


def _ciphertexts(public_key: PublicKey, received: Value, party: PartyRef) -> list[int]:
    if not isinstance(received, BigInts) or not 0 < len(received) <= MAX_COLUMNS:
        raise HeteroLRProtocolError(f"{party} sent the arbiter something other than a vector of ciphertexts")
    try:
        return EncryptedVector.from_ints(public_key, received.to_list(), 0).data
    except ValueError as exc:
        raise HeteroLRProtocolError(f"{party}: {exc}") from exc


__all__ = ["ArbiterFit", "fit_arbiter"]

"""Hetero (vertical) logistic regression with Paillier, the key held by an arbiter: the shared pieces.

Same rows, different columns: the guest holds labels ``y`` and features ``X_g``, each host ``h`` holds
features ``X_h`` for the same rows in the same order (what the ``psi`` component produces). The model is
``P(y=1|x) = sigmoid(u)`` with ``u = X_g w_g + b + sum_h X_h w_h``; each party keeps its own block of weights.
The roles live in ``hetero_lr_guest``, ``hetero_lr_host`` and ``hetero_lr_arbiter``; this module holds what
they agree on (configuration, constants, the fixed-point helpers) and documents the protocol.

The loss is the second-order Taylor expansion of the logistic loss at ``u = 0`` (as in FATE and Hardy et al.,
"Private federated learning on vertically partitioned data via entity resolution and additively homomorphic
encryption", 2017), with labels in {-1, +1}::

    l(u, y) ~ log 2 - y u / 2 + u^2 / 8,         dl/du = d = u/4 - y/2

so the per-row residual ``d`` is linear in ``u`` and can be formed under additive encryption. Write
``v = u_g/4 - y/2`` (the guest's part) and ``s = sum_h u_h/4`` (the hosts' part): ``d = v + s``.

One mini-batch (tags under ``epoch-t/batch-k``):

1. the host encrypts ``s_h = u_h/4`` under the arbiter's key and sends ``[[s_h]]`` to the guest; at the same
   time the guest encrypts ``v`` and sends ``[[v]]`` (plus the other hosts' ``[[s_h']]``) to the host. The two
   encryptions run in parallel, and each side's ciphertexts carry that side's own fresh randomness.
   (The FATE-style exchange sends ``[[d]] = [[s_h]] + v`` back to the host instead; unless the guest
   re-randomises all of it, the host, which knows ``[[s_h]]``, can divide it out and read ``v``: the same
   amount of fresh randomness, but after the host's encryption rather than beside it.)
2. each party computes its gradient sum with one multi-exponentiation per column, adding in clear the part it
   knows: host ``X_h^T [[v + s_others]] + X_h^T s_h``, guest ``X_g^T [[s]] + X_g^T v`` (a ones column gives
   the intercept). A uniform mask over Z_n is added to each ciphertext (so the plaintext the arbiter sees is
   uniform: perfectly hiding, not merely statistically) and the vector is re-randomised with full-length
   randomness, so that the arbiter, who can read any ciphertext's randomness, learns nothing from it either.
3. the arbiter decrypts the masked sums and returns them (as residues mod n); each party removes its mask,
   divides by the batch size, adds ``alpha * w`` and takes a gradient step.
4. loss: ``sum_i l_i = n log 2 + sum_i (u_i d_i / 2 - y_i u_i / 4)``. The host sends the guest
   ``[[sum_i u_h,i d_i / 2]]`` (one more column of its multi-exponentiation, plus ``sum u_h^2/8`` in clear,
   re-randomised); the guest forms ``[[sum_i s_i (u_g,i/2 - y_i)]]`` (one more column of its own) and adds
   the terms it knows in clear. The guest keeps the encrypted sum over the epoch's batches.
5. after each epoch the guest sends the arbiter ``[[mean loss]]`` (and, for ``early_stop="weight_diff"``,
   ``[[sum of the parties' squared weight changes]]``); the arbiter decrypts these two scalars only, decides
   whether training has converged and tells every party; the guest also gets the loss, which it logs.

What each party learns (semi-honest, non-colluding): the guest learns its own weights and gradients, the loss
per epoch and, through its gradient, ``X_g^T s`` per batch (p_g linear combinations of the hosts' partial
scores, inherent to any scheme that hands the guest its gradient); a host learns its own weights and gradients
(``X_h^T d``: p_h linear combinations of the residuals, again inherent), the row count, the batch plan and
when training stops; the arbiter learns the loss (and weight-change norm) per epoch, the number of parties,
features and batches, and otherwise only uniformly random residues. Batches must be larger than any party's
feature count, or a gradient would determine the other side's per-row values. Prediction is different: as in
FATE, each host sends its partial scores ``X_h w_h`` to the guest in clear, so the guest learns them.
"""

from __future__ import annotations

import itertools
import math
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from unseen.crypto.fixedpoint import from_residues
from unseen.crypto.packing import SlotLayout, layout_for, pack_ciphertexts
from unseen.crypto.paillier import EncryptedVector, PublicKey
from unseen.values import BigInts, JsonValue, Value
from unseen.vertical.hetero_lr_optim import DEFAULT_RATES, OPTIMIZERS, OptimizerName, relative_change

PROTOCOL: Final = "unseen.hetero-lr/arbiter-paillier-taylor/v1"

VALUE_FRAC_BITS: Final = 32
"""Fraction bits of the encrypted per-row values ``u_h/4`` and ``v``: 2**-32, far below what training notices."""

VALUE_MAGNITUDE_BITS: Final = 24
"""Every party refuses to encrypt a per-row value (``v``, ``u_h/4``) of ``2**24`` or more: the bound the packed
gradient's bit budget rests on (``gradient_layout``). Scores that large mean training diverged."""

LOSS_FACTOR_FRAC_BITS: Final = 20
"""Fraction bits of the per-row factors in the loss's inner products: an absolute error of at most 2**-21 per row
on factors of order 1, which averages away in a mean over the batch."""

LOSS_PART_FRAC_BITS: Final = VALUE_FRAC_BITS + LOSS_FACTOR_FRAC_BITS
"""Scale of every encrypted loss term the host and the guest add up."""

MEAN_SCALE_FRAC_BITS: Final = 64
"""Encoding of 1/n when the guest turns the encrypted loss sum into a mean: 2**-64 relative precision."""

LOSS_FRAC_BITS: Final = LOSS_PART_FRAC_BITS + MEAN_SCALE_FRAC_BITS
"""Scale of the encrypted mean loss the arbiter decrypts (a protocol constant, so nothing but ciphertexts
needs to reach the arbiter)."""

WEIGHT_DIFF_FRAC_BITS: Final = VALUE_FRAC_BITS

MAX_FEATURE_MAGNITUDE: Final = 2.0**40
"""Features beyond this would leave no fraction bits in the gradient's fixed point: standardise them first."""

LN2: Final = math.log(2.0)

EarlyStop = Literal["loss_diff", "weight_diff"]
LrSchedule = Literal["inverse", "inverse_sqrt", "step"]


class HeteroLRProtocolError(RuntimeError):
    """A partner sent something this protocol does not allow, or the parties' data do not line up."""


@dataclass(frozen=True)
class HeteroLRConfig:
    """Training settings. Guest, hosts and arbiter each get their own copy from the job's params.

    The guest's ``max_iter``, ``batch_size``, ``shuffle`` and ``early_stop`` are authoritative (it announces
    the plan); the arbiter's ``tol``, ``early_stop`` and ``key_bits`` decide convergence and the key; each party
    applies its own ``learning_rate`` schedule and ``alpha`` to its own weights.
    """

    max_iter: int = 200
    batch_size: int = -1
    learning_rate: float | None = None
    lr_decay: float = 0.0
    lr_schedule: LrSchedule = "inverse"
    lr_step: int = 10
    alpha: float | None = None
    tol: float = 1e-4
    early_stop: EarlyStop = "loss_diff"
    optimizer: OptimizerName = "block_newton"
    min_iter: int = 10
    n_iter_no_change: int = 3
    key_bits: int = 2048
    fit_intercept: bool = True
    shuffle: bool = True
    random_seed: int | None = None
    feature_bits: int = 16

    def __post_init__(self) -> None:
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        if self.batch_size == 0 or self.batch_size < -1:
            raise ValueError(f"batch_size must be -1 (the whole table) or >= 1, got {self.batch_size}")
        if self.learning_rate is not None and (not self.learning_rate > 0 or not math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate}")
        if self.lr_decay < 0 or (self.alpha is not None and self.alpha < 0) or self.tol < 0 or self.lr_step < 1:
            raise ValueError("lr_decay, alpha and tol must be >= 0 and lr_step >= 1")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.min_iter < 1 or self.n_iter_no_change < 1:
            raise ValueError("min_iter and n_iter_no_change must be >= 1")
        if self.key_bits < 1024 or self.key_bits % 2:
            raise ValueError(f"key_bits must be even and >= 1024, got {self.key_bits}")
        if not 8 <= self.feature_bits <= 30:
            raise ValueError(f"feature_bits must be within 8..30, got {self.feature_bits}")

    def alpha_for(self, rows: int) -> float:
        """The L2 strength: ``alpha``, or ``1/rows`` when unset, which is scikit-learn's default ``C = 1``."""
        return 1.0 / rows if self.alpha is None else self.alpha

    @property
    def base_rate(self) -> float:
        """The rate at epoch 0: ``learning_rate``, or the optimizer's own default when it is unset."""
        return DEFAULT_RATES[self.optimizer] if self.learning_rate is None else self.learning_rate

    def learning_rate_at(self, epoch: int) -> float:
        """The step size of epoch ``epoch`` (0-based): ``lr / (1 + decay t)``, its square root, or stepped ``t``.

        ``inverse`` and ``inverse_sqrt`` are FATE's ``decay`` and ``decay_sqrt``; ``step`` holds the rate for
        ``lr_step`` epochs at a time (``t = epoch // lr_step``), which suits long runs.
        """
        rate = self.base_rate
        if self.lr_schedule == "step":
            return rate / (1.0 + self.lr_decay * (epoch // self.lr_step))
        if self.lr_schedule == "inverse_sqrt":
            return rate / math.sqrt(1.0 + self.lr_decay * epoch)
        return rate / (1.0 + self.lr_decay * epoch)


@dataclass
class TrainingSummary:
    """How training went, as every party may know it (the arbiter and guest also know the losses)."""

    n_iter: int = 0
    converged: bool = False
    loss_history: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    phase_cpu_seconds: dict[str, float] = field(default_factory=dict)

    def keep_phases(self, clock: PhaseClock) -> None:
        self.phase_seconds, self.phase_cpu_seconds = dict(clock.seconds), dict(clock.cpu_seconds)


@dataclass
class Convergence:
    """The stopping rule: the epoch's change (relative loss change, or weight-change norm) below ``tol`` on
    ``patience`` epochs in a row, and at least ``min_iter`` epochs run.

    One calm epoch is not enough: Adam's loss can flatten for an epoch while it turns, so a single small change
    stops too early (measured on the breast split: AUC 0.0036 short of scikit-learn's instead of 0.0013). With
    ``tol = 0`` it never stops.
    """

    tol: float
    min_iter: int
    patience: int
    epochs: int = 0
    calm: int = 0
    last_change: float = math.inf

    def update(self, change: float) -> bool:
        """Record one epoch's change; whether training has now converged."""
        self.epochs += 1
        self.last_change = change
        self.calm = self.calm + 1 if change < self.tol else 0
        return self.calm >= self.patience and self.epochs >= self.min_iter


def loss_changes(losses: Sequence[float]) -> list[float]:
    """Each epoch's relative loss change (``inf`` for the first, which has nothing to compare with)."""
    return [math.inf, *(relative_change(a, b) for a, b in itertools.pairwise(losses))]


class PhaseClock:
    """Seconds spent in each phase of the protocol by one party's thread: where an epoch's time goes.

    Parties run concurrently, so the phases of different parties overlap and do not add up to the wall time.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        """CPU time of the calling thread in each phase: what a phase costs, on a machine shared with other work
        (work handed to a process pool is not in it)."""
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start, cpu_start = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu_start
            with self._lock:
                self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed
                self.cpu_seconds[phase] = self.cpu_seconds.get(phase, 0.0) + cpu


@dataclass(frozen=True)
class BatchPlan:
    """How the guest cut the rows into batches: every party iterates over the same positions."""

    rows: int
    batches: int
    max_iter: int
    early_stop: EarlyStop
    shuffle: bool

    def to_json(self, include_rows: bool) -> dict[str, JsonValue]:
        message: dict[str, JsonValue] = {
            "protocol": PROTOCOL,
            "batches": self.batches,
            "max_iter": self.max_iter,
            "early_stop": self.early_stop,
            "shuffle": self.shuffle,
        }
        if include_rows:
            message["rows"] = self.rows
        return message

    @classmethod
    def from_json(cls, message: Value, rows: int | None = None) -> BatchPlan:
        if not isinstance(message, dict) or message.get("protocol") != PROTOCOL:
            raise HeteroLRProtocolError(f"the guest's plan is not a {PROTOCOL} plan: {message!r:.200}")
        batches, max_iter, early_stop = message.get("batches"), message.get("max_iter"), message.get("early_stop")
        shuffle, announced = message.get("shuffle"), message.get("rows", rows)
        if not (isinstance(batches, int) and isinstance(max_iter, int) and batches >= 1 and max_iter >= 1):
            raise HeteroLRProtocolError(f"the guest's plan has bad batch or iteration counts: {message!r:.200}")
        if not isinstance(shuffle, bool):
            raise HeteroLRProtocolError("the guest's plan does not say whether batches are shuffled")
        if early_stop not in ("loss_diff", "weight_diff"):
            raise HeteroLRProtocolError(f"the guest's plan has an unknown early_stop {early_stop!r}")
        if rows is not None and announced != rows:
            raise HeteroLRProtocolError(
                f"the guest has {announced} rows and this host {rows}: both must read the aligned output of the "
                "same psi component"
            )
        plan_rows = announced if isinstance(announced, int) else 0
        return cls(plan_rows, batches, max_iter, early_stop, shuffle)  # type: ignore[arg-type]  # checked above


def plan_batches(rows: int, batch_size: int) -> int:
    """Number of batches: ``rows // batch_size`` (at least one), so no batch is smaller than ``batch_size``."""
    if rows < 1:
        raise ValueError("hetero LR needs at least one row")
    if batch_size == -1 or batch_size >= rows:
        return 1
    return max(rows // batch_size, 1)


def batch_positions(order: npt.NDArray[np.int64], batches: int) -> list[npt.NDArray[np.int64]]:
    """The rows of each batch: ``order`` cut into ``batches`` nearly equal runs (sizes differ by at most one)."""
    return [np.asarray(part, dtype=np.int64) for part in np.array_split(order, batches)]


def check_batches_hide_rows(batch_sizes: Sequence[int], columns: int, who: str) -> None:
    """Refuse batches no larger than a party's column count.

    A party learns ``X^T d`` over each batch: with as many columns as rows it could solve for the other side's
    per-row values ``d`` (or ``u_h``). Larger batches leave it an underdetermined system.
    """
    smallest = min(batch_sizes)
    if smallest <= columns:
        raise ValueError(
            f"a batch of {smallest} rows is too small for the {who}'s {columns} columns: its gradient would reveal "
            f"per-row values of the other parties; use batch_size > {columns} (or -1 for the whole table)"
        )


# --- fixed point of the feature matrix -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScaledColumns:
    """Features divided column by column by a power of two, so each column's exponents use ``feature_bits``.

    ``x_transpose_dot`` turns the scaled matrix into integers ``round(x / 2**e_j * 2**feature_bits)``: the
    relative precision is the same for every column whatever its range, and the exponents stay short, which
    is what the multi-exponentiation's cost depends on. ``frac_bits[j]`` is the scale of column j's result.
    """

    scaled: npt.NDArray[np.float64]
    frac_bits: tuple[int, ...]

    @classmethod
    def of(cls, x: npt.NDArray[np.float64], feature_bits: int) -> ScaledColumns:
        if x.size and not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or infinite values; impute or drop them before hetero LR")
        peaks = np.max(np.abs(x), axis=0) if x.shape[0] else np.zeros(x.shape[1])
        if np.any(peaks >= MAX_FEATURE_MAGNITUDE):
            raise ValueError(
                f"a feature reaches {float(peaks.max()):.3g}; hetero LR needs features below 2**40: standardise them"
            )
        exponents = np.where(peaks > 0, np.frexp(peaks)[1], 0).astype(np.int64)  # |x| < 2**e
        scaled = np.ldexp(x, -exponents[np.newaxis, :]) if x.size else x.astype(np.float64)
        fracs = tuple(int(VALUE_FRAC_BITS + feature_bits - e) for e in exponents.tolist())
        return cls(np.asarray(scaled, dtype=np.float64), fracs)


def loss_factor_column(values: npt.NDArray[np.float64], feature_bits: int) -> npt.NDArray[np.float64]:
    """A column whose exponents in ``x_transpose_dot(..., frac_bits=feature_bits)`` are ``round(v * 2**20)``."""
    return np.ldexp(values, LOSS_FACTOR_FRAC_BITS - feature_bits)


# --- masking ------------------------------------------------------------------------------------------------


def to_fixed_int(value: float, frac_bits: int) -> int:
    """``round(value * 2**frac_bits)`` exactly, as a Python int (float64 has 53 bits; the product may have more)."""
    return int(np.rint(np.ldexp(np.float64(value), frac_bits)))


def gradient_layout(public_key: PublicKey, rows: int, feature_bits: int, parties: int) -> SlotLayout:
    """How the masked gradient sums of one party pack into plaintexts: the bit budget of one sum.

    A sum is ``sum_i x_ij d_i`` over at most ``rows`` rows, with ``|x_ij| <= 2**feature_bits`` (columns are
    scaled below 1, then rounded) and ``|d_i| < parties * 2**VALUE_MAGNITUDE_BITS`` at ``VALUE_FRAC_BITS``
    fraction bits, because every party refuses to encrypt a value of ``2**VALUE_MAGNITUDE_BITS`` or more
    (``check_value_range``). So ``|sum| < 2**G`` with ``G = ceil(log2 rows) + feature_bits + VALUE_FRAC_BITS +
    VALUE_MAGNITUDE_BITS + ceil(log2 parties)``, plus 2 bits for the rounding of the clear part. For 100,000
    rows, 16 feature bits and two parties: G = 92, slots of 93 bits, 22 per 2048-bit plaintext.
    """
    magnitude = (
        max(rows, 1).bit_length()
        + feature_bits
        + VALUE_FRAC_BITS
        + VALUE_MAGNITUDE_BITS
        + max(parties - 1, 0).bit_length()
        + 2
    )
    return layout_for(public_key, magnitude)


def check_value_range(values: npt.NDArray[np.float64], who: str) -> None:
    """Refuse to encrypt a per-row value of ``2**VALUE_MAGNITUDE_BITS`` or more: the packing's bit budget.

    Such scores mean training has diverged (standardised features give scores of a few units), so this is
    an error to report, not a value to clip.
    """
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if not peak < 2.0**VALUE_MAGNITUDE_BITS:
        raise ValueError(
            f"the {who}'s partial scores reached {peak:.3g}: training diverged; lower learning_rate "
            "or standardise the features (feature_scale)"
        )


def mask_for_arbiter(
    enc: EncryptedVector,
    plain: npt.NDArray[np.float64],
    frac_bits: Sequence[int],
    layout: SlotLayout | None = None,
) -> tuple[EncryptedVector, list[int]]:
    """``[[R_j + P_j + M_j]]`` re-randomised, and the masks ``M_j``, uniform over Z_n.

    Adding ``P_j`` (the part of the sum this party knows in clear, at column j's scale) and the mask in one
    plaintext addition costs one modular multiplication per column. A uniform mask makes the plaintext the
    arbiter decrypts uniform in Z_n whatever the sum is; full-length re-randomisation makes the ciphertext
    independent of how it was computed (the arbiter can recover any ciphertext's randomness).

    With a ``layout``, the sums ``R_j + P_j`` are first packed several to a plaintext (``crypto/packing.py``)
    and one uniform mask covers each packed plaintext: the arbiter still sees only uniform residues, but
    there are ``layout.ciphertexts_for(len(enc))`` of them to re-randomise and decrypt instead of ``len(enc)``.
    """
    pk = enc.public_key
    n = int(pk.n)
    clear = [to_fixed_int(float(p), f) for p, f in zip(plain.tolist(), frac_bits, strict=True)]
    if layout is None:
        masks = [secrets.randbelow(n) for _ in range(len(enc))]
        residues = [(c + m) % n for c, m in zip(clear, masks, strict=True)]
        masked = EncryptedVector(pk, pk.raw_add_plain(enc.data, residues), enc.frac_bits)
        return masked.rerandomize(), masks
    packed = pack_ciphertexts(pk, enc.data, layout, clear)
    masks = [secrets.randbelow(n) for _ in packed]
    return EncryptedVector(pk, pk.raw_add_plain(packed, masks), 0).rerandomize(), masks


def unmask(
    public_key: PublicKey,
    received: Value,
    masks: Sequence[int],
    frac_bits: Sequence[int],
    layout: SlotLayout | None = None,
) -> npt.NDArray[np.float64]:
    """The arbiter's decrypted residues minus the masks, read as signed fixed point at each column's scale."""
    n = int(public_key.n)
    if not isinstance(received, BigInts) or len(received) != len(masks):
        raise HeteroLRProtocolError(f"the arbiter returned {received!r:.80} where {len(masks)} residues were due")
    if any(r >= n for r in received):
        raise HeteroLRProtocolError("the arbiter returned a value outside Z_n")
    plain = [(r - m) % n for r, m in zip(received, masks, strict=True)]
    if layout is None:
        exact = from_residues(plain, n, public_key.max_int)
    else:
        groups = layout.groups(len(frac_bits))
        try:
            exact = [v for packed, group in zip(plain, groups, strict=True) for v in layout.unpack(packed, len(group))]
        except ValueError as exc:
            raise HeteroLRProtocolError(f"the arbiter's residues do not unpack: {exc}") from exc
    return np.array([math.ldexp(float(v), -f) for v, f in zip(exact, frac_bits, strict=True)], dtype=np.float64)


def rerandomize_for_peer(enc: EncryptedVector) -> EncryptedVector:
    """Fresh DJN randomness on a result bound for a party *without* the key (cheap; see docs/crypto-paillier.md).

    The receiver may know the randomness of the inputs the result was computed from (its own ciphertexts); with
    it, it could test guesses of the plaintext factors. Multiplying by a fresh encryption of zero hides them.
    """
    pk = enc.public_key
    zeros = pk.raw_encrypt([0] * len(enc))
    nsq = pk.nsquare
    return EncryptedVector(pk, [c * z % nsq for c, z in zip(enc.data, zeros, strict=True)], enc.frac_bits)


def ciphertexts(public_key: PublicKey, received: Value, count: int, frac_bits: int, what: str) -> EncryptedVector:
    """A received ciphertext vector, checked for type, length and range before any arithmetic touches it."""
    if not isinstance(received, BigInts):
        raise HeteroLRProtocolError(f"{what}: expected a vector of ciphertexts, got {type(received).__name__}")
    if len(received) != count:
        raise HeteroLRProtocolError(f"{what}: expected {count} ciphertexts, got {len(received)}")
    try:
        return EncryptedVector.from_ints(public_key, received.to_list(), frac_bits)
    except ValueError as exc:
        raise HeteroLRProtocolError(f"{what}: {exc}") from exc


def wire(enc: EncryptedVector) -> BigInts:
    return BigInts(enc.to_ints())


def public_key_from(message: Value, key_bits_floor: int = 1024) -> PublicKey:
    """The arbiter's announced public key, refused if it is not this protocol's or is too short."""
    if not isinstance(message, dict) or message.get("protocol") != PROTOCOL:
        raise HeteroLRProtocolError(f"the arbiter's key message is not a {PROTOCOL} message")
    n = message.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n.bit_length() < key_bits_floor:
        raise HeteroLRProtocolError(f"the arbiter's public key must be an int of at least {key_bits_floor} bits")
    return PublicKey.from_wire(n)


def sigmoid(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The logistic function, without overflow warnings for large negative scores."""
    out = np.empty_like(u, dtype=np.float64)
    positive = u >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-u[positive]))
    exp_u = np.exp(u[~positive])
    out[~positive] = exp_u / (1.0 + exp_u)
    return out

"""Hetero SecureBoost (vertical gradient-boosted trees, Cheng et al., "SecureBoost: a lossless federated learning
framework", IEEE Intelligent Systems 2021): the shared pieces. The guest holds the labels and the Paillier key.

Same rows, different columns (what ``psi`` produces). The guest computes each row's gradient ``g`` and hessian
``h`` and packs them, with a count bit, into one plaintext per row (:class:`PackLayout`), encrypts the vector once
per tree and sends it to every host. The tree grows level by level (``tree-t/level-d``):

1. the guest sends every host the instance space of the level: the node of each row and each node's parent;
2. each host bins its features once (:mod:`secureboost_binning`); per node it multiplies the row ciphertexts of
   each bin (an encrypted histogram) for the smaller child of each pair only, and gets the larger one as the
   parent's histogram divided by the smaller's (parent minus sibling); it turns bins into split candidates
   (cumulative sums: ``x < threshold``, with the missing values to the left or to the right as two candidates),
   shuffles the candidates, packs several into one ciphertext, re-randomises and sends them;
3. the guest decrypts, unpacks each candidate's (sum g, sum h, count) on the left, computes the gains of its own
   features in the clear and of every host candidate (L2 ``lambda``, ``min_child_weight``, ``gamma``), and per
   node answers only "host k, candidate j" to the winning host (``-1`` to everyone else);
4. the winning host maps j back to its own feature and threshold, stores the split under a random id and returns
   the id, an anonymous feature token and which of the node's rows go left.

Leaves get ``-lr * G / (H + lambda)``. Prediction routes rows with the hosts' answers per split id
(:mod:`secureboost_guest`). The plaintext gradients, hessians and labels never leave the guest; thresholds and
feature values never leave their host. Everything each party learns is listed in ``docs/hetero-secureboost.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

# The wire vocabulary (numpy only, no protobuf), imported in this one place for the SecureBoost modules.
from unseen.values import BigInts, JsonValue

__all__ = [
    "BigInts",
    "JsonValue",
    "MAX_CANDIDATES_PER_NODE",
    "MAX_ROWS",
    "PROTOCOL",
    "PackLayout",
    "SecureBoostConfig",
    "SecureBoostProtocolError",
    "bounded_int",
    "leaf_weight",
    "split_gains",
]

PROTOCOL: Final = "unseen.hetero-secureboost/guest-paillier-packed/v2"

FRAC_BITS: Final = 32
"""Fraction bits of each row's normalised g and h: a per-row rounding error of 2**-33 relative to the largest."""

MAX_ROWS: Final = 1 << 31
MAX_CANDIDATES_PER_NODE: Final = 1 << 20
"""Bounds on what a guest accepts from a host per node, so a hostile host cannot make it decrypt without end."""

Objective = Literal["binary", "multiclass", "regression"]


class SecureBoostProtocolError(RuntimeError):
    """A partner sent something the protocol does not allow (a wrong size, an id out of range, a bad layout)."""


@dataclass(frozen=True)
class SecureBoostConfig:
    """Training parameters every party must agree on (the guest sends the ones hosts need)."""

    objective: Objective = "binary"
    num_class: int = 2
    num_trees: int = 5
    max_depth: int = 3
    learning_rate: float = 0.3
    max_bin: int = 32
    reg_lambda: float = 1.0
    min_child_weight: float = 1e-3
    min_child_samples: int = 1
    gamma: float = 0.0
    subsample: float = 1.0
    colsample: float = 1.0
    guest_only_trees: int = 0
    validation_fraction: float = 0.0
    early_stopping_rounds: int = 0
    key_bits: int = 2048
    random_seed: int | None = None

    def __post_init__(self) -> None:
        if self.objective == "multiclass" and self.num_class < 3:
            raise ValueError("multiclass needs num_class >= 3 (use objective 'binary' for two classes)")
        if not 2 <= self.max_bin <= 1024:
            raise ValueError("max_bin must be in [2, 1024]")
        if self.early_stopping_rounds and not self.validation_fraction:
            raise ValueError("early_stopping_rounds needs validation_fraction > 0 (the metric is on held-out rows)")

    @property
    def trees_per_round(self) -> int:
        return self.num_class if self.objective == "multiclass" else 1


@dataclass(frozen=True)
class PackLayout:
    """How one row's (count, h, g) become one plaintext, and how sums of them are read back.

    ``count`` is 1 for a row that takes part in the tree and 0 for one outside the sample or held out for
    validation; ``h' = round(h / h_scale * 2**f)`` is in ``[0, 2**f]`` and ``g' = round((g / g_scale + 1) * 2**f)``
    in ``[0, 2**(f+1)]`` (shifted to be non-negative; the count gives the shift back). With ``b`` the bit length of
    the row count, a sum over at most ``rows`` rows fits ``b`` bits for the count, ``f + b`` for h and
    ``f + 1 + b`` for g (``rows < 2**b``): that is the bit budget for the row count, and each value gets exactly
    its own width, so no slot carries into the next. ``g_scale`` and ``h_scale`` (the largest |g| and h of the
    tree) stay at the guest, so the layout, which hosts know, reveals nothing but the row count. A candidate sum
    is one field of ``3 b + 2 f + 1`` bits; ``per_ciphertext`` fields fit below n.
    """

    rows: int
    key_bits: int
    frac_bits: int = FRAC_BITS

    @property
    def count_bits(self) -> int:
        return max(1, self.rows).bit_length()

    @property
    def h_offset(self) -> int:
        """Where h' starts (the count takes the lowest bits)."""
        return self.count_bits

    @property
    def g_offset(self) -> int:
        """Where g' starts (above h's ``frac_bits + count_bits`` bits)."""
        return self.h_offset + self.frac_bits + self.count_bits

    @property
    def field_bits(self) -> int:
        return self.g_offset + self.frac_bits + 1 + self.count_bits

    @property
    def per_ciphertext(self) -> int:
        return max(1, (self.key_bits - 2) // self.field_bits)

    def check(self) -> None:
        if self.field_bits > self.key_bits - 2:
            raise ValueError(f"{self.rows} rows need {self.field_bits}-bit plaintexts; use a larger key")

    def to_json(self) -> dict[str, JsonValue]:
        return {"rows": self.rows, "key_bits": self.key_bits, "frac_bits": self.frac_bits}

    @classmethod
    def from_json(cls, value: object, rows: int, key_bits: int) -> PackLayout:
        if not isinstance(value, dict) or set(value) != {"rows", "key_bits", "frac_bits"}:
            raise SecureBoostProtocolError("the layout must be {rows, key_bits, frac_bits}")
        frac = value["frac_bits"]
        if value["rows"] != rows or value["key_bits"] != key_bits or not isinstance(frac, int) or not 8 <= frac <= 64:
            raise SecureBoostProtocolError(f"layout {value} does not match this host ({rows} rows, {key_bits} bits)")
        layout = cls(rows, key_bits, frac)
        layout.check()
        return layout

    def pack_rows(
        self, g: npt.NDArray[np.float64], h: npt.NDArray[np.float64], active: npt.NDArray[np.bool_]
    ) -> tuple[list[int], float, float]:
        """One plaintext int per row, plus the two scales the guest keeps to read sums back."""
        g_scale = float(np.max(np.abs(g[active]))) if active.any() else 1.0
        h_scale = float(np.max(h[active])) if active.any() else 1.0
        g_scale, h_scale = g_scale or 1.0, h_scale or 1.0
        one = 1 << self.frac_bits
        g_fixed = np.rint((g / g_scale + 1.0) * one).astype(np.int64)
        h_fixed = np.rint(h / h_scale * one).astype(np.int64)
        count = active.astype(np.int64)
        g_fixed[~active] = 0
        h_fixed[~active] = 0
        hs, gs = self.h_offset, self.g_offset
        packed = [
            c + (hv << hs) + (gv << gs)
            for c, hv, gv in zip(count.tolist(), h_fixed.tolist(), g_fixed.tolist(), strict=True)
        ]
        return packed, g_scale, h_scale

    def unpack_fields(
        self, fields: npt.NDArray[np.object_] | list[int], g_scale: float, h_scale: float
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Sums of packed rows back to (sum g, sum h, count)."""
        hs, gs = self.h_offset, self.g_offset
        count_mask, h_mask = (1 << self.count_bits) - 1, (1 << (gs - hs)) - 1
        values = [int(v) for v in fields]
        count = np.array([v & count_mask for v in values], dtype=np.int64)
        h_sum = np.array([(v >> hs) & h_mask for v in values], dtype=np.float64)
        g_raw = [v >> gs for v in values]  # the top slot: split_plaintext already cut the field
        one = 1 << self.frac_bits
        g_sum = np.array([(gr - c * one) / one for gr, c in zip(g_raw, count.tolist(), strict=True)], dtype=np.float64)
        return g_sum * g_scale, h_sum / one * h_scale, count

    def split_plaintext(self, plaintext: int, fields: int) -> list[int]:
        """The ``fields`` row-width fields of one decrypted candidate ciphertext, lowest first."""
        width = self.field_bits
        mask = (1 << width) - 1
        return [(plaintext >> (k * width)) & mask for k in range(fields)]


def leaf_weight(g_sum: npt.ArrayLike, h_sum: npt.ArrayLike, reg_lambda: float) -> npt.NDArray[np.float64]:
    """The Newton step of a leaf: ``-G / (H + lambda)`` (before the learning rate)."""
    return -np.asarray(g_sum, dtype=np.float64) / (np.asarray(h_sum, dtype=np.float64) + reg_lambda)


def split_gains(
    g_left: npt.NDArray[np.float64],
    h_left: npt.NDArray[np.float64],
    n_left: npt.NDArray[np.int64],
    g_total: float,
    h_total: float,
    n_total: int,
    config: SecureBoostConfig,
) -> npt.NDArray[np.float64]:
    """XGBoost's gain of each candidate, ``-inf`` where a child breaks min_child_weight or min_child_samples."""
    lam = config.reg_lambda
    g_right, h_right, n_right = g_total - g_left, h_total - h_left, n_total - n_left
    gain = (
        0.5 * (g_left**2 / (h_left + lam) + g_right**2 / (h_right + lam) - g_total**2 / (h_total + lam)) - config.gamma
    )
    ok = (
        (h_left >= config.min_child_weight)
        & (h_right >= config.min_child_weight)
        & (n_left >= config.min_child_samples)
        & (n_right >= config.min_child_samples)
    )
    return np.where(ok, gain, -math.inf)


def bounded_int(value: object, low: int, high: int, what: str) -> int:
    """An int from a partner, within [low, high], or a protocol error naming what it was."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SecureBoostProtocolError(f"{what} must be an int in [{low}, {high}], got {str(value)[:40]}")
    return value

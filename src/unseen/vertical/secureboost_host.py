"""Hetero SecureBoost, a host's side: features only; never a gradient, a hessian or a label in clear.

See :mod:`unseen.vertical.secureboost` for the protocol. What the host keeps is its own splits only, each under a
random 62-bit id: the feature, the threshold and where missing values go (:class:`HostModel`).
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from unseen.crypto.paillier_keys import PublicKey, SubgroupRerandomizer, invert, powmod_list, to_mpz
from unseen.runtime.context import Context
from unseen.vertical.secureboost import (
    MAX_ROWS,
    BigInts,
    JsonValue,
    PackLayout,
    SecureBoostConfig,
    SecureBoostProtocolError,
    bounded_int,
)
from unseen.vertical.secureboost_binning import Binned, bin_features, goes_left, threshold_of
from unseen.vertical.secureboost_pool import HistogramBuilder, make_histograms

FloatArray = npt.NDArray[np.float64]


@dataclass
class HostModel:
    """A host's part of the model: split id -> (feature, threshold, missing to the left)."""

    split_ids: list[int] = field(default_factory=list)
    features: list[int] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=list)
    missing_left: list[bool] = field(default_factory=list)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "split_id": np.asarray(self.split_ids, dtype=np.int64),
            "feature": np.asarray(self.features, dtype=np.int32),
            "threshold": np.asarray(self.thresholds, dtype=np.float64),
            "missing_left": np.asarray(self.missing_left, dtype=np.bool_),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> HostModel:
        return cls(
            [int(v) for v in arrays["split_id"].tolist()],
            [int(v) for v in arrays["feature"].tolist()],
            [float(v) for v in arrays["threshold"].tolist()],
            [bool(v) for v in arrays["missing_left"].tolist()],
        )

    def left_masks(self, x: FloatArray) -> npt.NDArray[np.bool_]:
        """For every split (rows of the result) and every row of ``x``: does the row go left?"""
        out = np.zeros((len(self.split_ids), x.shape[0]), dtype=np.bool_)
        for i, (j, thr, miss) in enumerate(zip(self.features, self.thresholds, self.missing_left, strict=True)):
            out[i] = goes_left(x[:, j], thr, miss)
        return out


@dataclass
class HostTimings:
    histogram_s: float = 0.0
    pack_s: float = 0.0
    trees: int = 0


@dataclass
class HostFit:
    model: HostModel
    importance_tokens: list[int]
    timings: HostTimings


@dataclass(frozen=True)
class _Candidate:
    feature: int
    bin: int
    missing_left: bool


def fit_host(ctx: Context, x: npt.ArrayLike, config: SecureBoostConfig, workers: int = 1) -> HostFit:
    """Train with the guest; ``x`` holds this host's features, rows in the shared (psi) order."""
    features = np.asarray(x, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] == 0:
        raise ValueError(f"a host needs a (rows, features) matrix with at least one feature, got {features.shape}")
    rows, columns = features.shape
    if rows > MAX_ROWS:
        raise ValueError(f"{rows} rows is more than SecureBoost supports ({MAX_ROWS})")
    guest = ctx.guest
    # Shuffles, feature samples and anonymous tokens must be unknown to the guest, which knows random_seed: so
    # the host's randomness always comes from the OS CSPRNG, never from the job's seed.
    rng = np.random.default_rng(secrets.randbits(128))
    binned = bin_features(features, config.max_bin)
    tokens = [int(t) for t in rng.permutation(columns)]  # anonymous feature ids the guest sees in importances

    setup = ctx.recv("setup", frm=guest)
    generator = setup.get("djn") if isinstance(setup, dict) else None
    if not isinstance(setup, dict) or not isinstance(setup.get("n"), int) or not isinstance(generator, int):
        raise SecureBoostProtocolError("setup must be {n, layout, djn}")
    public_key = PublicKey.from_wire(setup["n"])
    if public_key.bits < config.key_bits:
        raise SecureBoostProtocolError(f"the guest's key has {public_key.bits} bits, below key_bits={config.key_bits}")
    layout = PackLayout.from_json(setup.get("layout"), rows, public_key.bits)
    try:
        rerandomizer = SubgroupRerandomizer(public_key, generator)
    except ValueError as exc:
        raise SecureBoostProtocolError(f"the guest's DJN generator is unusable: {exc}") from None

    model = HostModel()
    timings = HostTimings()
    threads = workers or (os.cpu_count() or 1)
    builder = make_histograms(binned.bins, binned.width, public_key, workers)
    try:
        max_trees = config.num_trees * config.trees_per_round
        for t in range(max_trees + 1):
            tree_ctx = ctx.sub(f"tree-{t}")
            plan = tree_ctx.recv("plan", frm=guest)
            if not isinstance(plan, dict) or not isinstance(plan.get("stop"), bool):
                raise SecureBoostProtocolError("a tree plan must be {stop, hosts}")
            if plan["stop"]:
                break
            if t == max_trees:
                raise SecureBoostProtocolError(f"the guest asked for more than num_trees={config.num_trees} rounds")
            if not plan.get("hosts"):
                continue  # a guest-only tree: this host takes no part in it
            timings.trees += 1
            crypto = _HostCrypto(public_key, layout, builder, rerandomizer, threads)
            _grow(tree_ctx, binned, crypto, config, rng, model, tokens, timings)
    finally:
        builder.close()
    return HostFit(model, tokens, timings)


@dataclass(frozen=True)
class _HostCrypto:
    """What the host computes ciphertexts with: the guest's key and layout, its histogram workers, its threads."""

    public_key: PublicKey
    layout: PackLayout
    builder: HistogramBuilder
    rerandomizer: SubgroupRerandomizer
    threads: int


def _grow(
    ctx: Context,
    binned: Binned,
    crypto: _HostCrypto,
    config: SecureBoostConfig,
    rng: np.random.Generator,
    model: HostModel,
    tokens: list[int],
    timings: HostTimings,
) -> None:
    guest = ctx.guest
    rows, columns = binned.bins.shape
    builder = crypto.builder
    nsq = crypto.public_key.nsquare
    ciphertexts = ctx.recv("gh", frm=guest)
    if not isinstance(ciphertexts, BigInts) or len(ciphertexts) != rows:
        raise SecureBoostProtocolError(f"the encrypted gradients must be {rows} big integers")
    cts = [to_mpz(c) for c in ciphertexts]
    if any(not 0 < c < nsq for c in cts):
        raise SecureBoostProtocolError("a ciphertext is outside (0, n**2)")
    builder.start_tree(cts)
    used = np.sort(rng.choice(columns, max(1, round(config.colsample * columns)), replace=False))
    parents: dict[int, list[int]] = {}
    max_nodes = 1 << config.max_depth
    for depth in range(config.max_depth):
        level = ctx.sub(f"level-{depth}")
        nodes = _nodes(level.recv("nodes", frm=guest), max_nodes)
        assign = level.recv("assign", frm=guest)
        if not isinstance(assign, np.ndarray) or assign.shape != (rows,) or assign.dtype.kind != "i":
            raise SecureBoostProtocolError(f"the node assignment must be an int array of {rows} rows")
        if assign.size and (assign.min() < -1 or assign.max() >= len(nodes)):
            raise SecureBoostProtocolError("the node assignment names a node that is not in the level")
        to_split = [i for i, (_, _, split) in enumerate(nodes) if split]
        if not to_split:
            return
        started = time.perf_counter()
        members = [np.flatnonzero(assign == i) for i in range(len(nodes))]
        hists = _level_histograms(nodes, members, parents, builder, nsq)
        timings.histogram_s += time.perf_counter() - started
        started = time.perf_counter()
        counts, packed, maps = _offer(hists, binned, members, to_split, used, rng, crypto)
        timings.pack_s += time.perf_counter() - started
        level.send("counts", counts, guest)  # type: ignore[arg-type]
        level.send("hist", BigInts(packed), guest)
        _answer(level, level.recv("choice", frm=guest), binned, members, to_split, counts, maps, model, tokens)
        parents = {nodes[i][0]: hists[i] for i in to_split}


def _offer(
    hists: dict[int, list[int]],
    binned: Binned,
    members: list[npt.NDArray[np.int64]],
    to_split: list[int],
    used: npt.NDArray[np.int64],
    rng: np.random.Generator,
    crypto: _HostCrypto,
) -> tuple[list[int], list[int], list[list[_Candidate]]]:
    """Each node's candidates, shuffled, packed and re-randomised: the counts, the ciphertexts, the id maps."""
    nsq = crypto.public_key.nsquare
    per = crypto.layout.per_ciphertext
    counts: list[int] = []
    groups: list[list[int]] = []
    maps: list[list[_Candidate]] = []
    for i in to_split:
        cands, cand_cts = _candidates(hists[i], binned, members[i], used, nsq)
        order = [int(v) for v in rng.permutation(len(cands))]
        maps.append([cands[o] for o in order])
        counts.append(len(cands))
        shuffled = [cand_cts[o] for o in order]
        groups.extend(shuffled[a : a + per] for a in range(0, len(shuffled), per))
    packed = _pack(groups, crypto.layout.field_bits, nsq, crypto.threads)
    # the guest made every row's randomness (powers of its h_s): a fresh h_s**b with a long uniform b hides which
    # rows a product contains, and so the host's bins (docs/crypto-paillier.md, "Re-randomising towards the key
    # holder")
    randomizers = crypto.rerandomizer.randomizers(len(packed))
    return counts, [c * r % nsq for c, r in zip(packed, randomizers, strict=True)], maps


def _answer(
    ctx: Context,
    choice: object,
    binned: Binned,
    members: list[npt.NDArray[np.int64]],
    to_split: list[int],
    counts: list[int],
    maps: list[list[_Candidate]],
    model: HostModel,
    tokens: list[int],
) -> None:
    """Map the guest's "candidate j" back to a feature and threshold; answer a split id, a token and the rows."""
    if not isinstance(choice, list) or len(choice) != len(to_split):
        raise SecureBoostProtocolError(f"the guest's choice must list {len(to_split)} nodes")
    won_ids: list[JsonValue] = []
    won_tokens: list[JsonValue] = []
    lefts: list[npt.NDArray[np.bool_]] = []
    for slot, (i, pick) in enumerate(zip(to_split, choice, strict=True)):
        j = bounded_int(pick, -1, counts[slot] - 1, "a chosen candidate")
        if j < 0:
            continue
        cand = maps[slot][j]
        split_id = _new_split_id(model)
        model.split_ids.append(split_id)
        model.features.append(cand.feature)
        model.thresholds.append(threshold_of(binned, cand.feature, cand.bin))
        model.missing_left.append(cand.missing_left)
        node_bins = binned.bins[members[i], cand.feature]
        lefts.append(np.where(node_bins == binned.missing_bin, cand.missing_left, node_bins <= cand.bin))
        won_ids.append(split_id)
        won_tokens.append(tokens[cand.feature])
    if won_ids:
        ctx.send("splits", {"ids": won_ids, "tokens": won_tokens}, ctx.guest)
        ctx.send("left", np.packbits(np.concatenate(lefts).astype(np.uint8)), ctx.guest)


def _nodes(value: object, max_nodes: int) -> list[tuple[int, int, bool]]:
    if not isinstance(value, list) or len(value) > max_nodes:
        raise SecureBoostProtocolError(f"a level lists at most {max_nodes} nodes")
    out: list[tuple[int, int, bool]] = []
    for item in value:
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[2], bool):
            raise SecureBoostProtocolError("a node is [id, parent, split]")
        node = bounded_int(item[0], 0, 1 << 20, "a node id")
        parent = bounded_int(item[1], -1, 1 << 20, "a parent id")
        out.append((node, parent, item[2]))
    return out


def _level_histograms(
    nodes: list[tuple[int, int, bool]],
    members: list[npt.NDArray[np.int64]],
    parents: dict[int, list[int]],
    builder: HistogramBuilder,
    nsq: int,
) -> dict[int, list[int]]:
    """Encrypted histograms of the nodes to split: the smaller sibling computed, the larger derived.

    The larger of two siblings is the parent's histogram divided by the smaller's (parent minus sibling under
    Paillier), so each level costs the rows of its smaller children only.
    """
    wanted = {i for i, (_, _, split) in enumerate(nodes) if split}
    out: dict[int, list[int]] = {}
    by_parent: dict[int, list[int]] = {}
    for i, (_, parent, _) in enumerate(nodes):
        by_parent.setdefault(parent, []).append(i)
    for parent, children in by_parent.items():
        if not wanted.intersection(children):
            continue
        parent_hist = parents.get(parent)
        if parent_hist is None or len(children) != 2:
            for i in children:
                if i in wanted:
                    out[i] = builder.histogram(members[i])
            continue
        small, large = sorted(children, key=lambda i: members[i].size)
        small_hist = builder.histogram(members[small])
        out[small] = small_hist
        if large in wanted:
            inverses = [invert(c, nsq) for c in small_hist]
            out[large] = [p * q % nsq for p, q in zip(parent_hist, inverses, strict=True)]
    return out


def _candidates(
    hist: list[int], binned: Binned, rows: npt.NDArray[np.int64], used: npt.NDArray[np.int64], nsq: int
) -> tuple[list[_Candidate], list[int]]:
    """Split candidates "x < cut[t]" of the used features, each as the encrypted sum of its left side.

    Only cuts that change the left set are kept (the host knows which bins hold rows of the node); where the
    node has missing values, each cut is offered twice (missing values to the right, and to the left), plus the
    split of the missing rows from all the others.
    """
    width = binned.width
    features = binned.bins.shape[1]
    counts = np.bincount(
        (binned.bins[rows].astype(np.int64) + np.arange(features) * width).ravel(), minlength=features * width
    ).reshape(features, width)
    cands: list[_Candidate] = []
    cts: list[int] = []
    for j in used.tolist():
        values = len(binned.cuts[j]) + 1
        present = counts[j, :values]
        total = int(present.sum())
        missing = int(counts[j, binned.missing_bin])
        base = j * width
        acc: int | None = None
        seen = 0
        for t in range(values - 1):
            c = hist[base + t]
            acc = c if acc is None else acc * c % nsq
            seen += int(present[t])
            if present[t] == 0 or seen in (0, total):
                continue
            cands.append(_Candidate(j, t, False))
            cts.append(acc)
            if missing:
                cands.append(_Candidate(j, t, True))
                cts.append(acc * hist[base + binned.missing_bin] % nsq)
        if missing and total:  # "is it missing?": every value to the left, the missing rows to the right
            full = hist[base + values - 1]
            cands.append(_Candidate(j, values - 1, False))
            cts.append(full if acc is None else acc * full % nsq)
    return cands, cts


def _pack(groups: list[list[int]], field_bits: int, nsq: int, threads: int) -> list[int]:
    """One ciphertext per group: ``sum_k c_k * 2**(k * field_bits)``, by Horner's rule on every group at once.

    Each Horner step shifts all the groups' accumulators with one exponentiation by ``2**field_bits`` each, done
    as gmpy2 list calls that release the GIL, so ``threads`` threads share the squarings (all the cost).
    """
    accs = [group[-1] for group in groups]
    longest = max((len(group) for group in groups), default=0)
    shift = 1 << field_bits
    for position in range(longest - 2, -1, -1):
        live = [g for g, group in enumerate(groups) if len(group) > position + 1]
        shifted = powmod_list([accs[g] for g in live], shift, nsq, threads)
        for g, value in zip(live, shifted, strict=True):
            accs[g] = value * groups[g][position] % nsq
    return accs


def _new_split_id(model: HostModel) -> int:
    while True:
        candidate = secrets.randbits(62)
        if candidate not in model.split_ids:
            return candidate


def predict_host(ctx: Context, x: npt.ArrayLike, model: HostModel) -> None:
    """Answer, for every split of this host and every row, whether the row goes left (bit-packed)."""
    features = np.asarray(x, dtype=np.float64)
    masks = model.left_masks(features)
    ctx.send("split_ids", np.asarray(model.split_ids, dtype=np.int64), ctx.guest)
    ctx.send("left", np.packbits(masks.astype(np.uint8), axis=1), ctx.guest)

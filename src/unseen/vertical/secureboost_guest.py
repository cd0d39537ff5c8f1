"""Hetero SecureBoost, the guest's side: labels, the Paillier key, the trees and the leaf weights.

See :mod:`unseen.vertical.secureboost` for the protocol. The guest never sees a host's feature values or
thresholds: a host split is, to the guest, "host k, split id s" plus which rows went left.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from unseen.crypto.paillier_keys import PrivateKey, PublicKey, generate_keypair, to_mpz
from unseen.runtime.context import Context
from unseen.runtime.parties import PartyRef
from unseen.vertical.secureboost import (
    MAX_CANDIDATES_PER_NODE,
    MAX_ROWS,
    BigInts,
    JsonValue,
    PackLayout,
    SecureBoostConfig,
    SecureBoostProtocolError,
    bounded_int,
    leaf_weight,
    split_gains,
)
from unseen.vertical.secureboost_binning import Binned, bin_features, threshold_of
from unseen.vertical.secureboost_objective import base_score, check_labels, gradients, loss
from unseen.vertical.secureboost_pool import RowEncryptor
from unseen.vertical.secureboost_tree import GUEST, Tree, predict_raw

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class GuestModel:
    """The guest's part: every tree's structure and leaf weights, its own splits, host splits by id only."""

    objective: str
    num_class: int
    base: FloatArray
    learning_rate: float
    trees: list[Tree]
    hosts: list[int]
    importance: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def outputs(self) -> int:
        return len(self.base)


@dataclass
class TreeTimings:
    encrypt_s: float = 0.0
    wait_s: float = 0.0
    decrypt_s: float = 0.0
    guest_s: float = 0.0
    total_s: float = 0.0


@dataclass
class GuestFit:
    model: GuestModel
    history: list[dict[str, float]]
    timings: list[TreeTimings]
    best_round: int


@dataclass
class _Node:
    index: int
    parent: int
    rows: IntArray  # every row at the node (ascending), active or not
    depth: int


@dataclass
class _TreeState:
    """What one tree's growth carries from level to level."""

    tree: Tree
    gw: FloatArray  # g of the active rows, 0 elsewhere
    hw: FloatArray
    active: npt.NDArray[np.bool_]
    join: bool
    timing: TreeTimings
    scales: tuple[float, float] = (1.0, 1.0)
    used: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class _Level:
    """What a host sent for one level: per node to split, (sum g, sum h, count) of each candidate's left side."""

    g: list[FloatArray]
    h: list[FloatArray]
    n: list[IntArray]


def fit_guest(
    ctx: Context,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    config: SecureBoostConfig,
    workers: int = 1,
    feature_names: list[str] | None = None,
    keypair: tuple[PublicKey, PrivateKey] | None = None,
) -> GuestFit:
    """Train with every host of ``ctx``; ``x`` is the guest's features, ``y`` its labels, rows in psi order."""
    features, labels = _checked_inputs(x, y, config)
    rows = features.shape[0]
    names = feature_names or [f"x{j}" for j in range(features.shape[1])]
    hosts = ctx.hosts
    public_key, private_key = keypair or generate_keypair(config.key_bits)
    layout = PackLayout(rows, public_key.bits)
    layout.check()
    if hosts:
        # h_s, the one DJN generator of every row's randomness: hosts re-randomise their results with its powers
        setup: dict[str, JsonValue] = {"n": public_key.to_wire(), "layout": layout.to_json()}
        setup["djn"] = int(private_key.djn_generator())
        ctx.send("setup", setup, hosts)
    encryptor = RowEncryptor(private_key, workers)
    try:
        if hosts and config.guest_only_trees == 0:
            encryptor.prepare(rows)  # the first tree's randomizers, while the parties bin their features
        rng = np.random.default_rng(config.random_seed)
        binned = bin_features(features, config.max_bin)
        valid = np.zeros(rows, dtype=np.bool_)
        if config.validation_fraction:
            held = max(1, round(config.validation_fraction * rows))
            valid[rng.choice(rows, held, replace=False)] = True
        train = ~valid
        base = base_score(config.objective, labels[train], config.num_class)
        raw = np.tile(base, (rows, 1))
        parties = [h.party_id for h in hosts]
        model = GuestModel(config.objective, config.num_class, base, config.learning_rate, [], parties)
        grower = _Grower(ctx, binned, names, config, public_key, private_key, layout, workers, model, encryptor)
        history: list[dict[str, float]] = []
        timings: list[TreeTimings] = []
        t, best_round = _boost(ctx, grower, labels, raw, train, valid, rng, timings, history)
    finally:
        encryptor.close()
    if hosts:
        ctx.sub(f"tree-{t}").send("plan", {"stop": True, "hosts": False}, hosts)
    if config.early_stopping_rounds and best_round:
        model.trees = model.trees[: best_round * config.trees_per_round]
    else:
        best_round = len(history)
    model.importance = _importance(model.trees, names, grower.host_tokens, model.hosts)
    return GuestFit(model, history, timings, best_round)


def _boost(
    ctx: Context,
    grower: _Grower,
    labels: FloatArray,
    raw: FloatArray,
    train: npt.NDArray[np.bool_],
    valid: npt.NDArray[np.bool_],
    rng: np.random.Generator,
    timings: list[TreeTimings],
    history: list[dict[str, float]],
) -> tuple[int, int]:
    """The boosting rounds; returns the next tree index and the best round by the validation metric."""
    config, hosts, rows = grower.config, grower.hosts, len(labels)
    best_loss, best_round = math.inf, 0
    t = 0
    for r in range(config.num_trees):
        join = bool(hosts) and r >= config.guest_only_trees
        for k in range(config.trees_per_round):
            active = train & (rng.random(rows) < config.subsample) if config.subsample < 1.0 else train
            last = r + 1 == config.num_trees and k + 1 == config.trees_per_round
            grower.next_joins = (
                bool(hosts) and not last and (r + (k + 1) // config.trees_per_round) >= config.guest_only_trees
            )
            timings.append(_boost_tree(ctx.sub(f"tree-{t}"), grower, labels, raw, active, join, k, rng))
            ctx.metrics.log("tree_seconds", timings[-1].total_s, step=t)
            t += 1
        point = {"train_loss": loss(config.objective, labels[train], raw[train])}
        if valid.any():
            point["valid_loss"] = loss(config.objective, labels[valid], raw[valid])
        for name, value in point.items():
            ctx.metrics.log(name, value, step=r)
        history.append(point)
        ctx.logger.info("secureboost: round %d/%d %s", r + 1, config.num_trees, point)
        if "valid_loss" in point and point["valid_loss"] < best_loss - 1e-12:
            best_loss, best_round = point["valid_loss"], r + 1
        if config.early_stopping_rounds and r + 1 - best_round >= config.early_stopping_rounds:
            ctx.logger.info("secureboost: early stop after round %d, best round %d", r + 1, best_round)
            break
    return t, best_round


def _checked_inputs(x: npt.ArrayLike, y: npt.ArrayLike, config: SecureBoostConfig) -> tuple[FloatArray, FloatArray]:
    features = np.asarray(x, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"the guest needs a (rows, features) matrix, got shape {features.shape}")
    rows = features.shape[0]
    if not 2 <= rows <= MAX_ROWS:
        raise ValueError(f"SecureBoost needs between 2 and {MAX_ROWS} rows, got {rows}")
    labels = check_labels(config.objective, y, config.num_class)
    if len(labels) != rows:
        raise ValueError(f"{len(labels)} labels for {rows} rows")
    return features, labels


def _boost_tree(
    ctx: Context,
    grower: _Grower,
    labels: FloatArray,
    raw: FloatArray,
    active: npt.NDArray[np.bool_],
    join: bool,
    output: int,
    rng: np.random.Generator,
) -> TreeTimings:
    """Grow one tree on output ``output`` and add it to the model and to the raw scores of every row."""
    started = time.perf_counter()
    if grower.hosts:
        ctx.send("plan", {"stop": False, "hosts": join}, grower.hosts)
    g, h = gradients(grower.config.objective, labels, raw, output)
    tree, leaves, timing = grower.grow(ctx, g, h, active, join, output, rng)
    raw[:, output] += np.asarray(tree.weight)[leaves]
    grower.model.trees.append(tree)
    timing.total_s = time.perf_counter() - started
    return timing


class _Grower:
    """Grows one tree at a time with the hosts (level by level), holding what all trees share."""

    def __init__(
        self,
        ctx: Context,
        binned: Binned,
        names: list[str],
        config: SecureBoostConfig,
        public_key: PublicKey,
        private_key: PrivateKey,
        layout: PackLayout,
        workers: int,
        model: GuestModel,
        encryptor: RowEncryptor,
    ) -> None:
        self.binned, self.names, self.config = binned, names, config
        self.public_key, self.private_key, self.layout = public_key, private_key, layout
        self.workers, self.model = workers, model
        self.encryptor = encryptor
        self.hosts = ctx.hosts
        self.next_joins = False  # whether the tree after the one being grown takes the hosts' features
        self.host_tokens: dict[tuple[int, int], int] = {}  # (host index, split id) -> the host's anonymous feature id

    def grow(
        self,
        ctx: Context,
        g: FloatArray,
        h: FloatArray,
        active: npt.NDArray[np.bool_],
        join: bool,
        output: int,
        rng: np.random.Generator,
    ) -> tuple[Tree, IntArray, TreeTimings]:
        """One tree, level by level; returns it, the leaf of every row and where the time went."""
        config = self.config
        rows = len(g)
        state = _TreeState(Tree(output), g * active, h * active, active, join, TreeTimings())
        if join:
            started = time.perf_counter()
            packed, g_scale, h_scale = self.layout.pack_rows(g, h, active)
            state.scales = (g_scale, h_scale)
            ciphertexts = self.encryptor.encrypt(packed)
            state.timing.encrypt_s += time.perf_counter() - started
            ctx.send("gh", BigInts(ciphertexts), self.hosts)
        if self.next_joins:
            self.encryptor.prepare(rows)  # the next tree's randomizers, while the hosts work on this one
        columns = self.binned.bins.shape[1]
        if columns:
            state.used = np.sort(rng.choice(columns, max(1, round(config.colsample * columns)), replace=False))
        leaves = np.zeros(rows, dtype=np.int64)
        level = [_Node(state.tree.add_node(), -1, np.arange(rows), 0)]
        for depth in range(config.max_depth + 1):
            stats = [
                (float(state.gw[n.rows].sum()), float(state.hw[n.rows].sum()), int(active[n.rows].sum())) for n in level
            ]
            to_split = [
                i
                for i, (_, h_sum, n_act) in enumerate(stats)
                if depth < config.max_depth
                and n_act >= 2 * config.min_child_samples
                and h_sum >= 2 * config.min_child_weight
            ]
            level_ctx = ctx.sub(f"level-{depth}")
            if join and depth < config.max_depth:
                assign = np.full(rows, -1, dtype=np.int32)
                for i, node in enumerate(level):
                    assign[node.rows] = i
                nodes: list[JsonValue] = [[n.index, n.parent, i in to_split] for i, n in enumerate(level)]
                level_ctx.send("nodes", nodes, self.hosts)
                level_ctx.send("assign", assign, self.hosts)
            children = self._split_level(level_ctx, state, level, to_split, stats) if to_split else []
            for i, node in enumerate(level):
                if state.tree.owner[node.index] < 0:
                    g_sum, h_sum, _ = stats[i]
                    weight = config.learning_rate * leaf_weight(g_sum, h_sum, config.reg_lambda)
                    state.tree.weight[node.index] = float(weight)
                    leaves[node.rows] = node.index
            if not children:
                break
            level = children
        return state.tree, leaves, state.timing

    def _split_level(
        self,
        ctx: Context,
        state: _TreeState,
        level: list[_Node],
        to_split: list[int],
        stats: list[tuple[float, float, int]],
    ) -> list[_Node]:
        """Find each node's best split among the guest's and every host's candidates, apply it, return children."""
        started = time.perf_counter()
        own = [self._own_best(level[i].rows, state, stats[i]) for i in to_split]
        state.timing.guest_s += time.perf_counter() - started
        host_best = self._host_best(ctx, to_split, stats, state) if state.join else []
        decisions: dict[int, tuple[int, int, float]] = {}  # node slot -> (party: -1 guest / k host, choice, gain)
        for slot in range(len(to_split)):
            party, (choice, gain) = -1, own[slot]
            for k, per_node in enumerate(host_best):
                j, host_gain = per_node[slot]
                if host_gain > gain:
                    party, choice, gain = k, j, host_gain
            if gain > 0 and choice >= 0:
                decisions[slot] = (party, choice, gain)
        lefts = self._ask_hosts(ctx, to_split, decisions, level, state.timing) if state.join else {}
        children: list[_Node] = []
        for slot, (party, choice, gain) in decisions.items():
            node = level[to_split[slot]]
            tree = state.tree
            if party < 0:
                left = self._apply_guest_split(tree, node, choice)
            else:
                split_id, left = lefts[(party, slot)]
                tree.owner[node.index] = 1 + party
                tree.split_id[node.index] = split_id
            tree.gain[node.index] = gain
            left_child, right_child = tree.add_node(), tree.add_node()
            tree.left[node.index], tree.right[node.index] = left_child, right_child
            children.append(_Node(left_child, node.index, node.rows[left], node.depth + 1))
            children.append(_Node(right_child, node.index, node.rows[~left], node.depth + 1))
        return children

    def _apply_guest_split(self, tree: Tree, node: _Node, choice: int) -> npt.NDArray[np.bool_]:
        binned = self.binned
        feature, cut, missing_left = self._guest_split(choice)
        values = binned.bins[node.rows, feature]
        tree.owner[node.index] = GUEST
        tree.feature[node.index] = int(feature)
        tree.threshold[node.index] = threshold_of(binned, feature, cut)
        tree.missing_left[node.index] = missing_left
        return np.where(values == binned.missing_bin, missing_left, values <= cut)

    def _own_best(self, rows: IntArray, state: _TreeState, stat: tuple[float, float, int]) -> tuple[int, float]:
        """The guest's best candidate at a node: its flat index (see :meth:`_guest_split`) and gain."""
        binned, used, gw, hw, active = self.binned, state.used, state.gw, state.hw, state.active
        if used.size == 0:
            return -1, -math.inf
        width, top = binned.width, binned.max_bin
        sub = binned.bins[np.ix_(rows, used)].astype(np.int64) + np.arange(used.size) * width
        keys = sub.ravel()
        size = used.size * width
        g_hist = np.bincount(keys, weights=np.repeat(gw[rows], used.size), minlength=size).reshape(used.size, width)
        h_hist = np.bincount(keys, weights=np.repeat(hw[rows], used.size), minlength=size).reshape(used.size, width)
        n_hist = np.bincount(keys, weights=np.repeat(active[rows], used.size).astype(np.float64), minlength=size)
        n_hist = n_hist.reshape(used.size, width)
        g_left = np.cumsum(g_hist[:, :top], axis=1)
        h_left = np.cumsum(h_hist[:, :top], axis=1)
        n_left = np.cumsum(n_hist[:, :top], axis=1)
        g_all = np.stack([g_left, g_left + g_hist[:, top : top + 1]], axis=2)
        h_all = np.stack([h_left, h_left + h_hist[:, top : top + 1]], axis=2)
        n_all = np.stack([n_left, n_left + n_hist[:, top : top + 1]], axis=2).astype(np.int64)
        g_sum, h_sum, n_sum = stat
        gains = split_gains(g_all, h_all, n_all, g_sum, h_sum, n_sum, self.config)
        # cut t means "bin <= t"; t = len(cuts) (every value left) only makes sense with the missing rows right
        cut_counts = np.array([len(binned.cuts[j]) for j in used.tolist()])
        beyond = np.arange(top)[None, :] - cut_counts[:, None]
        gains[beyond > 0] = -math.inf
        gains[:, :, 1][beyond == 0] = -math.inf
        best = int(np.argmax(gains))
        if not np.isfinite(gains.flat[best]):
            return -1, -math.inf
        f, t, m = np.unravel_index(best, gains.shape)
        return (int(used[f]) * top + int(t)) * 2 + int(m), float(gains.flat[best])

    def _guest_split(self, choice: int) -> tuple[int, int, bool]:
        top = self.binned.max_bin
        flat, missing_left = divmod(choice, 2)
        feature, cut = divmod(flat, top)
        return feature, cut, bool(missing_left)

    def _host_best(
        self,
        ctx: Context,
        to_split: list[int],
        stats: list[tuple[float, float, int]],
        state: _TreeState,
    ) -> list[list[tuple[int, float]]]:
        """Per host, per node to split: the best candidate (its shuffled index, -1 if none) and its gain."""
        out: list[list[tuple[int, float]]] = []
        for host in self.hosts:
            started = time.perf_counter()
            level = self._receive_level(ctx, host, len(to_split), state.scales, state.timing)
            per_node: list[tuple[int, float]] = []
            for slot, i in enumerate(to_split):
                g_sum, h_sum, n_sum = stats[i]
                gains = split_gains(level.g[slot], level.h[slot], level.n[slot], g_sum, h_sum, n_sum, self.config)
                if gains.size == 0 or not np.isfinite(gains.max()):
                    per_node.append((-1, -math.inf))
                else:
                    best = int(np.argmax(gains))
                    per_node.append((best, float(gains[best])))
            state.timing.guest_s += time.perf_counter() - started
            out.append(per_node)
        return out

    def _receive_level(
        self, ctx: Context, host: PartyRef, nodes: int, scales: tuple[float, float], timing: TreeTimings
    ) -> _Level:
        layout = self.layout
        started = time.perf_counter()
        counts = ctx.recv("counts", frm=host)
        packed = ctx.recv("hist", frm=host)
        timing.wait_s += time.perf_counter() - started
        if not isinstance(counts, list) or len(counts) != nodes:
            raise SecureBoostProtocolError(f"{host} must send one candidate count per node ({nodes})")
        sizes = [bounded_int(c, 0, MAX_CANDIDATES_PER_NODE, f"{host}'s candidate count") for c in counts]
        per = layout.per_ciphertext
        expected = sum(-(-c // per) for c in sizes)
        if not isinstance(packed, BigInts) or len(packed) != expected:
            raise SecureBoostProtocolError(f"{host} must send {expected} packed ciphertexts")
        nsq = self.public_key.nsquare
        values = [to_mpz(c) for c in packed]
        if any(not 0 < c < nsq for c in values):
            raise SecureBoostProtocolError(f"{host} sent a ciphertext outside (0, n**2)")
        started = time.perf_counter()
        plaintexts = self.private_key.raw_decrypt(values, workers=self.workers or (os.cpu_count() or 1))
        timing.decrypt_s += time.perf_counter() - started
        out = _Level([], [], [])
        position = 0
        for size in sizes:
            fields: list[int] = []
            left = size
            while left > 0:
                take = min(per, left)
                fields.extend(layout.split_plaintext(int(plaintexts[position]), take))
                position += 1
                left -= take
            g_sum, h_sum, n_sum = layout.unpack_fields(fields, *scales)
            out.g.append(g_sum)
            out.h.append(h_sum)
            out.n.append(n_sum)
        return out

    def _ask_hosts(
        self,
        ctx: Context,
        to_split: list[int],
        decisions: dict[int, tuple[int, int, float]],
        level: list[_Node],
        timing: TreeTimings,
    ) -> dict[tuple[int, int], tuple[int, npt.NDArray[np.bool_]]]:
        """Tell each host which of its candidates won (-1 elsewhere); collect the winners' split ids and masks."""
        out: dict[tuple[int, int], tuple[int, npt.NDArray[np.bool_]]] = {}
        for k, host in enumerate(self.hosts):
            picks = [decisions[s][1] if s in decisions and decisions[s][0] == k else -1 for s in range(len(to_split))]
            ctx.send("choice", picks, host)  # type: ignore[arg-type]
        for k, host in enumerate(self.hosts):
            won = [s for s in range(len(to_split)) if s in decisions and decisions[s][0] == k]
            if not won:
                continue
            started = time.perf_counter()
            splits = ctx.recv("splits", frm=host)
            left_bits = ctx.recv("left", frm=host)
            timing.wait_s += time.perf_counter() - started
            if not isinstance(splits, dict) or not isinstance(splits.get("ids"), list):
                raise SecureBoostProtocolError(f"{host} must answer {{ids, tokens}}")
            ids, tokens = splits["ids"], splits.get("tokens")
            if not isinstance(ids, list) or not isinstance(tokens, list) or not len(ids) == len(tokens) == len(won):
                raise SecureBoostProtocolError(f"{host} must answer one split id and token per won node")
            sizes = [level[to_split[s]].rows.size for s in won]
            total = sum(sizes)
            if (
                not isinstance(left_bits, np.ndarray)
                or left_bits.dtype != np.uint8
                or left_bits.shape != (-(-total // 8),)
            ):
                raise SecureBoostProtocolError(f"{host} must send {total} left bits, packed")
            bits = np.unpackbits(left_bits)[:total].astype(np.bool_)
            offset = 0
            for s, size, split_id, token in zip(won, sizes, ids, tokens, strict=True):
                sid = bounded_int(split_id, 0, (1 << 62) - 1, f"{host}'s split id")
                self.host_tokens[(k, sid)] = bounded_int(token, 0, 1 << 20, f"{host}'s feature token")
                out[(k, s)] = (sid, bits[offset : offset + size])
                offset += size
        return out


def _importance(
    trees: list[Tree], names: list[str], host_tokens: dict[tuple[int, int], int], hosts: list[int]
) -> dict[str, dict[str, float]]:
    """Split count and total gain per feature: the guest's by name, the hosts' by anonymous feature id."""
    out: dict[str, dict[str, float]] = {}
    for tree in trees:
        for node, owner in enumerate(tree.owner):
            if owner < 0:
                continue
            if owner == GUEST:
                key = names[tree.feature[node]]
            else:
                token = host_tokens.get((owner - 1, tree.split_id[node]), -1)
                key = f"host_{hosts[owner - 1]}_feature_{token}"
            entry = out.setdefault(key, {"splits": 0.0, "gain": 0.0})
            entry["splits"] += 1
            entry["gain"] += tree.gain[node]
    return dict(sorted(out.items(), key=lambda item: -item[1]["gain"]))


def predict_guest(ctx: Context, x: npt.ArrayLike, model: GuestModel) -> FloatArray:
    """Raw scores (rows x outputs) for the rows of ``x``, every host answering for its own splits."""
    features = np.asarray(x, dtype=np.float64)
    rows = features.shape[0]
    masks: dict[tuple[int, int], npt.NDArray[np.bool_]] = {}
    for k, host in enumerate(ctx.hosts):
        ids = ctx.recv("split_ids", frm=host)
        bits = ctx.recv("left", frm=host)
        if not isinstance(ids, np.ndarray) or ids.dtype != np.int64 or ids.ndim != 1:
            raise SecureBoostProtocolError(f"{host} must send its split ids as an int64 vector")
        if not isinstance(bits, np.ndarray) or bits.dtype != np.uint8 or bits.shape != (ids.size, -(-rows // 8)):
            raise SecureBoostProtocolError(f"{host} must send {ids.size} x {rows} left bits, packed per split")
        unpacked = np.unpackbits(bits, axis=1)[:, :rows].astype(np.bool_)
        for i, split_id in enumerate(ids.tolist()):
            masks[(k, int(split_id))] = unpacked[i]

    def host_left(k: int, split_id: int) -> npt.NDArray[np.bool_]:
        mask = masks.get((k, split_id))
        if mask is None:
            raise SecureBoostProtocolError(f"host {model.hosts[k]} did not answer for split {split_id}")
        return mask

    return predict_raw(model.trees, model.base, features, host_left)


def model_meta(model: GuestModel, names: list[str]) -> dict[str, Any]:
    return {
        "objective": model.objective,
        "num_class": model.num_class,
        "learning_rate": model.learning_rate,
        "trees": len(model.trees),
        "tree_outputs": [tree.output for tree in model.trees],
        "hosts": model.hosts,
        "feature_importance": model.importance,
        "trees_view": [describe(tree, model, names) for tree in model.trees[:TREES_SHOWN]],
    }


TREES_SHOWN = 10
"""Trees written out as text in the model's metadata (the board shows it); the arrays hold all of them."""


def describe(tree: Tree, model: GuestModel, names: list[str]) -> list[str]:
    """One line per node: what the guest knows of it (its own splits in full, a host's as an anonymous id)."""
    lines = []
    for node in range(tree.size):
        owner = tree.owner[node]
        children = f"-> {tree.left[node]}, {tree.right[node]} (gain {tree.gain[node]:.4g})"
        if owner < 0:
            lines.append(f"{node}: leaf {tree.weight[node]:+.5g}")
        elif owner == GUEST:
            missing = "left" if tree.missing_left[node] else "right"
            rule = f"{names[tree.feature[node]]} < {tree.threshold[node]:.6g}, missing {missing}"
            lines.append(f"{node}: {rule} {children}")
        else:
            lines.append(f"{node}: host {model.hosts[owner - 1]} split {tree.split_id[node]} {children}")
    return lines

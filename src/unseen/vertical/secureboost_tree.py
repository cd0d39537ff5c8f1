"""The guest's trees and how rows are routed through them, whoever owns each split.

A tree is a set of flat arrays (one entry per node, the root at 0), so a model stores as npz and routes all rows
of a table at once (a loop over the at most ``2**depth - 1`` internal nodes, none over rows). ``owner`` says who
decides a node: ``LEAF``, ``GUEST`` (``feature``, ``threshold``, ``missing_left`` are the guest's own) or
``1 + k`` for host ``k`` (then only ``split_id`` is known: a random id the host alone can map to a feature and a
threshold). Routing asks a callable for the rows that go left at a host split, so the same code serves federated
prediction (the masks come from the hosts) and a local check with the joined model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from unseen.vertical.secureboost_binning import goes_left

LEAF = -1
GUEST = 0

HostLeft = Callable[[int, int], npt.NDArray[np.bool_]]
"""(host index k, split id) -> for every row, whether it goes left at that host split."""


@dataclass
class Tree:
    """One tree of the guest's model; ``output`` is the class (multiclass) or 0."""

    output: int = 0
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    missing_left: list[bool] = field(default_factory=list)
    split_id: list[int] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    gain: list[float] = field(default_factory=list)

    def add_node(self) -> int:
        self.left.append(-1)
        self.right.append(-1)
        self.owner.append(LEAF)
        self.feature.append(-1)
        self.threshold.append(0.0)
        self.missing_left.append(False)
        self.split_id.append(-1)
        self.weight.append(0.0)
        self.gain.append(0.0)
        return len(self.left) - 1

    @property
    def size(self) -> int:
        return len(self.left)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}left": np.asarray(self.left, dtype=np.int32),
            f"{prefix}right": np.asarray(self.right, dtype=np.int32),
            f"{prefix}owner": np.asarray(self.owner, dtype=np.int32),
            f"{prefix}feature": np.asarray(self.feature, dtype=np.int32),
            f"{prefix}threshold": np.asarray(self.threshold, dtype=np.float64),
            f"{prefix}missing_left": np.asarray(self.missing_left, dtype=np.bool_),
            f"{prefix}split_id": np.asarray(self.split_id, dtype=np.int64),
            f"{prefix}weight": np.asarray(self.weight, dtype=np.float64),
            f"{prefix}gain": np.asarray(self.gain, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, output: int) -> Tree:
        def take(name: str) -> list[object]:
            values: list[object] = arrays[f"{prefix}{name}"].tolist()
            return values

        tree = cls(output)
        tree.left, tree.right = take("left"), take("right")  # type: ignore[assignment]
        tree.owner, tree.feature = take("owner"), take("feature")  # type: ignore[assignment]
        tree.threshold, tree.missing_left = take("threshold"), take("missing_left")  # type: ignore[assignment]
        tree.split_id, tree.weight, tree.gain = take("split_id"), take("weight"), take("gain")  # type: ignore[assignment]
        return tree

    def host_splits(self) -> list[tuple[int, int]]:
        """(host index k, split id) of every host split in the tree."""
        return [(o - 1, s) for o, s in zip(self.owner, self.split_id, strict=True) if o > GUEST]


def route(tree: Tree, x_guest: npt.NDArray[np.float64], host_left: HostLeft) -> npt.NDArray[np.int64]:
    """The leaf each row reaches (node index), for all rows at once."""
    rows = x_guest.shape[0]
    position = np.zeros(rows, dtype=np.int64)
    for node in range(tree.size):  # children always come after their parent
        owner = tree.owner[node]
        if owner == LEAF:
            continue
        here = position == node
        if not here.any():
            continue
        if owner == GUEST:
            left = goes_left(x_guest[:, tree.feature[node]], tree.threshold[node], tree.missing_left[node])
        else:
            left = host_left(owner - 1, tree.split_id[node])
        position[here & left] = tree.left[node]
        position[here & ~left] = tree.right[node]
    return position


def predict_raw(
    trees: list[Tree], base: npt.NDArray[np.float64], x_guest: npt.NDArray[np.float64], host_left: HostLeft
) -> npt.NDArray[np.float64]:
    """Raw scores (rows x outputs): the base score plus every tree's leaf weight on its output."""
    raw = np.tile(base, (x_guest.shape[0], 1)).astype(np.float64)
    for tree in trees:
        leaves = route(tree, x_guest, host_left)
        raw[:, tree.output] += np.asarray(tree.weight, dtype=np.float64)[leaves]
    return raw

"""The value vocabulary: every kind of value a task may send to another party.

Both the codec (``transport/codec``, which turns these into bytes) and the algorithms (``vertical/``,
``horizontal/``, ``crypto/``) use these types, so this module imports nothing but numpy: an algorithm can
name what it sends without loading protobuf, gRPC or storage code.

* numpy arrays of an allow-listed dtype;
* :class:`BigInts`, vectors of non-negative big integers (Paillier ciphertexts, group elements);
* :class:`TensorRecord`, a set of named tensors in one message (a model's ``state_dict``), bfloat16 included;
* JSON values (scalars, lists, string-keyed objects).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None

ALLOWED_DTYPES: frozenset[str] = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    }
)

BFLOAT16 = "bfloat16"
"""numpy has no bfloat16: a record carries such a tensor as its raw uint16 bits, tagged with this name."""

TENSOR_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/\-]{0,255}")
"""A tensor's name in a record: what PyTorch (``layer1.0.conv1.weight``) and Keras (``dense/kernel:0``)
produce, and nothing that could be mistaken for a path escape or a control character."""

MAX_RECORD_TENSORS = 100_000


class BigInts(Sequence[int]):
    """A vector of non-negative big integers, sent as one fixed-width block rather than as JSON text."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[int]) -> None:
        self._values = [int(v) for v in values]

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: Any) -> Any:
        return self._values[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BigInts) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"BigInts(<{len(self._values)} integers>)"

    def to_list(self) -> list[int]:
        return list(self._values)


class TensorRecord(Mapping[str, np.ndarray]):
    """Named tensors that travel as one message: a model's weights, an update, a gradient.

    Every tensor has an allow-listed numpy dtype, except that the names in ``bfloat16`` hold the uint16 bit
    patterns of bfloat16 values (use :func:`bfloat16_to_float32` / :func:`float32_to_bfloat16`). Names
    follow :data:`TENSOR_NAME`; the order of insertion is kept.
    """

    __slots__ = ("_bfloat16", "_tensors")

    def __init__(self, tensors: Mapping[str, np.ndarray], bfloat16: Iterable[str] = ()) -> None:
        if len(tensors) > MAX_RECORD_TENSORS:
            raise ValueError(f"a record holds at most {MAX_RECORD_TENSORS} tensors, got {len(tensors)}")
        self._tensors: dict[str, np.ndarray] = {}
        for name, tensor in tensors.items():
            if not isinstance(name, str) or not TENSOR_NAME.fullmatch(name):
                raise ValueError(f"tensor name {str(name)[:64]!r} does not match {TENSOR_NAME.pattern}")
            array = np.asarray(tensor)
            if array.dtype.name not in ALLOWED_DTYPES:
                raise ValueError(f"tensor {name} has dtype {array.dtype}, which cannot be sent")
            self._tensors[name] = array
        self._bfloat16 = frozenset(bfloat16)
        for name in self._bfloat16:
            if name not in self._tensors or self._tensors[name].dtype != np.uint16:
                raise ValueError(f"bfloat16 tensor {name!r} must be present and hold uint16 bits")

    def __getitem__(self, name: str) -> np.ndarray:
        return self._tensors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorRecord) or list(self) != list(other) or self._bfloat16 != other._bfloat16:
            return False
        return all(
            self[n].dtype == other[n].dtype and self[n].shape == other[n].shape and np.array_equal(self[n], other[n])
            for n in self
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside: not hashable

    def __repr__(self) -> str:
        return f"TensorRecord(<{len(self)} tensors>)"

    def dtype_name(self, name: str) -> str:
        """The tensor's dtype as sent: a numpy dtype name, or ``bfloat16``."""
        return BFLOAT16 if name in self._bfloat16 else self._tensors[name].dtype.name

    @property
    def bfloat16(self) -> frozenset[str]:
        return self._bfloat16

    def floats(self) -> dict[str, np.ndarray]:
        """Every tensor as numpy holds it, with the bfloat16 ones widened (exactly) to float32."""
        return {n: bfloat16_to_float32(t) if n in self._bfloat16 else t for n, t in self._tensors.items()}

    @classmethod
    def from_floats(cls, tensors: Mapping[str, np.ndarray], bfloat16: Iterable[str] = ()) -> TensorRecord:
        """A record in which the tensors named in ``bfloat16`` are narrowed from float to bfloat16 bits."""
        narrow = frozenset(bfloat16)
        converted = {n: float32_to_bfloat16(t) if n in narrow else np.asarray(t) for n, t in tensors.items()}
        return cls(converted, narrow)


def bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) to float32: the upper half of a float32, so this is exact."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def float32_to_bfloat16(values: np.ndarray) -> np.ndarray:
    """float32 to bfloat16 bits, rounding to nearest even as PyTorch does; NaN stays a (quiet) NaN."""
    as_float = np.asarray(values, dtype=np.float32)
    bits = as_float.view(np.uint32)
    rounding = ((bits >> np.uint32(16)) & np.uint32(1)) + np.uint32(0x7FFF)
    rounded = ((bits + rounding) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(as_float)
    if np.any(nan):
        rounded = np.where(nan, ((bits >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16), rounded)
    return rounded


Value: TypeAlias = np.ndarray | BigInts | TensorRecord | JsonValue

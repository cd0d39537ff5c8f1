"""How node.yaml names a partner's trust anchor: its kind and its SHA-256 fingerprint as text.

Plain vocabulary, no cryptography: the configuration layer checks a fingerprint's form when node.yaml is read,
and ``transport.trust`` (which loads and verifies the certificates) imports these from here.
"""

from __future__ import annotations

from typing import Literal

AnchorKind = Literal["ca", "pinned"]


def normalise_fingerprint(text: str) -> str:
    """A fingerprint as typed (colons or not, any case) in the canonical form; ``ValueError`` if it is not one."""
    digits = text.replace(":", "").strip().upper()
    if len(digits) != 64 or any(c not in "0123456789ABCDEF" for c in digits):
        raise ValueError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits, colons optional)")
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))

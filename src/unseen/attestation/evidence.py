"""Finding attestation evidence in an X.509 certificate, in the formats Gramine's RA-TLS writes.

- Legacy: the raw quote is the extension's value. Gramine passes its OID *with* the DER tag and length
  bytes (06 09 ...) to mbedTLS, which encodes them again, so the OID a parser reads is
  0.6.9.42.840.113741.1337.6; the intended 1.2.840.113741.1337.6 is accepted too.
- TCG DICE tagged evidence (OID 2.23.133.5.4.9): CBOR tag 60000 of [quote, claims], both byte strings;
  ``claims`` is a CBOR map whose "pubkey-hash" is [hash-alg-id, hash] (alg 1 = SHA-256, IANA Named
  Information) and the quote's report data is SHA-256 of the ``claims`` bytes.
- Simulated (development only, INSECURE): ``simulated.py``'s software quote under a private OID.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from unseen.attestation.verdict import refuse

OID_GRAMINE_AS_EMITTED = x509.ObjectIdentifier("0.6.9.42.840.113741.1337.6")
OID_GRAMINE_INTENDED = x509.ObjectIdentifier("1.2.840.113741.1337.6")
OID_TCG_DICE_TAGGED_EVIDENCE = x509.ObjectIdentifier("2.23.133.5.4.9")
# 2.25 is the UUID arc (ITU-T X.667): anyone may name an OID from a random UUID without registering it.
OID_UNSEEN_SIMULATED = x509.ObjectIdentifier("2.25.246125283196305963473590306802939862530")
CBOR_TAG_TCG_DICE = 60000
MAX_EVIDENCE_BYTES = 32 * 1024
HASH_ALG_SHA256 = 1
_EVIDENCE_OIDS = (OID_GRAMINE_AS_EMITTED, OID_GRAMINE_INTENDED, OID_TCG_DICE_TAGGED_EVIDENCE, OID_UNSEEN_SIMULATED)


@dataclass(frozen=True)
class Evidence:
    """What a certificate carries: which format, the quote bytes, and for DICE the claims it binds."""

    format: str  # "gramine-legacy" | "tcg-dice" | "simulated"
    quote: bytes
    claims: bytes | None = None  # the CBOR claims buffer (TCG DICE only)
    claimed_pubkey_hash: bytes | None = None  # from the claims (TCG DICE only)


def _decode_dice(value: bytes) -> Evidence:
    import cbor2

    try:
        item: Any = cbor2.loads(value)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise refuse("evidence", "CBOR tagged evidence", f"undecodable CBOR ({type(exc).__name__})") from None
    if not isinstance(item, cbor2.CBORTag) or item.tag != CBOR_TAG_TCG_DICE:
        raise refuse("evidence", f"CBOR tag {CBOR_TAG_TCG_DICE}", type(item).__name__)
    content = item.value
    if not (isinstance(content, (list, tuple)) and len(content) == 2 and all(isinstance(v, bytes) for v in content)):
        raise refuse("evidence", "[quote bytes, claims bytes]", "another shape")
    quote, claims = content
    try:
        claim_map: Any = cbor2.loads(claims)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError):
        raise refuse("evidence claims", "a CBOR map", "undecodable CBOR") from None
    hashed = claim_map.get("pubkey-hash") if isinstance(claim_map, dict) else None
    if not (
        isinstance(hashed, (list, tuple))
        and len(hashed) == 2
        and hashed[0] == HASH_ALG_SHA256
        and isinstance(hashed[1], bytes)
        and len(hashed[1]) == 32
    ):
        raise refuse("evidence claims pubkey-hash", "[1 (sha-256), 32 bytes]", "missing or another form")
    return Evidence("tcg-dice", quote, claims, hashed[1])


def find_evidence(cert: x509.Certificate) -> Evidence | None:
    """The certificate's evidence, or ``None`` when it carries none. More than one kind is refused: a
    verifier reading one and a peer meaning another is how checks get skipped."""
    found: list[Evidence] = []
    for extension in cert.extensions:
        oid = extension.oid
        value = extension.value
        if not isinstance(value, x509.UnrecognizedExtension):
            continue
        if oid in _EVIDENCE_OIDS and len(value.value) > MAX_EVIDENCE_BYTES:
            raise refuse("evidence size", f"at most {MAX_EVIDENCE_BYTES} bytes", f"{len(value.value)} bytes")
        if oid in (OID_GRAMINE_AS_EMITTED, OID_GRAMINE_INTENDED):
            found.append(Evidence("gramine-legacy", value.value))
        elif oid == OID_TCG_DICE_TAGGED_EVIDENCE:
            found.append(_decode_dice(value.value))
        elif oid == OID_UNSEEN_SIMULATED:
            found.append(Evidence("simulated", value.value))
    if len(found) > 1:
        raise refuse("evidence", "one evidence extension", f"{len(found)} ({', '.join(e.format for e in found)})")
    return found[0] if found else None


def legacy_extension(quote: bytes, as_gramine_emits: bool = True) -> x509.UnrecognizedExtension:
    """The legacy extension for ``quote``, under the OID Gramine really writes unless told otherwise."""
    oid = OID_GRAMINE_AS_EMITTED if as_gramine_emits else OID_GRAMINE_INTENDED
    return x509.UnrecognizedExtension(oid, quote)


def dice_claims(pubkey_hash: bytes) -> bytes:
    import cbor2

    return bytes(cbor2.dumps({"pubkey-hash": [HASH_ALG_SHA256, pubkey_hash]}))


def dice_extension(quote: bytes, claims: bytes) -> x509.UnrecognizedExtension:
    import cbor2

    encoded = cbor2.dumps(cbor2.CBORTag(CBOR_TAG_TCG_DICE, [quote, claims]))
    return x509.UnrecognizedExtension(OID_TCG_DICE_TAGGED_EVIDENCE, bytes(encoded))

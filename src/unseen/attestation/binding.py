"""The key binding: a quote proves what code runs, and its report data must name the certificate's key, or
any certificate could carry any enclave's quote.

As Gramine's RA-TLS does: SHA-256 over the public key in DER (SubjectPublicKeyInfo, what mbedTLS's
``mbedtls_pk_write_pubkey_der`` writes) fills the first 32 bytes of the 64-byte report data, the rest zero.
For TCG DICE evidence the report data is SHA-256 of the claims buffer, whose "pubkey-hash" is that hash.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from unseen.attestation.evidence import Evidence
from unseen.attestation.verdict import Reason


def key_hash(key: CertificatePublicKeyTypes) -> bytes:
    """The hash evidence must carry for ``key``: what a node writes when it makes evidence, and what a peer
    checks against the certificate's key (one function, so the two sides cannot drift apart)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


def public_key_hash(cert: x509.Certificate) -> bytes:
    return key_hash(cert.public_key())


def report_data_for(digest: bytes) -> bytes:
    return digest + bytes(64 - len(digest))


def check_binding(cert: x509.Certificate, evidence: Evidence, report_data: bytes) -> Reason | None:
    key_hash = public_key_hash(cert)
    if evidence.format == "tcg-dice":
        assert evidence.claims is not None
        if evidence.claimed_pubkey_hash != key_hash:
            got = (evidence.claimed_pubkey_hash or b"").hex()
            return Reason("claims pubkey-hash", key_hash.hex(), got)
        expected = report_data_for(hashlib.sha256(evidence.claims).digest())
    else:
        expected = report_data_for(key_hash)
    if report_data != expected:
        return Reason(
            "report_data", f"{expected[:32].hex()} (SHA-256 binding the certificate's key)", _show(report_data)
        )
    return None


def _show(data: bytes) -> str:
    text = data.rstrip(b"\0")
    if text and all(32 <= b < 127 for b in text):
        return f"{text.decode('ascii')!r} ({data[:32].hex()})"
    return data[:32].hex() + ("" if not any(data[32:]) else "...")

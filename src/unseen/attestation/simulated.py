"""INSECURE simulated evidence, for development and tests only: a software "quote" carrying the same
report-body fields as SGX, signed by a local Ed25519 key. Nothing measures the code: whoever holds the key
claims any MRENCLAVE. A policy refuses it unless it sets ``allow_simulated: true``.

Format: MAGIC (32 bytes) | report body (384) | Ed25519 public key (32) | signature (64) over MAGIC and body.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from unseen.attestation.quote import (
    FLAG_DEBUG,
    FLAG_INIT,
    FLAG_MODE64BIT,
    REPORT_BODY_SIZE,
    ReportBody,
    parse_report_body,
)
from unseen.attestation.verdict import refuse
from unseen.config.attestation import SimulatedIdentity

MAGIC = b"UNSEEN-SIMULATED-INSECURE-QUOTE1"
assert len(MAGIC) == 32
SIMULATED_SIZE = 32 + REPORT_BODY_SIZE + 32 + 64
INSECURE_BANNER = "INSECURE simulated attestation: no hardware measures this node; for development and tests only"


@dataclass(frozen=True)
class SimulatedQuote:
    body: ReportBody
    signer: bytes  # raw Ed25519 public key


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if path.is_file():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def make_simulated_quote(identity: SimulatedIdentity, report_data: bytes, key: Ed25519PrivateKey) -> bytes:
    flags = FLAG_INIT | FLAG_MODE64BIT | (FLAG_DEBUG if identity.debug else 0)
    body = ReportBody(
        cpu_svn=bytes(16),
        misc_select=0,
        attributes=flags.to_bytes(8, "little") + (0x03).to_bytes(8, "little"),
        mr_enclave=bytes.fromhex(identity.mrenclave),
        mr_signer=bytes.fromhex(identity.mrsigner),
        isv_prod_id=identity.isv_prod_id,
        isv_svn=identity.isv_svn,
        report_data=report_data,
    ).to_bytes()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return MAGIC + body + public + key.sign(MAGIC + body)


def verify_simulated_quote(raw: bytes) -> SimulatedQuote:
    """The body, once its signature checks out under the key it names (which proves integrity only)."""
    if len(raw) != SIMULATED_SIZE or raw[:32] != MAGIC:
        raise refuse("simulated quote", f"{SIMULATED_SIZE} bytes starting {MAGIC.decode()}", f"{len(raw)} bytes")
    body, public, signature = raw[32 : 32 + REPORT_BODY_SIZE], raw[-96:-64], raw[-64:]
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, raw[: 32 + REPORT_BODY_SIZE])
    except InvalidSignature:
        raise refuse("simulated quote signature", "valid under its signer key", "invalid") from None
    return SimulatedQuote(parse_report_body(body), public)

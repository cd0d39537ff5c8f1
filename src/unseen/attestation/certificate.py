"""Issuing a node's certificate with its evidence, for a key the caller already has (made in the enclave).

``transport.tls.issue_party_certificate`` makes its own key, but the evidence must name the key before the
certificate exists, so this issues for a given key: same names and usages, plus the evidence extension.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from unseen.attestation.config import AttestationConfig
from unseen.attestation.making import evidence_extension
from unseen.transport.tls import CERT_LIFETIME, PARTY_URI_PREFIX, server_name


def _public_key_hash(key: ec.EllipticCurvePublicKey) -> bytes:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


def issue_attested_certificate(
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer_cert: x509.Certificate,
    party_id: int,
    node_key: ec.EllipticCurvePrivateKey,
    config: AttestationConfig,
    home: Path,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    extension: x509.UnrecognizedExtension | None = None,
) -> x509.Certificate:
    """A party certificate for ``node_key`` carrying its evidence (made per ``config`` unless given)."""
    public = node_key.public_key()
    evidence = extension if extension is not None else evidence_extension(config, _public_key_hash(public), home)
    names: list[x509.GeneralName] = [
        x509.DNSName(server_name(party_id)),
        x509.UniformResourceIdentifier(f"{PARTY_URI_PREFIX}{party_id}"),
    ]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name(party_id))]))
        .issuer_name(issuer_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            # verifiers (cryptography's x509.verification among them) require it in an end-entity certificate
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(evidence, critical=False)
        .sign(issuer_key, hashes.SHA256())
    )

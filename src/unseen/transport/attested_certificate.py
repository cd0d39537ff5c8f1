"""Issuing a node's certificate with its evidence, for a key the caller already has (made in the enclave).

``transport.tls.issue_party_certificate`` makes its own key, but the evidence must name the key before the
certificate exists, so this makes the evidence for a given key and has ``transport.tls.certify_party_key``
issue the same party certificate for it, with the evidence extension added. It lives in ``transport``, beside
the certificate builder it uses: ``attestation`` (making and checking evidence) sits below ``transport``.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from unseen.attestation.binding import key_hash
from unseen.attestation.making import evidence_extension
from unseen.config.attestation import AttestationConfig
from unseen.transport.tls import certify_party_key


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
    evidence = extension if extension is not None else evidence_extension(config, key_hash(public), home)
    return certify_party_key(issuer_key, issuer_cert, party_id, public, hosts, (evidence,))

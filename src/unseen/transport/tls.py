"""TLS material for node-to-node mutual TLS: a development CA, party certificates, and party identity.

A party certificate names its party twice: as the DNS name ``party-<id>`` (what a client checks when it
dials that party) and as the URI ``unseen://party/<id>`` (what a server reads to learn which party is
calling). The receiving node compares that party with the source of every envelope, so a party cannot
speak for another even with a valid certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from unseen.config.node import TlsConfig

PARTY_URI_PREFIX = "unseen://party/"
CERT_LIFETIME = dt.timedelta(days=825)


class CertificateError(ValueError):
    """A certificate does not name exactly one party, or TLS material is missing."""


@dataclass(frozen=True)
class TlsPaths:
    """Where a node finds its own key and certificate. Whom it trusts is per partner (``transport/trust.py``)."""

    cert: Path
    key: Path

    @classmethod
    def of(cls, tls: TlsConfig) -> TlsPaths:
        """The files node.yaml's ``tls:`` names."""
        return cls(cert=tls.cert, key=tls.key)

    def check(self) -> None:
        for path in (self.cert, self.key):
            if not path.is_file():
                raise CertificateError(
                    f"TLS file {path} is missing; create it with `unseen cert issue` (or `unseen cert init "
                    "--self-signed`), or restart standalone"
                )

    def read(self) -> tuple[bytes, bytes]:
        """Key and certificate chain, as PEM."""
        self.check()
        return self.key.read_bytes(), self.cert.read_bytes()


def server_name(party_id: int) -> str:
    return f"party-{party_id}"


def create_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _party_names(party_id: int, hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [
        x509.DNSName(server_name(party_id)),
        x509.UniformResourceIdentifier(f"{PARTY_URI_PREFIX}{party_id}"),
    ]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def create_self_signed_identity(
    party_id: int, hosts: tuple[str, ...] = ()
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A party's node certificate signed by its own key: partners pin it byte for byte (``pinned_cert``).

    It names the party like an issued certificate does and is its own issuer; it carries no CA basic
    constraint, so it can vouch for nothing but itself.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name(party_id))])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(_party_names(party_id, hosts)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_party_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    party_id: int,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    extra_extensions: tuple[x509.ExtensionType, ...] = (),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and a certificate for one party's node, good as both TLS server and client.

    ``extra_extensions`` is where RA-TLS puts attestation evidence.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    return key, certify_party_key(ca_key, ca_cert, party_id, key.public_key(), hosts, extra_extensions)


def certify_party_key(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    party_id: int,
    public_key: ec.EllipticCurvePublicKey,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    extra_extensions: tuple[x509.ExtensionType, ...] = (),
) -> x509.Certificate:
    """The party certificate for a key that already exists (an enclave's, whose evidence names it first)."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name(party_id))]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_party_names(party_id, hosts)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    for extension in extra_extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def party_id_of(cert_pem: bytes) -> int:
    """The one party a certificate names in its ``unseen://party/<id>`` URI."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from exc
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise CertificateError("certificate has no subjectAltName naming a party") from exc
    uris = [uri for uri in san.get_values_for_type(x509.UniformResourceIdentifier) if uri.startswith(PARTY_URI_PREFIX)]
    if len(uris) != 1:
        raise CertificateError(f"certificate must name exactly one party, it names {len(uris)}")
    party = uris[0].removeprefix(PARTY_URI_PREFIX)
    if not party.isdigit():
        raise CertificateError(f"certificate party '{party}' is not a party id")
    return int(party)


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode applies only to a new file; an old one may be world-readable
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_ca(cert_path: Path, key_path: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{key_path} is not an EC private key")
    return key, x509.load_pem_x509_certificate(cert_path.read_bytes())


def ensure_ca(directory: Path, common_name: str = "Unseen development CA") -> tuple[Path, Path]:
    """Create a CA in ``directory`` unless one is there; returns (cert path, key path)."""
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if not (cert_path.is_file() and key_path.is_file()):
        key, cert = create_ca(common_name)
        write_private_key(key_path, key)
        write_certificate(cert_path, cert)
    return cert_path, key_path


def _usable_certificate(cert_path: Path, key_path: Path, ca_cert: x509.Certificate, party_id: int) -> bool:
    """Whether the files hold a certificate for ``party_id``, issued by ``ca_cert``, matching its key."""
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        return party_id_of(cert_path.read_bytes()) == party_id and cert.public_key() == key.public_key()
    except (ValueError, TypeError, InvalidSignature, CertificateError):
        return False


def ensure_party_certificate(ca_dir: Path, out_dir: Path, party_id: int) -> TlsPaths:
    """Issue a party certificate from the CA in ``ca_dir`` unless ``out_dir`` already holds a valid one.

    A certificate from an earlier CA (the CA folder was recreated) or for another party is replaced, since
    peers trusting the current CA would refuse it.
    """
    ca_cert_path, ca_key_path = ensure_ca(ca_dir, f"Unseen development CA of party {party_id}")
    cert_path, key_path = out_dir / "node.crt", out_dir / "node.key"
    ca_key, ca_cert = load_ca(ca_cert_path, ca_key_path)
    if not _usable_certificate(cert_path, key_path, ca_cert, party_id):
        key, cert = issue_party_certificate(ca_key, ca_cert, party_id)
        write_private_key(key_path, key)
        write_certificate(cert_path, cert)
    return TlsPaths(cert=cert_path, key=key_path)

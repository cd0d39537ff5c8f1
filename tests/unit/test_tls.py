"""Tests for unseen.transport.tls: the CA, party certificates, and the party a certificate proves."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from unseen.transport.tls import (
    PARTY_URI_PREFIX,
    CertificateError,
    create_ca,
    ensure_ca,
    ensure_party_certificate,
    issue_party_certificate,
    load_ca,
    party_id_of,
    server_name,
)


@pytest.fixture(scope="module")
def ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    return create_ca("test CA one")


@pytest.fixture(scope="module")
def other_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    return create_ca("test CA two")


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_with_names(ca_key: ec.EllipticCurvePrivateKey, names: list[x509.GeneralName] | None) -> bytes:
    """A certificate signed by ``ca_key`` with the given subjectAltName entries (none at all if ``None``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crafted")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return pem(builder.sign(ca_key, hashes.SHA256()))


def uri(text: str) -> x509.UniformResourceIdentifier:
    return x509.UniformResourceIdentifier(text)


# --- certificates and the party they name -------------------------------------------------------------------


@pytest.mark.parametrize("party", [1, 9999, 10000, 2**31 - 1])
def test_party_certificate_names_exactly_its_party(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], party: int
) -> None:
    _, cert = issue_party_certificate(*ca, party_id=party)
    assert party_id_of(pem(cert)) == party


def test_party_certificate_carries_the_dns_name_clients_check(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    _, cert = issue_party_certificate(*ca, party_id=10000, hosts=("node.example.org", "10.0.0.5"))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert server_name(10000) == "party-10000"
    assert set(san.get_values_for_type(x509.DNSName)) == {"party-10000", "node.example.org"}
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"{PARTY_URI_PREFIX}10000"]


def test_party_certificate_is_a_leaf_for_both_tls_ends(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> None:
    _, cert = issue_party_certificate(*ca, party_id=10000)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) <= cert.not_valid_after_utc


def test_ca_certificate_is_a_self_signed_ca(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> None:
    _, ca_cert = ca
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    ca_cert.verify_directly_issued_by(ca_cert)


def test_party_certificate_verifies_against_its_ca(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> None:
    _, cert = issue_party_certificate(*ca, party_id=9999)
    cert.verify_directly_issued_by(ca[1])
    assert cert.issuer == ca[1].subject


def test_party_certificate_does_not_verify_against_another_ca(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    other_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    _, cert = issue_party_certificate(*ca, party_id=9999)
    with pytest.raises((ValueError, InvalidSignature)):
        cert.verify_directly_issued_by(other_ca[1])


def test_certificate_key_matches_the_returned_private_key(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    key, cert = issue_party_certificate(*ca, party_id=9999)
    assert cert.public_key() == key.public_key()


def test_extra_extensions_are_embedded(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> None:
    evidence = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.840.113741.1337.6"), b"quote-bytes")
    _, cert = issue_party_certificate(*ca, party_id=9999, extra_extensions=(evidence,))
    embedded = cert.extensions.get_extension_for_oid(evidence.oid).value
    assert isinstance(embedded, x509.UnrecognizedExtension)
    assert embedded.value == b"quote-bytes"


def test_certificate_with_two_party_uris_is_refused(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> None:
    crafted = cert_with_names(ca[0], [uri(f"{PARTY_URI_PREFIX}9999"), uri(f"{PARTY_URI_PREFIX}10000")])
    with pytest.raises(CertificateError, match="exactly one party, it names 2"):
        party_id_of(crafted)


def test_certificate_naming_the_same_party_twice_is_refused(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    crafted = cert_with_names(ca[0], [uri(f"{PARTY_URI_PREFIX}9999"), uri(f"{PARTY_URI_PREFIX}9999")])
    with pytest.raises(CertificateError):
        party_id_of(crafted)


@pytest.mark.parametrize(
    "names",
    [
        [x509.DNSName("party-9999")],
        [uri("https://example.org/party/9999")],
        [uri("unseen://parties/9999")],
    ],
    ids=["dns-only", "other-uri", "near-miss-prefix"],
)
def test_certificate_without_a_party_uri_is_refused(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], names: list[x509.GeneralName]
) -> None:
    with pytest.raises(CertificateError, match="it names 0"):
        party_id_of(cert_with_names(ca[0], names))


def test_certificate_without_subject_alt_names_is_refused(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    with pytest.raises(CertificateError, match="no subjectAltName"):
        party_id_of(cert_with_names(ca[0], None))


@pytest.mark.parametrize("party", ["", "abc", "-5", "12a", "1.0", "+7"])
def test_certificate_whose_party_is_not_an_id_is_refused(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], party: str
) -> None:
    with pytest.raises(CertificateError, match="not a party id"):
        party_id_of(cert_with_names(ca[0], [uri(f"{PARTY_URI_PREFIX}{party}")]))


def test_unrelated_uris_beside_the_party_uri_are_ignored(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
) -> None:
    crafted = cert_with_names(ca[0], [uri("spiffe://example.org/node"), uri(f"{PARTY_URI_PREFIX}42")])
    assert party_id_of(crafted) == 42


# --- files on disk ------------------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_ca_creates_a_ca_with_a_private_key_readable_only_by_its_owner(tmp_path: Path) -> None:
    cert_path, key_path = ensure_ca(tmp_path / "ca")
    assert cert_path == tmp_path / "ca" / "ca.crt"
    assert key_path == tmp_path / "ca" / "ca.key"
    assert mode(key_path) == 0o600
    key, cert = load_ca(cert_path, key_path)
    assert cert.public_key() == key.public_key()


def test_ensure_ca_is_idempotent(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path)
    contents = [p.read_bytes() for p in first]
    second = ensure_ca(tmp_path)
    assert second == first
    assert [p.read_bytes() for p in second] == contents


def test_ensure_ca_recreates_a_ca_whose_key_is_missing(tmp_path: Path) -> None:
    cert_path, key_path = ensure_ca(tmp_path)
    old_cert = cert_path.read_bytes()
    key_path.unlink()
    ensure_ca(tmp_path)
    assert key_path.is_file()
    assert cert_path.read_bytes() != old_cert
    key, cert = load_ca(cert_path, key_path)
    assert cert.public_key() == key.public_key()


def test_load_ca_refuses_a_non_ec_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    cert_path, key_path = ensure_ca(tmp_path)
    key_path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(CertificateError, match="not an EC private key"):
        load_ca(cert_path, key_path)


def test_ensure_party_certificate_issues_a_certificate_from_the_ca(tmp_path: Path) -> None:
    paths = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    assert paths.cert == tmp_path / "node" / "node.crt"
    assert paths.key == tmp_path / "node" / "node.key"
    assert mode(paths.key) == 0o600
    assert mode(tmp_path / "ca" / "ca.key") == 0o600
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    assert party_id_of(paths.cert.read_bytes()) == 9999
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.crt").read_bytes()))
    key = serialization.load_pem_private_key(paths.key.read_bytes(), password=None)
    assert key.public_key() == cert.public_key()


def test_ensure_party_certificate_is_idempotent(tmp_path: Path) -> None:
    first = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    before = {p: p.read_bytes() for p in (first.cert, first.key, tmp_path / "ca" / "ca.crt")}
    second = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    assert second == first
    assert {p: p.read_bytes() for p in (second.cert, second.key, tmp_path / "ca" / "ca.crt")} == before


def test_ensure_party_certificate_reissues_for_another_party(tmp_path: Path) -> None:
    first = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    old_cert, old_key, ca_cert = (
        first.cert.read_bytes(),
        first.key.read_bytes(),
        (tmp_path / "ca" / "ca.crt").read_bytes(),
    )
    second = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 10000)
    assert party_id_of(second.cert.read_bytes()) == 10000
    assert second.cert.read_bytes() != old_cert
    assert second.key.read_bytes() != old_key
    assert (tmp_path / "ca" / "ca.crt").read_bytes() == ca_cert  # same CA, not a new one
    assert mode(second.key) == 0o600


def test_ensure_party_certificate_reissues_when_the_key_is_missing(tmp_path: Path) -> None:
    first = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    first.key.unlink()
    second = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    key = serialization.load_pem_private_key(second.key.read_bytes(), password=None)
    assert key.public_key() == x509.load_pem_x509_certificate(second.cert.read_bytes()).public_key()


def test_two_parties_sharing_a_ca_trust_the_same_bundle(tmp_path: Path) -> None:
    a = ensure_party_certificate(tmp_path / "ca", tmp_path / "a", 9999)
    b = ensure_party_certificate(tmp_path / "ca", tmp_path / "b", 10000)
    ca_cert = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.crt").read_bytes())
    for paths in (a, b):
        x509.load_pem_x509_certificate(paths.cert.read_bytes()).verify_directly_issued_by(ca_cert)


def test_ensure_party_certificate_reissues_when_the_ca_changed(tmp_path: Path) -> None:
    ensure_party_certificate(tmp_path / "old-ca", tmp_path / "node", 9999)
    paths = ensure_party_certificate(tmp_path / "new-ca", tmp_path / "node", 9999)
    ca_cert = x509.load_pem_x509_certificate((tmp_path / "new-ca" / "ca.crt").read_bytes())
    x509.load_pem_x509_certificate(paths.cert.read_bytes()).verify_directly_issued_by(ca_cert)


def test_reissued_key_over_a_world_readable_file_becomes_owner_only(tmp_path: Path) -> None:
    (tmp_path / "node").mkdir()
    loose = tmp_path / "node" / "node.key"
    loose.write_bytes(b"stale")
    loose.chmod(0o644)
    paths = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    assert mode(paths.key) == 0o600


def test_tls_paths_read_returns_key_and_chain(tmp_path: Path) -> None:
    paths = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    assert paths.read() == (paths.key.read_bytes(), paths.cert.read_bytes())


def test_tls_paths_check_names_the_missing_file(tmp_path: Path) -> None:
    paths = ensure_party_certificate(tmp_path / "ca", tmp_path / "node", 9999)
    paths.key.unlink()
    with pytest.raises(CertificateError, match=str(paths.key)):
        paths.check()

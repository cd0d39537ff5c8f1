"""Tests for unseen.transport.trust and the client-side check in transport.peers: a certificate is accepted as
party P only if it names P and verifies against P's own anchor."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from unseen.config.anchors import normalise_fingerprint
from unseen.config.node import PeerConfig
from unseen.transport.peers import PeerClients, PeerError
from unseen.transport.tls import (
    CertificateError,
    TlsPaths,
    create_ca,
    create_self_signed_identity,
    issue_party_certificate,
    write_certificate,
    write_private_key,
)
from unseen.transport.trust import PeerTrust, TrustAnchor, fingerprint

Pair = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


@pytest.fixture(scope="module")
def cas() -> dict[int, Pair]:
    return {9999: create_ca("CA of 9999"), 10000: create_ca("CA of 10000")}


def _trust(cas: dict[int, Pair]) -> PeerTrust:
    return PeerTrust({party: TrustAnchor(party, "ca", cert) for party, (_, cert) in cas.items()})


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_certificate_from_the_partys_own_ca_is_accepted(cas: dict[int, Pair]) -> None:
    _, cert = issue_party_certificate(*cas[10000], 10000)
    trust = _trust(cas)
    assert trust.caller_party(_pem(cert)) == 10000
    trust.check_server(10000, _pem(cert))


def test_a_partner_ca_cannot_issue_for_another_party(cas: dict[int, Pair]) -> None:
    """10000's CA is trusted, but only as 10000's anchor: its certificate naming 9999 is refused as 9999."""
    _, spoof = issue_party_certificate(*cas[10000], 9999)
    trust = _trust(cas)
    with pytest.raises(CertificateError, match="does not verify against party 9999's CA"):
        trust.caller_party(_pem(spoof))
    with pytest.raises(CertificateError, match="does not verify against party 9999's CA"):
        trust.check_server(9999, _pem(spoof))


def test_a_party_not_in_the_routing_table_has_no_anchor(cas: dict[int, Pair]) -> None:
    _, cert = issue_party_certificate(*cas[10000], 12345)
    with pytest.raises(CertificateError, match="party 12345 is not in this node's routing table"):
        _trust(cas).caller_party(_pem(cert))


def test_a_server_naming_another_party_than_the_one_dialled_is_refused(cas: dict[int, Pair]) -> None:
    _, cert = issue_party_certificate(*cas[9999], 9999)
    with pytest.raises(CertificateError, match="this node dialled party 10000"):
        _trust(cas).check_server(10000, _pem(cert))


def test_an_expired_certificate_is_refused(cas: dict[int, Pair]) -> None:
    _, cert = issue_party_certificate(*cas[10000], 10000)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3000)
    with pytest.raises(CertificateError, match="does not verify"):
        TrustAnchor(10000, "ca", cas[10000][1]).verify(cert, as_server=False, now=later)


def test_a_pinned_identity_is_accepted_byte_for_byte_only() -> None:
    _, pinned = create_self_signed_identity(10000, ("bank.example",))
    _, other = create_self_signed_identity(10000, ("bank.example",))
    trust = PeerTrust({10000: TrustAnchor(10000, "pinned", pinned)})
    assert trust.caller_party(_pem(pinned)) == 10000
    with pytest.raises(CertificateError, match="is not the one pinned for party 10000"):
        trust.caller_party(_pem(other))


def test_loading_an_anchor_checks_its_kind_count_and_fingerprint(tmp_path: Path, cas: dict[int, Pair]) -> None:
    ca_file, bundle, leaf_file = tmp_path / "ca.crt", tmp_path / "bundle.crt", tmp_path / "leaf.crt"
    write_certificate(ca_file, cas[10000][1])
    bundle.write_bytes(_pem(cas[10000][1]) + _pem(cas[9999][1]))
    write_certificate(leaf_file, issue_party_certificate(*cas[10000], 10000)[1])
    good = TrustAnchor.load(10000, "ca", ca_file, fingerprint(cas[10000][1]).replace(":", "").lower())
    assert good.certificate == cas[10000][1]
    with pytest.raises(CertificateError, match="exactly one certificate, it holds 2"):
        TrustAnchor.load(10000, "ca", bundle)
    with pytest.raises(CertificateError, match="not a CA certificate"):
        TrustAnchor.load(10000, "ca", leaf_file)
    with pytest.raises(CertificateError, match="the file was replaced"):
        TrustAnchor.load(10000, "ca", ca_file, fingerprint(cas[9999][1]))
    with pytest.raises(CertificateError, match="does not name party 9999"):
        TrustAnchor.load(9999, "pinned", leaf_file)


def test_fingerprints_normalise_and_refuse_garbage() -> None:
    assert normalise_fingerprint("ab" * 32) == ":".join(["AB"] * 32)
    with pytest.raises(ValueError, match="not a SHA-256 fingerprint"):
        normalise_fingerprint("zz" * 32)


# --- the client side: what a partner's server presents, over real TLS ---------------------------------------


@pytest.fixture
def spoofing_server(tmp_path: Path, cas: dict[int, Pair]) -> Iterator[int]:
    """A TLS server on loopback presenting a certificate for 9999 issued by 10000's CA (trusted for 10000)."""
    key, cert = issue_party_certificate(*cas[10000], 9999)
    write_private_key(tmp_path / "spoof.key", key)
    write_certificate(tmp_path / "spoof.crt", cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "spoof.crt", tmp_path / "spoof.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(5)


def test_the_client_refuses_a_server_whose_certificate_is_not_the_dialled_partys(
    tmp_path: Path, cas: dict[int, Pair], spoofing_server: int
) -> None:
    key, cert = issue_party_certificate(*cas[10000], 10000)
    own = TlsPaths(cert=tmp_path / "own.crt", key=tmp_path / "own.key")
    write_private_key(own.key, key)
    write_certificate(own.cert, cert)
    peers = {9999: PeerConfig(host="127.0.0.1", port=spoofing_server, ca=Path("unused"))}
    clients = PeerClients(peers, own, _trust(cas), probe_timeout=10)
    with pytest.raises(PeerError, match="does not accept as party 9999") as caught:
        clients.channel(9999)
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    clients.close()


def test_an_unreachable_partner_is_unavailable_not_a_crash(tmp_path: Path, cas: dict[int, Pair]) -> None:
    key, cert = issue_party_certificate(*cas[10000], 10000)
    own = TlsPaths(cert=tmp_path / "own.crt", key=tmp_path / "own.key")
    write_private_key(own.key, key)
    write_certificate(own.cert, cert)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    peers = {9999: PeerConfig(host="127.0.0.1", port=port, ca=Path("unused"))}
    with pytest.raises(PeerError, match="unreachable") as caught:
        PeerClients(peers, own, _trust(cas), probe_timeout=5).channel(9999)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE

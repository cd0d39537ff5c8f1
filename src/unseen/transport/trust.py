"""Trust per partner: which certificate may speak for which party.

Every entry of a node's routing table carries that partner's own trust anchor: the CA certificate that issues
its node certificates (``ca``), or its self-signed node certificate, pinned byte for byte (``pinned_cert``).
A certificate is accepted as party P only if it names P and verifies against P's anchor alone, so a partner's
CA, however valid, can never issue a certificate that speaks for another partner.

Both ends check here. The server side (``PeerTrust.caller_party``) matches a caller after gRPC's handshake,
which accepts any client certificate chaining to the union of the anchors. The client side
(``PeerTrust.check_server``) checks what a partner's server presents before its channel carries data, and the
channel itself then trusts that partner's anchor only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from unseen.config.anchors import AnchorKind, normalise_fingerprint
from unseen.transport.tls import CertificateError, party_id_of, server_name

if TYPE_CHECKING:
    from unseen.config.node import PeerConfig

ANCHOR_MAX_BYTES = 64 * 1024  # one certificate, PEM: a few KiB; more is not an anchor
VERIFIED_CACHE_SIZE = 256
VERIFIED_CACHE_S = 300.0  # a verified certificate is re-verified after this long (expiry is rechecked too)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, as colon-separated upper-case hex (what ``openssl x509 -fingerprint``
    prints): the value two organisations compare out of band."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def load_one_certificate(data: bytes, what: str) -> x509.Certificate:
    """Exactly one PEM certificate; an anchor file holding a bundle would widen trust unnoticed."""
    if len(data) > ANCHOR_MAX_BYTES:
        raise CertificateError(f"{what} is {len(data)} bytes, more than one certificate ({ANCHOR_MAX_BYTES} at most)")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateError(f"{what} is not a PEM certificate: {exc}") from None
    if len(certs) != 1:
        raise CertificateError(f"{what} must hold exactly one certificate, it holds {len(certs)}")
    return certs[0]


@dataclass(frozen=True)
class TrustAnchor:
    """One partner's anchor: the only certificate its node certificates are checked against."""

    party_id: int
    kind: AnchorKind
    certificate: x509.Certificate

    @classmethod
    def load(cls, party_id: int, kind: AnchorKind, path: Path, expected: str | None = None) -> TrustAnchor:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CertificateError(
                f"trust anchor of party {party_id} ({path}) cannot be read: {exc.strerror}"
            ) from None
        cert = load_one_certificate(data, f"trust anchor of party {party_id} ({path})")
        anchor = cls(party_id, kind, cert)
        if expected is not None and normalise_fingerprint(expected) != anchor.fingerprint:
            raise CertificateError(
                f"trust anchor of party {party_id} ({path}) has fingerprint {anchor.fingerprint}, but node.yaml "
                f"pins {normalise_fingerprint(expected)}; the file was replaced: compare with the partner out of band"
            )
        if kind == "ca":
            try:
                constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                constraints = None
            if constraints is None or not constraints.ca:
                raise CertificateError(
                    f"trust anchor of party {party_id} ({path}) is not a CA certificate; "
                    "a partner's self-signed node certificate goes under `pinned_cert:`"
                )
        elif party_id_of(cert.public_bytes(serialization.Encoding.PEM)) != party_id:
            raise CertificateError(f"pinned certificate {path} does not name party {party_id}")
        return anchor

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def verify(self, leaf: x509.Certificate, *, as_server: bool, now: dt.datetime | None = None) -> None:
        """Raise ``CertificateError`` unless ``leaf`` names this party and verifies against this anchor alone.

        ``as_server``: the certificate was presented by the partner's server (checked for the DNS name
        ``party-<id>`` and server use); otherwise by a calling client (checked for client use).
        """
        named = party_id_of(leaf.public_bytes(serialization.Encoding.PEM))
        if named != self.party_id:
            raise CertificateError(f"certificate names party {named}, not party {self.party_id}")
        moment = now or dt.datetime.now(dt.UTC)
        if self.kind == "pinned":
            if leaf != self.certificate:
                raise CertificateError(
                    f"certificate {fingerprint(leaf)} is not the one pinned for party {self.party_id} "
                    f"({self.fingerprint})"
                )
            if not leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc:
                raise CertificateError(f"pinned certificate of party {self.party_id} is outside its validity")
            return
        builder = PolicyBuilder().store(Store([self.certificate])).time(moment).max_chain_depth(1)
        try:
            if as_server:
                builder.build_server_verifier(x509.DNSName(server_name(self.party_id))).verify(leaf, [])
            else:
                builder.build_client_verifier().verify(leaf, [])
        except VerificationError as exc:
            raise CertificateError(
                f"certificate does not verify against party {self.party_id}'s CA ({self.fingerprint}): {exc}"
            ) from None


@dataclass
class PeerTrust:
    """The anchors of every partner in the routing table, and a small cache of certificates already verified."""

    anchors: dict[int, TrustAnchor]
    _verified: dict[tuple[bytes, bool], tuple[int, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, peers: Mapping[int, PeerConfig]) -> PeerTrust:
        """Every partner's anchor named in node.yaml's ``peers:``, read and checked (``CertificateError`` names
        the partner and the file)."""
        return cls(
            {
                party: TrustAnchor.load(party, peer.anchor_kind, peer.anchor_path, peer.fingerprint)
                for party, peer in peers.items()
            }
        )

    def anchor(self, party_id: int) -> TrustAnchor:
        anchor = self.anchors.get(party_id)
        if anchor is None:
            raise CertificateError(f"party {party_id} is not in this node's routing table, so no anchor vouches for it")
        return anchor

    def root_bundle(self) -> bytes | None:
        """What the server's TLS handshake accepts: a chain to any partner's anchor (``caller_party`` narrows)."""
        bundle = b"".join(anchor.pem for _, anchor in sorted(self.anchors.items()))
        return bundle or None

    def _checked(self, pem: bytes, as_server: bool) -> int:
        """The party ``pem`` proves; a certificate verified in the last ``VERIFIED_CACHE_S`` (and still valid)
        is not parsed again: every inbound call asks, and parsing cost more than the rest of a small call."""
        key = (pem, as_server)
        now = dt.datetime.now(dt.UTC)
        stamp = now.timestamp()
        with self._lock:
            known = self._verified.get(key)
        if known is not None and stamp < known[1]:
            return known[0]
        leaf = load_one_certificate(pem, "peer certificate")
        party = party_id_of(pem)
        self.anchor(party).verify(leaf, as_server=as_server, now=now)
        until = min(stamp + VERIFIED_CACHE_S, leaf.not_valid_after_utc.timestamp())
        with self._lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = (party, until)
        return party

    def caller_party(self, pem: bytes) -> int:
        """The party a calling client's certificate proves: it names that party and verifies against that
        party's anchor alone. The one place where a verified caller's certificate is matched to a party;
        ``CertificateError`` says why not."""
        return self._checked(pem, as_server=False)

    def check_server(self, party_id: int, pem: bytes) -> None:
        """The certificate a server presented when this node dialled ``party_id`` is that party's."""
        named = self._checked(pem, as_server=True)
        if named != party_id:
            raise CertificateError(f"the server names party {named}, but this node dialled party {party_id}")

"""Attesting both ends of every federation link, before the link carries a federation message.

Server side: ``peer_party`` (node/rpc.py) asks ``refusal`` about the caller's verified certificate as soon as
it knows the party the certificate names; the gate calls it before reading any request. Client side:
``PeerClients`` asks ``check_server`` before it opens a channel to a peer: grpcio has no certificate
callback, so the peer's certificate is fetched first over a plain TLS handshake (Python's ``ssl``),
verified against that party's trust anchor (``transport/trust.py``), attested here, and only then is the
gRPC channel, pinned to that anchor, opened.

Verdicts are cached per certificate fingerprint and party until the collateral they used expires, so a
long-lived partner costs one verification per certificate and collateral period, not one per call.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from unseen.attestation.collateral import CollateralProvider
from unseen.attestation.simulated import INSECURE_BANNER
from unseen.attestation.verdict import Verdict
from unseen.attestation.verify import verify_certificate
from unseen.config.attestation import AttestationConfig, AttestationMode, peer_policy
from unseen.config.node import NodeConfig

log = logging.getLogger(__name__)
CACHE_ENTRIES = 1024
PROBE_TIMEOUT_S = 10.0


class AttestationRefusedError(Exception):
    """A peer's evidence does not meet the policy for its party; the message names party, field, expected, got."""


class PeerAttestation:
    """The policies for every partner, and the verdicts already reached."""

    def __init__(self, config: NodeConfig) -> None:
        self.party_id = config.party_id
        self._node = config.attestation
        self._peers = {party: peer.attestation for party, peer in config.peers.items()}
        self._providers: dict[int, CollateralProvider] = {}
        self._verdicts: dict[tuple[int, bytes], Verdict] = {}
        self._lock = threading.Lock()
        if self._node is not None and self._node.mode == AttestationMode.SIMULATED:
            log.warning("%s (attestation mode simulated)", INSECURE_BANNER)

    def policy_for(self, party: int) -> AttestationConfig | None:
        return peer_policy(self._node, self._peers.get(party))

    def verdict(self, party: int, cert_der: bytes, now: int | None = None) -> Verdict | None:
        """The verdict on ``party``'s certificate, from the cache while its collateral is current."""
        config = self.policy_for(party)
        if config is None:
            return None
        at = int(time.time()) if now is None else now
        key = (party, hashlib.sha256(cert_der).digest())
        with self._lock:
            cached = self._verdicts.get(key)
        if cached is not None and (cached.valid_until is None or cached.valid_until > at):
            return cached
        verdict = verify_certificate(
            x509.load_der_x509_certificate(cert_der), config, self._provider(party, config), at
        )
        with self._lock:
            if len(self._verdicts) >= CACHE_ENTRIES:
                self._verdicts.pop(next(iter(self._verdicts)))
            self._verdicts[key] = verdict
        if not verdict.ok:
            log.warning("refused party %d: attestation failed: %s", party, verdict.summary())
        else:  # once per certificate and collateral period (cached): which evidence this node believed
            log.info(
                "attested party %d: %s evidence, mrenclave %s, tcb %s",
                party,
                verdict.mode,
                verdict.details.get("mrenclave", "?"),
                verdict.tcb_status or "n/a",
            )
        return verdict

    def _provider(self, party: int, config: AttestationConfig) -> CollateralProvider | None:
        source = config.policy.collateral if config.policy is not None else None
        if source is None:
            return None
        with self._lock:
            provider = self._providers.get(party)
            if provider is None:
                provider = self._providers[party] = CollateralProvider(source)
            return provider

    def refusal(self, party: int, cert_pem: bytes) -> str | None:
        """Why ``party``'s certificate is refused, or ``None`` when it passes (or nothing is required)."""
        if self.policy_for(party) is None:
            return None
        try:
            der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
        except ValueError as exc:
            return f"party {party}'s certificate cannot be read: {exc}"
        verdict = self.verdict(party, der)
        if verdict is None or verdict.ok:
            return None
        return f"party {party}'s attestation evidence does not meet the policy: {verdict.summary()}"

    def check_server(self, party: int, cert_pem: bytes, address: str) -> None:
        """Before a channel to ``party`` carries data: the certificate its server presented (already verified
        against that party's trust anchor by ``PeerClients``) attested; ``AttestationRefusedError`` if not."""
        refusal = self.refusal(party, cert_pem)
        if refusal is not None:
            raise AttestationRefusedError(f"party {party}'s node at {address} failed attestation: {refusal}")


_active: PeerAttestation | None = None


def install(checker: PeerAttestation | None) -> None:
    """Make ``checker`` the one ``peer_party`` and ``PeerClients`` consult (one node per process)."""
    global _active  # noqa: PLW0603 - peer_party is a free function the gate calls; the node sets this once
    _active = checker


def active() -> PeerAttestation | None:
    return _active

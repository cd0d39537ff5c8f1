"""The trust exchange file: what one party hands each partner so that the partner can add it to its routing table.

One small YAML file: the party's id, its federation address, and its trust anchor (its CA certificate, or its
self-signed node certificate to pin), with the anchor's SHA-256 fingerprint. The file is not signed: a signature
by the key it introduces proves nothing to someone who does not yet trust that key. What authenticates it is the
fingerprint, which the two organisations compare over another channel (a call, a signed letter) before
importing; ``unseen cert import --fingerprint`` makes the comparison exact.

Importing treats the file as hostile input: its size is bounded, every field is checked against a strict
grammar, the certificate must be exactly one and match the fingerprint the file states.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from unseen.config.anchors import AnchorKind, normalise_fingerprint
from unseen.config.node import NodeConfig
from unseen.transport.tls import CertificateError, party_id_of
from unseen.transport.trust import PeerTrust, TrustAnchor, fingerprint, load_one_certificate

EXCHANGE_FORMAT = "unseen-trust/1"
EXCHANGE_MAX_BYTES = 64 * 1024
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
PARTNERS_DIR = "partners"


class ExchangeError(ValueError):
    """An exchange file is malformed, or importing it would change trust without ``--replace``."""


def check_host(host: str) -> str:
    """A DNS name or an IP address, nothing else (it goes into node.yaml and into a TLS target)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError(f"{host[:80]!r} is not a host name or IP address") from None
    return host


class ExchangeAnchor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AnchorKind
    certificate: str = Field(max_length=EXCHANGE_MAX_BYTES)


class ExchangeAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(max_length=253)
    port: Annotated[int, Field(ge=1, le=65535)]

    _host = field_validator("host")(classmethod(lambda cls, value: check_host(value)))


class ExchangeFile(BaseModel):
    """The file's fields; ``unseen cert export`` writes it, ``unseen cert import`` reads it."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["unseen-trust/1"]
    party_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    federation: ExchangeAddress
    anchor: ExchangeAnchor
    fingerprint: str

    def trust_anchor(self) -> TrustAnchor:
        """The anchor, checked: one certificate, of the kind stated, naming the party if pinned, and matching
        the stated fingerprint."""
        cert = load_one_certificate(self.anchor.certificate.encode(), f"party {self.party_id}'s anchor")
        anchor = TrustAnchor(self.party_id, self.anchor.kind, cert)
        if normalise_fingerprint(self.fingerprint) != anchor.fingerprint:
            raise ExchangeError(
                f"the file states fingerprint {self.fingerprint} but its certificate's is {anchor.fingerprint}"
            )
        return anchor


def export_exchange(party_id: int, host: str, port: int, kind: AnchorKind, anchor_pem: bytes) -> str:
    """The exchange file's YAML for this party, after checking that the anchor is what partners can use."""
    cert = load_one_certificate(anchor_pem, "anchor certificate")
    if kind == "pinned" and party_id_of(anchor_pem) != party_id:
        raise ExchangeError(f"the certificate to pin does not name party {party_id}")
    document = ExchangeFile(
        format=EXCHANGE_FORMAT,
        party_id=party_id,
        federation=ExchangeAddress(host=check_host(host), port=port),
        anchor=ExchangeAnchor(kind=kind, certificate=anchor_pem.decode("ascii")),
        fingerprint=fingerprint(cert),
    )
    document.trust_anchor()
    header = (
        f"# Unseen trust exchange for party {party_id}. Before importing it, compare this fingerprint with\n"
        f"# the one party {party_id} tells you over another channel:\n#   {document.fingerprint}\n"
    )
    return header + yaml.safe_dump(document.model_dump(mode="json"), sort_keys=False)


def read_exchange(path: Path) -> ExchangeFile:
    try:
        size = path.stat().st_size
        if size > EXCHANGE_MAX_BYTES:
            raise ExchangeError(f"{path} is {size} bytes; an exchange file is at most {EXCHANGE_MAX_BYTES}")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExchangeError(f"{path} cannot be read as a YAML exchange file: {exc}") from None
    try:
        document = ExchangeFile.model_validate(data)
        document.trust_anchor()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ExchangeError(f"{path} is not a valid exchange file: {problems}") from None
    except (CertificateError, ValueError) as exc:
        raise ExchangeError(f"{path}: {exc}") from None
    return document


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_exchange(
    config_path: Path, document: ExchangeFile, expected_fingerprint: str | None = None, replace: bool = False
) -> str:
    """Add or update ``document``'s party in ``config_path``'s routing table; returns what was done.

    Refused: the node's own party id; an anchor whose fingerprint differs from ``expected_fingerprint``; an
    existing entry for the party with another anchor, or another address, unless ``replace``; an anchor already
    trusted for a different party (it would let that party's CA vouch for both).
    """
    anchor = document.trust_anchor()
    if expected_fingerprint is not None and normalise_fingerprint(expected_fingerprint) != anchor.fingerprint:
        raise ExchangeError(
            f"party {document.party_id}'s anchor has fingerprint {anchor.fingerprint}, not the "
            f"{normalise_fingerprint(expected_fingerprint)} you were told: do not import it"
        )
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExchangeError(f"node config {config_path} cannot be read: {exc}") from None
    if not isinstance(raw, dict):
        raise ExchangeError(f"node config {config_path} is not a YAML mapping")
    current = NodeConfig.model_validate(raw).resolved(config_path.parent.resolve())
    party = document.party_id
    if party == current.party_id:
        raise ExchangeError(f"party {party} is this node's own party id; it cannot be its own partner")
    trust = PeerTrust.of(current.peers)
    for other, existing_anchor in trust.anchors.items():
        if other != party and existing_anchor.fingerprint == anchor.fingerprint:
            raise ExchangeError(
                f"this anchor ({anchor.fingerprint}) is already party {other}'s; one anchor for two parties would "
                "let either speak for the other"
            )
    action = "added"
    old = current.peers.get(party)
    if old is not None:
        old_anchor = trust.anchors[party]
        changed = []
        if old_anchor.fingerprint != anchor.fingerprint or old_anchor.kind != anchor.kind:
            changed.append(f"anchor {old_anchor.fingerprint} -> {anchor.fingerprint}")
        if (old.host, old.port) != (document.federation.host, document.federation.port):
            changed.append(f"address {old.host}:{old.port} -> {document.federation.host}:{document.federation.port}")
        if not changed:
            return f"party {party} is already in the routing table with this anchor and address; nothing changed"
        if not replace:
            raise ExchangeError(
                f"party {party} is already in the routing table and the file changes its {'; '.join(changed)}; "
                "confirm the change with the partner out of band, then import again with --replace"
            )
        action = f"replaced ({'; '.join(changed)})"
    partners = config_path.parent / PARTNERS_DIR
    partners.mkdir(parents=True, exist_ok=True)
    anchor_file = partners / f"{party}.crt"
    _write_atomic(anchor_file, anchor.pem)
    entry: dict[str, object] = {
        "host": document.federation.host,
        "port": document.federation.port,
        ("ca" if anchor.kind == "ca" else "pinned_cert"): f"{PARTNERS_DIR}/{party}.crt",
        "fingerprint": anchor.fingerprint,
    }
    peers = raw.get("peers") or {}
    if not isinstance(peers, dict):
        raise ExchangeError(f"node config {config_path}: `peers:` is not a mapping")
    peers = {int(k): v for k, v in peers.items()}
    peers[party] = entry
    raw["peers"] = dict(sorted(peers.items()))
    PeerTrust.of(NodeConfig.model_validate(raw).resolved(config_path.parent.resolve()).peers)  # the result must load
    _write_atomic(config_path, yaml.safe_dump(raw, sort_keys=False).encode(), mode=config_path.stat().st_mode & 0o777)
    address = f"{document.federation.host}:{document.federation.port}"
    return f"party {party} {action}: {address}, {anchor.kind} {anchor.fingerprint}"

"""A node's configuration: who it is, where it listens, where its state lives, and whom it trusts.

One YAML file per node (``node.yaml``). ``unseen standalone start`` writes one per party; an operator writes
one per machine. Every field that is a path may be relative to the file's folder.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from unseen.config.anchors import AnchorKind, normalise_fingerprint
from unseen.config.attestation import AttestationConfig
from unseen.config.limits import MailLimits
from unseen.config.paths import socket_path
from unseen.storage.urls import DatabaseError, parse_database_url

PartyId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Port = Annotated[int, Field(ge=1, le=65535)]


class ConfigError(ValueError):
    """A node configuration file is missing or invalid."""


class PeerConfig(BaseModel):
    """How to reach another party's node, and the one trust anchor its certificates must verify against."""

    model_config = ConfigDict(extra="forbid")

    host: str
    port: Port
    ca: Path | None = Field(None, description="the partner's CA certificate (PEM); its node certificates chain to it")
    pinned_cert: Path | None = Field(
        None, description="the partner's self-signed node certificate (PEM), accepted byte for byte"
    )
    fingerprint: str | None = Field(
        None, description="SHA-256 of the anchor certificate, compared when the node starts (`unseen cert show`)"
    )

    @model_validator(mode="after")
    def _exactly_one_anchor(self) -> PeerConfig:
        if (self.ca is None) == (self.pinned_cert is None):
            raise ValueError(
                "each peer needs exactly one trust anchor: `ca: FILE` (the partner's CA certificate) or "
                "`pinned_cert: FILE` (its self-signed certificate); `unseen cert import` writes it from the "
                "partner's exchange file"
            )
        if self.fingerprint is not None:
            normalise_fingerprint(self.fingerprint)
        return self

    @property
    def anchor_path(self) -> Path:
        path = self.ca or self.pinned_cert
        assert path is not None  # the validator guarantees one
        return path

    @property
    def anchor_kind(self) -> AnchorKind:
        return "ca" if self.ca is not None else "pinned"

    attestation: AttestationConfig | None = Field(None, description="what this partner's evidence must show")


class TlsConfig(BaseModel):
    """The node's own certificate and key. There is no shared CA bundle: each peer carries its own anchor."""

    model_config = ConfigDict(extra="forbid")

    cert: Path
    key: Path

    @model_validator(mode="before")
    @classmethod
    def _no_shared_bundle(cls, data: object) -> object:
        # Refused rather than migrated: applying one bundle to every peer would keep the hole it leaves (any CA
        # in it could issue a certificate for any party), and guessing which CA belongs to which party is unsafe.
        if isinstance(data, dict) and "trusted_cas" in data:
            raise ValueError(
                "tls.trusted_cas is no longer read: any CA in it could vouch for any party. Give each entry "
                "under `peers:` its own anchor instead (`ca: FILE` or `pinned_cert: FILE`), e.g. with "
                "`unseen cert import PARTNER.yaml`, and delete trusted_cas; `unseen standalone start` rewrites "
                "a standalone site's configs itself (see docs/trust.md)"
            )
        return data


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party_id: PartyId
    home: Path = Field(description="the node's folder: database, tables, job logs, sockets")
    rest_host: str = "127.0.0.1"
    rest_port: Port
    federation_host: str = "127.0.0.1"
    federation_port: Port
    database_url: str | None = Field(
        None,
        description="sqlite:///path or postgresql+psycopg://user@host/db (the node owns it alone); "
        "default: SQLite file node.db in home",
    )
    tls: TlsConfig
    peers: dict[PartyId, PeerConfig] = Field(default_factory=dict, description="party id -> federation endpoint")
    attestation: AttestationConfig | None = Field(
        None, description="evidence this node makes, and the policy partners must meet (docs/attestation.md)"
    )
    api_token_file: Path = Field(Path("api.token"), description="bearer token the CLI presents")
    max_message_bytes: int = Field(512 * 1024 * 1024, ge=1024, description="largest federation message accepted")
    recv_timeout_s: float = Field(600.0, gt=0, description="how long a task waits for a message by default")
    task_memory_mb: int | None = Field(
        None,
        ge=512,
        le=1 << 24,
        description="the most memory one task process may allocate (its data segment, RLIMIT_DATA), MiB: a task "
        "past it fails with MemoryError, the node and other tasks unharmed; none: no limit (a partner's job is "
        "then bounded by its params' checks only)",
    )
    rpc_timeout_s: float = Field(10.0, gt=0, description="deadline of control calls between nodes")
    send_timeout_s: float = Field(300.0, gt=0, description="deadline for pushing one message to a peer node")
    initiator_silence_s: float | None = Field(
        None,
        gt=0,
        description="a participant ends a running job whose initiator has not called it for this long "
        "(and does not answer that the job still runs); unset: 3 * rpc_timeout_s",
    )
    log_max_bytes: int = Field(
        64 * 1024**2, ge=0, description="node.log is rotated once it passes this size; 0: it never is"
    )
    log_backups: int = Field(5, ge=1, le=100, description="rotated logs kept: node.log.1 (newest) to node.log.N")
    audit_dir: Path | None = Field(None, description="if set, every received message is recorded here, decoded")
    allowed_model_modules: list[str] = Field(
        default_factory=list,
        description="Python modules a job may name as its model builder (homo_nn model.name: module:function); "
        "a proposed job naming any other module is refused. Empty: built-in models only",
    )
    rest_max_connections: int = Field(1000, ge=8, description="open REST connections at most; idle ones go first")
    rest_header_timeout_s: float = Field(10.0, gt=0, description="time a client has to send a request's headers")
    rest_body_timeout_s: float = Field(30.0, gt=0, description="longest pause within a request body")
    rest_max_json_bytes: int = Field(1024 * 1024, ge=1024, description="largest JSON body (job configs)")
    rest_max_form_bytes: int = Field(16 * 1024, ge=1024, description="largest board form or password body")
    max_upload_bytes: int = Field(2 * 1024**3, ge=1024, description="largest table upload, spooled to disk")
    warm_tasks: bool = Field(
        True,
        description="fork tasks from a process that has imported the common modules (unseen.task.zygote); "
        "false: every task starts a new interpreter",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-For is believed; none by default",
    )

    @field_validator("database_url")
    @classmethod
    def _database_is_supported(cls, url: str | None) -> str | None:
        if url is not None:
            try:
                parse_database_url(url)
            except DatabaseError as exc:
                raise ValueError(str(exc)) from None
        return url

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, proxies: list[str]) -> list[str]:
        for entry in proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        return proxies

    # Unread messages (arrived, not yet taken by a task) hold their bodies in the node's memory. The defaults
    # leave room for two messages of the largest size a node accepts per job, well above what the shipped
    # protocols push ahead of their reader (PSI streams its blinded set in 2 MiB batches).
    max_unread_bytes_per_job: int = Field(1024**3, ge=1, description="declared body bytes of one job's unread messages")
    max_unread_messages_per_job: int = Field(10_000, ge=1, description="unread messages of one job")
    max_unread_bytes_per_party: int = Field(
        2 * 1024**3, ge=1, description="declared body bytes of one sending party's unread messages, all jobs"
    )
    max_unread_messages_per_party: int = Field(
        20_000, ge=1, description="unread messages from one sending party, all jobs"
    )

    @property
    def mail_limits(self) -> MailLimits:
        return MailLimits(
            job_bytes=self.max_unread_bytes_per_job,
            job_messages=self.max_unread_messages_per_job,
            party_bytes=self.max_unread_bytes_per_party,
            party_messages=self.max_unread_messages_per_party,
        )

    # What partners may hold on the federation port (see transport/gate.py and docs/architecture.md).
    federation_threads: int = Field(
        128, ge=8, le=4096, description="threads serving partners' calls; a call beyond them is refused at once"
    )
    max_calls_per_peer: int = Field(
        32, ge=1, description="calls one partner may hold at once (and streams on one of its connections)"
    )
    first_message_timeout_s: float = Field(
        10.0, gt=0, description="time a partner's call has to deliver its first message (a Push's envelope)"
    )
    frame_idle_timeout_s: float = Field(30.0, gt=0, description="longest silence between the frames of a Push")
    tls_handshake_timeout_s: float = Field(
        10.0, gt=0, description="time a connection to the federation port has to complete its TLS handshake"
    )

    @model_validator(mode="after")
    def _one_partner_cannot_take_every_thread(self) -> NodeConfig:
        if self.max_calls_per_peer >= self.federation_threads:
            raise ValueError(
                f"max_calls_per_peer ({self.max_calls_per_peer}) must be below federation_threads "
                f"({self.federation_threads}), or one partner could hold every thread"
            )
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'node.db'}"

    @property
    def initiator_silence_limit_s(self) -> float:
        """How long a participant waits for a silent initiator: the initiator polls every party every 0.25 s,
        and itself gives up on a silent party after 3 * ``rpc_timeout_s``."""
        return self.initiator_silence_s if self.initiator_silence_s is not None else 3 * self.rpc_timeout_s

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def tables_dir(self) -> Path:
        return self.home / "tables"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def task_socket(self) -> Path:
        return socket_path(self.home / "run" / "node.sock")

    @property
    def zygote_socket(self) -> Path:
        return socket_path(self.home / "run" / "zygote.sock")

    def resolved(self, base: Path) -> NodeConfig:
        """Paths made absolute against ``base`` (the config file's folder)."""

        def absolute(path: Path) -> Path:
            return path if path.is_absolute() else (base / path).resolve()

        home = absolute(self.home)
        return self.model_copy(
            update={
                "home": home,
                "tls": TlsConfig(cert=absolute(self.tls.cert), key=absolute(self.tls.key)),
                "peers": {
                    party: peer.model_copy(
                        update={
                            "ca": absolute(peer.ca) if peer.ca else None,
                            "pinned_cert": absolute(peer.pinned_cert) if peer.pinned_cert else None,
                        }
                    )
                    for party, peer in self.peers.items()
                },
                "api_token_file": self.api_token_file
                if self.api_token_file.is_absolute()
                else home / self.api_token_file,
                "audit_dir": absolute(self.audit_dir) if self.audit_dir else None,
            }
        )


def load_node_config(path: Path) -> NodeConfig:
    if not path.is_file():
        raise ConfigError(f"node config {path} not found; create it, or run `unseen standalone start` to get one")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return NodeConfig.model_validate(data).resolved(path.parent.resolve())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"node config {path} cannot be read as UTF-8 text: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"node config {path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"node config {path} is invalid: {problems}") from exc


def save_node_config(config: NodeConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_defaults=True), sort_keys=False))

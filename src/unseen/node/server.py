"""One party's node: REST API, federation endpoint, task socket, scheduler and executor in one process."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

import grpc
import uvicorn
from alembic.util import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from unseen.config.node import NodeConfig
from unseen.node.api import create_app
from unseen.node.audit import AuditLog
from unseen.node.auth import ensure_api_token
from unseen.node.claim_keeper import ClaimKeeper
from unseen.node.data import DataService
from unseen.node.executor import TaskExecutor
from unseen.node.http_guard import HttpLimits, guarded_protocol, quiet_accept_errors
from unseen.node.messaging import MessageRouter
from unseen.node.recovery import PartnerSettler
from unseen.node.rpc import ControlService, FederationService, PeerIdentity, TaskChannelService
from unseen.node.service import JobService
from unseen.node.task_server import TaskChannelServer
from unseen.node.warm import TaskZygote
from unseen.node.watchdog import InitiatorWatchdog
from unseen.storage.database import DatabaseClaim, claim_database, migrate, open_engine
from unseen.storage.repository import NodeStore
from unseen.storage.tables import TableStore
from unseen.storage.urls import DatabaseError
from unseen.transport import peer_attestation
from unseen.transport.awaiting import AwaitableMailbox
from unseen.transport.delivery import Delivery
from unseen.transport.framing import GRPC_MESSAGE_LIMIT
from unseen.transport.gate import GateLimits, PeerGate
from unseen.transport.peers import PeerClients
from unseen.transport.shared_buffer import SendBufferError, buffers_dir, clear_buffers
from unseen.transport.tls import CertificateError, TlsPaths
from unseen.transport.trust import PeerTrust

log = logging.getLogger(__name__)
RESTART_REASON = "the node restarted while this was running; submit the job again"
DRIVERS_STOP_S = 6.0  # a clean stop ends the jobs this node drives on their parties, within this
SERVER_OPTIONS = [
    ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.max_receive_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.so_reuseport", 0),
]


class NodeStartError(RuntimeError):
    pass


def peer_server_options(config: NodeConfig) -> list[tuple[str, int]]:
    """The federation port's gRPC options: what a connection may hold and for how long.

    * one connection carries at most ``max_calls_per_peer`` calls at once; an honest node's extra calls wait
      on its own side, and only a party spreading calls over connections meets the gate's refusal;
    * a connection has ``tls_handshake_timeout_s`` to finish TLS (gRPC's default is 120 s), so half-open
      connections cost a file descriptor for seconds, not minutes;
    * a connection with no call for 5 minutes is closed (a partner's channel reconnects on its next call);
    * the server pings a connection with calls every minute and drops it if no answer comes in 20 s, which
      ends the calls of a partner that vanished; it accepts partners' own pings every 10 s or slower.
    """
    return [
        *SERVER_OPTIONS,
        ("grpc.max_concurrent_streams", config.max_calls_per_peer),
        ("grpc.server_handshake_timeout_ms", int(config.tls_handshake_timeout_s * 1000)),
        ("grpc.max_connection_idle_ms", 300_000),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]


def peer_gate(config: NodeConfig, identify: PeerIdentity) -> PeerGate:
    limits = GateLimits(
        max_calls_per_peer=config.max_calls_per_peer,
        first_frame_s=config.first_message_timeout_s,
        idle_s=config.frame_idle_timeout_s,
        max_call_s=config.send_timeout_s,
    )
    return PeerGate(limits, identify)


class _NodeHttpServer(uvicorn.Server):
    """uvicorn, minus its signal handling: it re-raises SIGTERM after its own shutdown, which would kill the
    node before it stops its tasks and records them. The node installs its own handlers instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise NodeStartError(
                f"{what} port {host}:{port} is not free ({exc.strerror}); "
                "stop what uses it or choose another port in node.yaml"
            ) from None


def _open_database(config: NodeConfig) -> tuple[Engine, DatabaseClaim]:
    """Claim the node's database (refused if another node holds it), then bring its schema up to date."""
    try:
        claim = claim_database(config.db_url, f"unseen node {config.party_id}")
        try:
            engine = open_engine(config.db_url)
            migrate(engine)
        except BaseException:
            claim.release()
            raise
    except DatabaseError as exc:
        raise NodeStartError(str(exc)) from None
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise NodeStartError(f"cannot use the database: {cause}") from None
    except CommandError as exc:  # a schema this version has no migration for: a newer Unseen upgraded it
        raise NodeStartError(
            f"the database's schema is newer than this version of Unseen ({exc}); run the version that "
            "upgraded it, or downgrade the schema first (docs/operations.md, 'Upgrading a node')"
        ) from None
    return engine, claim


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        # Trust first: a node whose own certificate or a partner's anchor is wrong stops before it touches its
        # database (which would mark a previous run's tasks as failed).
        try:
            self.trust = PeerTrust.of(config.peers)
        except CertificateError as exc:
            raise NodeStartError(str(exc)) from None
        self.peers = PeerClients(config.peers, TlsPaths.of(config.tls), self.trust, probe_timeout=config.rpc_timeout_s)
        config.home.mkdir(parents=True, exist_ok=True)
        engine, claim = _open_database(config)
        self.store = NodeStore(engine, claim)
        self.claim_keeper = ClaimKeeper(claim, lambda _reason: os.kill(os.getpid(), signal.SIGTERM))
        interrupted = self.store.interrupt_active(RESTART_REASON, config.party_id)
        if interrupted:
            log.warning("marked %d task(s) left running by a previous run as failed", interrupted)
        self.mailbox: AwaitableMailbox[Delivery] = AwaitableMailbox(config.mail_limits)
        self.zygote = TaskZygote(config.zygote_socket) if config.warm_tasks else None
        self.executor = TaskExecutor(self.store, config.jobs_dir, self.zygote)
        peer_attestation.install(peer_attestation.PeerAttestation(config))
        self.service = JobService(config, self.store, self.executor, self.mailbox, self.peers)
        audit = AuditLog(config.audit_dir) if config.audit_dir else None
        self.router = MessageRouter(self.service, self.mailbox, audit)
        self.data = DataService(self.store, TableStore(config.tables_dir))
        self.app = create_app(self.service, ensure_api_token(config.api_token_file), self.data)
        self._servers: list[grpc.Server] = []
        self.watchdog = InitiatorWatchdog(self.service)
        self.settler = PartnerSettler(self.service)
        self._task_server: TaskChannelServer | None = None

    def start_grpc(self) -> None:
        config = self.config
        _check_port_free(config.federation_host, config.federation_port, "federation")
        key, chain = TlsPaths.of(config.tls).read()
        # The handshake accepts a client certificate chaining to any partner's anchor; PeerIdentity then holds
        # it to the anchor of the party it names. With no partners, only this node's own certificate.
        trusted = self.trust.root_bundle() or chain
        # Every partner's call holds one of these threads while it runs: a call beyond them is refused at once
        # (RESOURCE_EXHAUSTED) rather than queued to time out, and the gate keeps any one partner to a share.
        threads = config.federation_threads
        peer_server = grpc.server(
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="peer"),
            options=peer_server_options(config),
            maximum_concurrent_rpcs=threads,
        )
        identify = PeerIdentity(self.trust)
        gate = peer_gate(config, identify)
        peer_server.add_generic_rpc_handlers(
            (
                FederationService(self.router, identify).handler(gate),
                ControlService(self.service, identify).handler(gate),
            )
        )
        credentials = grpc.ssl_server_credentials([(key, chain)], root_certificates=trusted, require_client_auth=True)
        if not peer_server.add_secure_port(f"{config.federation_host}:{config.federation_port}", credentials):
            raise NodeStartError(f"cannot listen on {config.federation_host}:{config.federation_port}")

        socket_path = config.task_socket
        socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        socket_path.unlink(missing_ok=True)
        task_server = TaskChannelServer(socket_path, SERVER_OPTIONS)
        channel = TaskChannelService(self.router, self.executor, self.mailbox, task_server.pool)
        peer_server.start()
        self._servers = [peer_server]
        task_server.start(channel.handler())
        self._task_server = task_server
        os.chmod(socket_path, 0o600)
        log.info(
            "party %d: federation on %s:%d (mutual TLS), tasks on %s",
            config.party_id,
            config.federation_host,
            config.federation_port,
            socket_path,
        )

    def serve(self) -> None:
        """Run until SIGINT or SIGTERM, then stop tasks and servers cleanly."""
        _check_port_free(self.config.rest_host, self.config.rest_port, "REST")
        # The port is free, so no other node runs on this home: what its buffer folder holds is left over.
        try:
            leftovers = clear_buffers(buffers_dir(self.config.home))
        except SendBufferError as exc:
            raise NodeStartError(str(exc)) from None
        if leftovers:
            log.warning("removed %d message buffer file(s) a previous run left in shared memory", leftovers)
        self.start_grpc()
        self.watchdog.start()  # participants: end the jobs whose initiator falls silent
        self.settler.start()  # initiator: end on partners the jobs a previous run could not finish
        self.claim_keeper.start()  # PostgreSQL: take the claim again after a server restart, or stop
        server = _NodeHttpServer(rest_server_config(self.app, self.config))
        if self.zygote is not None:  # after the descriptor limit is raised: its tasks inherit the same limits
            self.zygote.start()

        def request_exit(signum: int, _frame: FrameType | None) -> None:
            log.info("party %d: %s received, stopping", self.config.party_id, signal.Signals(signum).name)
            server.should_exit = True

        signal.signal(signal.SIGTERM, request_exit)
        signal.signal(signal.SIGINT, request_exit)
        log.info(
            "party %d: REST API on http://%s:%d",
            self.config.party_id,
            self.config.rest_host,
            self.config.rest_port,
        )
        try:
            server.run()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        stopping = f"initiator party {self.config.party_id}'s node was stopped"
        if self.service.stop_drivers(stopping, DRIVERS_STOP_S):
            log.info("party %d: ended the jobs it drove on their parties", self.config.party_id)
        self.executor.stop_all("the node was stopped")
        self.executor.close()
        for thread in (self.watchdog, self.settler, self.claim_keeper):
            thread.stop()
        self.store.interrupt_active("the node was stopped while this was running", self.config.party_id)
        stopped = [server.stop(grace=1) for server in self._servers]
        if self._task_server is not None:
            self._task_server.stop(grace=1)
        for event in stopped:
            event.wait(5)
        self.peers.close()
        with contextlib.suppress(OSError, SendBufferError):
            folder = buffers_dir(self.config.home)
            clear_buffers(folder)
            folder.rmdir()
        self.store.close()  # lets go of the database last: another node may take it from here
        log.info("party %d: node stopped", self.config.party_id)


FDS_KEPT_FOR_THE_NODE = 512  # database, logs, gRPC, task pipes: what REST connections must leave free
REST_BACKLOG = 1024  # asyncio accepts up to this many at once, before the cap can close any of them


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit on open files towards the hard one (at least ``wanted``); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(max(soft, wanted), hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


def rest_server_config(app: object, config: NodeConfig) -> uvicorn.Config:
    """uvicorn, bounded: a connection cap under the descriptor limit, header and body deadlines, and
    forwarding headers believed only from the proxies ``trusted_proxies`` lists (uvicorn's default trusts
    127.0.0.1, i.e. every local client, SSH tunnels included)."""
    reserved = REST_BACKLOG + FDS_KEPT_FOR_THE_NODE
    soft = raise_fd_limit(config.rest_max_connections + reserved)
    cap = min(config.rest_max_connections, max(8, soft - reserved))
    if cap < config.rest_max_connections:
        log.warning(
            "REST: at most %d connections (not %d): the open-file limit is %d; raise it with `ulimit -n`",
            cap,
            config.rest_max_connections,
            soft,
        )
    limits = HttpLimits(cap, config.rest_header_timeout_s, config.rest_body_timeout_s)
    quiet_accept_errors()
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=config.rest_host,
        port=config.rest_port,
        http=guarded_protocol(limits),
        log_level="warning",
        access_log=False,
        proxy_headers=bool(config.trusted_proxies),
        forwarded_allow_ips=list(config.trusted_proxies),
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
        backlog=REST_BACKLOG,
    )


def configure_logging(log_file: Path | None, max_bytes: int = 0, backups: int = 0) -> None:
    """The node's log on stderr and, if ``log_file`` is given, in that file. Past ``max_bytes`` the file is
    rotated (``node.log.1`` ... ``node.log.<backups>``, the oldest dropped); 0 never rotates. The node's
    umask (``private_files.make_private``) makes every one of them 0600."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        )
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.Formatter.converter = time.gmtime

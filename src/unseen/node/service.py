"""The job service: what a node does with jobs, whether a user, its own driver, or a peer node asks.

Control requests arrive from peers over mutual TLS with the calling party proven by its certificate; the
initiator calls its own node through the same handlers, so one code path serves a party playing several
roles and parties on several machines.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unseen import ids
from unseen.components.registry import get_component
from unseen.config.node import NodeConfig
from unseen.job.config import JobConfig, JobConfigError, loads_job_config, loads_job_config_json
from unseen.node.allocator import release_freed_memory
from unseen.node.executor import TaskExecutor, TaskIdentity
from unseen.node.watchdog import InitiatorContacts
from unseen.runtime.parties import PartyRef, Role
from unseen.runtime.spec import TaskSpec
from unseen.storage.models import Status
from unseen.storage.repository import NodeStore
from unseen.transport.delivery import Delivery
from unseen.transport.mailbox import Mailbox
from unseen.transport.peers import PeerClients
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.shared_buffer import buffers_dir

if TYPE_CHECKING:
    from unseen.node.driver import JobDriver

log = logging.getLogger(__name__)
# Dropping this much unread mail at a job's end is worth a walk of the heaps to give the pages back.
DROPPED_BYTES_TRIMMED = 32 * 1024 * 1024


class JobRefusedError(ValueError):
    """A job cannot be accepted here; the message says why and what to do."""


MAX_CONFIG_CHARS = 1024 * 1024
"""The largest job config a proposal may carry (the initiator sends its parsed config as JSON)."""


def check_control_request(method: str, request: Any) -> None:
    """Every identifier of a Control request against its grammar, before any of them is used (in a path,
    a query or a log line); raises :class:`unseen.ids.IdentifierError` naming the first bad field."""
    if method == "Propose":
        ids.check_job_id(request.job_id)
        ids.check_party(request.initiator_party, "initiator_party")
        ids.check_text(request.config_json, "config_json", MAX_CONFIG_CHARS)
    elif method == "StartTask":
        ids.check_job_id(request.job_id)
        ids.check_component(request.component)
        ids.check_role(request.role)
        ids.check_party(request.party)
    elif method == "QueryTasks":
        ids.check_job_id(request.job_id)
    elif method == "EndJob":
        ids.check_job_id(request.job_id)
        if not ids.STATUS.matches(request.status) or not Status(request.status).is_final:
            final = ", ".join(s.value for s in Status if s.is_final)
            raise ids.IdentifierError("status", request.status, f"a job ends as one of {final}", "failed")
        ids.check_text(request.reason, "reason")
    else:
        raise ids.IdentifierError("method", method, "a Control method", "Propose")


def new_job_id() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(3)


class JobService:
    def __init__(
        self,
        config: NodeConfig,
        store: NodeStore,
        executor: TaskExecutor,
        mailbox: Mailbox[Delivery],
        peers: PeerClients,
    ) -> None:
        self.config = config
        self.party_id = config.party_id
        self.store = store
        self.executor = executor
        self.mailbox = mailbox
        self.peers = peers
        self._configs: dict[str, JobConfig] = {}
        self._drivers: dict[str, JobDriver] = {}
        self._lock = threading.Lock()
        self.initiator_contacts = InitiatorContacts()  # read by node/watchdog.py
        executor.on_recorded(self._wake_driver)

    # jobs submitted here ---------------------------------------------------------------------------
    def submit(self, job: JobConfig) -> str:
        """Accept a job whose initiator is this party and start driving it."""
        from unseen.node.driver import JobDriver

        if job.initiator.party_id != self.party_id:
            raise JobRefusedError(
                f"this node is party {self.party_id} but the job's initiator is party {job.initiator.party_id}; "
                f"submit it to party {job.initiator.party_id}'s node or change `initiator`"
            )
        unknown = sorted({p.party_id for p in job.participants()} - {self.party_id} - set(self.config.peers))
        if unknown:
            raise JobRefusedError(
                f"parties {unknown} are not in this node's routing table; add them under `peers:` in node.yaml"
            )
        job_id = new_job_id()
        self.store.add_job(job_id, job.name or "", self.party_id, True, job.to_json())
        self.store.add_tasks(
            job_id,
            [
                (c.name, ref.role.value, ref.party_id)
                for c in job.topological_order()
                for ref in job.participants_of(c.name)
            ],
        )
        with self._lock:
            self._configs[job_id] = job
            driver = JobDriver(self, job_id, job)
            self._drivers[job_id] = driver
        driver.start()
        log.info("job %s submitted: %d components, parties %s", job_id, len(job.components), job.participants())
        return job_id

    def stop(self, job_id: str, reason: str = "stopped by user") -> str:
        record = self.store.get_job(job_id)
        if Status(record.status).is_final:
            return f"job {job_id} already ended ({record.status})"
        with self._lock:
            driver = self._drivers.get(job_id)
        if driver is not None:
            driver.request_stop(reason)
            return f"job {job_id} is stopping on every party"
        self.end_locally(job_id, Status.CANCELED, reason)
        return f"job {job_id} stopped on this party; its initiator, party {record.initiator_party}, will end it"

    def job_config(self, job_id: str) -> JobConfig:
        with self._lock:
            cached = self._configs.get(job_id)
        if cached is None:
            cached = loads_job_config(self.store.get_job(job_id).config_json)
            with self._lock:
                self._configs[job_id] = cached
        return cached

    def stop_drivers(self, reason: str, timeout_s: float) -> int:
        """At a clean stop of this node: end the jobs it drives on every party, waiting ``timeout_s`` in all.

        Each driver ends its job as ``stop`` does (EndJob to every party, then their final task states), so
        partners need not wait for their watch on a silent initiator. Returns how many jobs were running.
        """
        with self._lock:
            drivers = list(self._drivers.values())
        for driver in drivers:
            driver.request_stop(reason)
        deadline = time.monotonic() + timeout_s
        for driver in drivers:
            driver.join(max(0.0, deadline - time.monotonic()))
        return len(drivers)

    def _wake_driver(self, task: TaskIdentity) -> None:
        """A task of this node ended: its job's driver, if it runs here, looks at once rather than at its next poll."""
        with self._lock:
            driver = self._drivers.get(task.job_id)
        if driver is not None:
            driver.wake()

    def forget_driver(self, job_id: str) -> None:
        with self._lock:
            self._drivers.pop(job_id, None)

    # calls to parties, this one included ----------------------------------------------------------
    def call(self, party_id: int, method: str, request: Any) -> Any:
        if party_id == self.party_id:
            return self.handle(self.party_id, method, request)
        return self.peers.call(party_id, method, request, timeout=self.config.rpc_timeout_s)

    def handle(self, peer_party: int, method: str, request: Any) -> Any:
        """Answer a control call from ``peer_party``, whose identity the caller has already established.

        A request with an identifier that breaks its grammar raises :class:`unseen.ids.IdentifierError`
        (the gRPC service answers INVALID_ARGUMENT) before anything else looks at it.
        """
        check_control_request(method, request)
        handlers: dict[str, Callable[[int, Any], Any]] = {
            "Propose": self._on_propose,
            "StartTask": self._on_start_task,
            "QueryTasks": self._on_query_tasks,
            "EndJob": self._on_end_job,
            "QueryJob": self._on_query_job,
        }
        return handlers[method](peer_party, request)

    def _on_propose(self, peer_party: int, request: pb.JobProposal) -> pb.ProposalReply:
        def refuse(reason: str) -> pb.ProposalReply:
            log.warning("refused job %s proposed by party %d: %s", request.job_id, peer_party, ids.printable(reason))
            return pb.ProposalReply(accepted=False, reason=reason)

        if request.initiator_party != peer_party:
            return refuse(f"party {peer_party} proposed a job naming party {request.initiator_party} as initiator")
        try:
            job = loads_job_config_json(request.config_json)  # the initiator sends JSON (JobConfig.to_json)
        except JobConfigError as exc:
            return refuse(f"job config is invalid here: {exc}")
        if job.initiator.party_id != peer_party:
            return refuse(
                f"job config names party {job.initiator.party_id} as initiator, not the proposer {peer_party}"
            )
        mine = [p for p in job.participants() if p.party_id == self.party_id]
        if not mine:
            return refuse(f"party {self.party_id} plays no role in this job")
        disallowed = self._disallowed_code(job)
        if disallowed is not None:
            return refuse(disallowed)
        existing = self.store.find_job(request.job_id)
        if existing is not None:
            if existing.initiator_party == peer_party == self.party_id:
                return pb.ProposalReply(accepted=True)
            return refuse(f"job id {request.job_id} is already known here")
        if peer_party not in self.config.peers:
            return refuse(f"party {peer_party} is not in this node's routing table")
        self.store.add_job(request.job_id, job.name or "", peer_party, False, request.config_json)
        self.store.add_tasks(
            request.job_id,
            [
                (c.name, ref.role.value, ref.party_id)
                for c in job.topological_order()
                for ref in job.participants_of(c.name)
                if ref.party_id == self.party_id
            ],
        )
        self.store.set_job_status(request.job_id, Status.RUNNING)
        with self._lock:
            self._configs[request.job_id] = job
        self.initiator_contacts.heard(request.job_id, peer_party)
        log.info("accepted job %s from party %d as %s", request.job_id, peer_party, ", ".join(map(str, mine)))
        return pb.ProposalReply(accepted=True)

    def _disallowed_code(self, job: JobConfig) -> str | None:
        """A module one of this party's tasks would import that this node's operator did not allow, as a reason."""
        allowed = set(self.config.allowed_model_modules)
        for component in job.components:
            spec = get_component(component.component)
            if spec.code_modules is None:
                continue
            for ref in job.participants_of(component.name):
                if ref.party_id != self.party_id:
                    continue
                for module in spec.code_modules(job.params_for(component.name, ref.role)):
                    if module not in allowed:
                        return (
                            f"party {self.party_id} does not allow model module {ids.safe(module)} "
                            f"({component.name} as {ref.role.value}); its operator must list it in "
                            "allowed_model_modules"
                        )
        return None

    def _initiator_check(self, peer_party: int, job_id: str) -> str | None:
        record = self.store.find_job(job_id)
        if record is None:
            return f"job {job_id} is unknown to party {self.party_id}"
        if record.initiator_party != peer_party:
            return f"party {peer_party} is not the initiator of job {job_id}"
        if not record.is_initiator and not Status(record.status).is_final:
            self.initiator_contacts.heard(job_id, peer_party)  # its calls are the job's heartbeat
        return None

    def _on_start_task(self, peer_party: int, request: pb.TaskRef) -> pb.TaskReply:
        problem = self._initiator_check(peer_party, request.job_id)
        if problem is None and request.party != self.party_id:
            problem = f"task for party {request.party} was sent to party {self.party_id}"
        if problem is None and Status(self.store.get_job(request.job_id).status).is_final:
            problem = f"job {request.job_id} has already ended"
        task = None if problem else self.store.task(request.job_id, request.component, request.role, request.party)
        if problem is None and task is None:
            problem = f"job {request.job_id} has no task {request.component} for {request.role}:{request.party}"
        if problem is None and task is not None and task.status != Status.WAITING:
            problem = f"task {request.component} for {request.role}:{request.party} is already {task.status}"
        if problem:
            log.warning("refused to start a task: %s", problem)
            return pb.TaskReply(ok=False, reason=problem)
        job = self.job_config(request.job_id)
        role = Role(request.role)
        me = PartyRef(role, self.party_id)
        spec = TaskSpec(
            job_id=request.job_id,
            component=request.component,
            component_type=job.component(request.component).component,
            role=role,
            party_id=self.party_id,
            parties={r: job.parties_of(r) for r in Role if job.parties_of(r)},
            params=job.params_for(request.component, role).model_dump(mode="json"),
            recv_timeout_s=self.config.recv_timeout_s,
            node_socket=str(self.config.task_socket),
            task_dir=TaskExecutor.task_dir_of(self.config.jobs_dir, request.job_id, request.component, me),
            tables_dir=self.config.tables_dir,
            models_dir=self.config.models_dir,
            send_buffer=buffers_dir(self.config.home) / f"{secrets.token_hex(12)}.send",
            inputs=job.component(request.component).inputs,
            memory_limit_mb=self.config.task_memory_mb,
        )
        try:
            self.executor.start(spec)
        except OSError as exc:
            reason = f"could not start the task process: {exc}"
            self.store.update_task(
                request.job_id,
                request.component,
                request.role,
                self.party_id,
                status=Status.FAILED,
                reason=reason,
                ended_at=time.time(),
            )
            return pb.TaskReply(ok=False, reason=reason)
        return pb.TaskReply(ok=True)

    def _on_query_tasks(self, peer_party: int, request: pb.JobRef) -> pb.TaskStates:
        if self._initiator_check(peer_party, request.job_id) is not None:
            return pb.TaskStates()
        return pb.TaskStates(
            tasks=[
                pb.TaskState(
                    component=t.component,
                    role=t.role,
                    party=t.party_id,
                    status=t.status,
                    reason=t.reason,
                    started_at=t.started_at or 0.0,
                    ended_at=t.ended_at or 0.0,
                    exit_code=t.exit_code,
                )
                for t in self.store.tasks(request.job_id, party_id=self.party_id)
            ]
        )

    def _on_end_job(self, peer_party: int, request: pb.JobEnd) -> pb.TaskReply:
        problem = self._initiator_check(peer_party, request.job_id)
        if problem:
            return pb.TaskReply(ok=False, reason=problem)
        self.end_locally(request.job_id, Status(request.status), request.reason)
        return pb.TaskReply(ok=True)

    def _on_query_job(self, peer_party: int, request: pb.JobRef) -> pb.JobEnd:
        """How a job this node initiated stands, for a participant whose initiator has gone quiet."""
        record = self.store.find_job(request.job_id)
        if record is None or not record.is_initiator:
            return pb.JobEnd(job_id=request.job_id)  # no status: not a job this node drives
        if peer_party not in {p.party_id for p in self.job_config(request.job_id).participants()}:
            log.warning("refused to describe job %s to party %d, which plays no role in it", request.job_id, peer_party)
            return pb.JobEnd(job_id=request.job_id)
        status, reason = Status(record.status), record.reason
        with self._lock:
            driven = request.job_id in self._drivers
        if not status.is_final and not driven:
            status, reason = Status.FAILED, f"party {self.party_id} no longer drives this job"
        return pb.JobEnd(job_id=request.job_id, status=status.value, reason=reason)

    def end_locally(self, job_id: str, status: Status, reason: str) -> None:
        """End this party's share of a job: kill its tasks, cancel those not started, wake waiting readers.

        Every task of this party has a final state and an end time when this returns (a killed task's end is
        recorded by the executor before ``stop_job`` returns), so the initiator can mirror them right after.
        """
        note = reason or f"job {status.value}"
        self.executor.stop_job(job_id, f"job {status.value}: {note}" if status != Status.SUCCESS else note)
        for task in self.store.tasks(job_id, party_id=self.party_id):
            if task.status == Status.WAITING:
                self.store.update_task(
                    job_id,
                    task.component,
                    task.role,
                    task.party_id,
                    status=Status.CANCELED,
                    reason=f"job {status.value} before this task started" + (f": {reason}" if reason else ""),
                    ended_at=time.time(),
                )
        dropped = self.mailbox.close_job(job_id, note)
        if dropped.messages:
            log.info("job %s: dropped %d unread messages (%d bytes)", job_id, dropped.messages, dropped.nbytes)
        if dropped.nbytes >= DROPPED_BYTES_TRIMMED:
            release_freed_memory()
        self.initiator_contacts.forget(job_id)
        record = self.store.find_job(job_id)
        if record is not None and not record.is_initiator:  # the initiator's driver records the job's end itself
            self.store.set_job_status(job_id, status, reason)

    # data messages --------------------------------------------------------------------------------
    def inbound_problem(self, envelope: pb.Envelope) -> str | None:
        """Why a message must not be delivered to a task of this party, or None if it may be."""
        status = self.store.job_status(envelope.job_id)
        if status is None:
            return f"message for unknown job {envelope.job_id}"
        if status.is_final:
            return f"message for job {envelope.job_id}, which has ended ({status.value})"
        if envelope.dst_party != self.party_id:
            return f"message for party {envelope.dst_party} arrived at party {self.party_id}"
        return self.route_problem(envelope)

    def route_problem(self, envelope: pb.Envelope) -> str | None:
        """Whether sender and receiver both play their stated roles in the message's component."""
        job = self.job_config(envelope.job_id)
        try:
            participants = set(job.participants_of(envelope.component))
        except KeyError:
            return f"job {envelope.job_id} has no component '{envelope.component}'"
        for side, party, role in (
            ("source", envelope.src_party, envelope.src_role),
            ("destination", envelope.dst_party, envelope.dst_role),
        ):
            if role not in {r.value for r in Role}:
                return f"{side} role '{role}' is not a role"
            if PartyRef(Role(role), party) not in participants:
                return f"{side} party {party} does not play {role} in {envelope.component} of job {envelope.job_id}"
        return None

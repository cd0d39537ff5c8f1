"""The initiator's driver: proposes a job to its parties, runs its DAG, and ends it everywhere.

It runs as one thread per job on the initiator's node. It polls each party for its tasks' states instead
of waiting for pushes, so a party that crashes or goes silent is noticed within a bounded time and the job
fails with that party named, rather than hanging.

A component whose spec declares ``tolerates_failed`` roles (homo_nn: the workers) may lose a task of those
roles, or a whole party whose remaining tasks all play them: the job goes on (the component itself decides
whether enough remain; homo_nn's aggregator needs ``min_workers``), and the lost party is not asked to start
anything more. Losing anything else fails the job, naming the party. A job that succeeds without such a task
says so in its reason (component, role:party and why), so `job query`, `job submit --wait` and the board
show who was lost, on every party (the reason travels with the job's end).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from unseen import ids
from unseen.components.registry import get_component
from unseen.job.config import JobConfig
from unseen.node.service import JobService
from unseen.node.watchdog import REASON_MAX_CHARS
from unseen.runtime.parties import Role
from unseen.storage.models import Status
from unseen.storage.repository import NodeStore
from unseen.transport.peers import PeerError
from unseen.transport.proto import federation_pb2 as pb

log = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.25


class JobFailedError(RuntimeError):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class JobDriver(threading.Thread):
    def __init__(self, service: JobService, job_id: str, job: JobConfig) -> None:
        super().__init__(name=f"job-{job_id}", daemon=True)
        self.service = service
        self.job_id = job_id
        self.job = job
        self.parties = sorted({p.party_id for p in job.participants()})
        self._stop_reason: str | None = None
        self._wake = threading.Event()
        self._silent_since: dict[int, float] = {}
        self._lost: set[int] = set()  # parties given up on, whose remaining tasks all play tolerated roles
        self._done: set[str] = set()
        self._tolerated_losses: dict[tuple[str, str, int], str] = {}  # (component, role, party) -> why

    def request_stop(self, reason: str) -> None:
        self._stop_reason = reason
        self._wake.set()

    def wake(self) -> None:
        """Look at the tasks now (one of this node's ended) instead of at the next poll."""
        self._wake.set()

    def run(self) -> None:
        try:
            self._drive()
            self._finish(Status.SUCCESS, self._losses_summary())
        except JobFailedError as exc:
            self._finish(exc.status, str(exc))
        except Exception as exc:
            log.exception("driver of job %s crashed", self.job_id)
            self._finish(Status.FAILED, f"job driver error: {exc}")
        finally:
            self.service.forget_driver(self.job_id)

    def _drive(self) -> None:
        store = self.service.store
        store.set_job_status(self.job_id, Status.RUNNING)
        deadline = time.monotonic() + self.job.timeout_s
        self._propose()
        order = [c.name for c in self.job.topological_order()]
        started: list[str] = []
        done = self._done
        while len(done) < len(order):
            self._check_interrupts(deadline)
            for name in order:
                if name not in started and all(up in done for up in self.job.upstream(name)):
                    self._start_component(name)
                    started.append(name)
            self._poll_parties()
            progressed = False
            for name in started:
                if name not in done and self._component_done(name):
                    done.add(name)
                    progressed = True
                    log.info("job %s: component %s succeeded on every party", self.job_id, name)
            # A component just done may free the next one: start it now, not a poll interval later.
            woken = len(done) < len(order) and not progressed and self._wake.wait(POLL_INTERVAL_S)
            if woken and self._stop_reason is None:
                self._wake.clear()

    def _check_interrupts(self, deadline: float) -> None:
        if self._stop_reason is not None:
            raise JobFailedError(Status.CANCELED, self._stop_reason)
        if time.monotonic() > deadline:
            raise JobFailedError(Status.TIMEOUT, f"job exceeded its timeout of {self.job.timeout_s} s")

    def _call(self, party: int, method: str, request: object) -> object:
        try:
            return self.service.call(party, method, request)
        except PeerError as exc:
            raise JobFailedError(Status.FAILED, str(exc)) from None

    def _propose(self) -> None:
        proposal = pb.JobProposal(
            job_id=self.job_id, initiator_party=self.service.party_id, config_json=self.job.to_json()
        )
        for party in self.parties:
            reply = self._call(party, "Propose", proposal)
            assert isinstance(reply, pb.ProposalReply)
            if not reply.accepted:
                raise JobFailedError(Status.FAILED, f"party {party} refused the job: {reply.reason}")

    def _tolerated(self, name: str, role: str) -> bool:
        spec = get_component(self.job.component(name).component)
        if not spec.tolerates_failed:
            return False
        ref = Role(role)
        return ref in spec.tolerated(self.job.params_for(name, ref))

    def _may_lose(self, party: int) -> bool:
        """Whether every task ``party`` still has to run plays a role its component can do without."""
        return all(
            self._tolerated(component.name, ref.role.value)
            for component in self.job.components
            if component.name not in self._done
            for ref in self.job.participants_of(component.name)
            if ref.party_id == party
        )

    def _start_component(self, name: str) -> None:
        for ref in self.job.participants_of(name):
            if ref.party_id in self._lost:
                if not self._tolerated(name, ref.role.value):
                    raise JobFailedError(Status.FAILED, f"{name} cannot start: party {ref.party_id} was lost")
                self._note_loss(name, ref.role.value, ref.party_id, "not started: the party was lost")
                continue
            request = pb.TaskRef(job_id=self.job_id, component=name, role=ref.role.value, party=ref.party_id)
            reply = self._call(ref.party_id, "StartTask", request)
            assert isinstance(reply, pb.TaskReply)
            if not reply.ok:
                raise JobFailedError(Status.FAILED, f"{name} could not start at {ref}: {reply.reason}")
        log.info("job %s: started %s on %s", self.job_id, name, ", ".join(map(str, self.job.participants_of(name))))

    def _poll_parties(self) -> None:
        """Mirror remote tasks' states into this node's database; a party silent too long fails the job."""
        store = self.service.store
        for party in self.parties:
            if party == self.service.party_id or party in self._lost:
                continue
            try:
                states = self.service.call(party, "QueryTasks", pb.JobRef(job_id=self.job_id))
            except PeerError as exc:
                first = self._silent_since.setdefault(party, time.monotonic())
                if time.monotonic() - first > 3 * self.service.config.rpc_timeout_s:
                    if not self._may_lose(party):
                        raise JobFailedError(Status.FAILED, f"lost contact with party {party}: {exc}") from None
                    self._lost.add(party)
                    reason = f"lost contact with party {party}: {ids.printable(str(exc))}"[:REASON_MAX_CHARS]
                    log.warning("job %s goes on without party %d: %s", self.job_id, party, reason)
                    close_rows(store, self.job_id, party, reason, Status.FAILED)
                continue
            self._silent_since.pop(party, None)
            mirror_states(store, self.job_id, party, states)

    def _component_done(self, name: str) -> bool:
        tasks = [t for t in self.service.store.tasks(self.job_id) if t.component == name]
        for task in tasks:
            if task.status in (Status.FAILED, Status.CANCELED, Status.TIMEOUT):
                if self._tolerated(name, task.role):
                    self._note_loss(name, task.role, task.party_id, f"{task.status}: {task.reason or 'no reason'}")
                    continue
                where = f"{task.role}:{task.party_id}"
                raise JobFailedError(
                    Status.FAILED, f"{name} {task.status} at {where}: {task.reason or 'no reason given'}"
                )
        return (
            bool(tasks)
            and all(
                t.status == Status.SUCCESS or (Status(t.status).is_final and self._tolerated(name, t.role))
                for t in tasks
            )
            and any(t.status == Status.SUCCESS for t in tasks)
        )

    def _note_loss(self, component: str, role: str, party: int, why: str) -> None:
        key = (component, role, party)
        if key not in self._tolerated_losses:
            log.warning(
                "job %s: %s goes on without %s:%d (%s)", self.job_id, component, role, party, ids.printable(why)
            )
        self._tolerated_losses[key] = ids.printable(why, REASON_MAX_CHARS)

    def _losses_summary(self) -> str:
        """The reason of a job that succeeded without some tolerated tasks: each one named, with why."""
        if not self._tolerated_losses:
            return ""
        losses = "; ".join(
            f"{component} {role}:{party} {why}"
            for (component, role, party), why in sorted(self._tolerated_losses.items())
        )
        return f"succeeded without {len(self._tolerated_losses)} task(s) its components tolerate losing: {losses}"[
            : ids.TEXT_MAX_CHARS
        ]

    def _finish(self, status: Status, reason: str) -> None:
        """Record the job's end, then tell every party (this one included) to end its share of it."""
        store = self.service.store
        if not store.set_job_status(self.job_id, status, reason):
            return
        log.log(
            logging.INFO if status == Status.SUCCESS else logging.WARNING,
            "job %s %s%s",
            self.job_id,
            status.value,
            f": {ids.printable(reason)}" if reason else "",
        )
        silent = end_on_parties(self.service, self.job_id, status, reason, self.parties)
        for party in silent:
            # It did not answer: its own watch on this initiator ends its tasks (node/watchdog.py).
            close_rows(store, self.job_id, party, f"job {status.value}: {reason}; party {party} did not answer")


def mirror_states(store: NodeStore, job_id: str, party: int, states: pb.TaskStates) -> None:
    """Record a party's answer about its own tasks of a job: states, reasons and times. A party may only speak
    for its own tasks, so rows it names for another party, or with a state that is not one, are ignored."""
    for state in states.tasks:
        problem = _state_problem(state, party)
        if problem is not None:  # a party reports only its own tasks, in words this node can store
            log.warning("job %s: ignored a task state from party %d: %s", job_id, party, problem)
            continue
        exit_code = state.exit_code if state.HasField("exit_code") else None
        store.update_task(
            job_id,
            state.component,
            state.role,
            state.party,
            status=state.status,
            reason=state.reason[: ids.TEXT_MAX_CHARS],
            started_at=state.started_at or None,
            ended_at=state.ended_at or None,
            **({"exit_code": exit_code} if exit_code is not None else {}),
        )


def close_rows(store: NodeStore, job_id: str, party: int, reason: str, status: Status = Status.CANCELED) -> None:
    """Give every task row of ``party`` in an ended job that is still active a final state and an end time."""
    now = time.time()
    for task in store.tasks(job_id, party_id=party):
        if not Status(task.status).is_final:
            store.update_task(job_id, task.component, task.role, party, status=status, reason=reason, ended_at=now)


def end_on_parties(service: JobService, job_id: str, status: Status, reason: str, parties: Iterable[int]) -> list[int]:
    """Tell each party that the job ended, then mirror its tasks' final states; returns the parties that did not
    answer. A party that answered and still reports a task active (it never knew the job, or lost the task) has
    that row closed here, with the job's end as its end."""
    end = pb.JobEnd(job_id=job_id, status=status.value, reason=reason[: ids.TEXT_MAX_CHARS])
    silent = []
    for party in parties:
        try:
            reply = service.call(party, "EndJob", end)
            if party != service.party_id:
                mirror_states(service.store, job_id, party, service.call(party, "QueryTasks", pb.JobRef(job_id=job_id)))
        except PeerError as exc:
            log.warning("could not tell party %d that job %s ended: %s", party, job_id, ids.printable(str(exc)))
            silent.append(party)
            continue
        if party != service.party_id:
            note = f"job {status.value}: {reason}" if reason else f"job {status.value}"
            if not reply.ok:
                note = f"{note}; party {party} answered: {str(reply.reason)[:REASON_MAX_CHARS]}"
            close_rows(service.store, job_id, party, note)
    return silent


def _state_problem(state: pb.TaskState, party: int) -> str | None:
    """What is wrong with a task state a party reported, or None: its identifiers and its status."""
    try:
        ids.check_component(state.component)
        ids.check_role(state.role)
        ids.check_status(state.status)
    except ids.IdentifierError as exc:
        return str(exc)
    if state.party != party:
        return f"party {party} reported a task of party {state.party}"
    return None

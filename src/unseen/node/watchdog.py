"""A participant's watch on its jobs' initiators: a job whose initiator falls silent ends here too.

Only the initiator drives a job, so a participant whose initiator dies would keep its tasks running and its
job ``running`` forever. The initiator's polling is a heartbeat: it calls every participant (QueryTasks)
every 0.25 s while a job runs. Each participant notes when its job's initiator last called it for that job;
once that is longer ago than ``initiator_silence_s`` (default 3 * ``rpc_timeout_s``) it asks the initiator
how the job stands (QueryJob) before giving up:

- the initiator answers that the job still runs: that answer counts as a call (the initiator is alive, its
  driver bounds its own silent parties and the job's timeout, and will end the job here itself);
- it answers that the job ended: the job ends here with the initiator's status and reason;
- it does not answer, or no longer knows the job: the job fails here, with the reason
  "initiator party N silent for X s".

Ending the job here is what EndJob does: kill the tasks, cancel those not started, wake waiting receivers.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from unseen.storage.models import Status
from unseen.transport.peers import PeerError
from unseen.transport.proto import federation_pb2 as pb

if TYPE_CHECKING:
    from unseen.node.service import JobService

log = logging.getLogger(__name__)
REASON_MAX_CHARS = 1000  # an initiator's answer is stored and logged: bounded like any received text


class InitiatorContacts:
    """When each running job's initiator last called this participant (monotonic seconds)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def heard(self, job_id: str, initiator: int) -> None:
        with self._lock:
            self._last[job_id] = (initiator, time.monotonic())

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._last.pop(job_id, None)

    def silent(self, limit_s: float, now: float | None = None) -> list[tuple[str, int, float]]:
        """(job, initiator, seconds since its last call) for each job silent longer than ``limit_s``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return [(job, party, now - last) for job, (party, last) in self._last.items() if now - last > limit_s]

    def __len__(self) -> int:
        with self._lock:
            return len(self._last)


class InitiatorWatchdog(threading.Thread):
    """Sweeps the contacts about once a second and ends the jobs whose initiator has fallen silent."""

    def __init__(self, service: JobService) -> None:
        super().__init__(name="initiator-watchdog", daemon=True)
        self.service = service
        self.limit_s = service.config.initiator_silence_limit_s
        self.interval_s = min(1.0, self.limit_s / 4)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self.sweep()
            except Exception:  # the watch must outlive one bad sweep
                log.exception("the initiator watchdog's sweep failed")

    def stop(self) -> None:
        self._stopped.set()

    def sweep(self) -> int:
        """End the jobs whose initiator is silent and does not say they still run; returns how many ended."""
        service = self.service
        contacts = service.initiator_contacts
        unreachable: dict[int, str] = {}  # one failed question per initiator and sweep, however many jobs
        ended = 0
        for job_id, initiator, silent_s in contacts.silent(self.limit_s):
            status = service.store.job_status(job_id)
            if status is None or status.is_final:
                contacts.forget(job_id)
                continue
            verdict = self._ask(job_id, initiator, silent_s, unreachable)
            if verdict is None:
                contacts.heard(job_id, initiator)
                continue
            final_status, reason = verdict
            log.warning("job %s: ending it at party %d: %s", job_id, service.party_id, reason)
            service.end_locally(job_id, final_status, reason)
            ended += 1
        return ended

    def _ask(
        self, job_id: str, initiator: int, silent_s: float, unreachable: dict[int, str]
    ) -> tuple[Status, str] | None:
        """The status and reason to end the job with, or None if the initiator says it still runs."""
        silence = f"initiator party {initiator} silent for {silent_s:.0f} s"
        if initiator in unreachable:
            return Status.FAILED, f"{silence}; it does not answer: {unreachable[initiator]}"
        try:
            reply = self.service.call(initiator, "QueryJob", pb.JobRef(job_id=job_id))
        except PeerError as exc:
            unreachable[initiator] = str(exc)[:REASON_MAX_CHARS]
            return Status.FAILED, f"{silence}; it does not answer: {unreachable[initiator]}"
        try:
            answered = Status(reply.status)
        except ValueError:
            return Status.FAILED, f"{silence}; it does not know this job"
        if not answered.is_final:
            log.info("job %s: initiator party %d silent for %.0f s but says the job runs", job_id, initiator, silent_s)
            return None
        told = str(reply.reason)[:REASON_MAX_CHARS]
        return answered, f"initiator party {initiator} ended the job ({answered.value}){f': {told}' if told else ''}"

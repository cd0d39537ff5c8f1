"""The participant's watch on silent initiators: what it does with each answer the initiator gives, or not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from unseen.node.service import JobService
from unseen.node.watchdog import InitiatorContacts, InitiatorWatchdog
from unseen.storage.models import Status
from unseen.transport.peers import PeerError
from unseen.transport.proto import federation_pb2 as pb


@dataclass
class FakeConfig:
    initiator_silence_limit_s: float = 30.0


@dataclass
class FakeStore:
    statuses: dict[str, Status] = field(default_factory=dict)

    def job_status(self, job_id: str) -> Status | None:
        return self.statuses.get(job_id)


@dataclass
class FakeService:
    answer: pb.JobEnd | PeerError
    party_id: int = 10000
    config: FakeConfig = field(default_factory=FakeConfig)
    store: FakeStore = field(default_factory=FakeStore)
    initiator_contacts: InitiatorContacts = field(default_factory=InitiatorContacts)
    asked: list[tuple[int, str]] = field(default_factory=list)
    ended: list[tuple[str, Status, str]] = field(default_factory=list)

    def call(self, party: int, method: str, request: Any) -> Any:
        self.asked.append((party, method))
        if isinstance(self.answer, PeerError):
            raise self.answer
        return self.answer

    def end_locally(self, job_id: str, status: Status, reason: str) -> None:
        self.ended.append((job_id, status, reason))
        self.store.statuses[job_id] = status


def watch(answer: pb.JobEnd | PeerError, jobs: int = 1) -> tuple[FakeService, InitiatorWatchdog]:
    service = FakeService(answer)
    for index in range(jobs):
        service.store.statuses[f"job-{index}"] = Status.RUNNING
        service.initiator_contacts.heard(f"job-{index}", 9999)
    watchdog = InitiatorWatchdog(cast(JobService, service))
    watchdog.limit_s = -1.0  # everything heard counts as silent already
    return service, watchdog


def test_an_initiator_that_does_not_answer_fails_the_job_naming_it_and_is_asked_once_per_sweep() -> None:
    service, watchdog = watch(PeerError("party 9999's node is unreachable"), jobs=3)
    assert watchdog.sweep() == 3
    assert service.asked == [(9999, "QueryJob")]
    assert {status for _, status, _ in service.ended} == {Status.FAILED}
    assert all(reason.startswith("initiator party 9999 silent for") for _, _, reason in service.ended)
    assert all("unreachable" in reason for _, _, reason in service.ended)


def test_an_initiator_that_says_the_job_runs_keeps_it_running_here() -> None:
    service, watchdog = watch(pb.JobEnd(job_id="job-0", status="running"))
    assert watchdog.sweep() == 0
    assert service.ended == []
    assert len(service.initiator_contacts) == 1


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (pb.JobEnd(job_id="job-0", status="canceled", reason="stopped by user"), Status.CANCELED, "stopped by user"),
        (pb.JobEnd(job_id="job-0"), Status.FAILED, "does not know this job"),
        (pb.JobEnd(job_id="job-0", status="../../etc", reason="x"), Status.FAILED, "does not know this job"),
    ],
)
def test_an_initiators_final_or_unusable_answer_ends_the_job_here(answer: pb.JobEnd, status: Status, says: str) -> None:
    service, watchdog = watch(answer)
    assert watchdog.sweep() == 1
    ((job_id, ended_as, reason),) = service.ended
    assert (job_id, ended_as) == ("job-0", status)
    assert "initiator party 9999" in reason and says in reason


def test_a_long_reason_from_the_initiator_is_cut_before_it_is_stored() -> None:
    service, watchdog = watch(pb.JobEnd(job_id="job-0", status="failed", reason="x" * 100_000))
    watchdog.sweep()
    assert len(service.ended[0][2]) < 1100


def test_a_job_that_ended_here_is_forgotten_without_asking() -> None:
    service, watchdog = watch(PeerError("down"))
    service.store.statuses["job-0"] = Status.SUCCESS
    assert watchdog.sweep() == 0
    assert service.asked == [] and len(service.initiator_contacts) == 0


def test_contacts_report_only_jobs_silent_longer_than_the_limit() -> None:
    contacts = InitiatorContacts()
    contacts.heard("job-0", 9999)
    assert contacts.silent(60.0) == []
    ((job_id, party, _),) = contacts.silent(-1.0)
    assert (job_id, party) == ("job-0", 9999)

"""After a restart, the initiator settles the jobs it could not finish: it ends them on its partners and learns
how their tasks ended.

A node that starts fails the jobs and its own tasks that a previous run left active (it cannot resume them),
but it leaves the rows it mirrors for its partners' tasks as they were: those tasks may still run, and only
the partner can say how they end. This thread calls EndJob (with the job's recorded status and reason) on
every partner whose rows are still active, then QueryTasks, and mirrors the answer. A partner that does not
answer is asked again every few seconds; its own watch on this initiator (``node/watchdog.py``) ends the job
there within its ``initiator_silence_s``. Once twice that bound has passed, the rows it never answered for
are closed here, canceled, with the reason naming the party that did not answer.
"""

from __future__ import annotations

import logging
import threading
import time

from unseen.node.driver import close_rows, end_on_parties
from unseen.node.service import JobService
from unseen.storage.models import Status

log = logging.getLogger(__name__)
RETRY_INTERVAL_S = 2.0


class PartnerSettler(threading.Thread):
    def __init__(self, service: JobService) -> None:
        super().__init__(name="settle-partners", daemon=True)
        self.service = service
        self.give_up_after_s = 2 * service.config.initiator_silence_limit_s
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        deadline = time.monotonic() + self.give_up_after_s
        try:
            while not self.settle_once(final=time.monotonic() > deadline):
                if self._stopped.wait(RETRY_INTERVAL_S):
                    return
        except Exception:
            log.exception("settling the jobs a previous run left on partners failed")

    def settle_once(self, final: bool = False) -> bool:
        """One round over the unsettled jobs; returns whether none is left. ``final`` closes what stays silent."""
        service = self.service
        me = service.party_id
        jobs = service.store.unsettled_jobs(me)
        for job in jobs:
            parties = sorted(
                {
                    t.party_id
                    for t in service.store.tasks(job.job_id)
                    if t.party_id != me and not Status(t.status).is_final
                }
            )
            told = f"initiator party {me}: {job.reason}"  # the partner's record names who ended its job
            silent = end_on_parties(service, job.job_id, Status(job.status), told, parties)
            answered = sorted(set(parties) - set(silent))
            if answered:
                log.info("job %s: partners %s ended it and told how their tasks ended", job.job_id, answered)
            if final:
                for party in silent:
                    close_rows(
                        service.store,
                        job.job_id,
                        party,
                        f"job {job.status}: {job.reason}; party {party} did not answer after this node restarted",
                    )
        return not service.store.unsettled_jobs(me)

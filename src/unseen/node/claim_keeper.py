"""Keeps the node's claim on its database (``storage.database.DatabaseClaim``) while the node runs.

On PostgreSQL the claim is an advisory lock held by one connection; a server restart ends that connection
and frees the lock while the node runs on. Every ``interval_s`` this thread checks the claim and takes it
again if it was lost. If another node took the database meanwhile, this node must not go on writing it (its
job statuses in memory would be stale): it logs why and stops cleanly, as on SIGTERM.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from unseen.storage.database import DatabaseClaim
from unseen.storage.urls import DatabaseError

log = logging.getLogger(__name__)
CLAIM_CHECK_S = 5.0


class ClaimKeeper(threading.Thread):
    def __init__(self, claim: DatabaseClaim, stop_node: Callable[[str], None], interval_s: float = CLAIM_CHECK_S):
        super().__init__(name="claim-keeper", daemon=True)
        self._claim = claim
        self._stop_node = stop_node
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._unreachable = False

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            if not self.check_once():
                return

    def check_once(self) -> bool:
        """One check; False once the node has been told to stop (another node holds its database)."""
        try:
            if self._claim.renew():
                log.warning("the connection holding this node's claim on its database was lost; claimed again")
            self._unreachable = False
        except DatabaseError as exc:
            log.error("stopping: this node lost its database to another node: %s", exc)
            self._stop_node(f"lost its database to another node: {exc}")
            return False
        except SQLAlchemyError as exc:
            if not self._unreachable:  # one line per outage, not one per check
                cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                log.warning("cannot reach the database to renew this node's claim (retrying): %s", cause)
            self._unreachable = True
        return True

"""``hold_after`` (tests only): ``hold`` behind a ``hold`` in the DAG, so a job has tasks that never start
while the first ``hold`` holds (a stopped or orphaned job must still give them a final state)."""

from __future__ import annotations

from unseen_test_components import HoldParams, run

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role

SPEC = ComponentSpec(
    name="hold_after",
    roles=frozenset({Role.GUEST, Role.HOST, Role.ARBITER}),
    params=HoldParams,
    run=run,
    inputs=("data",),
    description="hold, after an upstream component (tests only)",
)

"""Components the integration tests plug into real nodes through UNSEEN_COMPONENTS.

``hold``: every party's task waits until a file appears (or its timeout passes), then succeeds, or fails
if its role is named in ``fail_role``. It lets tests catch a job while its tasks run: to stop it, to
restart a node under it, to make one party fail and watch the job end everywhere. Its ``data`` output is
never written; ``hold_after`` (unseen_test_hold_after.py) takes it as input, to have tasks that wait for it.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.context import Context
from unseen.runtime.parties import Role


class HoldParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release_file: str
    timeout_s: float = Field(60.0, gt=0, le=600)
    fail_role: Role | None = None


def run(ctx: Context, params: HoldParams) -> None:
    ctx.logger.info("holding until %s exists", params.release_file)
    (Path(params.release_file).parent / f"started-{ctx.role.value}-{ctx.party_id}").touch()
    deadline = time.monotonic() + params.timeout_s
    while not Path(params.release_file).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{params.release_file} did not appear within {params.timeout_s} s")
        time.sleep(0.05)
    if ctx.role == params.fail_role:
        raise RuntimeError(f"{ctx.role.value} was asked to fail")
    ctx.logger.info("released")


SPEC = ComponentSpec(
    name="hold",
    roles=frozenset({Role.GUEST, Role.HOST, Role.ARBITER}),
    params=HoldParams,
    run=run,
    outputs=("data",),  # never written: only so that ``hold_after`` can follow it in a DAG
    description="waits for a file, then succeeds or fails on demand (tests only)",
)

"""``whoami``: a task that writes down what process it is, for the tests of warm task starts.

It records its pid, parent, session, process group, working folder, whether the token is still in its
environment, a marker variable, and a draw from numpy's global generator, then logs a metric (which needs
its token) and optionally waits for a file, so that a test can stop it while it runs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.context import Context
from unseen.runtime.parties import Role
from unseen.runtime.spec import TOKEN_ENV


class WhoamiParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out_dir: str
    hold_file: str | None = None
    timeout_s: float = Field(60.0, gt=0, le=600)


def run(ctx: Context, params: WhoamiParams) -> None:
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "sid": os.getsid(0),
        "pgid": os.getpgid(0),
        "cwd": os.getcwd(),
        "token_in_env": TOKEN_ENV in os.environ,
        "mark": os.environ.get("UNSEEN_TEST_MARK"),
        "draw": float(np.random.random()),
    }
    (Path(params.out_dir) / f"whoami-{ctx.role.value}-{ctx.party_id}.json").write_text(json.dumps(facts))
    ctx.logger.info("whoami pid %d", facts["pid"])
    ctx.metrics.log("pid", os.getpid())
    if params.hold_file is None:
        return
    deadline = time.monotonic() + params.timeout_s
    while not Path(params.hold_file).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


SPEC = ComponentSpec(
    name="whoami",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=WhoamiParams,
    run=run,
    description="records what process it runs in (tests only)",
)

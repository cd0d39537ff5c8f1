"""What a node tells a task process about its work, written as ``task.json`` in the task's folder.

The per-task token is not in this file: it travels in the environment, so it never appears in a process
listing or in a file another task could read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from unseen.runtime.parties import PartyRef, Role

TOKEN_ENV = "UNSEEN_TASK_TOKEN"  # noqa: S105 - the variable's name, not a secret
TOKEN_HEADER = "x-unseen-task-token"  # noqa: S105 - a header name, not a secret
RESULT_FILE = "result.json"
SPEC_FILE = "task.json"
LOG_FILE = "task.log"


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    component: str
    component_type: str
    role: Role
    party_id: int
    parties: dict[Role, list[int]]
    params: dict[str, Any]
    recv_timeout_s: float
    node_socket: str
    task_dir: Path
    tables_dir: Path
    models_dir: Path
    send_buffer: Path  # shared memory the task writes large message bodies to, for its node to read
    inputs: dict[str, str] = {}  # input slot -> "<upstream component>.<output slot>"
    memory_limit_mb: int | None = None  # the node's task_memory_mb: the task limits its own data segment to it

    @property
    def me(self) -> PartyRef:
        return PartyRef(self.role, self.party_id)


class TaskResult(BaseModel):
    """Written by the task as it exits: the reason a person reads when a task fails."""

    status: str
    reason: str = ""

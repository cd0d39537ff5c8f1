"""What a component declares about itself, so a job config can be checked before anything runs.

The job validator reads these declarations (roles, params model, inputs, outputs) without running the
component; the task runtime imports ``run`` only inside the task process, so heavy libraries (torch,
tensorflow) are imported by the components that need them and never by the node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from unseen.runtime.parties import Role

if TYPE_CHECKING:
    from unseen.runtime.context import Context


@dataclass(frozen=True)
class ComponentSpec:
    """The contract of one component type.

    ``inputs`` and ``outputs`` name the data slots that wire components into a DAG
    (``inputs: {data: reader_0.data}``). ``run`` receives the task's Context and its validated params.
    """

    name: str
    roles: frozenset[Role]
    params: type[BaseModel]
    run: Callable[[Context, Any], None]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    description: str = field(default="")
    # Roles whose tasks may fail or whose node may be lost without failing the job: the component itself decides
    # whether what remains is enough (homo_nn's aggregator: min_workers). Downstream components still need theirs.
    optional_inputs: tuple[str, ...] = field(default=())  # of ``inputs``, those a job may leave unwired
    tolerates_failed: frozenset[Role] | Callable[[Any], frozenset[Role]] = field(default=frozenset())
    # The Python modules a task with these (validated) params would import beyond the installed components: each
    # node checks them against its operator's allow-list when a job is proposed, before anything runs.
    code_modules: Callable[[Any], tuple[str, ...]] | None = field(default=None)

    def tolerated(self, params: BaseModel) -> frozenset[Role]:
        """The roles that may lose tasks for a task with these params (a callable decides per params)."""
        if callable(self.tolerates_failed):
            return self.tolerates_failed(params)
        return self.tolerates_failed

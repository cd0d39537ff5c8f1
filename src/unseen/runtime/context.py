"""What a component sees of the world: who it is, who its partners are, and how to talk to them.

Shaped after FATE 2's context: partners are addressed by role (``ctx.guest``, ``ctx.hosts``,
``ctx.arbiter``), and every stage of an algorithm takes a sub-context (``ctx.sub("psi")``,
``ctx.iterations(n)``) so the tags of different stages and iterations can never collide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, overload

import numpy as np

from unseen.runtime.federation import Federation, Gathered, GroupFederation, broadcast_in_turn, gather_in_turn
from unseen.runtime.metrics import Metrics
from unseen.runtime.parties import PartyRef, Role
from unseen.values import Value

if TYPE_CHECKING:  # storage stays unloaded for algorithms that run on a context without it
    from pathlib import Path

    from unseen.storage.models_store import ModelPart, ModelStore
    from unseen.storage.tables import Table, TableStore

Recipients = PartyRef | Role | Sequence[PartyRef]


class Context:
    def __init__(
        self,
        *,
        job_id: str,
        component: str,
        me: PartyRef,
        parties: Mapping[Role, Sequence[int]],
        federation: Federation,
        metrics: Metrics,
        logger: logging.Logger,
        recv_timeout: float = 600.0,
        tables: TableStore | None = None,
        models: ModelStore | None = None,
        inputs: Mapping[str, str] | None = None,
        namespace: tuple[str, ...] = (),
    ) -> None:
        self.job_id = job_id
        self.component = component
        self.me = me
        self.parties = {role: tuple(sorted(ids)) for role, ids in parties.items()}
        self.metrics = metrics
        self.logger = logger
        self.recv_timeout = recv_timeout
        self.tables = tables
        self.models = models
        self.inputs = dict(inputs or {})
        self._federation = federation
        self._namespace = namespace
        if me.party_id not in self.parties.get(me.role, ()):
            raise ValueError(f"{me} is not a participant of job {job_id}")

    # who is who ------------------------------------------------------------------------------------
    @property
    def role(self) -> Role:
        return self.me.role

    @property
    def party_id(self) -> int:
        return self.me.party_id

    def peers(self, role: Role) -> list[PartyRef]:
        """Every participant playing ``role``, except this task itself."""
        return [PartyRef(role, p) for p in self.parties.get(role, ()) if PartyRef(role, p) != self.me]

    def members(self, role: Role) -> list[PartyRef]:
        """Every participant playing ``role``, this task included."""
        return [PartyRef(role, p) for p in self.parties.get(role, ())]

    def _single(self, role: Role) -> PartyRef:
        members = self.members(role)
        if len(members) != 1:
            raise LookupError(f"job {self.job_id} has {len(members)} {role.value} parties; expected exactly one")
        return members[0]

    @property
    def guest(self) -> PartyRef:
        return self._single(Role.GUEST)

    @property
    def arbiter(self) -> PartyRef:
        return self._single(Role.ARBITER)

    @property
    def hosts(self) -> list[PartyRef]:
        return self.members(Role.HOST)

    def everyone_else(self) -> list[PartyRef]:
        return [p for role in Role for p in self.peers(role)]

    # talking ---------------------------------------------------------------------------------------
    def _tag(self, tag: str) -> str:
        if not tag or "/" in tag:
            raise ValueError(f"tag '{tag}' must be non-empty and contain no '/' (use ctx.sub for namespaces)")
        return "/".join((*self._namespace, tag))

    def _resolve(self, parties: Recipients) -> list[PartyRef]:
        if isinstance(parties, PartyRef):
            return [parties]
        if isinstance(parties, Role):
            return self.peers(parties)
        return list(parties)

    def send(self, tag: str, value: Value, to: Recipients) -> None:
        """Send ``value`` to one partner, every partner of a role, or a list of partners."""
        full_tag = self._tag(tag)
        recipients = self._resolve(to)
        if self.me in recipients:  # checked before sending anything, so a bad list sends nothing
            raise ValueError(f"{self.me} cannot send '{tag}' to itself")
        for party in recipients:
            self._federation.send(full_tag, value, party)

    @overload
    def recv(self, tag: str, frm: PartyRef, timeout: float | None = None) -> Value: ...

    @overload
    def recv(self, tag: str, frm: Role | Sequence[PartyRef], timeout: float | None = None) -> list[Value]: ...

    def recv(self, tag: str, frm: Recipients, timeout: float | None = None) -> Value | list[Value]:
        """Receive from one partner (a value) or from several (a list, in the order given)."""
        full_tag = self._tag(tag)
        wait = self.recv_timeout if timeout is None else timeout
        if isinstance(frm, PartyRef):
            return self._federation.recv(full_tag, frm, wait)
        return [self._federation.recv(full_tag, party, wait) for party in self._resolve(frm)]

    def gather(self, tag: str, frm: Role | Sequence[PartyRef], timeout: float | None = None) -> Gathered:
        """One value from each of ``frm``, all under ONE deadline ``timeout`` seconds from now.

        Returns who answered (with their values) and who did not (with why: no answer by the deadline, or a
        message that failed to decode); it never waits past the deadline, whatever the number of parties.
        """
        full_tag = self._tag(tag)
        parties = self._resolve(frm)
        deadline = time.monotonic() + (self.recv_timeout if timeout is None else timeout)
        if isinstance(self._federation, GroupFederation):
            return self._federation.gather(full_tag, parties, deadline)
        return gather_in_turn(self._federation.recv, full_tag, parties, deadline)

    def broadcast(self, tag: str, value: Value, to: Role | Sequence[PartyRef]) -> dict[PartyRef, str]:
        """Send one value to many parties, encoding it once; returns those that could not be reached, with why."""
        full_tag = self._tag(tag)
        recipients = self._resolve(to)
        if self.me in recipients:
            raise ValueError(f"{self.me} cannot send '{tag}' to itself")
        if isinstance(self._federation, GroupFederation):
            return self._federation.broadcast(full_tag, value, recipients)
        return broadcast_in_turn(self._federation.send, full_tag, value, recipients)

    # tables ----------------------------------------------------------------------------------------
    def _table_store(self) -> TableStore:
        if self.tables is None:
            raise RuntimeError("this context has no table storage (it runs outside a node)")
        return self.tables

    def output_table_name(self, slot: str, component: str | None = None) -> str:
        """Where a component's output slot is stored at this party: the job's namespace."""
        return f"job_{self.job_id}.{component or self.component}__{slot}"

    def read_input(self, slot: str) -> Table:
        """The table wired to input ``slot`` in the job config (an upstream output, at this same party)."""
        reference = self.inputs.get(slot)
        if reference is None:
            raise KeyError(f"{self.component} has no input '{slot}' wired; inputs: {sorted(self.inputs)}")
        upstream, _, output = reference.partition(".")
        return self._table_store().read(self.output_table_name(output, upstream))

    def input_path(self, slot: str) -> Path:
        """The stored file of the table wired to input ``slot``: for components that stream a large table (a
        CIFAR-10 or Criteo upload) instead of reading it into memory with ``read_input``."""
        reference = self.inputs.get(slot)
        if reference is None:
            raise KeyError(f"{self.component} has no input '{slot}' wired; inputs: {sorted(self.inputs)}")
        upstream, _, output = reference.partition(".")
        path = self._table_store().path(self.output_table_name(output, upstream))
        if not path.is_file():
            raise FileNotFoundError(f"{self.component}: input '{slot}' ({reference}) has no stored table here")
        return path

    def write_output(self, slot: str, table: Table | Mapping[str, np.ndarray]) -> None:
        self._table_store().write(self.output_table_name(slot), table, overwrite=True)

    def _model_store(self) -> ModelStore:
        if self.models is None:
            raise RuntimeError("this context has no model storage (it runs outside a node)")
        return self.models

    def write_model(self, slot: str, part: ModelPart) -> None:
        """Store this party's share of a model (its own coefficients only) under this component's ``slot``."""
        self._model_store().save(self.job_id, self.component, slot, part)

    def read_model(self, slot: str) -> ModelPart:
        """The model wired to input ``slot`` (an upstream component's model output, at this same party)."""
        reference = self.inputs.get(slot)
        if reference is None:
            raise KeyError(f"{self.component} has no input '{slot}' wired; inputs: {sorted(self.inputs)}")
        upstream, _, output = reference.partition(".")
        return self._model_store().load(self.job_id, upstream, output)

    # namespaces ------------------------------------------------------------------------------------
    def sub(self, name: str) -> Context:
        """A context whose tags live under ``name``: one per stage of an algorithm."""
        if not name or "/" in name:
            raise ValueError(f"namespace '{name}' must be non-empty and contain no '/'")
        child = Context(
            job_id=self.job_id,
            component=self.component,
            me=self.me,
            parties=self.parties,
            federation=self._federation,
            metrics=self.metrics,
            logger=self.logger,
            recv_timeout=self.recv_timeout,
            tables=self.tables,
            models=self.models,
            inputs=self.inputs,
            namespace=(*self._namespace, name),
        )
        return child

    def iterations(self, count: int, start: int = 0) -> Iterator[tuple[int, Context]]:
        """``for i, it in ctx.iterations(n)``: each iteration talks in its own namespace."""
        for index in range(start, count):
            yield index, self.sub(f"iter-{index}")

"""Pipelines compile to exactly the job config a YAML file would hold, validated the same way."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unseen.cli.client import NodeClient, client_for
from unseen.cli.waiting import wait_for_job
from unseen.job.config import JobConfig, parse_job_config


@dataclass(frozen=True)
class OutputRef:
    """One output slot of a component, to wire into another's input."""

    component: str
    slot: str

    def __str__(self) -> str:
        return f"{self.component}.{self.slot}"


@dataclass
class ComponentHandle:
    name: str
    component: str
    params: dict[str, Any] = field(default_factory=dict)
    role_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[str, OutputRef] = field(default_factory=dict)
    roles: list[str] | None = None

    def __getitem__(self, slot: str) -> OutputRef:
        return OutputRef(self.name, slot)

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "component": self.component}
        if self.roles is not None:
            config["roles"] = self.roles
        if self.params:
            config["params"] = self.params
        if self.role_params:
            config["role_params"] = self.role_params
        if self.inputs:
            config["inputs"] = {slot: str(ref) for slot, ref in self.inputs.items()}
        return config


class Pipeline:
    def __init__(
        self,
        name: str,
        initiator: tuple[str, int],
        guest: int | list[int],
        host: int | list[int] | None = None,
        arbiter: int | list[int] | None = None,
        timeout_s: int = 3600,
    ) -> None:
        self.name = name
        self.initiator = {"role": initiator[0], "party_id": initiator[1]}
        self.parties: dict[str, list[int]] = {}
        for role, ids in (("guest", guest), ("host", host), ("arbiter", arbiter)):
            if ids is not None:
                self.parties[role] = [ids] if isinstance(ids, int) else list(ids)
        self.timeout_s = timeout_s
        self.components: list[ComponentHandle] = []

    def add(
        self,
        name: str,
        component: str,
        params: dict[str, Any] | None = None,
        role_params: dict[str, dict[str, Any]] | None = None,
        inputs: dict[str, OutputRef] | None = None,
        roles: list[str] | None = None,
    ) -> ComponentHandle:
        handle = ComponentHandle(
            name, component, dict(params or {}), dict(role_params or {}), dict(inputs or {}), roles
        )
        self.components.append(handle)
        return handle

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "initiator": self.initiator,
            "parties": self.parties,
            "timeout_s": self.timeout_s,
            "components": [c.to_config() for c in self.components],
        }

    def compile(self) -> JobConfig:
        """The validated job config; a mistake raises JobConfigError naming the field, before any submit."""
        return parse_job_config(self.to_dict())

    def dump(self, path: Path) -> None:
        """Write the job config as YAML (or JSON for a .json path): the same job, for `unseen job submit`."""
        data = json.loads(self.compile().to_json())
        path.write_text(json.dumps(data, indent=2) if path.suffix == ".json" else yaml.safe_dump(data, sort_keys=False))

    def submit(self, client: NodeClient | None = None) -> JobHandle:
        config = self.compile()
        node = client or client_for(config.initiator.party_id)
        job_id: str = node.post("/jobs", json.loads(config.to_json()))["job_id"]
        return JobHandle(job_id, node)


@dataclass
class JobHandle:
    job_id: str
    client: NodeClient

    def status(self) -> dict[str, Any]:
        job: dict[str, Any] = self.client.get(f"/jobs/{self.job_id}")
        return job

    def wait(self, timeout: float = 3600.0, show_progress: bool = False) -> dict[str, Any]:
        """Block until the job ends; raises if it did not succeed, with its reason."""
        job = wait_for_job(self.client, self.job_id, timeout, show=print if show_progress else None)
        if job["status"] != "success":
            raise RuntimeError(f"job {self.job_id} {job['status']}: {job['reason']}")
        return job

    def metrics(self, component: str | None = None) -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = self.client.get(f"/jobs/{self.job_id}/metrics", component=component)
        return points

    def model(self, component: str) -> list[dict[str, Any]]:
        """This party's part of a component's model: its own coefficients, metadata and arrays."""
        parts: list[dict[str, Any]] = self.client.get(f"/jobs/{self.job_id}/models", component=component)
        return parts

    def stop(self) -> str:
        message: str = self.client.post(f"/jobs/{self.job_id}/stop")["message"]
        return message

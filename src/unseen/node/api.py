"""The node's REST API (``/v1``): what the CLI, the SDK and the board use. OpenAPI is served at /openapi.json."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from unseen import __version__, ids
from unseen.job.config import JobConfig, JobConfigError, loads_job_config
from unseen.node.auth import TokenAuth
from unseen.node.data import DataService
from unseen.node.data_api import data_router
from unseen.node.request_limits import BodyLimits, RequestGate
from unseen.node.service import JobRefusedError, JobService
from unseen.node.web_extensions import mount_all
from unseen.storage.models import JobRecord, Status, TaskRecord
from unseen.storage.models_store import ModelStore
from unseen.storage.repository import JobNotFoundError

LOG_TAIL_MAX = 10 * 1024 * 1024
_JOB_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a job config as JSON (docs/job-config.md)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _task_json(task: TaskRecord) -> dict[str, Any]:
    return {
        "component": task.component,
        "role": task.role,
        "party_id": task.party_id,
        "status": task.status,
        "reason": task.reason,
        "exit_code": task.exit_code,
        "started_at": task.started_at,
        "ended_at": task.ended_at,
    }


def _job_json(job: JobRecord) -> dict[str, Any]:
    ended = job.ended_at
    return {
        "job_id": job.job_id,
        "name": job.name,
        "status": job.status,
        "reason": job.reason,
        "initiator_party": job.initiator_party,
        "is_initiator": job.is_initiator,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "ended_at": ended,
        "duration_s": (ended - job.started_at) if ended and job.started_at else None,
    }


async def identifier_refused(_request: Request, exc: Exception) -> JSONResponse:
    """Any identifier in a path, query or body that breaks its grammar: 422 naming the field, the rule and an
    example, whichever route found it (a bad name is not a missing one, so never 404)."""
    assert isinstance(exc, ids.IdentifierError)
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": exc.detail()})


def _find_job(service: JobService, job_id: str) -> JobRecord:
    """The job a path names: 422 if the id breaks its grammar, 404 if no such job is known here."""
    ids.check_job_id(job_id)
    try:
        return service.store.get_job(job_id)
    except JobNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


def create_app(service: JobService, token: str, data: DataService) -> FastAPI:
    app = FastAPI(title="Unseen node", version=__version__, description=f"REST API of party {service.party_id}'s node")
    app.add_exception_handler(ids.IdentifierError, identifier_refused)
    public = APIRouter(prefix="/v1")
    private = APIRouter(prefix="/v1", dependencies=[Depends(TokenAuth(token))])

    def find_job(job_id: str) -> JobRecord:
        return _find_job(service, job_id)

    @public.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "party_id": service.party_id,
            "version": __version__,
            "federation_port": service.config.federation_port,
            "running_tasks": service.executor.running_count(),
            "pid": os.getpid(),  # so whoever started this node can tell it from another one on the port
        }

    @private.post("/jobs", status_code=status.HTTP_201_CREATED, openapi_extra=_JOB_BODY)
    async def submit_job(request: Request) -> dict[str, Any]:
        try:
            job = await _read_job(request)
            job_id = await run_in_threadpool(service.submit, job)
        except JobConfigError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail={"problems": exc.problems}) from None
        except JobRefusedError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
        return {"job_id": job_id}

    @private.get("/jobs")
    def list_jobs(limit: int = Query(100, ge=1, le=1000), state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in {s.value for s in Status}:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"unknown state '{state}'")
        return [_job_json(job) for job in service.store.list_jobs(limit=limit, status=state)]

    @private.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        job = find_job(job_id)
        config = json.loads(job.config_json)
        tasks = [_task_json(t) for t in service.store.tasks(job_id)]
        unread = service.mailbox.unread(job_id)  # messages that arrived here and no task has read yet
        return {
            **_job_json(job),
            "config": config,
            "tasks": tasks,
            "unread_messages": {"count": unread.messages, "bytes": unread.nbytes},
        }

    @private.get("/jobs/{job_id}/tasks")
    def get_tasks(job_id: str) -> list[dict[str, Any]]:
        find_job(job_id)
        return [_task_json(t) for t in service.store.tasks(job_id)]

    @private.post("/jobs/{job_id}/stop")
    def stop_job(job_id: str) -> dict[str, str]:
        find_job(job_id)
        return {"message": service.stop(job_id)}

    @private.get("/jobs/{job_id}/metrics")
    def get_metrics(job_id: str, component: str | None = None) -> list[dict[str, Any]]:
        find_job(job_id)
        _check_filters(component)
        return [
            {
                "component": m.component,
                "role": m.role,
                "party_id": m.party_id,
                "name": m.name,
                "step": m.step,
                "value": json.loads(m.value_json),
            }
            for m in service.store.metrics(job_id, component)
        ]

    _add_output_routes(private, service, find_job)

    config = service.config
    private.include_router(data_router(data, config.home / "uploads", config.max_upload_bytes))
    app.include_router(public)
    app.include_router(private)
    mount_all(app, service, token)  # the board, named rather than imported (node/web_extensions.py)
    limits = BodyLimits(config.rest_max_json_bytes, config.rest_max_form_bytes, config.max_upload_bytes)
    app.add_middleware(RequestGate, token=token, limits=limits)  # outermost: token and size before any body
    return app


def _add_output_routes(private: APIRouter, service: JobService, find_job: Callable[[str], JobRecord]) -> None:
    """What a job left at this party: its own parts of the models, and its own tasks' logs."""

    @private.get("/jobs/{job_id}/models")
    def get_models(job_id: str, component: str | None = None) -> list[dict[str, Any]]:
        """This party's own parts of the job's models (another party's coefficients never reach this node)."""
        find_job(job_id)
        _check_filters(component)
        store = ModelStore(service.config.models_dir)
        return [
            {"component": name, "slot": slot, "party_id": service.party_id, "meta": part.meta,
             "arrays": {key: array.tolist() for key, array in part.arrays.items()}}
            for name, slot in store.slots(job_id)
            if component in (None, name)
            for part in (store.load(job_id, name, slot),)
        ]  # fmt: skip

    @private.get("/jobs/{job_id}/logs", response_class=PlainTextResponse)
    def get_logs(
        job_id: str,
        component: str | None = None,
        role: str | None = None,
        party: int | None = None,
        tail: int = Query(LOG_TAIL_MAX, ge=1, le=LOG_TAIL_MAX),
    ) -> str:
        """Logs of this party's tasks; other parties' logs stay on their nodes."""
        find_job(job_id)
        _check_filters(component, role, party)
        sections = []
        for task in service.store.tasks(job_id, party_id=service.party_id):
            if (
                (component and task.component != component)
                or (role and task.role != role)
                or (party is not None and task.party_id != party)
                or not task.log_path
            ):
                continue
            sections.append(
                f"==> {task.component} {task.role}:{task.party_id} ({task.status}) <==\n"
                + _tail(Path(task.log_path), tail)
            )
        if not sections:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"no task logs of job {job_id} match on party {service.party_id}'s node",
            )
        return "\n".join(sections)


async def _read_job(request: Request) -> JobConfig:
    """The body read here, not by FastAPI, so the job reader's bounds on size and nesting apply before
    anything parses it recursively (FastAPI's own parse answers a deeply nested body with a bare 400)."""
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise JobConfigError(["job config: the body is not UTF-8; send the job config as UTF-8 JSON"]) from None
    return await run_in_threadpool(loads_job_config, text, syntax="json")


def _check_filters(component: str | None, role: str | None = None, party: int | None = None) -> None:
    """Query filters are identifiers too: checked (422 if bad) before they meet the database."""
    if component is not None:
        ids.check_component(component)
    if role is not None:
        ids.check_role(role)
    if party is not None:
        ids.check_party(party)


def _tail(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            return handle.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log unavailable: {exc})\n"

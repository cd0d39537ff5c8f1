"""``unseen job submit|list|query|stop|log|metrics``: the job service, through a node's REST API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from unseen.cli.client import ClientError, client_for, client_for_job, fail
from unseen.cli.waiting import convergence_notes, running_progress, wait_for_job
from unseen.ids import IdentifierError, check_job_id
from unseen.job.config import JobConfigError, load_job_config

app = typer.Typer(help="Submit and follow jobs.", no_args_is_help=True)


def _job_id(value: str) -> str:
    """Checked before it becomes part of a URL: a bad id gets the rule, not the node's 404."""
    try:
        return check_job_id(value, "--job-id")
    except IdentifierError as exc:
        raise typer.BadParameter(str(exc)) from None


JobOption = Annotated[str, typer.Option("--job-id", "-j", help="the job id", callback=_job_id)]
PartyOption = Annotated[int | None, typer.Option("--party", "-p", help="ask this party's node")]


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


@app.command()
def submit(
    config: Annotated[Path, typer.Option("--config", "-c", help="job config, YAML or JSON")],
    wait: Annotated[bool, typer.Option(help="wait for the job to end, showing progress")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait with --wait")] = 3600.0,
) -> None:
    """Submit a job to its initiator's node."""
    try:
        job = load_job_config(config)
        client = client_for(job.initiator.party_id)
        job_id = client.post("/jobs", json.loads(job.to_json()))["job_id"]
    except (JobConfigError, ClientError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"job {job_id} submitted to party {job.initiator.party_id}")
    if not wait:
        return
    try:
        result = wait_for_job(client, job_id, timeout, show=typer.echo)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if result["status"] != "success":
        raise fail(f"job {job_id} {result['status']}: {result['reason']}")
    typer.echo(f"job {job_id} succeeded in {result['duration_s']:.1f} s")
    if result["reason"]:  # e.g. the workers it did without
        typer.echo(f"note: {result['reason']}")
    try:
        points: list[dict[str, Any]] = client.get(f"/jobs/{job_id}/metrics")
    except ClientError:
        return  # the job succeeded; notes about its models are a courtesy
    for line in convergence_notes(points):
        typer.echo(line)


@app.command("list")
def list_jobs(
    party: PartyOption = None,
    state: Annotated[str | None, typer.Option(help="only jobs in this state")] = None,
    limit: Annotated[int, typer.Option(help="at most this many jobs")] = 50,
) -> None:
    """Jobs this node knows, newest first."""
    try:
        jobs = client_for(party).get("/jobs", limit=limit, state=state)
    except ClientError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{'job id':<22}  {'status':<9}  {'initiator':>9}  {'created':<19}  name")
    for job in jobs:
        typer.echo(
            f"{job['job_id']:<22}  {job['status']:<9}  {job['initiator_party']:>9}  "
            f"{_when(job['created_at']):<19}  {job['name']}"
        )


@app.command()
def query(
    job_id: JobOption,
    party: PartyOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="show each component's progress (rounds, loss) until the job ends")
    ] = False,
    timeout: Annotated[float, typer.Option(help="with --follow: seconds to follow at most")] = 86_400.0,
) -> None:
    """A job's state and each party's tasks."""
    try:
        client = client_for_job(job_id, party)
        job = wait_for_job(client, job_id, timeout, show=typer.echo) if follow else client.get(f"/jobs/{job_id}")
    except ClientError as exc:
        raise fail(str(exc)) from None
    duration = f"{job['duration_s']:.1f} s" if job["duration_s"] is not None else "-"
    typer.echo(f"job {job['job_id']} ({job['name'] or 'unnamed'}): {job['status']}, duration {duration}")
    if job["reason"]:
        typer.echo(f"reason: {job['reason']}")
    typer.echo(f"{'component':<20}  {'role':<8}  {'party':>6}  {'status':<9}  reason")
    for task in job["tasks"]:
        typer.echo(
            f"{task['component']:<20}  {task['role']:<8}  {task['party_id']:>6}  {task['status']:<9}  {task['reason']}"
        )
    if job["status"] == "running":
        try:
            progress = running_progress(job, client.get(f"/jobs/{job_id}/metrics"))
        except ClientError:
            progress = {}  # progress is a courtesy: the states above are the answer
        for component, text in progress.items():
            typer.echo(f"progress: {component} {text}")


@app.command()
def stop(job_id: JobOption, party: PartyOption = None) -> None:
    """Stop a job: its tasks are killed on every party."""
    try:
        typer.echo(client_for_job(job_id, party).post(f"/jobs/{job_id}/stop")["message"])
    except ClientError as exc:
        raise fail(str(exc)) from None


@app.command()
def log(
    job_id: JobOption,
    party: PartyOption = None,
    role: Annotated[str | None, typer.Option(help="only this role's tasks")] = None,
    component: Annotated[str | None, typer.Option(help="only this component's tasks")] = None,
) -> None:
    """Task logs, from the node of the party that ran them (logs never leave their party)."""
    try:
        client = client_for_job(job_id, party)
        typer.echo(client.text(f"/jobs/{job_id}/logs", role=role, party=party, component=component), nl=False)
    except ClientError as exc:
        raise fail(str(exc)) from None


@app.command()
def metrics(job_id: JobOption, party: PartyOption = None) -> None:
    """Metrics the job's tasks logged on this node."""
    try:
        points: list[dict[str, Any]] = client_for_job(job_id, party).get(f"/jobs/{job_id}/metrics")
    except ClientError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{'component':<20}  {'role:party':<14}  {'name':<20}  {'step':>5}  value")
    for point in points:
        step = "-" if point["step"] is None else str(point["step"])
        value = point["value"] if isinstance(point["value"], int | float) else json.dumps(point["value"])[:60]
        typer.echo(
            f"{point['component']:<20}  {point['role'] + ':' + str(point['party_id']):<14}  "
            f"{point['name']:<20}  {step:>5}  {value}"
        )
    for line in convergence_notes(points):
        typer.echo(line)

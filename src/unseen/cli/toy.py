"""``unseen test toy``: the first job a newcomer runs, a secure sum between guest and host."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from unseen.cli.client import ClientError, client_for
from unseen.cli.waiting import wait_for_job

app = typer.Typer(help="Check an installation with small real jobs.", no_args_is_help=True)


def toy_job(guest: int, host: int, data_num: int, partitions: int, timeout: int) -> dict[str, Any]:
    return {
        "name": "toy",
        "initiator": {"role": "guest", "party_id": guest},
        "parties": {"guest": [guest], "host": [host]},
        "timeout_s": timeout,
        "components": [
            {
                "name": "secure_sum_0",
                "component": "toy_secure_sum",
                "params": {"data_num": data_num, "partitions": partitions},
            },
        ],
    }


@app.command()
def toy(
    guest_id: Annotated[int, typer.Option("--guest-id", "-gid", help="the guest's party id")] = 10000,
    host_id: Annotated[int, typer.Option("--host-id", "-hid", help="the host's party id")] = 10000,
    data_num: Annotated[int, typer.Option(help="values of 1.0 each party holds")] = 1000,
    partitions: Annotated[int, typer.Option(help="partitions the values are spread over")] = 4,
    timeout: Annotated[int, typer.Option(help="seconds before the job is given up")] = 120,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show each component's progress")] = False,
) -> None:
    """Guest and host compute the sum of their values by secret sharing; prints the total."""
    try:
        client = client_for(guest_id)
        job_id = client.post("/jobs", toy_job(guest_id, host_id, data_num, partitions, timeout))["job_id"]
        if verbose:
            typer.echo(f"job {job_id} submitted to party {guest_id}")
        job = wait_for_job(client, job_id, timeout + 10, show=typer.echo if verbose else None)
        if job["status"] != "success":
            typer.echo(f"toy job {job_id} {job['status']}: {job['reason']}", err=True)
            typer.echo(f"see its logs with `unseen job log -j {job_id}`", err=True)
            raise typer.Exit(1)
        metrics = client.get(f"/jobs/{job_id}/metrics", component="secure_sum_0")
    except ClientError as exc:
        typer.echo(f"toy job failed: {exc}", err=True)
        raise typer.Exit(1) from None
    totals = [m["value"] for m in metrics if m["name"] == "secure_sum" and m["role"] == "guest"]
    if len(totals) != 1:
        typer.echo(f"toy job {job_id} succeeded but logged no secure_sum at the guest", err=True)
        raise typer.Exit(1)
    typer.echo(f"success to calculate secure_sum, it is {float(totals[0])}")

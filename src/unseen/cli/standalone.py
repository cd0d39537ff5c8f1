"""``unseen standalone start|status|stop``: all parties on this machine, on loopback."""

from __future__ import annotations

from typing import Annotated

import typer

from unseen.node.standalone import DEFAULT_BASE_PORT, DEFAULT_PARTIES, SiteError, StandaloneSite

app = typer.Typer(help="Run every party's node on this machine, on loopback.", no_args_is_help=True)


def _parse_parties(text: str) -> list[int]:
    try:
        parties = [int(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a comma-separated list of party ids, e.g. 9999,10000") from None
    if not parties or any(p < 1 for p in parties):
        raise typer.BadParameter("party ids are positive integers, e.g. 9999,10000")
    return parties


def _print_table(site: StandaloneSite, parties: list[int]) -> bool:
    typer.echo(f"{'party':>8}  {'REST API':<24}  {'federation':>10}  {'pid':>7}  state")
    all_healthy = True
    for party in parties:
        state = site.status(party)
        all_healthy &= state.healthy
        pid = str(state.pid) if state.pid else "-"
        typer.echo(f"{party:>8}  {state.rest_url:<24}  {state.federation_port:>10}  {pid:>7}  {state.detail}")
    return all_healthy


@app.command()
def start(
    parties: Annotated[str | None, typer.Option(help="party ids, comma-separated (default 9999,10000)")] = None,
    base_port: Annotated[int | None, typer.Option(help="first port; each party takes two (REST, federation)")] = None,
) -> None:
    """Start a node for each party (making the CA, certificates and configs on first start)."""
    site = StandaloneSite()
    existing = site.load()
    wanted = _parse_parties(parties) if parties else (existing.parties if existing else list(DEFAULT_PARTIES))
    port = base_port or (existing.base_port if existing else DEFAULT_BASE_PORT)
    running = [p for p in (existing.parties if existing else []) if site.pid_of(p) is not None]
    if existing and running and (sorted(wanted) != existing.parties or port != existing.base_port):
        typer.echo(
            f"error: the standalone site is running with parties {existing.parties} on base port "
            f"{existing.base_port}; stop it first (`unseen standalone stop`)",
            err=True,
        )
        raise typer.Exit(1)
    if existing and sorted(running) == existing.parties:
        typer.echo(f"the standalone site is already running (under {site.root}):")
        healthy = _print_table(site, existing.parties)
        raise typer.Exit(0 if healthy else 1)
    started: list[int] = []
    try:
        config = site.configure(wanted, port)
        to_start = [party for party in config.parties if site.pid_of(party) is None]
        taken = [f"party {party}'s {used}" for party in to_start for used in site.ports_in_use(party)]
        if taken:
            raise SiteError(
                f"{', '.join(taken)} already in use (another site or program listens there); stop it, "
                "or start this site on other ports (--base-port)"
            )
        for party in to_start:
            site.start_node(party)
            started.append(party)
        for party in config.parties:
            site.wait_healthy(party)
    except SiteError as exc:
        for party in started:  # leave no half-started site behind; nodes this command did not start are not touched
            site.stop_node(party)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"standalone site started under {site.root}:")
    _print_table(site, config.parties)
    typer.echo("try it: unseen test toy -gid 10000 -hid 10000")
    typer.echo("board:  unseen board open  (each node's board URL, and the first admin password)")


@app.command()
def status() -> None:
    """List the nodes, their ports and their health."""
    site = StandaloneSite()
    try:
        config = site.require()
    except SiteError as exc:
        typer.echo(str(exc))
        raise typer.Exit(1) from None
    healthy = _print_table(site, config.parties)
    raise typer.Exit(0 if healthy else 1)


@app.command()
def stop() -> None:
    """Stop every node of the site (running tasks are stopped and recorded as such)."""
    site = StandaloneSite()
    config = site.load()
    if config is None:
        typer.echo("no standalone site to stop")
        return
    for party in config.parties:
        stopped = site.stop_node(party)
        typer.echo(f"party {party}: {'stopped' if stopped else 'was not running'}")

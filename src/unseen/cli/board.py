"""``unseen board open|passwd``: find a node's board, and set its users' passwords.

``open`` prints the URL (and, until it is changed, the admin password the node made on its first start) and
opens a browser where there is one. ``passwd`` goes through the node's REST API with the node's API token,
so the running node applies the change itself: it ends the user's sessions and deletes the first-start file.
"""

from __future__ import annotations

import os
import sys
import webbrowser
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import httpx
import typer

from unseen.board.auth import ADMIN_USER, PASSWORD_FILE, WeakPasswordError, check_password_policy
from unseen.cli.client import NODE_URL_ENV, ClientError, client_for, fail, standalone_node

app = typer.Typer(help="The web board of a node: jobs, DAGs, logs and metric charts.", no_args_is_help=True)

PartyOption = Annotated[int | None, typer.Option("--party", "-p", help="this party's node (default: the first)")]


def _board_of(party: int | None) -> tuple[str, Path | None, int | None]:
    """The board's URL, the node's first-start password file (standalone site only), and the party."""
    url = os.environ.get(NODE_URL_ENV)
    if url:
        return url.rstrip("/") + "/board/", None, party
    try:
        chosen, config = standalone_node(party)
    except ClientError as exc:
        raise fail(str(exc)) from None
    host = "127.0.0.1" if config.rest_host in {"0.0.0.0", "::", ""} else config.rest_host  # noqa: S104 - compared, not bound
    return f"http://{host}:{config.rest_port}/board/", config.home / PASSWORD_FILE, chosen


def _has_display() -> bool:
    """Whether a graphical browser could show up; without one, ``webbrowser`` might start a text browser."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@app.command("open")
def open_board(
    party: PartyOption = None,
    browser: Annotated[bool, typer.Option(help="open a web browser if this machine has one")] = True,
) -> None:
    """Print the board's URL (and the first-start admin password while it is unchanged), then open it."""
    url, password_file, chosen = _board_of(party)
    who = f"party {chosen}'s board" if chosen is not None else "the node's board"
    typer.echo(f"{who}: {url}")
    try:
        healthy = httpx.get(url.removesuffix("board/") + "v1/health", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        healthy = False
    if not healthy:
        typer.echo("the node does not answer yet; start it with `unseen standalone start`", err=True)
    if password_file is not None and password_file.is_file():
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            typer.echo(f"(cannot read the first-start password in {password_file}: {exc.strerror})", err=True)
        else:
            party_flag = f" --party {chosen}" if chosen is not None else ""
            typer.echo(f"first login: user {ADMIN_USER}, password {password}")
            typer.echo(
                f"  change it with `unseen board passwd{party_flag}` (this file is deleted then: {password_file})"
            )
    if browser and _has_display() and not webbrowser.open(url):
        typer.echo("no web browser found here; open the URL above in yours")


@app.command()
def passwd(
    party: PartyOption = None,
    user: Annotated[str, typer.Option(help="the board user")] = ADMIN_USER,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the new password from standard input (one line)")
    ] = False,
) -> None:
    """Set a board user's password (asked twice, hidden); the user's open sessions end."""
    if password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        check_password_policy(user, password)
        answer = client_for(party).post(f"/board/users/{quote(user, safe='')}/password", {"password": password})
    except WeakPasswordError as exc:
        raise fail(str(exc)) from None
    except ClientError as exc:
        raise fail(str(exc)) from None
    typer.echo(answer["message"])

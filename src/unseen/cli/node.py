"""``unseen node start``: run one party's node in the foreground, as on a machine of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Run a party's node.", no_args_is_help=True)


@app.command()
def start(config: Annotated[Path, typer.Option("--config", "-c", help="the node's node.yaml")]) -> None:
    """Run the node until interrupted (Ctrl-C or SIGTERM stops its tasks and exits cleanly)."""
    from unseen.node.__main__ import main

    raise typer.Exit(main(["--config", str(config)]))

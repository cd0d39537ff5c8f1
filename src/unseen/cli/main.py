"""The ``unseen`` command."""

from __future__ import annotations

import typer

from unseen import __version__
from unseen.cli import attest, board, data, jobs, node, standalone, toy

app = typer.Typer(
    help="Unseen: federated learning where raw data never leaves its owner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(standalone.app, name="standalone")
app.add_typer(node.app, name="node")
app.add_typer(jobs.app, name="job")
app.add_typer(data.app, name="data")
app.add_typer(toy.app, name="test")
app.add_typer(board.app, name="board")
app.add_typer(attest.app, name="attest")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()

"""The ``unseen`` command.

Each command group lives in its own module, imported only when that group runs: ``unseen version`` and
``unseen --help`` import Typer and nothing heavy, and ``unseen job list`` does not pay for the board's
SQLAlchemy models or the node's FastAPI app. The top-level help lists the groups from :data:`GROUPS` without
importing them (a test checks that each line matches its module's own help).
"""

from __future__ import annotations

import importlib

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.main import get_group

from unseen import __version__

GROUPS: dict[str, tuple[str, str]] = {
    "standalone": ("unseen.cli.standalone", "Run every party's node on this machine, on loopback."),
    "node": ("unseen.cli.node", "Run a party's node."),
    "job": ("unseen.cli.jobs", "Submit and follow jobs."),
    "data": ("unseen.cli.data", "Upload and inspect this party's tables (rows never leave the node)."),
    "test": ("unseen.cli.toy", "Check an installation with small real jobs."),
    "board": ("unseen.cli.board", "The web board of a node: jobs, DAGs, logs and metric charts."),
    "cert": ("unseen.cli.cert", "Make TLS identities and exchange trust with partners."),
    "attest": ("unseen.cli.attest", "Attestation evidence in node certificates (SGX DCAP via Gramine, or simulated)."),
}
"""Command group -> (its module, whose ``app`` is a ``typer.Typer``; the help line shown in ``unseen --help``)."""


def load_group(name: str) -> TyperGroup:
    """Import the module of the command group ``name`` and build its Click group."""
    module = importlib.import_module(GROUPS[name][0])
    group = get_group(module.app)
    group.name = name
    return group


def _plain_help_flag(option: TyperOption | None) -> TyperOption | None:
    """The help flag, defaulting to ``False`` rather than ``None``.

    Typer coerces a ``None`` flag through a pydantic ``TypeAdapter``, and importing pydantic for that would
    double the time ``unseen version`` takes. A flag that is already a ``bool`` skips the coercion.
    """
    if option is not None and option.default is None:
        option.default = False
    return option


class _PlainCommand(TyperCommand):
    """A command whose help flag needs no pydantic (see :func:`_plain_help_flag`)."""

    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        return _plain_help_flag(super().get_help_option(ctx))


class _LazyGroup(TyperGroup):
    """The top-level group: the sub-groups of :data:`GROUPS` are imported when a command line names them."""

    _describing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return own + [name for name in GROUPS if name not in own]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name in GROUPS and cmd_name not in self.commands:
            if self._describing:  # the top-level help: a line of text, no import
                return TyperGroup(name=cmd_name, short_help=GROUPS[cmd_name][1])
            self.commands[cmd_name] = load_group(cmd_name)
        return super().get_command(ctx, cmd_name)

    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        return _plain_help_flag(super().get_help_option(ctx))

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._describing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._describing = False


app = typer.Typer(
    cls=_LazyGroup,
    add_completion=False,
    rich_markup_mode=None,
    help="Unseen: federated learning where raw data never leaves its owner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    # A callback keeps ``app`` a group while ``version`` is its only eager command (Typer would collapse it).
    pass


@app.command(cls=_PlainCommand)
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()

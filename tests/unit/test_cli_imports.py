"""The ``unseen`` command imports only what the command it runs needs.

Each check runs the CLI in a fresh interpreter and reads back which modules it imported: timings vary with the
machine's load, the set of imported modules does not.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from unseen import __version__
from unseen.cli.main import GROUPS, app

HEAVY = {"sqlalchemy", "fastapi", "grpc", "pyarrow", "numpy", "sklearn", "pydantic", "httpx", "cryptography"}
PROBE = """
import atexit, json, sys
def report():
    roots = sorted({name.split(".")[0] for name in sys.modules})
    groups = sorted(name for name in sys.modules if name.startswith("unseen.cli.") and name != "unseen.cli.main")
    sys.stderr.write("\\nMODULES " + json.dumps({"roots": roots, "groups": groups}) + "\\n")
atexit.register(report)
sys.argv = ["unseen", *json.loads(sys.argv[1])]
from unseen.cli.main import app
app()
"""


def imported_by(*args: str) -> tuple[str, set[str], list[str]]:
    """Run ``unseen ARGS`` in a new interpreter: its output (both streams), its top-level packages, its CLI groups."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, timeout=60, check=False
    )
    errors, line = done.stderr.rsplit("MODULES ", 1)
    seen = json.loads(line)
    return done.stdout + errors, set(seen["roots"]), seen["groups"]


def test_version_imports_nothing_heavy() -> None:
    out, roots, groups = imported_by("version")
    assert out.strip() == __version__
    assert roots & HEAVY == set()
    assert groups == []


@pytest.mark.parametrize("args", [("--help",), ()])
def test_top_level_help_imports_no_command_group(args: tuple[str, ...]) -> None:
    out, roots, groups = imported_by(*args)
    for name, (_, line) in GROUPS.items():
        assert name in out
        assert " ".join(line.split()[:4]) in " ".join(out.split())
    assert roots & (HEAVY | {"rich"}) == set()
    assert groups == []


def test_a_group_is_imported_when_named() -> None:
    out, _, groups = imported_by("test", "--help")
    assert "toy" in out
    assert "unseen.cli.toy" in groups and "unseen.cli.board" not in groups and "unseen.cli.jobs" not in groups


def test_job_commands_do_not_import_the_board_or_the_node() -> None:
    _, roots, groups = imported_by("job", "list", "--help")
    assert roots & {"sqlalchemy", "fastapi", "grpc", "numpy", "sklearn"} == set()
    assert "unseen.cli.board" not in groups


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_each_groups_help_line_is_its_modules_own(name: str) -> None:
    module_name, line = GROUPS[name]
    assert importlib.import_module(module_name).app.info.help == line


def test_groups_still_run_in_process() -> None:
    result = CliRunner().invoke(app, ["job", "--help"])
    assert result.exit_code == 0 and "submit" in result.output
    assert CliRunner().invoke(app, ["nope"]).exit_code == 2

"""The board is layered above the node: the node names it through a registration point, never imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi import FastAPI

from unseen.node import web_extensions

NODE = Path(web_extensions.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` statement in ``path`` names, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_module_of_the_node_imports_the_board() -> None:
    offenders = {
        path.name: sorted(m for m in imported_modules(path) if m == "unseen.board" or m.startswith("unseen.board."))
        for path in NODE.rglob("*.py")
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_the_board_is_mounted_through_the_registration_point() -> None:
    from unseen.board.web import mount_board

    assert web_extensions.load(web_extensions.BOARD) is mount_board


def test_a_missing_extension_is_a_clear_error_naming_it() -> None:
    with pytest.raises(LookupError, match=r"web extension 'unseen\.nothing:mount' cannot be loaded"):
        web_extensions.mount_all(FastAPI(), None, "token", ["unseen.nothing:mount"])  # type: ignore[arg-type]


def test_storage_does_not_import_the_board_either() -> None:
    storage = NODE.parent / "storage"
    offenders = {
        path.name: sorted(m for m in imported_modules(path) if m == "unseen.board" or m.startswith("unseen.board."))
        for path in storage.rglob("*.py")
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}

"""Everything a node writes is its owner's alone: files 0600, folders 0700.

A node's folder holds what no other local user may read: the database (jobs, configs, metrics), the
node's log, each task's spec, log and result, the tables, the models and the audit of received messages.
Rather than give each of the many places that create a file its own mode, the node sets its umask to
0o077 before it creates anything. The umask is per process and inherited, so it covers what the node's
libraries create (SQLite's database and its -wal, -shm and -journal files, logging's ``node.log``) and
everything its task processes write. Files an earlier version left readable are tightened at start.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_UMASK = 0o077
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def sqlite_files(database_url: str) -> list[Path]:
    """The files of a SQLite database (itself and its companions); none for another database or in memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return []
    return [Path(url.database + suffix) for suffix in _SQLITE_COMPANIONS]


def make_private(home: Path, files: list[Path]) -> None:
    """Set the process's umask to 0o077, make ``home`` 0700 and each of ``files`` that exists 0600.

    Call it first thing in the node's process, before logging, the database or any task is set up.
    A symbolic link is left alone (its target is not the node's to change).
    """
    os.umask(PRIVATE_UMASK)
    home.mkdir(parents=True, exist_ok=True)
    _tighten(home, PRIVATE_DIR)
    for path in files:
        _tighten(path, PRIVATE_FILE)


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) & ~mode == 0:
            return
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)

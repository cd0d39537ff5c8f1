"""Private node files: the umask a node sets, and what it tightens at start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from unseen.node.private_files import sqlite_files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_sqlite_files_are_the_database_and_its_companions() -> None:
    assert sqlite_files("sqlite:////srv/node/node.db") == [
        Path("/srv/node/node.db"),
        Path("/srv/node/node.db-wal"),
        Path("/srv/node/node.db-shm"),
        Path("/srv/node/node.db-journal"),
    ]
    assert sqlite_files("sqlite://") == []
    assert sqlite_files("postgresql+psycopg://node@db/unseen") == []


def test_what_an_older_run_left_readable_is_tightened_and_links_are_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    old = home / "node.log"
    old.write_text("x")
    os.chmod(old, 0o644)
    outside = tmp_path / "outside"
    outside.write_text("y")
    os.chmod(outside, 0o644)
    link = home / "node.db"
    link.symlink_to(outside)
    script = (
        "import sys; from pathlib import Path; from unseen.node.private_files import make_private;"
        f"make_private(Path({str(home)!r}), [Path({str(old)!r}), Path({str(link)!r}), Path({str(home / 'gone')!r})])"
    )
    subprocess.run([sys.executable, "-c", script], check=True)  # its own process: the umask is per process
    assert (_mode(home), _mode(old), _mode(outside)) == (0o700, 0o600, 0o644)


def test_files_sqlite_and_children_create_after_it_are_private(tmp_path: Path) -> None:
    """In a fresh interpreter, as the node runs it: SQLite's WAL files and a child's files are 0600."""
    home = tmp_path / "home"
    script = f"""
import sqlite3, subprocess, sys
from pathlib import Path
from unseen.node.private_files import make_private
home = Path({str(home)!r})
make_private(home, [])
db = sqlite3.connect(home / "node.db")
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE t (x)")
db.execute("INSERT INTO t VALUES (1)")
db.commit()
child = "from pathlib import Path; Path('jobs/a').mkdir(parents=True); Path('jobs/a/result.json').write_text('1')"
subprocess.run([sys.executable, "-c", child], cwd=home, check=True)
modes = {{n: (home / n).stat().st_mode & 0o777 for n in ("node.db-wal", "node.db-shm")}}
assert modes == {{"node.db-wal": 0o600, "node.db-shm": 0o600}}, modes
db.close()
"""
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ})
    assert _mode(home) == 0o700
    for name in ("node.db", "jobs/a/result.json"):
        assert _mode(home / name) == 0o600, name
    assert _mode(home / "jobs") == 0o700 and _mode(home / "jobs" / "a") == 0o700

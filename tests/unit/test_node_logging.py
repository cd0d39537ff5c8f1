"""Tests for the node's log file (unseen.node.server.configure_logging): it rotates by size, and every file of
it is 0600. Run in a child interpreter: logging's setup and the umask are process-wide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, sys
from pathlib import Path
from unseen.node.private_files import make_private
from unseen.node.server import configure_logging
home = Path(sys.argv[1])
make_private(home, [])
configure_logging(home / "node.log", max_bytes=4096, backups=2)
for n in range(400):
    logging.getLogger("unseen.test").info("line %d %s", n, "x" * 40)
"""


def test_node_log_rotates_by_size_keeping_a_bounded_number_of_private_files(tmp_path: Path) -> None:
    home = tmp_path / "node"
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(home)], capture_output=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    logs = sorted(path.name for path in home.iterdir())
    assert logs == ["node.log", "node.log.1", "node.log.2"]  # the oldest were dropped
    for name in logs:
        path = home / name
        assert path.stat().st_size <= 4096 + 200
        assert path.stat().st_mode & 0o777 == 0o600
    assert "line 399 " in (home / "node.log").read_text()

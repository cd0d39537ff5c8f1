"""The node's side of warm starts: how a task forked by the zygote is followed to its end."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from unseen.node.executor import TaskExecutor
from unseen.node.warm import WarmProcess
from unseen.runtime.spec import RESULT_FILE
from unseen.storage.models import Status


def sleeper(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


def test_the_exit_code_is_the_one_the_zygote_reports() -> None:
    node_end, zygote_end = socket.socketpair()
    child = sleeper(0)
    process = WarmProcess(child.pid, node_end)
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(0.05)
    zygote_end.sendall(b'{"exit": -15}\n')
    assert process.wait(10) == -15 and not process.lost_parent
    child.wait()
    zygote_end.close()


def test_a_zygote_that_dies_first_leaves_the_task_followed_until_it_ends() -> None:
    node_end, zygote_end = socket.socketpair()
    child = sleeper(0.5)
    process = WarmProcess(child.pid, node_end)
    zygote_end.close()  # the zygote is gone: no exit code will come
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(0.1)  # still followed: the task runs on
    child.wait()
    assert process.wait(10) is None and process.lost_parent


@pytest.mark.parametrize(("result", "expected"), [('{"status": "success"}', Status.SUCCESS), (None, Status.FAILED)])
def test_an_unknown_exit_code_is_judged_by_result_json(tmp_path: Path, result: str | None, expected: Status) -> None:
    if result is not None:
        (tmp_path / RESULT_FILE).write_text(result)
    status, reason = TaskExecutor._outcome(None, tmp_path, None)
    assert status == expected
    assert reason == ("" if result else "task process ended without a result, its exit code unknown (its zygote died)")

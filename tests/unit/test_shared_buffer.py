"""Send buffers: a task writes, its node maps and reads; only the named, private file is ever read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from unseen.transport import shared_buffer
from unseen.transport.shared_buffer import BufferReader, SendBuffer, SendBufferError, buffers_dir


def test_what_the_task_writes_the_node_reads_and_the_buffer_grows(tmp_path: Path) -> None:
    path = tmp_path / "t.send"
    writer, reader = SendBuffer(path), BufferReader()
    small = np.arange(10, dtype=np.float64)
    writer.write(memoryview(small).cast("B"))
    assert np.frombuffer(reader.view(path, small.nbytes), dtype=np.float64).tolist() == small.tolist()
    big = np.arange(1_000_000, dtype=np.float32)
    writer.write(memoryview(big).cast("B"))
    view = reader.view(path, big.nbytes)
    np.testing.assert_array_equal(np.frombuffer(view, dtype=np.float32), big)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    del view
    writer.close()
    reader.forget(path)
    assert not path.exists()


def test_a_buffer_shorter_than_announced_or_missing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.send"
    SendBuffer(path).write(memoryview(b"12345678"))
    with pytest.raises(SendBufferError, match="holds 8 bytes, not the 9 announced"):
        BufferReader().view(path, 9)
    with pytest.raises(SendBufferError, match="cannot be opened"):
        BufferReader().view(tmp_path / "missing.send", 1)


def test_a_symlinked_buffer_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"do not read")
    (tmp_path / "t.send").symlink_to(secret)
    with pytest.raises(SendBufferError):
        BufferReader().view(tmp_path / "t.send", 4)


def test_the_buffers_folder_is_private_and_a_planted_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_buffer, "_SHARED_MEMORY", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    folder = buffers_dir(tmp_path / "home")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    os.chmod(folder, 0o777)  # as if another user had made it first, open to all
    with pytest.raises(SendBufferError, match="not a private folder"):
        buffers_dir(tmp_path / "home")

"""Send buffers: a task writes, its node maps and reads; only the named, private file is ever read."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from unseen.transport import shared_buffer
from unseen.transport.shared_buffer import (
    BufferReader,
    SendBuffer,
    SendBufferError,
    buffers_dir,
    receive_file,
    take_body,
    write_body,
)


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


def test_a_received_body_is_written_as_it_arrives_then_taken_without_a_copy(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    path = receive_file(send_buffer)
    assert path.name.startswith("abc-") and path.suffix == ".recv"
    values = np.arange(100_000, dtype=np.float64)
    raw = memoryview(values).cast("B")
    assert write_body(path, [raw[:1000], raw[1000:]]) == values.nbytes
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    body = take_body(tmp_path, path.name, values.nbytes)
    assert not path.exists()  # the mapping outlives the file
    array = np.frombuffer(body, dtype=np.float64)
    np.testing.assert_array_equal(array, values)
    assert array.flags.writeable  # a private mapping: the task may write to what it received


def test_a_failed_write_leaves_no_file_and_names_are_checked(tmp_path: Path) -> None:
    path = receive_file(tmp_path / "abc.send")

    def broken() -> Iterator[memoryview]:
        yield memoryview(b"partial")
        raise OSError("stream broke")

    with pytest.raises(OSError, match="stream broke"):
        write_body(path, broken())
    assert not path.exists()
    for name in ("../abc.recv", ".hidden.recv", "abc.send"):
        with pytest.raises(SendBufferError, match="unexpected body file"):
            take_body(tmp_path, name, 1)
    write_body(path, [memoryview(b"1234")])
    with pytest.raises(SendBufferError, match="holds 4 bytes, not 5"):
        take_body(tmp_path, path.name, 5)


def test_forgetting_a_task_removes_the_bodies_it_never_took(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    SendBuffer(send_buffer).write(memoryview(b"x"))
    left = receive_file(send_buffer)
    write_body(left, [memoryview(b"y")])
    other = receive_file(tmp_path / "other.send")
    write_body(other, [memoryview(b"z")])
    BufferReader().forget(send_buffer)
    assert not send_buffer.exists() and not left.exists() and other.exists()

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
    BodyWriter,
    BufferReader,
    ReceiveFiles,
    SendBuffer,
    SendBufferError,
    buffers_dir,
    clear_buffers,
    receive_path,
)


def test_what_the_task_writes_the_node_reads_and_the_buffer_grows(tmp_path: Path) -> None:
    path = tmp_path / "t.send"
    writer, reader = SendBuffer(path), BufferReader()
    small = np.arange(10, dtype=np.float64)
    writer.write(small.data.cast("B"))
    assert np.frombuffer(reader.view(path, small.nbytes), dtype=np.float64).tolist() == small.tolist()
    big = np.arange(1_000_000, dtype=np.float32)
    writer.write(big.data.cast("B"))
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


def _receive(
    files: ReceiveFiles, send_buffer: Path, body: memoryview, pieces: int = 2, writer: BodyWriter | None = None
) -> memoryview:
    """What a node and its task do for one large body: reserve, write as chunks arrive, take."""
    name = files.reserve()
    step = -(-len(body) // pieces)
    chunks = [body[start : start + step] for start in range(0, len(body), step)]
    assert (writer or BodyWriter()).write(send_buffer, name, len(body), chunks) == len(body)
    return files.take(name, len(body))


def test_a_received_body_is_written_as_it_arrives_then_taken_without_a_copy(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    values = np.arange(100_000, dtype=np.float64)
    body = _receive(ReceiveFiles(send_buffer), send_buffer, values.data.cast("B"))
    (path,) = tmp_path.glob("abc-*.recv")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    array = np.frombuffer(body, dtype=np.float64)
    np.testing.assert_array_equal(array, values)
    assert array.flags.writeable  # a private mapping: the task may write to what it received...
    array[:] = -1.0
    np.testing.assert_array_equal(np.fromfile(path, dtype=np.float64), values)  # ...without changing the file


def test_a_receive_file_is_reused_once_nothing_refers_to_its_value(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    files = ReceiveFiles(send_buffer)
    first = np.frombuffer(_receive(files, send_buffer, memoryview(b"a" * 4096)), dtype=np.uint8)
    second = np.frombuffer(_receive(files, send_buffer, memoryview(b"b" * 4096)), dtype=np.uint8)
    view_of_first = first[:10]
    del first
    third = np.frombuffer(_receive(files, send_buffer, memoryview(b"c" * 4096)), dtype=np.uint8)
    # A view still holds the first value: three values, three files, none written over another.
    assert len(list(tmp_path.glob("abc-r*.recv"))) == 3
    assert bytes(view_of_first) == b"a" * 10 and bytes(second[:3]) == b"bbb" and bytes(third[:3]) == b"ccc"
    del view_of_first, second
    fourth = np.frombuffer(_receive(files, send_buffer, memoryview(b"d" * 8192)), dtype=np.uint8)
    assert len(list(tmp_path.glob("abc-r*.recv"))) == 3  # an idle file took the body, at its new size
    assert bytes(third[:3]) == b"ccc" and fourth.size == 8192 and bytes(fourth[-3:]) == b"ddd"
    del fourth
    fifth = np.frombuffer(_receive(files, send_buffer, memoryview(b"e" * 100)), dtype=np.uint8)
    assert fifth.size == 100 and bytes(fifth) == b"e" * 100  # a smaller body in a larger file: only its bytes


def test_the_node_keeps_its_mapping_of_a_receive_file_and_frees_those_the_task_removed(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    files, writer = ReceiveFiles(send_buffer, spare=0), BodyWriter()
    first = _receive(files, send_buffer, memoryview(b"a" * 4096), writer=writer)
    mapped = dict(writer._maps[send_buffer])
    del first
    second = _receive(files, send_buffer, memoryview(b"b" * 4096), writer=writer)
    assert writer._maps[send_buffer] == mapped and bytes(second[:2]) == b"bb"  # the same file, through the same mapping
    held = [_receive(files, send_buffer, memoryview(b"c" * 4096), writer=writer) for _ in range(2)]
    assert len(writer._maps[send_buffer]) == 3
    del second, held
    _receive(files, send_buffer, memoryview(b"d" * 4096), writer=writer)  # the task removed its idle files
    assert len(writer._maps[send_buffer]) == 1 and len(list(tmp_path.glob("abc-r*.recv"))) == 1
    writer.forget(send_buffer)
    assert writer._maps == {}


def test_at_most_the_spare_idle_files_are_kept(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    files = ReceiveFiles(send_buffer, spare=1)
    held = [_receive(files, send_buffer, memoryview(bytes(4096))) for _ in range(4)]
    assert len(list(tmp_path.glob("abc-r*.recv"))) == 4
    del held
    name = files.reserve()  # three of the four are idle now: one stays spare, two are removed
    assert len(list(tmp_path.glob("abc-r*.recv"))) == 2 and (tmp_path / name).exists()


def test_a_failed_write_empties_the_file_and_is_released(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    files = ReceiveFiles(send_buffer)
    name = files.reserve()

    def broken() -> Iterator[memoryview]:
        yield memoryview(b"partial")
        raise OSError("stream broke")

    writer = BodyWriter()
    with pytest.raises(OSError, match="stream broke"):
        writer.write(send_buffer, name, 100, broken())
    assert (tmp_path / name).stat().st_size == 0  # nothing of the broken message is left
    assert writer._maps[send_buffer] == {}
    with pytest.raises(SendBufferError, match="grew past the 4 bytes"):
        writer.write(send_buffer, name, 4, [memoryview(b"12345")])
    files.release(name)
    assert files.reserve() == name


def test_the_node_writes_only_the_tasks_own_private_receive_files(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    for name in ("../abc-r1.recv", ".hidden.recv", "abc.send", "other-r1.recv", "abc-r1.recv.x", "abc-rx.recv"):
        with pytest.raises(SendBufferError, match="unexpected body file"):
            receive_path(send_buffer, name)
    with pytest.raises(SendBufferError, match="unexpected body file ''"):  # a Recv that named no file
        BodyWriter().write(send_buffer, "", 4, [memoryview(b"evil")])
    secret = tmp_path / "secret"
    secret.write_bytes(b"keep")
    (tmp_path / "abc-r1.recv").symlink_to(secret)
    with pytest.raises(OSError):  # O_NOFOLLOW: a link is not followed
        BodyWriter().write(send_buffer, "abc-r1.recv", 4, [memoryview(b"evil")])
    os.link(secret, tmp_path / "abc-r2.recv")
    with pytest.raises(SendBufferError, match="not a private receive file"):
        BodyWriter().write(send_buffer, "abc-r2.recv", 4, [memoryview(b"evil")])
    assert secret.read_bytes() == b"keep"


def test_a_body_of_another_size_than_declared_is_refused(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    files = ReceiveFiles(send_buffer)
    name = files.reserve()
    BodyWriter().write(send_buffer, name, 4, [memoryview(b"1234")])
    with pytest.raises(SendBufferError, match="holds 4 bytes, fewer than 5"):
        files.take(name, 5)


def test_forgetting_a_task_removes_its_receive_files(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    SendBuffer(send_buffer).write(memoryview(b"x"))
    kept = _receive(ReceiveFiles(send_buffer), send_buffer, memoryview(b"y" * 10))
    other = tmp_path / "other.send"
    _receive(ReceiveFiles(other), other, memoryview(b"z" * 10))
    BufferReader().forget(send_buffer)
    assert not send_buffer.exists() and not list(tmp_path.glob("abc-*.recv"))
    assert bytes(kept[:1]) == b"y"  # the mapping outlives the file
    assert len(list(tmp_path.glob("other-*.recv"))) == 1


def test_clearing_a_folder_removes_buffers_and_receive_files_only(tmp_path: Path) -> None:
    send_buffer = tmp_path / "abc.send"
    SendBuffer(send_buffer).write(memoryview(b"x"))
    _receive(ReceiveFiles(send_buffer), send_buffer, memoryview(b"y" * 10))
    (tmp_path / "notes.txt").write_text("not ours")
    assert clear_buffers(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]

"""Attacks on a node's REST listener over real HTTP: huge unauthenticated bodies, chunked bodies past the
limit, thousands of half-sent requests, forged X-Forwarded-For against the board's login limit, and two
boards on one host sharing a browser's cookie jar."""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Site, make_site, stop_site

pytestmark = pytest.mark.integration

CAP = 200
HEADER_TIMEOUT_S = 2.0
UPLOAD_LIMIT = 256 * 1024
OPTIONS: dict[str, object] = {
    "rest_max_connections": CAP,
    "rest_header_timeout_s": HEADER_TIMEOUT_S,
    "rest_body_timeout_s": 2.0,
    "max_upload_bytes": UPLOAD_LIMIT,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = make_site(tmp_path_factory.mktemp("home"), [9999, 10000], start=True, **OPTIONS)
    yield running
    stop_site(running)


def _port(site: Site, party: int = 9999) -> int:
    return site.standalone.node_config(party).rest_port


def _token(site: Site, party: int = 9999) -> str:
    return site.standalone.node_config(party).api_token_file.read_text().strip()


def _rss_mib(site: Site, party: int = 9999) -> int:
    pid = site.standalone.pid_of(party)
    assert pid is not None
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) // 1024  # type: ignore[union-attr]


def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status code of the answer on ``sock``, and everything read until the node closed it."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # closed with our unread body in its buffer: what came before stays
            break
        if not chunk:
            break
        data += chunk
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    assert match, data[:200]
    return int(match.group(1)), data


def _connect(site: Site, party: int = 9999, timeout: float = 20.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", _port(site, party)), timeout=timeout)
    return sock


# --- bodies -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/board/users/admin/password"])
def test_a_huge_body_without_a_token_is_refused_before_it_is_read(site: Site, path: str) -> None:
    before = _rss_mib(site)
    with closing(_connect(site)) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {512 << 20}\r\n"
        sock.sendall(head.encode() + b"\r\n" + b"{" * 4096)
        # the node answers without waiting for the other 512 MiB, and closes instead of draining them
        code, answer = _read_answer(sock)
    assert code == 401, answer[:300]
    assert b"API token" in answer
    assert _rss_mib(site) < before + 64


def test_a_declared_body_past_the_json_limit_is_refused_at_once(site: Site) -> None:
    with closing(_connect(site)) as sock:
        head = (
            f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {_token(site)}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {512 << 20}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"{")
        code, _ = _read_answer(sock)
    assert code == 413


def _send_chunked(sock: socket.socket, head: str, total: int) -> None:
    """Send ``total`` bytes as 64 KiB chunks, stopping early if the node answers (or closes) meanwhile."""
    sock.sendall(head.encode() + b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"1" * 65536
    sent = 0
    while sent < total:
        if select.select([sock], [], [], 0)[0]:
            return
        try:
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except OSError:
            return
        sent += len(chunk)
    with suppress(OSError):  # the node may close right after our last chunk: its answer is read next
        sock.sendall(b"0\r\n\r\n")


def test_a_chunked_job_config_past_the_limit_is_refused_with_413(site: Site) -> None:
    with closing(_connect(site)) as sock:
        head = f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {_token(site)}\r\n"
        _send_chunked(sock, head + "Content-Type: application/json\r\n", 8 << 20)
        code, answer = _read_answer(sock)
    assert code == 413, answer[:300]


def test_a_chunked_upload_past_the_upload_limit_is_refused_and_stores_nothing(site: Site) -> None:
    with closing(_connect(site)) as sock:
        head = (
            f"PUT /v1/tables/attack.huge?id_column=id HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {_token(site)}\r\n"
        )
        _send_chunked(sock, head, 16 * UPLOAD_LIMIT)
        code, answer = _read_answer(sock)
    assert code == 413, answer[:300]
    assert site.client(9999).get("/tables") == [] or all(
        t["name"] != "attack.huge" for t in site.client(9999).get("/tables")
    )
    uploads = site.standalone.node_dir(9999) / "uploads"
    assert not any(uploads.iterdir()) if uploads.is_dir() else True, "the spooled part is removed"


def test_a_chunked_upload_within_the_limit_is_spooled_and_stored(site: Site) -> None:
    rows = "id,x,y\n" + "".join(f"r{i},{i},{i % 2}\n" for i in range(2000))

    def body() -> Iterator[bytes]:  # a generator: httpx sends it chunked, without Content-Length
        for start in range(0, len(rows), 4096):
            yield rows[start : start + 4096].encode()

    answer = httpx.put(
        f"http://127.0.0.1:{_port(site)}/v1/tables/attack.small",
        params={"id_column": "id", "label_column": "y"},
        content=body(),
        headers={"Authorization": f"Bearer {_token(site)}"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["rows"] == 2000


# --- connections ------------------------------------------------------------------------------------------


def _node_fds(site: Site, party: int = 9999) -> int:
    pid = site.standalone.pid_of(party)
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_half_sent_requests_neither_starve_health_nor_jobs_and_are_closed(site: Site) -> None:
    log_before = len(site.node_log(9999))
    sockets: list[socket.socket] = []
    try:
        for _ in range(5 * CAP):  # five times the cap, each stopping in the middle of its headers
            sock = _connect(site, timeout=5)
            sock.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Len")
            sockets.append(sock)
        assert _node_fds(site) < 5 * CAP, "the node keeps at most its cap of connections open"
        health = httpx.get(f"http://127.0.0.1:{_port(site)}/v1/health", timeout=10)
        assert health.status_code == 200
        toy = site.cli("test", "toy", "-gid", "9999", "-hid", "10000", timeout=180)
        assert toy.returncode == 0, toy.stdout + toy.stderr
        # every half-sent request is closed by the node: evicted at the cap, or after the header timeout
        deadline = time.monotonic() + 60
        open_ones = list(sockets)
        while open_ones and time.monotonic() < deadline:
            readable, _, _ = select.select(open_ones, [], [], 1.0)
            for sock in readable:
                try:
                    if not sock.recv(4096):
                        open_ones.remove(sock)
                except OSError:
                    open_ones.remove(sock)
        assert not open_ones, f"{len(open_ones)} half-sent requests still held by the node"
    finally:
        for sock in sockets:
            sock.close()
    grown = site.node_log(9999)[log_before:]
    assert "Traceback" not in grown
    assert len(grown) < 64 * 1024, "refusals are summarised, not logged one by one"


def test_headers_not_complete_in_time_are_answered_408_and_closed(site: Site) -> None:
    with closing(_connect(site)) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # the blank line that ends headers never comes
        code, _ = _read_answer(sock)
    assert code == 408


def test_a_stalled_body_is_closed_after_the_body_timeout(site: Site) -> None:
    with closing(_connect(site)) as sock:
        head = (
            f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {_token(site)}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"name": ')
        readable, _, _ = select.select([sock], [], [], 30)
        assert readable, "the node still holds a request whose body stopped"
        try:
            rest = sock.recv(4096)
        except ConnectionResetError:
            rest = b""
        assert not rest.startswith(b"HTTP/1.1 201")


# --- the board --------------------------------------------------------------------------------------------


def _board_password(site: Site, party: int) -> str:
    return (site.standalone.node_dir(party) / "board-admin.password").read_text().strip()


def _login(client: httpx.Client, base: str, user: str, password: str, forwarded: str | None = None) -> int:
    form = client.get(f"{base}/board/login")
    token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    answer = client.post(
        f"{base}/board/login",
        data={"username": user, "password": password, "login_token": token},
        headers=headers,
    )
    return answer.status_code


def test_two_boards_on_one_host_keep_their_own_sessions(site: Site) -> None:
    bases = {party: f"http://127.0.0.1:{_port(site, party)}" for party in (9999, 10000)}
    with httpx.Client(timeout=30) as browser:  # one cookie jar, as one browser: cookies ignore the port
        for party, base in bases.items():
            assert _login(browser, base, "admin", _board_password(site, party)) == 303
        names = {cookie.name for cookie in browser.cookies.jar}
        assert {"unseen_session_9999", "unseen_session_10000"} <= names
        for base in bases.values():
            assert browser.get(f"{base}/board/api/jobs").status_code == 200, "neither login ended the other"


def test_forged_forwarded_addresses_do_not_dodge_the_login_limit(site: Site) -> None:
    base = f"http://127.0.0.1:{_port(site, 10000)}"
    codes = []
    with httpx.Client(timeout=30) as client:
        for attempt in range(8):
            codes.append(_login(client, base, "admin", "wrong password!", forwarded=f"198.51.100.{attempt}"))
        assert codes[:5] == [401] * 5
        assert codes[5:] == [429] * 3, "a new X-Forwarded-For is the same client"
        right = _login(client, base, "admin", _board_password(site, 10000), forwarded="203.0.113.9")
    assert right == 429, "a locked account refuses the right password too"


def test_no_refusal_left_a_traceback_in_the_node_logs(site: Site) -> None:
    for party in (9999, 10000):
        log = site.node_log(party)
        assert "Traceback" not in log, log[-3000:]

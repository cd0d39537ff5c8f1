"""The REST listener's limits without a network: which proxies are believed, which body bound applies where,
who is evicted at the connection cap, how repeated accept errors are logged, and per-party cookie names."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from pydantic import ValidationError

from unseen.board.web import login_cookie_name, session_cookie_name
from unseen.config.node import NodeConfig
from unseen.node.http_guard import ConnectionGuard, GuardedH11Protocol, HttpLimits, RepeatedErrorFilter
from unseen.node.request_limits import BodyLimits, needs_token
from unseen.node.server import rest_server_config


def _config(**changes: Any) -> NodeConfig:
    fields: dict[str, Any] = {
        "party_id": 9999,
        "home": "/tmp/unseen-test-home",
        "rest_port": 8080,
        "federation_port": 9370,
        "tls": {"cert": "c", "key": "k"},
    }
    return NodeConfig.model_validate({**fields, **changes})


def test_forwarding_headers_are_believed_from_listed_proxies_only() -> None:
    plain = rest_server_config(object(), _config())
    assert plain.proxy_headers is False, "uvicorn's default would trust 127.0.0.1, i.e. every local client"
    proxied = rest_server_config(object(), _config(trusted_proxies=["10.0.0.5", "10.1.0.0/24"]))
    assert proxied.proxy_headers is True
    assert proxied.forwarded_allow_ips == ["10.0.0.5", "10.1.0.0/24"]


@pytest.mark.parametrize("entry", ["*", "proxy.example", "10.0.0.300"])
def test_a_trusted_proxy_must_be_an_address_or_network(entry: str) -> None:
    with pytest.raises(ValidationError, match="not an IP address or network"):
        _config(trusted_proxies=[entry])


def test_each_kind_of_endpoint_has_its_own_body_bound() -> None:
    limits = BodyLimits(json_bytes=1, form_bytes=2, upload_bytes=3)
    assert limits.for_request("POST", "/v1/jobs") == 1
    assert limits.for_request("PUT", "/v1/tables/a.b") == 3
    assert limits.for_request("POST", "/v1/tables/a.b") == 1
    assert limits.for_request("POST", "/v1/board/users/admin/password") == 2
    assert limits.for_request("POST", "/board/login") == 2
    assert needs_token("/v1/jobs") and needs_token("/v1/board/users/admin/password")
    assert not needs_token("/v1/health") and not needs_token("/board/login")


class _Connection:
    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.dropped = False

    def drop(self) -> None:
        self.dropped = True
        self.guard.forget(cast(GuardedH11Protocol, self))


def test_past_the_cap_the_oldest_waiting_connection_makes_room() -> None:
    guard = ConnectionGuard(HttpLimits(max_connections=2, header_timeout_s=1, body_timeout_s=1))
    busy, idle, new, newer = (_Connection(guard) for _ in range(4))
    for conn in (busy, idle):
        assert guard.admit(cast(GuardedH11Protocol, conn))
    guard.waiting[cast(GuardedH11Protocol, idle)] = None  # `busy` is in the middle of a request
    assert guard.admit(cast(GuardedH11Protocol, new))
    assert idle.dropped and not busy.dropped
    assert not guard.admit(cast(GuardedH11Protocol, newer)), "no connection is waiting: the newcomer is refused"
    assert guard.closed == {"evicted at the connection cap": 1, "refused at the connection cap": 1}


def test_repeated_accept_errors_are_logged_once_a_minute_without_traceback() -> None:
    now = [0.0]
    only = RepeatedErrorFilter("socket.accept() out of system resource", every_s=60, clock=lambda: now[0])

    def record() -> logging.LogRecord:
        try:
            raise OSError(24, "Too many open files")
        except OSError as exc:
            error = (type(exc), exc, exc.__traceback__)
        return logging.LogRecord(
            "asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource\nx", (), error
        )

    passed = [only.filter(rec) for rec in (record() for _ in range(1000))]
    assert passed.count(True) == 1
    now[0] = 61
    again = record()
    assert only.filter(again) and "999 more like it" in str(again.msg) and again.exc_info is None
    other = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "something else", (), None)
    assert only.filter(other)


def test_each_party_names_its_own_cookies() -> None:
    assert session_cookie_name(9999) != session_cookie_name(10000)
    assert session_cookie_name(10000) == "unseen_session_10000"
    assert login_cookie_name(9999) != login_cookie_name(10000)

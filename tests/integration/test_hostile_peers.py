"""A partner that holds the federation port hostage, and a partner that restarts: three real nodes on loopback.

Party 9999 plays a hostile partner with its own valid certificate against party 10000, while 10001 and 10000
run an honest job. Then 10000 restarts, and 10001 must reach it again promptly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from tests.integration.conftest import Site, make_site, stop_site
from tests.integration.peer_tools import tls_files
from unseen.cli.toy import toy_job
from unseen.transport.methods import push_method
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.tls import server_name

pytestmark = pytest.mark.integration
EXPECTED = "success to calculate secure_sum, it is 2000.0"
CAP = 32  # max_calls_per_peer's default
FIRST_MESSAGE_S = 10.0  # first_message_timeout_s's default


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = make_site(tmp_path_factory.mktemp("home"), [9999, 10000, 10001])
    yield running
    stop_site(running)


def _connection(site: Site, party: int, target: int, number: int) -> grpc.Channel:
    """A channel with a TCP connection of its own (distinct options keep gRPC from sharing one)."""
    key, cert, ca = tls_files(site, party)
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    port = site.standalone.node_config(target).federation_port
    options = [("grpc.ssl_target_name_override", server_name(target)), ("unseen.test.connection", number)]
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options)


def test_idle_streams_from_one_partner_neither_starve_honest_jobs_nor_stay(three: Site) -> None:
    release = threading.Event()

    def silent() -> Iterator[pb.Chunk]:
        release.wait(120)
        return
        yield

    channels = [_connection(three, 9999, 10000, n) for n in range(4)]  # 4 x 32 streams: more than the cap
    calls: list[grpc.Future] = [push_method(channels[i % 4]).future(silent(), timeout=120) for i in range(96)]
    try:
        three.wait_for(lambda: sum(c.done() for c in calls) >= len(calls) - CAP, timeout=30, what="refusals")
        refused = [c for c in calls if c.done()]
        assert {c.code() for c in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        held = [c for c in calls if not c.done()]
        assert len(held) == CAP  # the node serves these, and nothing sends on them

        toy = three.cli("test", "toy", "-gid", "10001", "-hid", "10000")
        assert toy.returncode == 0, toy.stdout + toy.stderr
        assert toy.stdout.strip() == EXPECTED

        three.wait_for(lambda: all(c.done() for c in held), timeout=FIRST_MESSAGE_S + 30, what="idle streams ended")
        assert {c.code() for c in held} == {grpc.StatusCode.DEADLINE_EXCEEDED}
        assert "no first message within 10 s" in held[0].details()
    finally:
        release.set()
        for channel in channels:
            channel.close()
    log = three.node_log(10000)
    assert f"refused a Push call from party 9999: it already holds {CAP} calls here" in log
    assert "ended a Push call from party 9999: no first message within 10 s" in log


def test_a_restarted_node_is_reached_again_by_its_partner_promptly(three: Site) -> None:
    """10001's first job after 10000 is back succeeds.

    While 10000 is down, 10001 keeps proposing jobs to it (each fails at once), as a busy partner would. gRPC's
    default reconnect backoff grew with every failed attempt (1 s x 1.6 each, up to 120 s), and until the next
    attempt the channel failed every call with the old "Connection refused": after an outage of 25 s the
    partner stayed refused for many seconds after 10000 was up. The node's channels now retry at least
    every second, so 2 s after 10000 is healthy its partner reaches it.
    """
    partner = three.client(10001)
    assert three.standalone.stop_node(10000)
    outage_until = time.monotonic() + 25
    while time.monotonic() < outage_until:
        partner.post("/jobs", toy_job(10001, 10000, 1000, 4, 60))
        time.sleep(0.5)
    three.standalone.start_node(10000)
    three.standalone.wait_healthy(10000)
    time.sleep(2.0)  # twice the longest reconnect backoff; the old one was far longer after such an outage
    toy = three.cli("test", "toy", "-gid", "10001", "-hid", "10000", timeout=60)
    assert toy.returncode == 0, toy.stdout + toy.stderr
    assert toy.stdout.strip() == EXPECTED

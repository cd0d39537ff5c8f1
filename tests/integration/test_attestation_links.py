"""Real nodes in simulated attestation mode: every link attested on both ends before any job message.

Parties 9999 and 10000 claim the measurement every policy allows; 10001 claims another. Each node's
certificate is reissued with its evidence (``unseen attest issue``) before the site starts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import Site, make_site, stop_site

pytestmark = pytest.mark.integration
GOOD, BAD = "aa" * 32, "bb" * 32
EXPECTED = "success to calculate secure_sum, it is 2000.0"


def attestation(mrenclave: str) -> dict[str, object]:
    return {
        "mode": "simulated",
        "policy": {"mrenclave": [GOOD], "allow_simulated": True},
        "simulated": {"mrenclave": mrenclave, "mrsigner": "cc" * 32},
    }


@pytest.fixture(scope="module")
def attested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = make_site(
        tmp_path_factory.mktemp("attest"), [9999, 10000, 10001], start=False, attestation=attestation(GOOD)
    )
    site.set_node_option(10001, attestation=attestation(BAD))
    for party in site.parties:
        config = site.standalone.node_config_path(party)
        ca = site.standalone.node_dir(party) / "ca"  # each party's own CA (docs/trust.md)
        issued = site.cli(
            "attest", "issue", "-c", str(config), "--ca-cert", str(ca / "ca.crt"), "--ca-key", str(ca / "ca.key")
        )
        assert issued.returncode == 0, issued.stdout + issued.stderr
        assert "INSECURE" in issued.stdout
    ports = ["--parties", "9999,10000,10001", "--base-port", str(site.base_port)]
    started = site.cli("standalone", "start", *ports)
    assert started.returncode == 0, started.stdout + started.stderr
    yield site
    stop_site(site)


def test_the_toy_runs_with_attestation_on_both_ends(attested: Site) -> None:
    result = attested.cli("test", "toy", "-gid", "9999", "-hid", "10000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == EXPECTED
    shown = attested.cli("attest", "show", str(attested.standalone.node_dir(10000) / "tls" / "node.crt"))
    assert "INSECURE" in shown.stdout and f"mrenclave: {GOOD}" in shown.stdout


def test_a_partner_with_another_measurement_is_refused_by_the_client(attested: Site) -> None:
    """9999 dials 10001, reads its certificate's evidence, and never opens the channel."""
    result = attested.cli("test", "toy", "-gid", "9999", "-hid", "10001")
    assert result.returncode == 1
    assert "party 10001" in result.stderr and f"mrenclave: expected {GOOD}, got {BAD}" in result.stderr
    assert f"refused party 10001: attestation failed: mrenclave: expected {GOOD}, got {BAD}" in attested.node_log(9999)
    assert "accepted job" not in attested.node_log(10001)
    job_line = [line for line in attested.node_log(9999).splitlines() if " failed: party 10001" in line]
    assert job_line and f"mrenclave: expected {GOOD}, got {BAD}" in job_line[-1]  # the job's end, in the node log


def test_a_caller_with_another_measurement_is_refused_by_the_server(attested: Site) -> None:
    """10001 (whose own policy 9999 meets) proposes to 9999, which refuses the call before reading it."""
    result = attested.cli("test", "toy", "-gid", "10001", "-hid", "9999")
    assert result.returncode == 1
    assert "PERMISSION_DENIED" in result.stderr
    assert f"party 10001's attestation evidence does not meet the policy: mrenclave: expected {GOOD}, got {BAD}" in (
        result.stderr
    )
    log = attested.node_log(9999)
    assert f"refused party 10001: attestation failed: mrenclave: expected {GOOD}, got {BAD}" in log
    assert "from party 10001 as" not in log  # no job accepted from it


def test_the_node_logs_that_simulated_mode_is_insecure(attested: Site) -> None:
    assert "INSECURE simulated attestation" in attested.node_log(10000)

"""Nodes on PostgreSQL as an operator runs them (``database_url: postgresql+psycopg://...`` in node.yaml), and
the rule that a node owns its database alone, on PostgreSQL and on SQLite. The PostgreSQL cases skip when
``UNSEEN_TEST_POSTGRES_URL`` is not set (CI always sets it, see scripts/with-postgres)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.databases import fresh_postgres_database
from tests.integration.conftest import Site, make_site, stop_site

pytestmark = pytest.mark.integration
GUEST, HOST = 9999, 10000
EXPECTED = "success to calculate secure_sum, it is 2000.0"


@pytest.fixture
def postgres_site(tmp_path: Path) -> Iterator[tuple[Site, dict[int, str]]]:
    """Two parties, each node on a PostgreSQL database of its own."""
    with ExitStack() as stack:
        urls = {party: stack.enter_context(fresh_postgres_database()) for party in (GUEST, HOST)}
        site = make_site(tmp_path / "home", [GUEST, HOST], start=False)
        site.standalone.configure(site.parties, site.base_port)
        for party, url in urls.items():
            site.set_node_option(party, database_url=url)
        stack.callback(stop_site, site)
        start(site)
        yield site, urls


def start(site: Site) -> None:
    result = site.cli("standalone", "start")
    assert result.returncode == 0, result.stdout + result.stderr


def test_nodes_on_postgresql_run_jobs_and_keep_jobs_and_tables_across_a_restart(
    postgres_site: tuple[Site, dict[int, str]], tmp_path: Path
) -> None:
    site, urls = postgres_site
    toy = site.cli("test", "toy", "-gid", str(GUEST), "-hid", str(HOST), "--verbose")
    assert toy.returncode == 0, toy.stdout + toy.stderr
    assert EXPECTED in toy.stdout
    job_id = re.search(r"job (\w+) submitted", toy.stdout).group(1)  # type: ignore[union-attr]
    table = tmp_path / "guest.csv"
    table.write_text("id,x,y\n" + "".join(f"u{i},{i * 0.5},{i % 2}\n" for i in range(40)))
    upload = site.cli("data", "upload", "-f", str(table), "-t", "exp.pg", "--label-column", "y", "-p", str(GUEST))
    assert upload.returncode == 0, upload.stdout + upload.stderr

    for party in (GUEST, HOST):  # the state is in PostgreSQL, not in a SQLite file beside the node
        assert not (site.standalone.node_dir(party) / "node.db").exists()
        with create_engine(urls[party]).connect() as connection:
            status = connection.execute(text("SELECT status FROM jobs WHERE job_id = :j"), {"j": job_id}).scalar()
            assert status == "success"

    # A server restart ends the connection that holds a node's claim: the node takes the claim again.
    with create_engine(urls[GUEST]).begin() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :who"),
            {"who": f"unseen node {GUEST}"},
        )
    site.wait_for(lambda: "claimed again" in site.node_log(GUEST), 30, "the guest's node to claim its database again")

    stop_site(site)
    start(site)

    listed = site.cli("job", "list", "--party", str(GUEST)).stdout
    assert re.search(rf"^{job_id}\s+success\s+{GUEST}", listed, re.M), listed
    query = site.cli("job", "query", "-j", job_id).stdout
    assert re.search(rf"secure_sum_0\s+host\s+{HOST}\s+success", query), query
    metrics = site.cli("job", "metrics", "-j", job_id).stdout
    assert "2000.0" in metrics, metrics
    shown = site.cli("data", "show", "-t", "exp.pg", "-p", str(GUEST))
    assert shown.returncode == 0 and "40 rows" in shown.stdout, shown.stdout + shown.stderr
    again = site.cli("test", "toy", "-gid", str(HOST), "-hid", str(GUEST))  # and it still runs jobs
    assert again.returncode == 0 and EXPECTED in again.stdout, again.stdout + again.stderr


def test_a_second_node_on_a_database_another_node_owns_is_refused(tmp_path: Path, database_url: str) -> None:
    """Two sites, each with a party 10000, pointed at one database: the second node must not start (its
    statuses in memory would go stale under the other's writes), and says which node holds the database."""
    first = make_site(tmp_path / "first", [HOST], database_url=database_url)
    try:
        second = make_site(tmp_path / "second", [HOST], start=False, database_url=database_url)
        refused = second.cli("standalone", "start")
        assert refused.returncode != 0
        log = second.node_log(HOST)
        assert re.search(r"node cannot start: the database is in use by .*unseen node 10000", log), log
        assert "Traceback" not in log
        toy = first.cli("test", "toy", "-gid", str(HOST), "-hid", str(HOST))  # the owner is untouched
        assert toy.returncode == 0 and EXPECTED in toy.stdout, toy.stdout + toy.stderr
    finally:
        stop_site(first)

"""The node's database: SQLite against PostgreSQL, in the same run, on the same machine.

Two standalone sites are started one after the other in a temporary ``UNSEEN_HOME``, each with parties 9999
(guest, the initiator) and 10000 (host): one whose nodes keep the default SQLite file, one whose nodes each
have a PostgreSQL database of their own (``database_url: postgresql+psycopg://...``). On each site:

* **submit-to-start**: one toy job at a time (``toy_secure_sum`` between 9999 and 10000), timed from just
  before ``POST /v1/jobs`` to the first task's ``started_at`` (the initiator's node records it when the task
  process is spawned; same machine, same clock); and to the job's end as the client sees it (polling every
  20 ms).
* **20 concurrent toy jobs**: submitted together from 20 threads, timed from the first submit to the last
  job's end; every job must succeed. Also the median and worst submit-to-start among them.

PostgreSQL comes from ``UNSEEN_TEST_POSTGRES_URL`` (a server URL whose user may create databases), so run it as

    bash scripts/with-postgres python benchmarks/database.py            # 10 single jobs, 20 concurrent
    bash scripts/with-postgres python benchmarks/database.py --quick    # 3 single jobs, 5 concurrent

Prints a table and writes benchmarks/results/database.json (the rows, machine info and every sample).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from bench_site import free_port_block
from sqlalchemy import create_engine, make_url, text

from unseen.cli.client import NodeClient
from unseen.cli.toy import toy_job
from unseen.node.standalone import StandaloneSite

RESULTS = Path(__file__).resolve().parent / "results" / "database.json"
GUEST, HOST = 9999, 10000
JOB_TIMEOUT_S = 600
POLL_S = 0.02


@dataclass
class Backend:
    name: str
    start_s: list[float] = field(default_factory=list)  # single jobs: submit -> first task started
    end_s: list[float] = field(default_factory=list)  # single jobs: submit -> the client sees it ended
    concurrent_wall_s: float = 0.0
    concurrent_start_s: list[float] = field(default_factory=list)
    concurrent_ok: int = 0


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    name = f"unseen_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def running_site(home: Path, database_urls: dict[int, str] | None) -> Iterator[StandaloneSite]:
    site = StandaloneSite(home / "standalone")
    site.configure([GUEST, HOST], base_port=free_port_block(4))
    for party, url in (database_urls or {}).items():
        path = site.node_config_path(party)
        config = yaml.safe_load(path.read_text())
        config["database_url"] = url
        path.write_text(yaml.safe_dump(config))
    try:
        for party in (GUEST, HOST):
            site.start_node(party)
        for party in (GUEST, HOST):
            site.wait_healthy(party)
        yield site
    except Exception:
        for party in (GUEST, HOST):
            print(f"--- party {party}'s node log ---\n{site.log_tail(party, 30)}", file=sys.stderr)
        raise
    finally:
        for party in (GUEST, HOST):
            site.stop_node(party)


def client(site: StandaloneSite) -> NodeClient:
    config = site.node_config(GUEST)
    return NodeClient(f"http://127.0.0.1:{config.rest_port}", config.api_token_file.read_text().strip(), GUEST, 60)


def one_job(site: StandaloneSite) -> tuple[float, float, str]:
    """Submit a toy job and wait for it: (submit -> first task started, submit -> ended, final status)."""
    api = client(site)
    try:
        submitted = time.time()
        job_id = api.post("/jobs", toy_job(GUEST, HOST, 1000, 4, JOB_TIMEOUT_S))["job_id"]
        deadline = time.monotonic() + JOB_TIMEOUT_S + 30
        while time.monotonic() < deadline:
            job: dict[str, Any] = api.get(f"/jobs/{job_id}")
            if job["status"] not in ("waiting", "running"):
                ended = time.time()
                started = min(t["started_at"] for t in job["tasks"] if t["started_at"])
                return started - submitted, ended - submitted, str(job["status"])
            time.sleep(POLL_S)
        raise RuntimeError(f"job {job_id} did not end within {JOB_TIMEOUT_S + 30} s")
    finally:
        api.close()


def measure(name: str, site: StandaloneSite, single: int, concurrent: int) -> Backend:
    result = Backend(name)
    one_job(site)  # warm-up: imports, the first connections, the page cache
    for _ in range(single):
        start_s, end_s, status = one_job(site)
        if status != "success":
            raise RuntimeError(f"{name}: a toy job ended {status}")
        result.start_s.append(start_s)
        result.end_s.append(end_s)
    first = time.perf_counter()
    with ThreadPoolExecutor(concurrent) as pool:
        outcomes = list(pool.map(lambda _: one_job(site), range(concurrent)))
    result.concurrent_wall_s = time.perf_counter() - first
    result.concurrent_start_s = [start for start, _, _ in outcomes]
    result.concurrent_ok = sum(status == "success" for _, _, status in outcomes)
    return result


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def rows(results: list[Backend], concurrent: int) -> list[tuple[str, str, str]]:
    table: list[tuple[str, str, str]] = []
    for r in results:
        table += [
            (f"{r.name}: submit -> first task started, median", f"{statistics.median(r.start_s) * 1000:.0f}", "ms"),
            (f"{r.name}: submit -> first task started, p90", f"{p90(r.start_s) * 1000:.0f}", "ms"),
            (f"{r.name}: submit -> job ended (client sees it), median", f"{statistics.median(r.end_s):.2f}", "s"),
            (
                f"{r.name}: {concurrent} concurrent toy jobs, first submit -> last end",
                f"{r.concurrent_wall_s:.1f}",
                "s",
            ),
            (
                f"{r.name}: {concurrent} concurrent, submit -> first task started, median",
                f"{statistics.median(r.concurrent_start_s):.2f}",
                "s",
            ),
            (f"{r.name}: {concurrent} concurrent, succeeded", f"{r.concurrent_ok}/{concurrent}", "jobs"),
        ]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 single jobs and 5 concurrent ones")
    args = parser.parse_args()
    single, concurrent = (3, 5) if args.quick else (10, 20)
    server = os.environ.get("UNSEEN_TEST_POSTGRES_URL")
    if not server:
        raise SystemExit(
            "set UNSEEN_TEST_POSTGRES_URL, or run: bash scripts/with-postgres python benchmarks/database.py"
        )
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="unseen-bench-db-") as tmp:
        os.environ["UNSEEN_HOME"] = str(Path(tmp) / "sqlite")
        print(f"SQLite site: {single} single toy jobs, then {concurrent} at once ...", flush=True)
        with running_site(Path(tmp) / "sqlite", None) as site:
            results.append(measure("SQLite", site, single, concurrent))
        os.environ["UNSEEN_HOME"] = str(Path(tmp) / "postgres")
        print(f"PostgreSQL site: {single} single toy jobs, then {concurrent} at once ...", flush=True)
        with ExitStack() as stack:
            urls = {party: stack.enter_context(postgres_database(server)) for party in (GUEST, HOST)}
            with create_engine(server).connect() as connection:
                version = str(connection.execute(text("SHOW server_version")).scalar())
            site = stack.enter_context(running_site(Path(tmp) / "postgres", urls))
            results.append(measure("PostgreSQL", site, single, concurrent))
    table = rows(results, concurrent)
    width = max(len(name) for name, _, _ in table)
    print(f"\n{'name':<{width}}  {'value':>8}  unit")
    print("-" * (width + 18))
    for name, value, unit in table:
        print(f"{name:<{width}}  {value:>8}  {unit}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "postgresql": version,
                    "load_before": load_before,
                    "load_after": os.getloadavg(),
                },
                "rows": [{"name": n, "value": v, "unit": u} for n, v, u in table],
                "samples": [asdict(r) for r in results],
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()

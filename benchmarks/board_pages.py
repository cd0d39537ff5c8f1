"""The board's pages in a real browser: time to first paint and to content, and bytes over the wire, cold and warm.

A two-party standalone site (9999, 10000) in a temporary ``UNSEEN_HOME``, started through the CLI. Party
9999's database gets 1,000 finished jobs (written while the nodes are stopped, as a node's own records), then
the site runs the toy (``unseen test toy``) so there is a real job page with its DAG. Debian's headless
Chromium, driven by Playwright, logs in and opens:

- the jobs list (the first page of the 1,000: 50 rows, rendered on the server);
- the toy's job page (the DAG drawn by ECharts from the page's first poll).

*cold* is a fresh browser profile (empty HTTP cache; the session cookie copied in); *warm* is the same page
loaded again in that profile. Per load: first contentful paint, content (the jobs table's rows present; the
DAG drawn with every component), the navigation and every static file's ``transferSize`` (0 when the cache
answered). The baseline, measured in the same run: the same static files fetched without compression
(``Accept-Encoding: identity``), i.e. what a cold page cost before the board compressed them.

    python benchmarks/board_pages.py             # 5 loads of each page, cold and warm (~1 min)
    python benchmarks/board_pages.py --runs 2    # a smoke run

Goals (issue 14): content under 300 ms warm; under 200 KB per job page warm.
Prints a table and writes benchmarks/results/board_pages.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_site import free_port_block, unseen_command

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "board_pages.json"
CHROMIUM = Path(os.environ.get("UNSEEN_CHROMIUM", "/usr/bin/chromium"))
GUEST, HOST = 9999, 10000
JOBS = 1000
GOAL_CONTENT_MS = 300.0
GOAL_JOB_PAGE_BYTES = 200_000
LOAD = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const statics = performance.getEntriesByType('resource').filter((r) => r.name.includes('/board/static/'));
  return {
    fcp_ms: paint ? paint.startTime : null,
    bytes: nav.transferSize + statics.reduce((sum, r) => sum + r.transferSize, 0),
    document_bytes: nav.transferSize,
    static_bytes: statics.reduce((sum, r) => sum + r.transferSize, 0),
    statics: statics.map((r) => [r.name.split('/board/static/')[1], r.transferSize]),
  };
}"""
CONTENT = {
    "jobs list": "() => document.querySelectorAll('#jobs tbody tr[data-job]').length >= 50",
    "job page": "() => { const c = window.echarts && echarts.getInstanceByDom(document.getElementById('dag'));"
    " return !!c && c.getOption().series[0].data.length > 0; }",
}


def cli(command: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"unseen {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def add_jobs(database: Path, count: int) -> None:
    """``count`` finished jobs in a stopped node's database, as the node itself records them."""
    from sqlalchemy import update

    from unseen.storage.database import open_engine
    from unseen.storage.models import JobRecord
    from unseen.storage.repository import NodeStore

    engine = open_engine(f"sqlite:///{database}")
    store = NodeStore(engine)
    config = json.dumps({"parties": {"guest": [GUEST], "host": [HOST]}, "components": [{"name": "reader_0"}]})
    now = time.time()
    for i in range(count):
        job_id = f"20260101{i:012d}"
        store.add_job(job_id, f"bench-{i % 17}", GUEST, True, config)
        with store.session() as db, db.begin():
            db.execute(
                update(JobRecord)
                .where(JobRecord.job_id == job_id)
                .values(status="success" if i % 5 else "failed", created_at=now - 10 * (count - i),
                        started_at=now - 10 * (count - i) + 1, ended_at=now - 10 * (count - i) + 5)
            )  # fmt: skip
    engine.dispose()


def measure(browser: Any, cookies: Any, url: str, content: str) -> dict[str, Any]:
    """One cold load in a fresh profile, then one warm load of the same page in it."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.add_cookies(cookies)
    page = context.new_page()
    found: dict[str, Any] = {}
    for mode in ("cold", "warm"):
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_function(content, polling="raf")
        content_ms = (time.perf_counter() - started) * 1e3
        page.wait_for_load_state("load")
        found[mode] = {**page.evaluate(LOAD), "content_ms": content_ms}
    context.close()
    return found


def identity_bytes(base: str, cookies: dict[str, str], statics: list[str]) -> int:
    """The page's static files without compression: what a cold load cost before the board gzipped them."""
    total = 0
    with httpx.Client(base_url=base, cookies=cookies, headers={"Accept-Encoding": "identity"}) as client:
        for path in statics:
            total += len(client.get(f"/board/static/{path}").content)
    return total


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def row_of(page: str, mode: str, loads: list[dict[str, Any]], identity: int) -> dict[str, Any]:
    """Medians of one page's loads in one mode, against the uncompressed cold baseline and the goals."""
    content = median([x["content_ms"] for x in loads])
    size = median([x["bytes"] for x in loads])
    goal_bytes = GOAL_JOB_PAGE_BYTES if page == "job page" and mode == "warm" else None
    met = None
    if mode == "warm":
        met = content < GOAL_CONTENT_MS and (goal_bytes is None or size < goal_bytes)
    return {
        "page": page,
        "mode": mode,
        "first_paint_ms": median([x["fcp_ms"] or 0.0 for x in loads]),
        "content_ms": content,
        "bytes": size,
        "baseline_bytes_uncompressed_cold": identity,
        "ratio_bytes": size / identity,
        "goal_content_ms": GOAL_CONTENT_MS if mode == "warm" else None,
        "goal_bytes": goal_bytes,
        "met": met,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set UNSEEN_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    from unseen.node.standalone import StandaloneSite

    command = unseen_command()
    home = Path(tempfile.mkdtemp(prefix="unseen-board-bench-"))
    env = {**os.environ, "UNSEEN_HOME": str(home)}
    env.pop("UNSEEN_NODE_URL", None)
    site = StandaloneSite(home / "standalone")
    site.configure([GUEST, HOST], free_port_block(4))
    rows: list[dict[str, Any]] = []
    samples: dict[str, list[dict[str, Any]]] = {}
    try:
        cli(command, env, "standalone", "start")
        cli(command, env, "standalone", "stop")
        add_jobs(site.node_dir(GUEST) / "node.db", JOBS)
        cli(command, env, "standalone", "start")
        cli(command, env, "test", "toy", "-gid", str(GUEST), "-hid", str(HOST))
        password = (site.node_dir(GUEST) / "board-admin.password").read_text().strip()
        base = f"http://127.0.0.1:{site.node_config(GUEST).rest_port}"
        token = site.node_config(GUEST).api_token_file.read_text().strip()
        toy = next(j["job_id"] for j in httpx.get(f"{base}/v1/jobs", headers={"Authorization": f"Bearer {token}"},
                                                  params={"limit": 5}).json() if j["name"] == "toy")  # fmt: skip
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"], headless=True
            )
            login = browser.new_context()
            page = login.new_page()
            page.goto(f"{base}/board/login")
            page.fill("#password", password)
            page.click("#login")
            page.wait_for_url("**/board/jobs")
            cookies = login.cookies()
            login.close()
            for name, path in (("jobs list", "/board/jobs"), ("job page", f"/board/jobs/{toy}")):
                runs = [measure(browser, cookies, base + path, CONTENT[name]) for _ in range(args.runs)]
                samples[name] = runs
                statics = [s[0] for s in runs[0]["cold"]["statics"]]
                session = {c["name"]: c["value"] for c in cookies}
                identity = identity_bytes(base, session, statics) + runs[0]["cold"]["document_bytes"]
                rows += [row_of(name, mode, [r[mode] for r in runs], identity) for mode in ("cold", "warm")]
            browser.close()
    finally:
        subprocess.run([command, "standalone", "stop"], env=env, capture_output=True, timeout=120, check=False)
        shutil.rmtree(home, ignore_errors=True)

    print(
        f"{'page':<10} {'load':<5} {'first paint':>12} {'content':>10} {'bytes':>10} {'vs uncompressed cold':>21}  goal"
    )
    for row in rows:
        goal = "" if row["met"] is None else ("met" if row["met"] else "MISSED")
        print(
            f"{row['page']:<10} {row['mode']:<5} {row['first_paint_ms']:>9.0f} ms {row['content_ms']:>7.0f} ms "
            f"{row['bytes'] / 1000:>7.1f} KB {row['ratio_bytes']:>20.3f}x  {goal}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
                "jobs": JOBS,
                "runs": args.runs,
                "rows": rows,
                "samples": samples,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

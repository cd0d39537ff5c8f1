"""The board in a real browser: Debian's headless Chromium driven by Playwright, against real nodes started
through the CLI exactly as tests/integration starts them (its helpers are reused, not copied).

Playwright's own browser downloads are never used (they cannot be fetched here, and CI installs Debian's
``chromium`` instead). Without that browser the suite is skipped on a developer's machine, and fails on CI,
where a skipped browser suite would hide a broken board.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.integration.conftest import UNSEEN, Site, make_site, stop_site

CHROMIUM = Path(os.environ.get("UNSEEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
E2E_PLUGINS = Path(__file__).with_name("plugins")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "board"
GUEST, HOST = 9999, 10000
FINAL = {"success", "failed", "canceled", "timeout"}


@dataclass
class BoardSite:
    """A running two-party site whose nodes know the board's test components, and admin's first password."""

    site: Site
    passwords: dict[int, str]
    tmp: Path
    jobs: dict[str, str] = field(default_factory=dict)  # what the tests share: "toy", "metrics" -> job id

    def url(self, path: str = "/board/", party: int = GUEST) -> str:
        return f"{self.site.client(party).base_url}{path}"

    def submit(self, config: dict[str, Any], party: int = GUEST) -> str:
        job_id: str = self.site.client(party).post("/jobs", config)["job_id"]
        return job_id

    def job(self, job_id: str, party: int = GUEST) -> dict[str, Any]:
        answer: dict[str, Any] = self.site.client(party).get(f"/jobs/{job_id}")
        return answer

    def wait_job(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in FINAL:
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not end in {timeout} s: {self.job(job_id)}")

    def unseen(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The CLI as a user runs it, with standard input when a command reads it."""
        return subprocess.run(
            [UNSEEN, *args], env=self.site.env, input=stdin, capture_output=True, text=True, timeout=60, check=False
        )


def metrics_job(steps: int = 10, delay_s: float = 0.0, name: str = "metrics-demo") -> dict[str, Any]:
    """data_0 → train_0: a two-level DAG whose second component logs every kind of metric the board draws."""
    return {
        "name": name,
        "initiator": {"role": "guest", "party_id": GUEST},
        "parties": {"guest": [GUEST], "host": [HOST]},
        "timeout_s": 120,
        "components": [
            {"name": "data_0", "component": "demo_source", "params": {"rows": 40}},
            {
                "name": "train_0",
                "component": "metrics_demo",
                "inputs": {"data": "data_0.data"},
                "params": {"steps": steps, "delay_s": delay_s},
                "role_params": {"host": {"learning_rate": 0.05}},
            },
        ],
    }


def hold_job(release_file: Path) -> dict[str, Any]:
    return {
        "name": "hold-for-stop",
        "initiator": {"role": "guest", "party_id": GUEST},
        "parties": {"guest": [GUEST], "host": [HOST]},
        "timeout_s": 120,
        "components": [{"name": "hold_0", "component": "hold", "params": {"release_file": str(release_file)}}],
    }


@pytest.fixture(scope="session")
def board_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoardSite]:
    tmp = tmp_path_factory.mktemp("board")
    site = make_site(tmp / "home", [GUEST, HOST], start=False)
    site.env["UNSEEN_COMPONENTS"] = "unseen_test_components,unseen_board_demo_source,unseen_board_metrics_demo"
    site.env["PYTHONPATH"] = os.pathsep.join([str(E2E_PLUGINS), site.env["PYTHONPATH"]])
    started = site.cli("standalone", "start", "--parties", f"{GUEST},{HOST}", "--base-port", str(site.base_port))
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        passwords = {
            party: (site.standalone.node_dir(party) / "board-admin.password").read_text().strip()
            for party in (GUEST, HOST)
        }
        yield BoardSite(site, passwords, tmp)
    finally:
        stop_site(site)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module: Playwright's sync API keeps an event loop in the main thread while it runs, which would
    stop the later tests' ``asyncio.run`` (they run after tests/e2e)."""
    if not CHROMIUM.is_file():
        message = f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set UNSEEN_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile (no cookies) per test; fails the test if the page broke the CSP or threw."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    yield tab
    context.close()
    assert not problems, problems


def login(page: Page, board: BoardSite, party: int = GUEST, password: str | None = None) -> None:
    page.goto(board.url("/board/login", party))
    page.fill("#username", "admin")
    page.fill("#password", password or board.passwords[party])
    page.click("#login")
    page.wait_for_url("**/board/jobs")


def shot(page: Page, name: str) -> None:
    """A screenshot for people (CI keeps artifacts/board/); full page, so nothing below the fold is missed."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login_form_session(board: BoardSite, party: int = GUEST) -> tuple[httpx.Client, str]:
    """An HTTP client holding the login form's cookie, and the form's token: what a browser would send."""
    client = httpx.Client(base_url=board.url("", party), follow_redirects=False, timeout=10)
    form = client.get("/board/login")
    token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    return client, token

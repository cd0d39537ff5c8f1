"""The board as a person uses it, in headless Chromium against real nodes: log in, find jobs, read the DAG,
open a component, see its charts and log, stop a running job, log out; and what must be refused is refused.

Screenshots of the main pages go to artifacts/board/ for people to look at.
"""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.e2e.conftest import GUEST, HOST, BoardSite, hold_job, login, login_form_session, metrics_job, shot

pytestmark = pytest.mark.e2e

CHART_HAS_DATA = """(metric) => {
  const plot = document.querySelector(`.chart[data-metric="${metric}"] .plot`);
  const chart = plot && echarts.getInstanceByDom(plot);
  return !!chart && chart.getOption().series[0].data.length > 0;
}"""


@pytest.fixture(scope="module")
def jobs(board_site: BoardSite) -> dict[str, str]:
    """The toy job (`unseen test toy`) and a finished metrics job, made once for the module."""
    toy = board_site.unseen("test", "toy", "-gid", str(GUEST), "-hid", str(HOST))
    assert toy.returncode == 0, toy.stdout + toy.stderr
    toy_id = next(j["job_id"] for j in board_site.site.client(GUEST).get("/jobs") if j["name"] == "toy")
    metrics_id = board_site.submit(metrics_job())
    assert board_site.wait_job(metrics_id)["status"] == "success"
    return {"toy": toy_id, "metrics": metrics_id}


def test_anonymous_requests_are_refused(board_site: BoardSite) -> None:
    base = board_site.url("")
    for path in ("/board/jobs", "/board/data", "/board/jobs/x", "/board/jobs/x/components/y/log/guest/9999"):
        page = httpx.get(base + path)
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/board/login?next=%2Fboard%2F"), page.headers["location"]
    for path in ("/board/api/jobs", "/board/api/jobs/x", "/board/api/data", "/board/api/jobs/x/components/y/log"):
        assert httpx.get(base + path).status_code == 401, path
        assert httpx.get(base + path, cookies={f"unseen_session_{GUEST}": "forged"}).status_code == 401, path
    stop = httpx.post(base + "/board/jobs/x/stop", data={"csrf": "x"})
    assert stop.status_code == 303
    assert httpx.post(base + "/v1/board/users/admin/password", json={"password": "x" * 20}).status_code == 401
    login_page = httpx.get(base + "/board/login")
    assert "script-src 'self'" in login_page.headers["content-security-policy"]
    assert login_page.headers["x-frame-options"] == "DENY"


def test_a_wrong_password_is_refused(page: Page, board_site: BoardSite) -> None:
    page.goto(board_site.url("/board/jobs"))
    expect(page).to_have_url(board_site.url("/board/login?next=%2Fboard%2Fjobs"))
    page.fill("#password", "not-the-password")
    page.click("#login")
    expect(page.locator("#login-error")).to_have_text("wrong user name or password")
    assert "/board/login" in page.url
    shot(page, "login-refused")
    page.goto(board_site.url("/board/jobs"))
    expect(page.locator("#login-form")).to_be_visible()


def test_wrong_passwords_are_rate_limited_per_user_and_address(board_site: BoardSite) -> None:
    client, token = login_form_session(board_site)
    with closing(client):
        for _ in range(5):
            answer = client.post(
                "/board/login", data={"username": "mallory", "password": "guess", "login_token": token}
            )
            assert answer.status_code == 401
        blocked = client.post("/board/login", data={"username": "mallory", "password": "guess", "login_token": token})
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert "too many wrong passwords" in blocked.text
        admin = client.post(
            "/board/login",
            data={"username": "admin", "password": board_site.passwords[GUEST], "login_token": token},
        )
        assert admin.status_code == 303, "another user from the same address is not blocked"


def test_a_login_form_without_its_token_is_refused(board_site: BoardSite) -> None:
    answer = httpx.post(
        board_site.url("/board/login"), data={"username": "admin", "password": board_site.passwords[GUEST]}
    )
    assert answer.status_code == 400
    assert f"unseen_session_{GUEST}=" not in answer.headers.get("set-cookie", "")


def test_jobs_dag_component_charts_and_log(page: Page, board_site: BoardSite, jobs: dict[str, str]) -> None:
    login(page, board_site)
    toy_row, metrics_row = (page.locator(f'#jobs tr[data-job="{jobs[k]}"]') for k in ("toy", "metrics"))
    expect(toy_row).to_contain_text("toy")
    expect(toy_row.locator(".badge")).to_have_text("success")
    expect(toy_row).to_contain_text("guest 9999 · host 10000")
    expect(metrics_row).to_contain_text("metrics-demo")
    shot(page, "jobs")

    page.fill("#search", "metrics-demo")
    expect(toy_row).to_have_count(0)
    expect(metrics_row).to_have_count(1)
    page.fill("#search", jobs["toy"])
    expect(toy_row).to_have_count(1)
    expect(metrics_row).to_have_count(0)
    page.fill("#search", "")
    page.click('.chip[data-state="running"]')
    expect(page.locator("#jobs tbody")).to_contain_text("No jobs match")
    page.click('.chip[data-state="success"]')
    expect(metrics_row).to_have_count(1)
    assert "state=success" in page.url

    metrics_row.locator("a").click()
    page.wait_for_url(f"**/board/jobs/{jobs['metrics']}")
    page.wait_for_function(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('dag'));"
        " return !!c && c.getOption().series[0].data.filter((d) => d.url).length === 2; }"
    )
    states = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('dag')).getOption().series[0].data"
        ".filter((d) => d.url).map((d) => [d.name, d.status])"
    )
    assert states == [["data_0", "success"], ["train_0", "success"]]
    expect(page.locator("#stop-form")).to_be_hidden()
    expect(page.locator("#config")).to_contain_text("component: metrics_demo")
    shot(page, "job")

    # a click on the train_0 node in the DAG opens its component page
    point = page.evaluate(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('dag'));"
        " const n = c.getOption().series[0].data.find((d) => d.name === 'train_0');"
        " return c.convertToPixel({seriesIndex: 0}, n.value); }"
    )
    box = page.locator("#dag").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    page.wait_for_url(f"**/board/jobs/{jobs['metrics']}/components/train_0")

    for metric in ("loss", "accuracy", "roc", "ks-population", "gain", "confusion_matrix"):
        page.wait_for_function(CHART_HAS_DATA, arg=metric)
    loss_points = page.evaluate(
        "() => echarts.getInstanceByDom(document.querySelector('.chart[data-metric=\"loss\"] .plot'))"
        ".getOption().series.map((s) => s.data.length)"
    )
    assert loss_points == [10], "ten iterations of this party (the host's metrics stay on its node)"
    expect(page.locator(".chart[data-metric='loss'] canvas").first).to_be_visible()
    for metric, tip in (("loss", "iteration"), ("roc", "false positive rate"), ("confusion_matrix", "predicted")):
        plot = page.locator(f".chart[data-metric='{metric}'] .plot")
        plot.hover(position={"x": 230, "y": 140})  # tooltips must render under the CSP (the fixture checks)
        expect(page.locator(f".chart[data-metric='{metric}'] .tt-head").first).to_contain_text(tip)
    page.mouse.move(0, 0)
    expect(page.locator(".chart[data-metric='roc'] figcaption")).to_contain_text("AUC")
    expect(page.locator("#values")).to_contain_text("AUC")
    expect(page.locator("#params")).to_contain_text("learning_rate")
    expect(page.locator("#params")).to_contain_text("host")
    expect(page.locator("#outputs")).to_contain_text("train_0__data")
    expect(page.locator("#model-model")).to_contain_text("1 arrays")
    expect(page.locator("#log")).to_contain_text("iteration 9: loss")
    expect(page.locator("#log")).to_contain_text("metrics_demo: done after 10 iterations")
    expect(page.locator("#log-state")).to_contain_text("log complete")
    shot(page, "component")

    with page.expect_download() as download:
        page.click("#log-download")
    saved = Path(download.value.path())
    assert "iteration 9: loss" in saved.read_text()


def test_log_and_charts_follow_a_running_task(page: Page, board_site: BoardSite) -> None:
    job_id = board_site.submit(metrics_job(steps=12, delay_s=0.3, name="metrics-live"))
    deadline = time.monotonic() + 30
    while not any(t["component"] == "train_0" and t["status"] == "running" for t in board_site.job(job_id)["tasks"]):
        assert time.monotonic() < deadline, "train_0 never started"
        time.sleep(0.1)
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{job_id}/components/train_0"))
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator("#component-status .badge")).to_have_text("running")
    expect(page.locator("#log")).to_contain_text("iteration 0:")
    expect(page.locator("#log")).to_contain_text("metrics_demo: done after 12 iterations", timeout=20_000)
    expect(page.locator("#component-status .badge")).to_have_text("success", timeout=10_000)
    page.wait_for_function(CHART_HAS_DATA, arg="roc")
    assert page.evaluate("window.stillTheSamePage === true"), "the page updated itself, without a reload"
    text = page.locator("#log").inner_text()
    assert text.count("iteration 11: loss") == 1, "each line arrives once"


def test_stop_a_running_job_from_its_page(page: Page, board_site: BoardSite) -> None:
    release = board_site.tmp / "stop" / "release"
    release.parent.mkdir()
    job_id = board_site.submit(hold_job(release))
    board_site.site.wait_for((release.parent / f"started-guest-{GUEST}").exists, what="hold to start")
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{job_id}"))
    expect(page.locator("#job-status .badge")).to_have_text("running")
    page.wait_for_function(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('dag'));"
        " return !!c && c.getOption().series[0].data[0].status === 'running'; }"
    )
    shot(page, "job-running")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#stop")
    page.wait_for_timeout(500)
    assert board_site.job(job_id)["status"] == "running", "dismissing the confirmation stops nothing"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#stop")
    page.wait_for_url("**stop=requested")
    expect(page.locator("#note")).to_contain_text("Stop requested")
    expect(page.locator("#job-status .badge")).to_have_text("canceled", timeout=20_000)
    expect(page.locator("#stop-form")).to_be_hidden()
    expect(page.locator("#tasks")).to_contain_text("stopped by admin on the board")
    shot(page, "job-stopped")
    job = board_site.job(job_id)
    assert job["status"] == "canceled"
    assert {t["status"] for t in job["tasks"]} == {"canceled"}


def test_the_stop_form_needs_the_sessions_csrf_token(board_site: BoardSite) -> None:
    client, token = login_form_session(board_site)
    with closing(client):
        answer = client.post(
            "/board/login",
            data={"username": "admin", "password": board_site.passwords[GUEST], "login_token": token},
        )
        assert answer.status_code == 303
        refused = client.post("/board/jobs/whatever/stop", data={"csrf": "not-the-token"})
        assert refused.status_code == 403
        assert "Form expired" in refused.text


def test_data_page_shows_schemas_and_sizes_but_no_rows(page: Page, board_site: BoardSite) -> None:
    csv = board_site.tmp / "customers.csv"
    csv.write_text("id,age,income,label\n1,31,12345.678,1\n2,45,2100.5,0\n3,29,3300.25,1\n")
    uploaded = board_site.unseen(
        "data", "upload", "-f", str(csv), "-t", "board_test.customers", "--label-column", "label", "-p", str(GUEST)
    )
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    login(page, board_site)
    page.click("nav >> text=Data")
    row = page.locator('#tables tr[data-table="board_test.customers"]')
    expect(row).to_contain_text("4 columns")
    expect(row.locator("td").nth(1)).to_have_text("3")
    row.locator("summary").click()
    expect(row).to_contain_text("income")
    assert "12345.678" not in page.content(), "rows never appear on the board"
    shot(page, "data")


def test_logout_ends_the_session_on_the_server(page: Page, board_site: BoardSite) -> None:
    login(page, board_site)
    expect(page.locator("#updated")).to_contain_text("live")  # the list has refreshed itself at least once
    shot(page, "jobs-overview")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == f"unseen_session_{GUEST}")
    page.click("#logout")
    page.wait_for_url("**/board/login?bye=1")
    expect(page.locator("#note")).to_have_text("You are logged out.")
    page.goto(board_site.url("/board/jobs"))
    expect(page.locator("#login-form")).to_be_visible()
    reused = httpx.get(board_site.url("/board/api/jobs"), cookies={f"unseen_session_{GUEST}": cookie})
    assert reused.status_code == 401, "a copied cookie dies with the session"


def test_board_open_and_passwd_through_the_cli(board_site: BoardSite) -> None:
    first = board_site.passwords[HOST]
    opened = board_site.unseen("board", "open", "--party", str(HOST), "--no-browser")
    assert opened.returncode == 0, opened.stderr
    assert board_site.url("/board/", HOST) in opened.stdout
    assert f"password {first}" in opened.stdout

    weak = board_site.unseen("board", "passwd", "--party", str(HOST), "--password-stdin", stdin="short\n")
    assert weak.returncode == 1
    assert "at least 12 characters" in weak.stderr

    new = "correct horse battery staple"
    changed = board_site.unseen("board", "passwd", "--party", str(HOST), "--password-stdin", stdin=new + "\n")
    assert changed.returncode == 0, changed.stderr
    assert not (board_site.site.standalone.node_dir(HOST) / "board-admin.password").exists()
    assert "password" not in board_site.unseen("board", "open", "--party", str(HOST), "--no-browser").stdout
    board_site.passwords[HOST] = new  # later modules log in to this board too

    for password, expected in ((first, 401), (new, 303)):
        client, token = login_form_session(board_site, HOST)
        with closing(client):
            answer = client.post("/board/login", data={"username": "admin", "password": password, "login_token": token})
        assert answer.status_code == expected


def hetero_lr_job(board: BoardSite) -> str:
    """The shipped vertical example, as a user runs it: uploads at each party, then the five-component job.

    The board's site has two parties, so the host's party also plays the arbiter here; that weakens what
    the protocol hides from it (see docs/hetero-lr.md), which this test of the pages does not examine.
    """
    example = Path(__file__).resolve().parents[2] / "examples" / "hetero_lr"
    for party, csv, table, extra in (
        (GUEST, "breast_hetero_guest.csv", "experiment.breast_guest", ["--label-column", "y"]),
        (HOST, "breast_hetero_host.csv", "experiment.breast_host", []),
    ):
        result = board.unseen("data", "upload", "-f", str(example / csv), "-t", table, *extra, "--overwrite",
                              "-p", str(party))  # fmt: skip
        assert result.returncode == 0, result.stderr
    job = yaml.safe_load((example / "job.yaml").read_text())
    job["parties"]["arbiter"] = [HOST]
    lr = next(c for c in job["components"] if c["component"] == "hetero_lr")
    lr["params"].update(key_bits=1024, max_iter=10)
    job_id = board.submit(job)
    finished = board.wait_job(job_id, timeout=240)
    assert finished["status"] == "success", finished["reason"]
    return job_id


def test_a_hetero_lr_job_with_its_dag_loss_and_evaluation_charts(page: Page, board_site: BoardSite) -> None:
    job_id = hetero_lr_job(board_site)
    board_site.jobs["hetero_lr"] = job_id
    login(page, board_site)
    row = page.locator(f'#jobs tr[data-job="{job_id}"]')
    expect(row).to_contain_text("hetero_lr_breast")
    expect(row.locator(".badge")).to_have_text("success")
    row.locator("a").click()
    page.wait_for_url(f"**/board/jobs/{job_id}")
    page.wait_for_function(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('dag'));"
        " return !!c && c.getOption().series[0].data.filter((d) => d.url).length === 5; }"
    )
    states = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('dag')).getOption().series[0].data"
        ".filter((d) => d.url).map((d) => [d.name, d.status])"
    )
    assert sorted(states) == sorted(
        [[name, "success"] for name in ("reader_0", "psi_0", "scale_0", "hetero_lr_0", "evaluation_0")]
    )
    shot(page, "job-hetero-lr")

    page.goto(board_site.url(f"/board/jobs/{job_id}/components/hetero_lr_0"))
    page.wait_for_function(CHART_HAS_DATA, arg="loss")
    expect(page.locator("#log")).to_contain_text("hetero_lr")
    page.goto(board_site.url(f"/board/jobs/{job_id}/components/evaluation_0"))
    for metric in ("roc", "ks-population", "lift", "confusion_matrix"):
        page.wait_for_function(CHART_HAS_DATA, arg=metric)
    expect(page.locator(".chart[data-metric='roc'] figcaption")).to_contain_text("AUC")
    shot(page, "component-evaluation")

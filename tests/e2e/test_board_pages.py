"""What a user comes to the board for, in headless Chromium against real nodes: a horizontal job's rounds
and privacy spent, progress, the job list, the job page's headline and config, evaluation charts, a phone's
width, and the weight and accessibility of the pages.

Screenshots go to artifacts/board/ (1280 and 390 px wide) for people to look at.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Page, expect
from sklearn.datasets import load_digits

from tests.e2e.conftest import GUEST, HOST, BoardSite, login, metrics_job, shot

pytestmark = pytest.mark.e2e
ROUNDS = 4


def horizontal_config(rounds: int = ROUNDS, name: str = "homo_nn_digits") -> dict[str, Any]:
    """homo_nn on scikit-learn's digits: the guest trains (the only worker here), the host's node aggregates
    as the arbiter, with DP-FedAvg on so (epsilon, delta) is spent; then the guest evaluates its predictions."""
    return {
        "name": name,
        "initiator": {"role": "guest", "party_id": GUEST},
        "parties": {"guest": [GUEST], "arbiter": [HOST]},
        "timeout_s": 300,
        "components": [
            {"name": "reader_0", "component": "reader", "role_params": {"guest": {"table": "experiment.digits"}}},
            {
                "name": "homo_nn_0",
                "component": "homo_nn",
                "inputs": {"data": "reader_0.data"},
                "params": {
                    "model": {"name": "mlp", "input_dim": 64, "hidden": [32], "num_classes": 10},
                    "data": {"label_column": "y", "validation_fraction": 0.2},
                    "rounds": rounds,
                    "lr": 0.1,
                    "min_workers": 1,
                    "round_deadline_s": 60,
                    "seed": 7,
                    "dp": {"mode": "update", "noise_multiplier": 0.01, "clip_norm": 1.0, "delta": 1e-5},
                },
            },
            {"name": "evaluation_0", "component": "evaluation", "inputs": {"data": "homo_nn_0.predictions"}},
        ],
    }


def upload_digits(board: BoardSite) -> None:
    digits = load_digits()
    csv = board.tmp / "digits_guest.csv"
    header = ",".join(["id", *(f"px{i}" for i in range(64)), "y"])
    rows = [",".join([str(i), *(f"{v / 16:.4g}" for v in x), str(int(y))]) for i, (x, y) in
            enumerate(zip(digits.data[:600], digits.target[:600], strict=True))]  # fmt: skip
    csv.write_text(header + "\n" + "\n".join(rows) + "\n")
    upload = board.unseen(
        "data", "upload", "-f", str(csv), "-t", "experiment.digits", "--id-column", "id", "--label-column", "y",
        "--label-type", "multiclass", "--overwrite", "-p", str(GUEST),
    )  # fmt: skip
    assert upload.returncode == 0, upload.stderr


@pytest.fixture(scope="module")
def horizontal(board_site: BoardSite) -> str:
    upload_digits(board_site)
    job_id = board_site.submit(horizontal_config())
    finished = board_site.wait_job(job_id, timeout=240)
    assert finished["status"] == "success", finished["reason"]
    board_site.jobs["horizontal"] = job_id
    return job_id


def test_the_aggregator_charts_each_rounds_loss_accuracy_workers_and_privacy(
    page: Page, board_site: BoardSite, horizontal: str
) -> None:
    login(page, board_site, HOST)
    page.goto(board_site.url(f"/board/jobs/{horizontal}/components/homo_nn_0", HOST))
    rounds = page.locator("#rounds tbody tr")
    expect(rounds).to_have_count(ROUNDS)
    expect(rounds.first.locator("td").first).to_have_text("1")
    expect(rounds.first.locator("td").nth(1)).to_have_text("1")  # one worker in the round
    page.wait_for_function(
        "() => { const p = document.querySelector('.chart[data-kind=\"rounds\"] .plot');"
        " const c = p && echarts.getInstanceByDom(p);"
        f" return !!c && c.getOption().series.every((s) => s.data.length === {ROUNDS}); }}"
    )
    expect(page.locator("#privacy")).to_contain_text("ε =")
    expect(page.locator("#privacy")).to_contain_text("δ = 1e-05")
    shot(page, "component-horizontal-arbiter")


def test_a_worker_sees_its_global_model_and_the_rounds_it_was_told(
    page: Page, board_site: BoardSite, horizontal: str
) -> None:
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{horizontal}/components/homo_nn_0"))
    expect(page.locator("#nn-rounds")).to_have_text(str(ROUNDS))
    expect(page.locator("#privacy")).to_contain_text("ε =")
    for metric in ("global_loss", "global_accuracy", "round_seconds", "workers"):
        expect(page.locator(f'.chart[data-metric="{metric}"]')).to_have_count(1)


def test_a_hetero_lr_party_sees_its_coefficients_by_feature_name(page: Page, board_site: BoardSite) -> None:
    from tests.e2e.test_board import hetero_lr_job

    job_id = board_site.jobs.get("hetero_lr") or hetero_lr_job(board_site)
    board_site.jobs["hetero_lr"] = job_id
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{job_id}/components/hetero_lr_0"))
    expect(page.locator("#lr-iterations")).to_have_text(re.compile(r"^([1-9]|10)$"))
    expect(page.locator("#lr-intercept")).not_to_be_empty()
    guest_features = Path(__file__).resolve().parents[2] / "examples" / "hetero_lr" / "breast_hetero_guest.csv"
    names = guest_features.read_text().splitlines()[0].split(",")[2:]
    coefficients = page.locator("#coefficients tbody tr")
    expect(coefficients).to_have_count(len(names))
    shown = set(coefficients.locator("td:first-child").all_inner_texts())
    assert shown == set(names), "the guest's own features, and only them"
    shot(page, "component-hetero-lr")


def test_a_running_component_shows_how_far_it_is_on_the_board_and_in_job_query(
    page: Page, board_site: BoardSite, horizontal: str
) -> None:
    job_id = board_site.submit(horizontal_config(rounds=2000, name="homo_nn_long"))
    try:
        login(page, board_site)
        row = page.locator(f'#jobs tr[data-job="{job_id}"]')
        running = re.compile(r"homo_nn_0: round \d+ of 2000")
        expect(row.locator(".progress-text")).to_contain_text(running, timeout=60_000)
        page.goto(board_site.url(f"/board/jobs/{job_id}"))
        expect(page.locator("#job-progress")).to_contain_text(re.compile(r"round \d+ of 2000"))
        label = page.evaluate(
            "() => echarts.getInstanceByDom(document.getElementById('dag')).getOption().series[0].data"
            ".find((d) => d.name === 'homo_nn_0').progress"
        )
        assert re.fullmatch(r"round \d+ of 2000", label), label
        queried = board_site.unseen("job", "query", "-j", job_id)
        assert re.search(r"progress: homo_nn_0 round \d+ of 2000", queried.stdout), queried.stdout
    finally:
        board_site.unseen("job", "stop", "-j", job_id)


def test_the_job_list_updates_rows_in_place_sorts_and_pages(page: Page, board_site: BoardSite, horizontal: str) -> None:
    login(page, board_site)
    row = page.locator(f'#jobs tr[data-job="{horizontal}"]')
    expect(row.locator('td[data-field="my_roles"]')).to_have_text("guest")
    expect(row.locator('td[data-field="ended"]')).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    expect(page.locator("#time-zone")).to_contain_text("UTC")
    link = row.locator("a")
    link.focus()
    page.evaluate(f"document.querySelector('tr[data-job=\"{horizontal}\"]').marked = true")
    page.wait_for_function("() => /updated/.test(document.getElementById('updated').textContent)")
    first = page.locator("#updated").inner_text()
    page.wait_for_function(f"() => document.getElementById('updated').textContent !== {first!r}", timeout=10_000)
    assert page.evaluate("document.activeElement.textContent") == horizontal, "focus survives the refresh"
    assert page.evaluate(f"document.querySelector('tr[data-job=\"{horizontal}\"]').marked === true"), "same row"
    total = board_site.site.client(GUEST).get("/jobs", limit=1000)
    expect(page.locator("#range")).to_have_text(f"1-{min(len(total), 50)} of {len(total)}")

    page.click('#jobs th[data-sort="name"] a')
    expect(page.locator('#jobs th[data-sort="name"]')).to_have_attribute("aria-sort", "descending")
    page.wait_for_url(re.compile(r"sort=name"))
    page.click('#jobs th[data-sort="name"] a')
    expect(page.locator('#jobs th[data-sort="name"]')).to_have_attribute("aria-sort", "ascending")
    names = sorted((j["name"] or "").lower() for j in total)
    expect(page.locator('#jobs tbody tr td[data-field="name"]').first).to_contain_text(names[0] or "")
    shot(page, "jobs-sorted")


def test_the_job_page_has_headline_results_exit_codes_and_the_config_as_yaml(
    page: Page, board_site: BoardSite, horizontal: str
) -> None:
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{horizontal}"))
    expect(page.locator("#headline")).to_contain_text("Accuracy")
    expect(page.locator("#headline b").first).to_have_text(re.compile(r"^\d{1,3}\.\d %$"))
    arbiter = page.locator(f'#tasks tr[data-task="homo_nn_0|arbiter|{HOST}"]')
    expect(arbiter.locator('td[data-field="exit_code"]')).to_have_text("0")  # a remote task's exit code
    expect(page.locator("#config")).to_contain_text("component: homo_nn")
    page.click("#copy-config")
    expect(page.locator("#copy-state")).not_to_be_empty()
    with page.expect_download() as download:
        page.click("#download-config")
    saved = yaml.safe_load(Path(download.value.path()).read_text())
    assert saved["components"][1]["component"] == "homo_nn"
    shot(page, "job-horizontal")


def test_a_participant_sees_components_that_never_run_there_as_not_here(
    page: Page, board_site: BoardSite, horizontal: str
) -> None:
    login(page, board_site, HOST)
    page.goto(board_site.url(f"/board/jobs/{horizontal}", HOST))
    page.wait_for_function(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('dag'));"
        " return !!c && c.getOption().series[0].data.filter((d) => d.url).length === 3; }"
    )
    states = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('dag')).getOption().series[0].data"
        ".filter((d) => d.url).map((d) => [d.name, d.status])"
    )
    assert states == [["reader_0", "not-here"], ["homo_nn_0", "success"], ["evaluation_0", "not-here"]]
    expect(page.locator(".legend")).to_contain_text("not here")


def test_the_log_highlights_errors_and_filters_by_level(page: Page, board_site: BoardSite) -> None:
    config = metrics_job(steps=5, name="metrics-fails")
    # only the guest fails: were both told to, the host could fail first and the guest be canceled instead
    config["components"][1]["role_params"]["guest"] = {"fail_after": 3}
    job_id = board_site.submit(config)
    assert board_site.wait_job(job_id)["status"] == "failed"
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{job_id}/components/train_0"))
    expect(page.locator("#log-state")).to_contain_text("log complete")
    expect(page.locator("#log .l-error").first).to_contain_text("task failed")
    expect(page.locator("#log .l-warning").first).to_contain_text("told to fail")
    info = page.locator("#log .l-info").first
    expect(info).to_be_visible()
    page.select_option("#log-level", "warning")
    expect(info).to_be_hidden()
    expect(page.locator("#log .l-warning").first).to_be_visible()
    page.select_option("#log-level", "error")
    expect(page.locator("#log .l-warning").first).to_be_hidden()
    expect(page.locator("#log .l-error").first).to_be_visible()
    shot(page, "component-failed-log")


CHART_HAS_DATA = """(metric) => {
  const plot = document.querySelector(`.chart[data-metric="${metric}"] .plot`);
  const chart = plot && echarts.getInstanceByDom(plot);
  return !!chart && chart.getOption().series[0].data.length > 0;
}"""


def test_an_evaluation_draws_every_decision_chart_in_words(page: Page, board_site: BoardSite) -> None:
    from tests.e2e.test_board import hetero_lr_job

    job_id = board_site.jobs.get("hetero_lr") or hetero_lr_job(board_site)
    board_site.jobs["hetero_lr"] = job_id
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{job_id}/components/evaluation_0"))
    for metric in ("roc", "ks-population", "gain", "lift", "pr", "accuracy-f1", "confusion_matrix"):
        page.wait_for_function(CHART_HAS_DATA, arg=metric)
    expect(page.locator('.chart[data-metric="ks_curve"]')).to_have_count(0)
    captions = page.locator(".chart figcaption").all_inner_texts()
    assert not [c for c in captions if "_" in c], f"titles in words, not metric keys: {captions}"
    expect(page.locator('.chart[data-metric="confusion_matrix"] figcaption')).to_contain_text("at threshold 0.5")
    expect(page.locator('.chart[data-metric="ks-population"] figcaption')).to_contain_text("at the top")
    expect(page.locator("#values")).to_contain_text("AUC")
    values = page.locator("#values tbody td.num").all_inner_texts()
    assert all(len(v.replace(" %", "").split(".")[-1]) <= 3 for v in values), values
    widths = page.evaluate("[...document.querySelectorAll('.chart')].map((c) => c.getBoundingClientRect().width)")
    card = page.evaluate("document.getElementById('charts').getBoundingClientRect().width")
    assert all(w > card / 2 - 20 for w in widths), "two charts a row at 1280 px: the width is used"
    shot(page, "component-evaluation-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_function(CHART_HAS_DATA, arg="roc")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider than the phone"
    shot(page, "component-evaluation-390")


CONTRAST = """(selector) => {
  const parse = (text) => {
    const v = text.match(/[\\d.]+/g).map(Number);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
  };
  const over = (top, below) => top.slice(0, 3).map((c, i) => c * top[3] + below[i] * (1 - top[3]));
  const background = (e) => {  // the colour behind e: its own and its ancestors' backgrounds, blended
    const layers = [];
    for (let n = e; n; n = n.parentElement) layers.push(parse(getComputedStyle(n).backgroundColor));
    return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255]);
  };
  const linear = (c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
  const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  return [...document.querySelectorAll(selector)].filter((e) => e.offsetParent).map((e) => {
    const back = background(e);
    return [e.textContent.trim().slice(0, 40), ratio(over(parse(getComputedStyle(e).color), back), back)];
  });
}"""
HEX_CONTRAST = """() => {
  const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const linear = (c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
  const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const data = echarts.getInstanceByDom(document.getElementById('dag')).getOption().series[0].data;
  return data.filter((d) => d.url).map((d) => [d.name, ratio(hex(d.itemStyle.color), hex(d.label.color))]);
}"""


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider than the phone"
    box = page.locator("#logout").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, f"Log out on screen: {box}"
    unboxed = page.evaluate(
        "[...document.querySelectorAll('table.grid')].filter((t) => t.offsetParent && !t.closest('.scroll')).length"
    )
    assert unboxed == 0, "every table scrolls inside its own box"


def test_every_page_works_on_a_phone_390_px_wide(page: Page, board_site: BoardSite, horizontal: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, board_site)
    expect(page.locator(f'#jobs tr[data-job="{horizontal}"]')).to_be_visible()
    fits_the_phone(page)
    shot(page, "jobs-390")
    page.goto(board_site.url(f"/board/jobs/{horizontal}"))
    page.wait_for_function(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('dag'));"
        " return !!c && c.getOption().series[0].data.filter((d) => d.url).length === 3; }"
    )
    fits_the_phone(page)
    boxes = page.evaluate(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('dag')); const o = c.getOption();"
        " const size = o.series[0].symbolSize;"
        " return o.series[0].data.map((d) => [...c.convertToPixel({seriesIndex: 0}, d.value), size]); }"
    )
    for x, _, (width, _height) in boxes:
        assert width >= 120 and x - width / 2 >= 0 and x + width / 2 <= 390, "each box readable and on screen"
    ys = sorted(y for _, y, _ in boxes)
    assert all(b - a >= 46 for a, b in itertools.pairwise(ys)), "levels are rows that do not overlap"
    shot(page, "job-horizontal-390")
    page.goto(board_site.url(f"/board/jobs/{horizontal}/components/homo_nn_0"))
    expect(page.locator("#log")).to_contain_text("task succeeded")
    fits_the_phone(page)
    shot(page, "component-horizontal-390")
    page.goto(board_site.url("/board/data"))
    fits_the_phone(page)


def test_static_files_are_compressed_and_cached_by_content_hash(page: Page, board_site: BoardSite) -> None:
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{board_site.jobs['horizontal']}"))
    src = page.locator('script[src*="echarts"]').get_attribute("src")
    assert src is not None and re.fullmatch(r"/board/static/[0-9a-f]{12}/vendor/echarts\.min\.js", src), src
    answer = httpx.get(board_site.url(src), headers={"Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert int(answer.headers["content-length"]) < 400_000 < len(answer.content)
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert httpx.get(board_site.url(src.replace(src.split("/")[3], "0" * 12))).status_code == 404
    assert httpx.get(board_site.url("/board/static/../web.py")).status_code == 404
    page.reload()
    page.wait_for_function("() => !!echarts.getInstanceByDom(document.getElementById('dag'))")
    sizes = page.evaluate(
        "performance.getEntriesByType('resource').filter((r) => r.name.includes('/board/static/'))"
        ".map((r) => [r.name, r.transferSize])"
    )
    assert sizes and all(size == 0 for _, size in sizes), f"a warm page fetches no static file again: {sizes}"


def test_the_dag_and_charts_have_text_alternatives_keyboard_access_and_contrast(
    page: Page, board_site: BoardSite, horizontal: str
) -> None:
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{horizontal}"))
    expect(page.locator("#dag-list li")).to_have_count(3)
    expect(page.locator('#dag-list li[data-component="homo_nn_0"]')).to_contain_text("after reader_0")
    page.wait_for_function("() => !!echarts.getInstanceByDom(document.getElementById('dag'))")
    for text, ratio in page.evaluate(CONTRAST, ".badge, .legend li, .muted, th, nav a, footer"):
        assert ratio >= 4.5, f"{text!r}: contrast {ratio:.2f}"
    for name, ratio in page.evaluate(HEX_CONTRAST):
        assert ratio >= 4.5, f"DAG box {name}: contrast {ratio:.2f}"
    page.focus("#dag")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#dag")).to_have_attribute("aria-label", re.compile("^homo_nn_0: success"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/board/jobs/{horizontal}/components/homo_nn_0")
    page.wait_for_function("() => document.querySelectorAll('.chart details.chart-data table').length >= 4")
    loss = page.locator('.chart[data-metric="global_loss"]')
    expect(loss.locator(".plot")).to_have_attribute("role", "img")
    loss.locator("details.chart-data summary").click()
    expect(loss.locator("details.chart-data tbody tr")).to_have_count(ROUNDS)


def test_secureboost_trees_show_the_guests_splits_by_name_and_the_hosts_as_ids(
    page: Page, board_site: BoardSite
) -> None:
    from tests.e2e.test_board import hetero_lr_job

    if "hetero_lr" not in board_site.jobs:  # it uploads the breast tables this job reads too
        board_site.jobs["hetero_lr"] = hetero_lr_job(board_site)
    example = Path(__file__).resolve().parents[2] / "examples" / "hetero_secureboost" / "job.yaml"
    job = yaml.safe_load(example.read_text())
    boost = next(c for c in job["components"] if c["component"] == "hetero_secureboost")
    boost["params"].update(num_trees=2, max_depth=2, key_bits=1024)
    job_id = board_site.submit(job)
    finished = board_site.wait_job(job_id, timeout=240)
    assert finished["status"] == "success", finished["reason"]
    login(page, board_site)
    page.goto(board_site.url(f"/board/jobs/{job_id}/components/hetero_secureboost_0"))
    expect(page.locator("#sb-trees")).to_have_text("2")
    expect(page.locator("details.tree")).to_have_count(2)
    rules = page.locator("details.tree").first.locator("li.split").all_inner_texts()
    guest_names = set(
        Path(example.parents[1] / "hetero_lr" / "breast_hetero_guest.csv").read_text().split("\n")[0].split(",")
    )
    for rule in rules:
        own = rule.split(" < ")[0] in guest_names
        assert own or re.fullmatch(rf"host {HOST}, split #\d+", rule), rule
    expect(page.locator("#importance tbody tr").first).to_be_visible()
    shot(page, "component-secureboost")
    login(page, board_site, HOST)
    page.goto(board_site.url(f"/board/jobs/{job_id}/components/hetero_secureboost_0", HOST))
    expect(page.locator("#sb-splits")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("details.tree")).to_have_count(0)

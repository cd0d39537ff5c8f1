"""Careless and hostile input on real nodes: odd values and encodings in uploads, deeply nested job configs,
who may read what a node writes, and a second site started on a running site's ports."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Site, make_site
from unseen.storage.tables import TableStore

pytestmark = pytest.mark.integration

DEEP = 3000


def _headers(site: Site, party: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.client(party).token}"}


def _table_file(site: Site, name: str) -> Path:
    namespace, table = name.split(".")
    return site.standalone.node_dir(9999) / "tables" / namespace / f"{table}.parquet"


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("inf", "an infinite value cannot be trained on"),
        ("-inf", "an infinite value cannot be trained on"),
        ("1e400", "it is beyond the range of a 64-bit float"),
        ("nan", "NaN marks a missing value"),
    ],
)
def test_non_finite_values_are_refused_and_the_stored_table_kept(
    site: Site, tmp_path: Path, cell: str, why: str
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,y,x\nu1,0.5,1\nu2,1.5,2\nu3,2.5,3\n")
    name = "exp.finite"
    up = site.cli("data", "upload", "-f", str(good), "-t", name, "--label-column", "y", "--label-type", "regression",
                  "--overwrite", "-p", "9999")  # fmt: skip
    assert up.returncode == 0, up.stderr
    stored = _table_file(site, name).read_bytes()

    for column, text in (("x", f"id,y,x\nu1,0.5,1\nu2,1.5,{cell}\n"), ("y", f"id,y,x\nu1,0.5,1\nu2,{cell},2\n")):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        refused = site.cli("data", "upload", "-f", str(bad), "-t", name, "--label-column", "y",
                           "--label-type", "regression", "--overwrite", "-p", "9999")  # fmt: skip
        role = "label column" if column == "y" else "column"
        assert refused.returncode == 1
        assert refused.stderr.startswith(
            f"error: {role} '{column}' has a value that is not a finite number: '{cell}' in row 2 (line 3, id 'u2'); "
        ), refused.stderr
        assert why in refused.stderr and "Traceback" not in refused.stderr
    assert _table_file(site, name).read_bytes() == stored


def test_ids_are_stored_as_text(site: Site, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("id,x\n007,1\n7,2\n")
    up = site.cli("data", "upload", "-f", str(path), "-t", "exp.ids", "--overwrite", "-p", "9999")
    assert up.returncode == 0, up.stderr
    assert "2 rows" in up.stdout
    table = TableStore(site.standalone.node_dir(9999) / "tables").read("exp.ids")
    assert table.ids.tolist() == ["007", "7"]


def test_a_latin1_csv_is_refused_with_its_line_over_rest_and_cli(site: Site, tmp_path: Path) -> None:
    content = "id,x\nu1,1\nJosé,2\n".encode("latin-1")
    client = site.client(9999)
    response = httpx.put(
        f"{client.base_url}/v1/tables/exp.latin", content=content, params={"id_column": "id"},
        headers=_headers(site, 9999),
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"].startswith("the file is not UTF-8 text: line 3, byte 4 is 0xe9")

    path = tmp_path / "latin.csv"
    path.write_bytes(content)
    result = site.cli("data", "upload", "-f", str(path), "-t", "exp.latin", "-p", "9999")
    assert result.returncode == 1
    assert result.stderr.startswith("error: the file is not UTF-8 text: line 3") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_deeply_nested_job_config_gets_one_clear_error(site: Site, tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(
        "initiator: {role: guest, party_id: 9999}\nparties: {guest: [9999]}\n"
        "components:\n  - name: s\n    component: toy_secure_sum\n    params:\n      x: "
        + "[" * DEEP + "]" * DEEP + "\n"
    )  # fmt: skip
    result = site.cli("job", "submit", "-c", str(path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: nested deeper than 32 levels of mappings and lists; a job config needs far fewer: "
        "flatten the params"
    ]

    client = site.client(9999)
    body = '{"parties": ' + "[" * DEEP + "]" * DEEP + "}"
    response = httpx.post(
        f"{client.base_url}/v1/jobs", content=body, headers={**_headers(site, 9999), "content-type": "application/json"}
    )
    assert response.status_code == 422
    (problem,) = response.json()["detail"]["problems"]
    assert problem.startswith("job config: nested deeper than 32 levels of mappings and lists; ")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_a_node_and_its_tasks_write_is_private(site: Site) -> None:
    result = site.cli("test", "toy", "-gid", "10000", "-hid", "10000")
    assert result.returncode == 0, result.stderr
    home = site.standalone.node_dir(10000)
    task_dirs = sorted(home.glob("jobs/*/*/*"))
    assert task_dirs, sorted(home.rglob("*"))
    files = [home / "node.db", home / "node.log", *(home / name for name in ("node.db-wal", "node.db-shm"))]
    files = [f for f in files if f.exists()]
    assert home / "node.db" in files and home / "node.log" in files
    for task_dir in task_dirs:
        files += [task_dir / "task.json", task_dir / "task.log", task_dir / "result.json"]
    folders = {home, home / "jobs"} | {
        d for task_dir in task_dirs for d in (task_dir, task_dir.parent, task_dir.parent.parent)
    }
    assert {str(f): oct(_mode(f)) for f in files} == {str(f): "0o600" for f in files}
    assert {str(d): oct(_mode(d)) for d in folders} == {str(d): "0o700" for d in folders}


def test_a_second_site_on_the_same_ports_fails_and_leaves_the_first_alone(site: Site, tmp_path: Path) -> None:
    pids = {party: site.standalone.pid_of(party) for party in site.parties}
    other = make_site(tmp_path, site.parties, start=False)
    parties = ",".join(map(str, site.parties))
    result = other.cli("standalone", "start", "--parties", parties, "--base-port", str(site.base_port))
    assert result.returncode == 1, result.stdout
    assert f"party {site.parties[0]}'s REST port 127.0.0.1:{site.base_port}" in result.stderr
    assert "already in use" in result.stderr and "Traceback" not in result.stderr
    assert all(other.standalone.pid_of(party) is None for party in site.parties)  # it started nothing

    # Were its node running on paper (a live pid in its pid file), the first site's answer must not pass for it.
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other.standalone.pid_file(site.parties[0]).write_text(f"{stand_in.pid}\n")
        state = other.standalone.status(site.parties[0])
        assert not state.healthy
        assert state.conflict == (
            f"REST port 127.0.0.1:{site.base_port} is answered by another node (party {site.parties[0]}, "
            f"pid {pids[site.parties[0]]}), not party {site.parties[0]}'s node started as pid {stand_in.pid}"
        )
    finally:
        stand_in.kill()
        stand_in.wait()
        other.standalone.pid_file(site.parties[0]).unlink(missing_ok=True)

    assert site.cli("standalone", "status").returncode == 0
    assert {party: site.standalone.pid_of(party) for party in site.parties} == pids
    for pid in pids.values():
        assert pid is not None
        os.kill(pid, 0)  # raises if the process is gone


def test_a_node_that_exits_at_start_fails_the_start_naming_party_and_ports(tmp_path: Path) -> None:
    other = make_site(tmp_path, [9999, 10000], start=False)
    other.standalone.configure(other.parties, other.base_port)
    other.set_node_option(9999, database_url=f"sqlite:///{tmp_path}/no/such/folder/node.db")
    result = other.cli("standalone", "start", "--parties", "9999,10000", "--base-port", str(other.base_port))
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith(
        f"error: party 9999's node (REST port 127.0.0.1:{other.base_port}, federation port "
        f"127.0.0.1:{other.base_port + 1}) exited at start:"
    ), result.stderr
    assert all(other.standalone.pid_of(party) is None for party in other.parties)  # 10000's node was stopped too

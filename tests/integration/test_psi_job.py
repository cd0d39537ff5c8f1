"""reader → psi between two real nodes: both parties end with the same users, in the same order."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pytest

from tests.integration.conftest import Site
from unseen.pipeline import Pipeline
from unseen.storage.tables import TableStore

pytestmark = pytest.mark.integration


def write_csv(path: Path, ids: list[str], columns: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    header = "id," + ",".join(f"x{i}" for i in range(columns))
    rows = [f"{uid}," + ",".join(f"{v:.4f}" for v in rng.normal(size=columns)) for uid in ids]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def test_psi_aligns_both_parties_on_exactly_the_shared_ids(site: Site, tmp_path: Path) -> None:
    guest_ids = [f"user{i}" for i in range(0, 300)]
    host_ids = [f"user{i}" for i in range(200, 450)]
    write_csv(tmp_path / "g.csv", guest_ids, 3, 1)
    write_csv(tmp_path / "h.csv", host_ids, 2, 2)
    assert site.cli("data", "upload", "-f", str(tmp_path / "g.csv"), "-t", "psi.g", "-p", "9999").returncode == 0
    assert site.cli("data", "upload", "-f", str(tmp_path / "h.csv"), "-t", "psi.h", "-p", "10000").returncode == 0

    pipe = Pipeline("psi", initiator=("guest", 9999), guest=9999, host=10000, timeout_s=120)
    reader = pipe.add("reader_0", "reader", role_params={"guest": {"table": "psi.g"}, "host": {"table": "psi.h"}})
    pipe.add("psi_0", "psi", params={"batch_size": 1024, "workers": 1}, inputs={"data": reader["data"]})
    job = pipe.submit(site.client(9999))
    job.wait(timeout=120)

    sizes = {m["name"]: m["value"] for m in job.metrics("psi_0")}
    assert sizes["intersection_size"] == 100 and sizes["own_count"] == 300

    def aligned_ids(party: int) -> list[str]:
        store = TableStore(site.standalone.node_config(party).tables_dir)
        return cast(list[str], store.read(f"job_{job.job_id}.psi_0__data").ids.tolist())  # numpy: tolist is Any

    guest_rows, host_rows = aligned_ids(9999), aligned_ids(10000)
    assert guest_rows == host_rows
    assert sorted(guest_rows) == sorted(f"user{i}" for i in range(200, 300))

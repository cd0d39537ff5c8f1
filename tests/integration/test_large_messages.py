"""Messages bigger than one chunk, task to task, through every local path: exact values both ways."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Site
from unseen.pipeline import Pipeline

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("guest", "host"), [(9999, 10000), (10000, 10000)])
def test_an_array_of_several_chunks_arrives_exactly(site: Site, guest: int, host: int) -> None:
    pipe = Pipeline("large", initiator=("guest", guest), guest=guest, host=host, timeout_s=120)
    params = {"size_bytes": 9 * 1024 * 1024 + 4, "rounds": 3, "warmup": 0}  # 5 chunks, the last one short
    pipe.add("transfer_0", "bench_transfer", params=params)
    job = pipe.submit(site.client(guest))
    job.wait(timeout=120)
    values = {m["name"]: m["value"] for m in job.metrics("transfer_0")}
    assert values["mib_per_s"] > 0


def test_every_tasks_send_buffer_is_deleted_when_it_ends(site: Site) -> None:
    pipe = Pipeline("buffers", initiator=("guest", 9999), guest=9999, host=10000, timeout_s=120)
    for index, size in enumerate((3 * 1024 * 1024, 12 * 1024 * 1024)):
        pipe.add(f"transfer_{index}", "bench_transfer", params={"size_bytes": size, "rounds": 1, "warmup": 0})
    pipe.submit(site.client(9999)).wait(timeout=120)
    for party in (9999, 10000):
        folder = site.standalone.node_config(party).send_buffers_dir
        site.wait_for(lambda folder=folder: not list(folder.iterdir()), 10, "buffers and body files to be deleted")

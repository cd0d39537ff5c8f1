"""The SDK compiles to the same validated job config a YAML file gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from unseen.job.config import JobConfigError, load_job_config
from unseen.pipeline import Pipeline


def toy_pipeline() -> Pipeline:
    pipe = Pipeline("toy", initiator=("guest", 10000), guest=10000, host=10000)
    pipe.add("secure_sum_0", "toy_secure_sum", params={"data_num": 1000, "partitions": 4})
    return pipe


def test_the_sdk_compiles_to_the_example_job(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert toy_pipeline().compile() == load_job_config(repo / "examples/toy/job.yaml")


def test_components_wire_outputs_into_inputs() -> None:
    pipe = Pipeline("read", initiator=("guest", 9999), guest=9999, host=10000)
    reader = pipe.add("reader_0", "reader", role_params={"guest": {"table": "a.g"}, "host": {"table": "a.h"}})
    assert str(reader["data"]) == "reader_0.data"
    config = pipe.compile()
    assert config.params_for("reader_0", config.initiator.role).model_dump() == {"table": "a.g"}


def test_a_mistake_is_caught_before_submitting() -> None:
    pipe = Pipeline("bad", initiator=("guest", 9999), guest=9999, host=10000)
    pipe.add("sum_0", "toy_secure_sum", params={"data_nm": 3})
    with pytest.raises(JobConfigError, match="data_nm"):
        pipe.compile()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_dump_writes_a_file_the_cli_accepts(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"job{suffix}"
    toy_pipeline().dump(path)
    assert load_job_config(path) == toy_pipeline().compile()

"""The shipped examples stay valid: both forms of each vertical job compile to the same config."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from unseen.job.config import load_job_config
from unseen.runtime.parties import Role

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_hetero_lr_pipeline_compiles_to_the_yaml_job() -> None:
    spec = importlib.util.spec_from_file_location("hetero_lr_pipeline", EXAMPLES / "hetero_lr" / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build().compile() == load_job_config(EXAMPLES / "hetero_lr" / "job.yaml")


def test_the_hetero_secureboost_pipeline_compiles_to_the_yaml_job() -> None:
    path = EXAMPLES / "hetero_secureboost" / "pipeline.py"
    spec = importlib.util.spec_from_file_location("hetero_secureboost_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build().compile() == load_job_config(EXAMPLES / "hetero_secureboost" / "job.yaml")


def test_every_example_job_is_valid() -> None:
    jobs = sorted(EXAMPLES.glob("*/job.yaml"))
    assert len(jobs) >= 2
    for job in jobs:
        load_job_config(job)


def test_every_example_job_file_starts_with_the_commands_that_submit_that_file() -> None:
    """A user copies the header's commands in order: the last must submit the file they are reading."""
    jobs = sorted(EXAMPLES.glob("*/job*.yaml"))
    assert len(jobs) >= 10
    for job in jobs:
        header = [line for line in job.read_text().splitlines() if line.startswith("#")]
        submits = [m.group(1) for line in header if (m := re.search(r"unseen job submit -c (\S+)", line))]
        assert submits == [f"examples/{job.parent.name}/{job.name}"], f"{job.name}: {submits}"
        load_job_config(job)


def _pipeline(name: str) -> object:
    spec = importlib.util.spec_from_file_location(f"{name}_pipeline", EXAMPLES / name / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_homo_nn_pipeline_compiles_to_each_yaml_variant() -> None:
    module = _pipeline("homo_nn")
    build = getattr(module, "build")  # noqa: B009 - the module is loaded from a file
    folder = EXAMPLES / "homo_nn"
    assert build().compile() == load_job_config(folder / "job.yaml")
    assert build("keras").compile() == load_job_config(folder / "job_keras.yaml")
    assert build("torch", True).compile() == load_job_config(folder / "job_secagg.yaml")


@pytest.mark.parametrize("name", ["homo_resnet_cifar10", "homo_dlrm_criteo"])
def test_the_workload_pipelines_compile_to_each_yaml_variant(name: str) -> None:
    build = getattr(_pipeline(name), "build")  # noqa: B009 - the module is loaded from a file
    folder = EXAMPLES / name
    assert build().compile() == load_job_config(folder / "job.yaml")
    assert build("keras").compile() == load_job_config(folder / "job_keras.yaml")
    assert build("torch", True).compile() == load_job_config(folder / "job_param_server.yaml")


@pytest.mark.parametrize("name", ["homo_resnet_cifar10", "homo_dlrm_criteo"])
def test_the_workload_jobs_start_with_the_commands_a_user_runs(name: str) -> None:
    """Every job file names the start, make_data and one upload per worker, in that order, then itself."""
    for job in sorted((EXAMPLES / name).glob("job*.yaml")):
        commands = [line[4:] for line in job.read_text().splitlines() if line.startswith("#   ")]
        config = load_job_config(job)
        workers = [p for role in (Role.GUEST, Role.HOST) for p in config.parties[role]]
        assert commands[0].startswith("unseen standalone start --parties")
        assert commands[1] == f"python examples/{name}/make_data.py"
        uploads = commands[2:-1]
        assert [u.rsplit("-p ", 1)[1] for u in uploads] == [str(p) for p in workers]
        assert all("unseen data upload" in u and "--format" in u for u in uploads)
        assert commands[-1] == f"unseen job submit -c examples/{name}/{job.name} --wait"

"""homo_nn's pieces that need no node: params, the allow-list declaration, safetensors storage, progress lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from unseen.cli.waiting import round_progress
from unseen.components.homo_nn import HomoNNParams, code_modules, limit_threads
from unseen.components.registry import get_component
from unseen.runtime.parties import Role
from unseen.storage.models_store import ModelPart, ModelStore


def test_a_user_model_declares_its_module_and_built_ins_declare_none() -> None:
    spec = get_component("homo_nn")
    assert spec.code_modules is code_modules
    train = HomoNNParams.model_validate({"model": {"input_dim": 4}})
    assert spec.tolerated(train) == frozenset({Role.GUEST, Role.HOST})
    assert spec.tolerated(train.model_copy(update={"mode": "predict"})) == frozenset()
    user = HomoNNParams.model_validate({"model": {"name": "shop.models:build", "input_dim": 4}})
    assert code_modules(user) == ("shop.models",)
    assert code_modules(HomoNNParams.model_validate({"model": {"name": "mlp", "input_dim": 4}})) == ()


@pytest.mark.parametrize(
    "name", ["os.system", "a;b:c", "__import__('os'):x", "mod:func:more", "x" * 70 + ":f", "resnet7"]
)
def test_model_names_outside_the_grammar_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        HomoNNParams.model_validate({"model": {"name": name, "input_dim": 4}})


@pytest.mark.parametrize(
    "model",
    [
        {"name": "dlrm", "dlrm": {"vocab_sizes": 1 << 31}},
        {"name": "mlp", "input_dim": 1 << 16, "hidden": [1 << 16] * 2},
    ],
    ids=["dlrm", "mlp"],
)
def test_a_built_in_model_above_the_size_bound_is_refused_before_it_is_built(model: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="parameters, more than the 1,073,741,824"):
        HomoNNParams.model_validate({"model": model, "loss": "binary_cross_entropy"})


def test_the_size_bound_counts_what_the_frameworks_build() -> None:
    torch_resnet = pytest.importorskip("unseen.models.torch_resnet")
    from unseen.components.homo_nn import builtin_parameter_count
    from unseen.horizontal import torch as adapter

    spec = HomoNNParams.model_validate({"model": {"name": "mlp", "input_dim": 64, "hidden": [32], "num_classes": 10}})
    assert builtin_parameter_count(spec.model) == sum(p.numel() for p in adapter.mlp([64, 32, 10]).parameters())
    resnet = HomoNNParams.model_validate({"model": {"name": "resnet20", "num_classes": 10}}).model
    built = torch_resnet.build_resnet("resnet20")
    assert builtin_parameter_count(resnet) == sum(p.numel() for p in built.parameters()) == 269_722


def test_sample_dp_needs_torch() -> None:
    with pytest.raises(ValidationError, match="framework: torch"):
        HomoNNParams.model_validate({"framework": "keras", "model": {"input_dim": 4}, "dp": {"mode": "sample"}})


def test_a_model_stored_as_safetensors_loads_back_without_npz(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    arrays: dict[str, np.ndarray] = {
        "0.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "steps": np.array(3, dtype=np.int64),
    }
    folder = store.save("j1", "homo_nn_0", "model", ModelPart({"framework": "torch"}, arrays, "safetensors"))
    assert sorted(p.name for p in folder.iterdir()) == ["part.json", "tensors.safetensors"]
    loaded = store.load("j1", "homo_nn_0", "model")
    assert loaded.tensors == "safetensors" and loaded.meta == {"framework": "torch"}
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded.arrays[name], array)
        assert loaded.arrays[name].dtype == array.dtype


def test_progress_lines_come_from_the_latest_round_metrics() -> None:
    metrics: list[dict[str, Any]] = [
        {"component": "homo_nn_0", "name": "round", "step": 0, "value": 1},
        {"component": "homo_nn_0", "name": "round", "step": 1, "value": 2},
        {"component": "homo_nn_0", "name": "rounds", "step": 1, "value": 20},
        {"component": "homo_nn_0", "name": "round_seconds", "step": 1, "value": 0.25},
        {"component": "homo_nn_0", "name": "global_loss", "step": 1, "value": 0.5},
        {"component": "homo_nn_0", "name": "global_accuracy", "step": 1, "value": 0.875},
        {"component": "homo_nn_0", "name": "workers", "step": 1, "value": 3.0},
        {"component": "evaluation_0", "name": "accuracy", "step": None, "value": 0.9},
    ]
    assert round_progress(metrics) == {"homo_nn_0": "round 2/20, 0.25 s/round, loss 0.5000, accuracy 0.8750, 3 workers"}


def test_the_board_lists_a_safetensors_models_tensors_from_its_header(tmp_path: Path) -> None:
    from unseen.board.views import model_parts

    arrays = {"dense_0/kernel": np.zeros((64, 8), dtype=np.float32)}
    ModelStore(tmp_path).save("j1", "homo_nn_0", "model", ModelPart({"framework": "keras"}, arrays, "safetensors"))
    (part,) = model_parts(tmp_path, "j1", "homo_nn_0")
    assert part["arrays"] == [{"name": "dense_0/kernel", "shape": [64, 8], "dtype": "F32"}]


def test_the_secure_aggregation_threshold_is_a_param_bounded_by_the_neighbourhood() -> None:
    def params(**secure: Any) -> HomoNNParams:
        return HomoNNParams.model_validate({"model": {"input_dim": 4}, "secure_aggregation": secure})

    assert params(enabled=True).secure_aggregation.threshold == 0  # 0: k // 2 + 1, as before
    assert params(enabled=True, neighbours=6, threshold=5).secure_aggregation.threshold == 5
    with pytest.raises(ValidationError, match=r"threshold 3 is too low: with 6 neighbours it must be at least 4"):
        params(enabled=True, neighbours=6, threshold=3)
    with pytest.raises(ValidationError, match=r"threshold 7 is too high: with 6 neighbours it must be at most 6"):
        params(enabled=True, neighbours=6, threshold=7)
    with pytest.raises(ValidationError, match=r"at least 2"):
        params(enabled=True, threshold=1)


def test_the_secure_aggregation_ring_brings_its_own_encoding_and_refuses_one_that_cannot_fit() -> None:
    def config(**secure: Any) -> Any:
        model = HomoNNParams.model_validate({"model": {"input_dim": 4}, "secure_aggregation": secure})
        return model.secure_aggregation.secagg_config(30.0)

    wide, narrow = config(enabled=True), config(enabled=True, ring_bits=32)
    assert (wide.ring_bits, wide.frac_bits, wide.clip) == (64, 32, 65536.0)
    assert (narrow.ring_bits, narrow.frac_bits, narrow.clip) == (32, 18, 256.0)
    assert config(enabled=True, ring_bits=32, frac_bits=16, clip=8.0).frac_bits == 16
    with pytest.raises(ValidationError, match=r"fraction bits overflow a 32-bit ring; lower clip or frac_bits"):
        config(enabled=True, ring_bits=32, frac_bits=24, clip=256.0)
    with pytest.raises(ValidationError, match=r"ring_bits"):
        config(enabled=True, ring_bits=48)


def test_threads_limit_torch_for_torch_jobs_and_nothing_at_zero() -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        limit_threads(HomoNNParams.model_validate({"model": {"input_dim": 4}, "threads": 0}))
        assert torch.get_num_threads() == before
        limit_threads(HomoNNParams.model_validate({"model": {"input_dim": 4}, "threads": 1}))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

"""ResNet and DLRM: the PyTorch and Keras builds have the paper's parameter counts, the same shapes, and learn."""

from __future__ import annotations

import os

import numpy as np
import pytest

from unseen.models.config import DLRMConfig, ResNetConfig, cifar_resnet, resnet18, resnet_by_name

os.environ.setdefault("KERAS_BACKEND", "torch")  # as the Keras model modules do, before keras is imported
pytest.importorskip("torch")
pytest.importorskip("keras")

import keras
import torch

from unseen.models import keras_dlrm, keras_resnet, torch_dlrm, torch_resnet

TINY_DLRM = DLRMConfig(vocab_sizes=(7, 11, 5), dense_features=4, embedding_dim=4, bottom_mlp=(8,), top_mlp=(8,))
TINY_RESNET = cifar_resnet(8, width=4)  # one block per stage: the same code paths as ResNet-20/56
TINY_RESNET18 = resnet18(width=2)


def _torch_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _keras_count(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    ("name", "expected"),
    # He et al. 2016, table 6: 0.27M, 0.46M, 0.85M; ResNet-18 (CIFAR variant): 11.17M
    [("resnet20", 269_722), ("resnet56", 853_018), ("resnet18", 11_173_962)],
)
def test_resnet_parameter_counts_match_the_paper_in_both_frameworks(name: str, expected: int) -> None:
    config = resnet_by_name(name)
    assert config.parameter_count() == expected
    assert resnet_by_name("resnet32").parameter_count() == 464_154  # 0.46M; built above only where it matters
    assert _torch_count(torch_resnet.build_resnet(config)) == expected
    assert _keras_count(keras_resnet.build_resnet(config)) == expected


def test_dlrm_parameter_count_is_the_same_in_both_frameworks() -> None:
    config = DLRMConfig(vocab_sizes=(1000,) * 26)  # the real MLPs and embedding size, small tables
    expected = 26 * 1000 * 16 + (13 * 512 + 512) + (512 * 256 + 256) + (256 * 64 + 64) + (64 * 16 + 16)
    expected += (367 * 512 + 512) + (512 * 256 + 256) + (256 + 1)  # 27 * 26 / 2 + 16 = 367 inputs to the top MLP
    assert config.parameter_count() == expected
    assert DLRMConfig().parameter_count() == expected + 26 * 99_000 * 16  # default: 100,000 ids per table
    assert _torch_count(torch_dlrm.build_dlrm(config)) == expected
    assert _keras_count(keras_dlrm.build_dlrm(config)) == expected


def test_output_shapes() -> None:
    images = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    for config in (cifar_resnet(8, width=4, num_classes=7), TINY_RESNET18):
        assert tuple(torch_resnet.build_resnet(config)(torch.from_numpy(images)).shape) == (3, config.num_classes)
        assert tuple(keras_resnet.build_resnet(config)(images).shape) == (3, config.num_classes)
    last = keras_resnet.build_resnet(TINY_RESNET, data_format="channels_last")(images.transpose(0, 2, 3, 1))
    assert tuple(last.shape) == (3, 10)
    dense, sparse = _dlrm_batch(5)
    assert tuple(torch_dlrm.build_dlrm(TINY_DLRM)(torch.from_numpy(dense), torch.from_numpy(sparse)).shape) == (5,)
    assert tuple(keras_dlrm.build_dlrm(TINY_DLRM)([dense, sparse]).shape) == (5,)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="6n \\+ 2"):
        cifar_resnet(21)
    with pytest.raises(ValueError, match="unknown model"):
        resnet_by_name("resnet19")
    with pytest.raises(ValueError, match="one entry per stage"):
        ResNetConfig((1, 1), (8,))
    with pytest.raises(ValueError, match="at least 2 ids"):
        DLRMConfig(vocab_sizes=(1,))


def _dlrm_batch(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    sparse = np.stack([rng.integers(0, size, n) for size in TINY_DLRM.vocab_sizes], axis=1).astype(np.int32)
    return rng.random((n, TINY_DLRM.dense_features), dtype=np.float32), sparse


def _torch_losses(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], target: torch.Tensor, loss: torch.nn.Module
) -> list[float]:
    torch.manual_seed(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    values = []
    for _ in range(2):  # the second loss is after one step on the same batch
        optimizer.zero_grad()
        value = loss(model(*inputs), target)
        value.backward()
        optimizer.step()
        values.append(float(value.detach()))
    return values


def _keras_losses(model: keras.Model, inputs: object, target: np.ndarray, loss: keras.losses.Loss) -> list[float]:
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss=loss)
    return [float(model.train_on_batch(inputs, target)) for _ in range(2)]


def test_one_step_lowers_the_loss_resnet() -> None:
    rng = np.random.default_rng(2)
    images = rng.random((8, 3, 32, 32), dtype=np.float32)
    labels = rng.integers(0, 10, 8)
    for config in (TINY_RESNET, TINY_RESNET18):
        torch.manual_seed(0)
        first, second = _torch_losses(
            torch_resnet.build_resnet(config),
            (torch.from_numpy(images),),
            torch.from_numpy(labels),
            torch.nn.CrossEntropyLoss(),
        )
        assert second < first
        keras.utils.set_random_seed(0)
        first, second = _keras_losses(
            keras_resnet.build_resnet(config),
            images,
            labels,
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        assert second < first


def test_one_step_lowers_the_loss_dlrm() -> None:
    dense, sparse = _dlrm_batch(16)
    labels = (dense[:, 0] > 0.5).astype(np.float32)
    torch.manual_seed(0)
    first, second = _torch_losses(
        torch_dlrm.build_dlrm(TINY_DLRM),
        (torch.from_numpy(dense), torch.from_numpy(sparse)),
        torch.from_numpy(labels),
        torch.nn.BCEWithLogitsLoss(),
    )
    assert second < first
    keras.utils.set_random_seed(0)
    first, second = _keras_losses(
        keras_dlrm.build_dlrm(TINY_DLRM), [dense, sparse], labels, keras.losses.BinaryCrossentropy(from_logits=True)
    )
    assert second < first


def _torch_to_keras_resnet(source: torch.nn.Module, target: keras.Model, config: ResNetConfig) -> None:
    """Copy weights by name; the Keras names are stage/block, torch numbers blocks in one sequence."""
    names = {"conv": "stem_conv", "bn": "stem_bn", "fc": "fc"}
    index = 0
    for stage, count in enumerate(config.blocks):
        for block in range(count):
            keras_name = f"stage{stage + 1}_block{block + 1}"
            for part in ("conv1", "bn1", "conv2", "bn2"):
                names[f"blocks.{index}.{part}"] = f"{keras_name}_{part}"
            names[f"blocks.{index}.shortcut.0"] = f"{keras_name}_shortcut_conv"
            names[f"blocks.{index}.shortcut.1"] = f"{keras_name}_shortcut_bn"
            index += 1
    for module_name, module in source.named_modules():
        if module_name not in names:
            continue
        layer = target.get_layer(names[module_name])
        if isinstance(module, torch.nn.Conv2d):
            layer.set_weights([module.weight.detach().numpy().transpose(2, 3, 1, 0)])
        elif isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            stats = [module.weight, module.bias, module.running_mean, module.running_var]
            layer.set_weights([t.detach().numpy() for t in stats])
        elif isinstance(module, torch.nn.Linear):
            layer.set_weights([module.weight.detach().numpy().T, module.bias.detach().numpy()])


@pytest.mark.parametrize("config", [TINY_RESNET, TINY_RESNET18], ids=["resnet8", "resnet18"])
def test_resnet_computes_the_same_function_in_both_frameworks(config: ResNetConfig) -> None:
    torch.manual_seed(3)
    source = torch_resnet.build_resnet(config)
    for module in source.modules():  # non-trivial statistics, so that batch norm is compared too
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            torch.nn.init.uniform_(module.running_mean, -0.5, 0.5)
            torch.nn.init.uniform_(module.running_var, 0.5, 1.5)
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.5, 0.5)
    source.eval()
    target = keras_resnet.build_resnet(config)
    _torch_to_keras_resnet(source, target, config)
    images = np.random.default_rng(4).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = source(torch.from_numpy(images)).numpy()
    got = keras.ops.convert_to_numpy(target(images, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_dlrm_computes_the_same_function_in_both_frameworks() -> None:
    torch.manual_seed(5)
    source = torch_dlrm.build_dlrm(TINY_DLRM)
    target = keras_dlrm.build_dlrm(TINY_DLRM)
    for j, table in enumerate(source.embeddings):
        assert isinstance(table, torch.nn.Embedding)
        target.get_layer(f"embedding_{j}").set_weights([table.weight.detach().numpy()])
    for prefix, mlp in (("bottom", source.bottom), ("top", source.top)):
        linears = [m for m in mlp if isinstance(m, torch.nn.Linear)]
        for k, linear in enumerate(linears):
            target.get_layer(f"{prefix}_{k}").set_weights(
                [linear.weight.detach().numpy().T, linear.bias.detach().numpy()]
            )
    dense, sparse = _dlrm_batch(6)
    with torch.no_grad():
        expected = source(torch.from_numpy(dense), torch.from_numpy(sparse)).numpy()
    got = keras.ops.convert_to_numpy(target([dense, sparse]))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)

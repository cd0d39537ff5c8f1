"""Architectures as plain data, shared by the PyTorch and Keras builders, with their parameter counts worked out.

``ResNetConfig`` follows He et al. 2016 ("Deep Residual Learning for Image Recognition", section 4.2): a 3x3
convolution with 16 filters, then 3 stages of ``n`` basic blocks (two 3x3 convolutions each) with 16, 32 and 64
filters on 32x32, 16x16 and 8x8 maps (a stage's first convolution has stride 2), global average pooling and a 10-way
linear layer: 6n + 2 weighted layers. Shortcuts are option A (identity; when the shape changes, the input is
subsampled by 2 and zero-padded with the missing channels), as the paper uses on CIFAR, so they add no parameters.
ResNet-18 is the CIFAR variant in wide use (a 3x3 stem with 64 filters and no max-pool, 4 stages of 2 blocks with
64-512 filters) with option B shortcuts (a 1x1 convolution and batch norm where the shape changes).

``DLRMConfig`` follows Naumov et al. 2019 ("Deep Learning Recommendation Model for Personalization and
Recommendation Systems") with the Criteo settings of its reference code: one embedding table per categorical
feature, a bottom MLP 13-512-256-64-16 for the dense features, dot products between every pair of the 27 vectors
(bottom output and 26 embeddings; no self-products), concatenated with the bottom output, and a top MLP
512-256-1 ending in one logit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Shortcut = Literal["A", "B"]

CRITEO_DENSE = 13
CRITEO_SPARSE = 26
DEFAULT_VOCAB_SIZE = 100_000  # rows per embedding table: the Criteo reader hashes each column into this many ids


@dataclass(frozen=True)
class ResNetConfig:
    blocks: tuple[int, ...]  # basic blocks per stage
    widths: tuple[int, ...]  # filters per stage (the stem has widths[0])
    shortcut: Shortcut = "A"
    num_classes: int = 10
    in_channels: int = 3

    def __post_init__(self) -> None:
        if len(self.blocks) != len(self.widths) or not self.blocks:
            raise ValueError(f"blocks {self.blocks} and widths {self.widths} need one entry per stage")
        if min(self.blocks) < 1 or min(self.widths) < 1 or self.num_classes < 1:
            raise ValueError("blocks, widths and num_classes must be positive")

    def parameter_count(self) -> int:
        """Trainable parameters: convolution weights (no bias), batch-norm scale and shift, the linear layer."""
        total = 9 * self.in_channels * self.widths[0] + 2 * self.widths[0]
        previous = self.widths[0]
        for stage, (count, width) in enumerate(zip(self.blocks, self.widths, strict=True)):
            for block in range(count):
                total += 9 * previous * width + 2 * width + 9 * width * width + 2 * width
                downsample = stage > 0 and block == 0
                if self.shortcut == "B" and (downsample or previous != width):
                    total += previous * width + 2 * width
                previous = width
        return total + previous * self.num_classes + self.num_classes


def cifar_resnet(depth: int, num_classes: int = 10, width: int = 16) -> ResNetConfig:
    """ResNet-``depth`` of He et al. section 4.2 (depth = 6n + 2: 20, 32, 44, 56, 110, ...)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (20, 32, 44, 56, 110), not {depth}")
    n = (depth - 2) // 6
    return ResNetConfig((n, n, n), (width, 2 * width, 4 * width), "A", num_classes)


def resnet18(num_classes: int = 10, width: int = 64) -> ResNetConfig:
    """ResNet-18, CIFAR variant (3x3 stem, no max-pool); ``width`` < 64 makes a small copy for tests."""
    return ResNetConfig((2, 2, 2, 2), (width, 2 * width, 4 * width, 8 * width), "B", num_classes)


RESNETS = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110}


def resnet_by_name(name: str, num_classes: int = 10) -> ResNetConfig:
    """``resnet20`` / ``resnet32`` / ``resnet44`` / ``resnet56`` / ``resnet110`` / ``resnet18``."""
    if name == "resnet18":
        return resnet18(num_classes)
    if name not in RESNETS:
        raise ValueError(f"unknown model '{name}'; choose one of {', '.join([*RESNETS, 'resnet18'])}")
    return cifar_resnet(RESNETS[name], num_classes)


@dataclass(frozen=True)
class DLRMConfig:
    vocab_sizes: tuple[int, ...] = field(default_factory=lambda: (DEFAULT_VOCAB_SIZE,) * CRITEO_SPARSE)
    dense_features: int = CRITEO_DENSE
    embedding_dim: int = 16
    bottom_mlp: tuple[int, ...] = (512, 256, 64)  # hidden layers; the last layer has embedding_dim units
    top_mlp: tuple[int, ...] = (512, 256)  # hidden layers; the last layer has 1 unit (the logit)

    def __post_init__(self) -> None:
        if not self.vocab_sizes or min(self.vocab_sizes) < 2:
            raise ValueError("every categorical feature needs a vocabulary of at least 2 ids (0 is 'empty')")
        if self.dense_features < 1 or self.embedding_dim < 1:
            raise ValueError("dense_features and embedding_dim must be positive")

    @property
    def bottom_layers(self) -> tuple[int, ...]:
        return (*self.bottom_mlp, self.embedding_dim)

    @property
    def top_layers(self) -> tuple[int, ...]:
        return (*self.top_mlp, 1)

    @property
    def interaction_size(self) -> int:
        """Pairwise dot products between the bottom output and the embeddings, plus the bottom output itself."""
        vectors = len(self.vocab_sizes) + 1
        return vectors * (vectors - 1) // 2 + self.embedding_dim

    def parameter_count(self) -> int:
        total = sum(self.vocab_sizes) * self.embedding_dim
        previous = self.dense_features
        for units in self.bottom_layers:
            total += previous * units + units
            previous = units
        previous = self.interaction_size
        for units in self.top_layers:
            total += previous * units + units
            previous = units
        return total

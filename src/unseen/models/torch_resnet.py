"""CIFAR ResNets in PyTorch, from ``torch.nn`` only (see ``config`` for the architecture and its sources).

Input: float32 images ``(batch, 3, 32, 32)`` (channel-major, as the CIFAR-10 reader yields them); output: logits
``(batch, num_classes)`` (no softmax: train with ``CrossEntropyLoss``). Batch norm uses eps 1e-5 and momentum 0.1
(Keras: 0.9) and convolutions He-normal initialisation (fan in), as the Keras builder does.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from unseen.models.config import ResNetConfig, cifar_resnet, resnet18, resnet_by_name

__all__ = ["ResNet", "build_resnet", "cifar_resnet", "resnet18", "resnet_by_name"]

BN_EPS = 1e-5


def _conv3x3(inputs: int, outputs: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)


class _ShortcutA(nn.Module):
    """Option A: subsample by ``stride`` and zero-pad the new channels evenly on both sides (no parameters)."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.before = (outputs - inputs) // 2
        self.after = outputs - inputs - self.before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return functional.pad(x, (0, 0, 0, 0, self.before, self.after))


class _BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inputs, outputs, stride)
        self.bn1 = nn.BatchNorm2d(outputs, eps=BN_EPS)
        self.conv2 = _conv3x3(outputs, outputs, 1)
        self.bn2 = nn.BatchNorm2d(outputs, eps=BN_EPS)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            if shortcut == "A":
                self.shortcut = _ShortcutA(inputs, outputs, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs, eps=BN_EPS)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return functional.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = config
        self.conv = _conv3x3(config.in_channels, config.widths[0], 1)
        self.bn = nn.BatchNorm2d(config.widths[0], eps=BN_EPS)
        blocks: list[nn.Module] = []
        previous = config.widths[0]
        for stage, (count, width) in enumerate(zip(config.blocks, config.widths, strict=True)):
            for block in range(count):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(_BasicBlock(previous, width, stride, config.shortcut))
                previous = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(previous, config.num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.relu(self.bn(self.conv(x)))
        out = self.blocks(out)
        logits: torch.Tensor = self.fc(torch.flatten(functional.adaptive_avg_pool2d(out, 1), 1))
        return logits


def build_resnet(config: ResNetConfig | str) -> ResNet:
    """A ResNet from a config or a name (``resnet20``, ``resnet56``, ``resnet18``, ...)."""
    return ResNet(resnet_by_name(config) if isinstance(config, str) else config)

"""CIFAR ResNets in Keras 3 (see ``config`` for the architecture and its sources), matching ``torch_resnet``.

Keras runs on the torch backend here: importing this module sets ``KERAS_BACKEND=torch`` unless the variable is
already set (set it to ``tensorflow`` before the first ``import keras`` to use TensorFlow). The default data format
is ``channels_first``, the layout the CIFAR-10 reader yields and the torch backend computes in; on TensorFlow's CPU
kernels pass ``data_format="channels_last"`` and feed ``images.transpose(0, 2, 3, 1)``. Output: logits (train with
``SparseCategoricalCrossentropy(from_logits=True)``). Batch norm eps 1e-5, momentum 0.9 (torch's 0.1).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from typing import Any, Literal

import keras

from unseen.models.config import ResNetConfig, cifar_resnet, resnet18, resnet_by_name

__all__ = ["ShortcutA", "build_resnet", "cifar_resnet", "resnet18", "resnet_by_name"]

DataFormat = Literal["channels_first", "channels_last"]
BN_EPS = 1e-5
BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package="unseen")
class ShortcutA(keras.layers.Layer):  # type: ignore[misc]
    """Option A: subsample by ``stride`` and zero-pad the new channels evenly on both sides (no parameters)."""

    def __init__(self, extra_channels: int, stride: int, data_format: DataFormat, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extra_channels = extra_channels
        self.stride = stride
        self.data_format = data_format

    def call(self, x: Any) -> Any:
        before = self.extra_channels // 2
        after = self.extra_channels - before
        if self.data_format == "channels_first":
            x = x[:, :, :: self.stride, :: self.stride]
            return keras.ops.pad(x, [[0, 0], [before, after], [0, 0], [0, 0]])
        x = x[:, :: self.stride, :: self.stride, :]
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, after]])

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        return {**config, "extra_channels": self.extra_channels, "stride": self.stride, "data_format": self.data_format}


class _Layers:
    def __init__(self, data_format: DataFormat) -> None:
        self.data_format = data_format
        self.axis = 1 if data_format == "channels_first" else -1

    def conv(self, filters: int, kernel: int, stride: int, name: str) -> keras.layers.Layer:
        return keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same" if kernel == 3 else "valid",
            use_bias=False,
            kernel_initializer="he_normal",
            data_format=self.data_format,
            name=name,
        )

    def bn(self, name: str) -> keras.layers.Layer:
        return keras.layers.BatchNormalization(axis=self.axis, epsilon=BN_EPS, momentum=BN_MOMENTUM, name=name)

    def block(self, x: Any, inputs: int, outputs: int, stride: int, shortcut: str, name: str) -> Any:
        # "same" padding with stride 2 on an even map pads (0, 1); torch pads (1, 1). Pad explicitly so the two
        # frameworks compute the same function and weights can move between them.
        if stride == 2:
            out = keras.layers.ZeroPadding2D(1, data_format=self.data_format, name=f"{name}_pad")(x)
            out = keras.layers.Conv2D(
                outputs,
                3,
                strides=2,
                padding="valid",
                use_bias=False,
                kernel_initializer="he_normal",
                data_format=self.data_format,
                name=f"{name}_conv1",
            )(out)
        else:
            out = self.conv(outputs, 3, 1, f"{name}_conv1")(x)
        out = keras.layers.ReLU(name=f"{name}_relu1")(self.bn(f"{name}_bn1")(out))
        out = self.bn(f"{name}_bn2")(self.conv(outputs, 3, 1, f"{name}_conv2")(out))
        skip = x
        if stride != 1 or inputs != outputs:
            if shortcut == "A":
                skip = ShortcutA(outputs - inputs, stride, self.data_format, name=f"{name}_shortcut")(x)
            else:
                skip = self.bn(f"{name}_shortcut_bn")(self.conv(outputs, 1, stride, f"{name}_shortcut_conv")(x))
        return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([out, skip]))


def build_resnet(
    config: ResNetConfig | str, data_format: DataFormat = "channels_first", input_format: DataFormat | None = None
) -> keras.Model:
    """A ResNet from a config or a name (``resnet20``, ``resnet56``, ``resnet18``, ...), built and uncompiled.

    ``data_format`` is the layout the convolutions compute in; ``input_format`` (default: the same) the layout of
    the images fed in. TensorFlow's CPU convolutions need ``channels_last``, while Unseen's CIFAR data comes
    channel-major as the files store it: ``build_resnet(name, "channels_last", "channels_first")`` transposes the
    images once at the input. The weights are the same either way (Keras kernels are ``(h, w, in, out)``)."""
    config = resnet_by_name(config) if isinstance(config, str) else config
    layers = _Layers(data_format)
    fed = input_format or data_format
    shape = (config.in_channels, 32, 32) if fed == "channels_first" else (32, 32, config.in_channels)
    images = keras.Input(shape=shape, name="images")
    x = images
    if fed != data_format:
        x = keras.layers.Permute((2, 3, 1) if fed == "channels_first" else (3, 1, 2), name="layout")(x)
    x = layers.conv(config.widths[0], 3, 1, "stem_conv")(x)
    x = keras.layers.ReLU(name="stem_relu")(layers.bn("stem_bn")(x))
    previous = config.widths[0]
    for stage, (count, width) in enumerate(zip(config.blocks, config.widths, strict=True)):
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            x = layers.block(x, previous, width, stride, config.shortcut, f"stage{stage + 1}_block{block + 1}")
            previous = width
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format, name="pool")(x)
    logits = keras.layers.Dense(config.num_classes, kernel_initializer="glorot_uniform", name="fc")(x)
    return keras.Model(images, logits, name=f"resnet_{sum(config.blocks) * 2 + 2}")

"""DLRM in Keras 3 (see ``config`` for the architecture and its sources), matching ``torch_dlrm``.

Importing this module sets ``KERAS_BACKEND=torch`` unless the variable is already set. The model takes
``[dense, sparse]``: dense ``(batch, 13)`` float32, sparse ``(batch, 26)`` integer ids (column j indexes table j),
and returns logits ``(batch,)`` (train with ``BinaryCrossentropy(from_logits=True)``).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from typing import Any

import keras
import numpy as np

from unseen.models.config import DLRMConfig

__all__ = ["DLRMConfig", "DotInteraction", "build_dlrm"]


@keras.saving.register_keras_serializable(package="unseen")
class DotInteraction(keras.layers.Layer):  # type: ignore[misc]
    """Dot products of every pair of the stacked vectors (no self-products), in torch's ``tril_indices`` order."""

    def __init__(self, vectors: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vectors = vectors
        rows, cols = np.tril_indices(vectors, k=-1)
        self._pairs = (rows * vectors + cols).astype("int32")

    def call(self, stacked: Any) -> Any:
        products = keras.ops.matmul(stacked, keras.ops.transpose(stacked, (0, 2, 1)))
        flat = keras.ops.reshape(products, (-1, self.vectors * self.vectors))
        return keras.ops.take(flat, self._pairs, axis=1)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        return {**config, "vectors": self.vectors}


def _mlp(x: Any, layers: tuple[int, ...], last_activation: bool, name: str) -> Any:
    for index, units in enumerate(layers):
        relu = index < len(layers) - 1 or last_activation
        x = keras.layers.Dense(
            units,
            activation="relu" if relu else None,
            kernel_initializer="glorot_uniform",
            name=f"{name}_{index}",
        )(x)
    return x


def build_dlrm(config: DLRMConfig | None = None) -> keras.Model:
    """DLRM, built and uncompiled."""
    config = config or DLRMConfig()
    sparse_count = len(config.vocab_sizes)
    dense = keras.Input(shape=(config.dense_features,), name="dense")
    sparse = keras.Input(shape=(sparse_count,), dtype="int32", name="sparse")
    bottom = _mlp(dense, config.bottom_layers, last_activation=True, name="bottom")
    vectors = [keras.layers.Reshape((1, config.embedding_dim), name="bottom_vector")(bottom)]
    for j, rows in enumerate(config.vocab_sizes):
        bound = (1.0 / rows) ** 0.5
        table = keras.layers.Embedding(
            rows,
            config.embedding_dim,
            embeddings_initializer=keras.initializers.RandomUniform(-bound, bound),
            name=f"embedding_{j}",
        )
        vectors.append(table(sparse[:, j : j + 1]))
    stacked = keras.layers.Concatenate(axis=1, name="stack")(vectors)
    products = DotInteraction(sparse_count + 1, name="interaction")(stacked)
    features = keras.layers.Concatenate(axis=1, name="interaction_out")([bottom, products])
    logits = keras.layers.Reshape((), name="logit")(_mlp(features, config.top_layers, False, name="top"))
    return keras.Model([dense, sparse], logits, name="dlrm")

"""DLRM in PyTorch, from ``torch.nn`` only (see ``config`` for the architecture and its sources).

``forward(dense, sparse)``: dense ``(batch, 13)`` float32 (the reader's log(1 + x) features), sparse
``(batch, 26)`` integer ids (int32 or int64; column j indexes table j); returns logits ``(batch,)`` (train with
``BCEWithLogitsLoss``). Initialisation as the Keras builder: embeddings uniform in +-sqrt(1/rows), linear layers
Glorot-uniform with zero bias.
"""

from __future__ import annotations

import torch
from torch import nn

from unseen.models.config import DLRMConfig

__all__ = ["DLRM", "DLRMConfig", "build_dlrm"]


def _mlp(inputs: int, layers: tuple[int, ...], last_activation: bool) -> nn.Sequential:
    modules: list[nn.Module] = []
    for index, units in enumerate(layers):
        linear = nn.Linear(inputs, units)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        modules.append(linear)
        if index < len(layers) - 1 or last_activation:
            modules.append(nn.ReLU())
        inputs = units
    return nn.Sequential(*modules)


class DLRM(nn.Module):
    def __init__(self, config: DLRMConfig) -> None:
        super().__init__()
        self.config = config
        tables = [nn.Embedding(rows, config.embedding_dim) for rows in config.vocab_sizes]
        for table, rows in zip(tables, config.vocab_sizes, strict=True):
            bound = (1.0 / rows) ** 0.5
            nn.init.uniform_(table.weight, -bound, bound)
        self.embeddings = nn.ModuleList(tables)
        self.bottom = _mlp(config.dense_features, config.bottom_layers, last_activation=True)
        self.top = _mlp(config.interaction_size, config.top_layers, last_activation=False)
        vectors = len(config.vocab_sizes) + 1
        rows, cols = torch.tril_indices(vectors, vectors, offset=-1)
        self.register_buffer("_pairs", rows * vectors + cols, persistent=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        bottom = self.bottom(dense)
        vectors = torch.stack([bottom, *(table(sparse[:, j]) for j, table in enumerate(self.embeddings))], dim=1)
        products = torch.bmm(vectors, vectors.transpose(1, 2)).flatten(1)
        pairs = self.get_buffer("_pairs")
        interaction = torch.cat([bottom, products[:, pairs]], dim=1)
        logits: torch.Tensor = self.top(interaction).squeeze(1)
        return logits


def build_dlrm(config: DLRMConfig | None = None) -> DLRM:
    return DLRM(config or DLRMConfig())

"""Metrics a task logs (loss per iteration, AUC, a ROC curve), kept by its node for the CLI and the board."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from unseen.storage.points import MetricPoint


class MetricSink(Protocol):
    def emit(self, points: list[MetricPoint]) -> None: ...


class Metrics:
    def __init__(self, sink: MetricSink, prefix: str = "") -> None:
        self._sink = sink
        self._prefix = prefix

    def log(self, name: str, value: float, step: int | None = None) -> None:
        """A scalar, optionally per step (iteration, round, epoch)."""
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"metric {name} is {number}; only finite numbers can be logged")
        self._sink.emit([MetricPoint(self._prefix + name, step, number)])

    def log_all(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Several scalars of one step in one call to the node (each call is a round trip and a database
        write: a round loop logging six figures one by one spent that six times between rounds)."""
        points = []
        for name, value in values.items():
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"metric {name} is {number}; only finite numbers can be logged")
            points.append(MetricPoint(self._prefix + name, step, number))
        if points:
            self._sink.emit(points)

    def log_json(self, name: str, value: dict[str, Any], step: int | None = None) -> None:
        """A structured value: curve points (``{"x": [...], "y": [...]}``), a confusion matrix, a summary."""
        self._sink.emit([MetricPoint(self._prefix + name, step, value)])


class MemoryMetricSink:
    """Keeps metrics in a list: for running algorithms outside a node."""

    def __init__(self) -> None:
        self.points: list[MetricPoint] = []

    def emit(self, points: list[MetricPoint]) -> None:
        self.points.extend(points)

"""A binary evaluation's decision charts, derived from the ROC curve and the confusion matrix it logged.

The ``evaluation`` component logs the ROC curve (``fpr``, ``tpr``, ``thresholds``) and the confusion matrix at
its threshold (``[[tn, fp], [fn, tp]]``); the matrix's rows give the number of positives P and negatives N.
From those, every point of the ROC curve is also a point of each chart people read to choose a cut-off:

- population fraction (the share of rows scored at or above the threshold) = (tpr P + fpr N) / (P + N);
- KS by population fraction: TPR, FPR and their gap; gain: TPR; lift: precision / (P / (P + N));
- precision-recall: precision = tpr P / (tpr P + fpr N) against recall = tpr;
- accuracy = (tpr P + (1 - fpr) N) / (P + N) and F1 by threshold.

So no row-level data is needed, and what is drawn is exactly what was logged.
"""

from __future__ import annotations

from typing import Any


def _positives_negatives(confusion: object) -> tuple[float, float] | None:
    if not isinstance(confusion, dict):
        return None
    matrix = confusion.get("matrix")
    if not (isinstance(matrix, list) and len(matrix) == 2 and all(isinstance(r, list) and len(r) == 2 for r in matrix)):
        return None
    try:
        negatives, positives = float(sum(matrix[0])), float(sum(matrix[1]))
    except TypeError:
        return None
    return (positives, negatives) if positives > 0 and negatives > 0 else None


def _chart(
    chart_id: str, title: str, x_label: str, y_label: str, series: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {"id": chart_id, "kind": "xy", "metric": chart_id.split("--", 1)[0], "title": title, "x_label": x_label,
            "y_label": y_label, "series": series, **extra}  # fmt: skip


def decision_charts(who: str, roc: dict[str, list[float]], confusion: object, slug: str) -> list[dict[str, Any]]:
    """KS by population fraction, gain, lift, precision-recall, and accuracy and F1 by threshold; [] when the
    matrix is not a binary one with both classes present or the curve has no thresholds."""
    counts = _positives_negatives(confusion)
    fpr, tpr, thresholds = roc.get("fpr"), roc.get("tpr"), roc.get("thresholds")
    if counts is None or not fpr or not tpr or not thresholds or not len(fpr) == len(tpr) == len(thresholds):
        return []
    positives, negatives = counts
    rows = positives + negatives
    base_rate = positives / rows
    fraction, precision, accuracy, f1, lift = [], [], [], [], []
    for f, t in zip(fpr, tpr, strict=True):
        predicted = t * positives + f * negatives
        p = t * positives / predicted if predicted > 0 else 1.0
        fraction.append(predicted / rows)
        precision.append(p)
        accuracy.append((t * positives + (1 - f) * negatives) / rows)
        f1.append(2 * p * t / (p + t) if p + t > 0 else 0.0)
        lift.append(p / base_rate)

    def points(xs: list[float], ys: list[float], skip_empty: bool = False) -> list[list[float]]:
        pairs = [
            [round(x, 6), round(y, 6)] for x, y, s in zip(xs, ys, fraction, strict=True) if not (skip_empty and s <= 0)
        ]
        return sorted(pairs)

    gaps = [t - f for t, f in zip(tpr, fpr, strict=True)]
    best = max(range(len(gaps)), key=gaps.__getitem__)
    cut = [t for t in thresholds]
    return [
        _chart(f"ks-population--{slug}", f"KS by population fraction: {gaps[best]:.3f} at the top "
               f"{100 * fraction[best]:.1f} % ({who})", "population fraction", "rate",
               [{"name": "true positive rate", "points": points(fraction, list(tpr))},
                {"name": "false positive rate", "points": points(fraction, list(fpr))},
                {"name": "difference (KS)", "points": points(fraction, gaps)}],
               marker={"x": round(fraction[best], 6), "label": f"KS {gaps[best]:.3f}"}, percent_x=True),
        _chart(f"gain--{slug}", f"Cumulative gain ({who})", "population fraction", "share of positives found",
               [{"name": "model", "points": points(fraction, list(tpr))}], diagonal=True, percent_x=True),
        _chart(f"lift--{slug}", f"Lift ({who})", "population fraction", "lift over random",
               [{"name": "model", "points": points(fraction, lift, skip_empty=True)}], baseline=1.0, percent_x=True),
        _chart(f"pr--{slug}", f"Precision and recall ({who})", "recall", "precision",
               [{"name": "model", "points": points(list(tpr), precision, skip_empty=True)}], baseline=base_rate),
        _chart(f"accuracy-f1--{slug}", f"Accuracy and F1 by threshold ({who})", "threshold", "score",
               [{"name": "accuracy", "points": points(cut, accuracy)}, {"name": "F1", "points": points(cut, f1)}]),
    ]  # fmt: skip

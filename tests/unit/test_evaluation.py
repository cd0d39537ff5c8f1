"""Tests for unseen.evaluation and the ``evaluation`` component.

Metrics are checked against scikit-learn and against values computed by hand (brute force over thresholds,
pairs, counts) on real data: scikit-learn's breast-cancer, wine and diabetes sets with simple models' predictions.
The component is driven with a fake Context that records the metrics it logs, and once through a real Context
reading a Parquet table, so the column types a table gives back are covered too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unseen.components import evaluation as component
from unseen.evaluation import (
    MAX_CLASSES,
    binary_metrics,
    downsample_indices,
    infer_task_type,
    ks_statistic,
    log_loss,
    multiclass_metrics,
    regression_metrics,
    roc_auc,
    roc_curve_points,
    threshold_metrics,
)
from unseen.runtime.context import Context
from unseen.runtime.metrics import MemoryMetricSink, Metrics
from unseen.runtime.parties import PartyRef, Role
from unseen.storage.tables import Table, TableStore
from unseen.transport.codec import Value

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --- data ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def breast() -> tuple[IntArray, FloatArray]:
    """Held-out labels and LogisticRegression probabilities on the breast-cancer set."""
    features, target = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.5, random_state=0, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000)).fit(x_train, y_train)
    return np.asarray(y_test, dtype=np.int64), model.predict_proba(x_test)[:, 1]


@pytest.fixture(scope="module")
def noisy() -> tuple[IntArray, FloatArray]:
    """A weak scorer on 20,000 rows: a ROC curve with thousands of corners, to exercise downsampling."""
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, size=20_000)
    scores = 1 / (1 + np.exp(-(labels + rng.normal(0, 1.5, size=labels.size))))
    return labels.astype(np.int64), scores


def brute_force_ks(labels: IntArray, scores: FloatArray) -> tuple[float, float]:
    """max over every distinct score t of P(score >= t | 1) - P(score >= t | 0), and the highest t attaining it."""
    positives, negatives = scores[labels == 1], scores[labels == 0]
    best, best_threshold = 0.0, float("inf")
    for t in sorted(set(scores.tolist()), reverse=True):
        gap = float(np.mean(positives >= t) - np.mean(negatives >= t))
        if gap > best + 1e-12:
            best, best_threshold = gap, t
    return best, best_threshold


# --- binary ----------------------------------------------------------------------------------------------------


def test_auc_matches_sklearn_and_the_pairwise_definition(breast: tuple[IntArray, FloatArray]) -> None:
    labels, scores = breast
    positives, negatives = scores[labels == 1], scores[labels == 0]
    pairs = positives[:, None] - negatives[None, :]
    by_hand = float(np.mean(pairs > 0) + 0.5 * np.mean(pairs == 0))
    auc = roc_auc(labels, scores)
    assert auc == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    assert auc == pytest.approx(by_hand, abs=1e-12)
    assert 0.97 < auc <= 1.0


def test_ks_on_a_hand_example() -> None:
    # negatives 0.1 0.2 0.3 0.6, positives 0.5 0.7 0.9: at t=0.5, TPR = 3/3 and FPR = 1/4, the widest gap.
    labels = [0, 0, 0, 0, 1, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.6, 0.5, 0.7, 0.9]
    ks = ks_statistic(labels, scores)
    assert ks.statistic == pytest.approx(0.75)
    assert ks.threshold == pytest.approx(0.5)


def test_ks_matches_brute_force_and_scipy(breast: tuple[IntArray, FloatArray]) -> None:
    ks_2samp = pytest.importorskip("scipy.stats").ks_2samp  # scipy comes with scikit-learn; it has no stubs

    labels, scores = breast
    ks = ks_statistic(labels, scores)
    expected, expected_threshold = brute_force_ks(labels, scores)
    assert ks.statistic == pytest.approx(expected, abs=1e-12)
    assert ks.threshold == pytest.approx(expected_threshold, abs=1e-12)
    # For a scorer that ranks positives higher, the one-sided gap is the two-sample KS statistic.
    scipy_ks = ks_2samp(scores[labels == 1], scores[labels == 0]).statistic
    assert ks.statistic == pytest.approx(float(scipy_ks), abs=1e-12)
    # Predicting positive at the reported threshold really attains the statistic.
    predicted = scores >= ks.threshold
    tpr, fpr = predicted[labels == 1].mean(), predicted[labels == 0].mean()
    assert tpr - fpr == pytest.approx(ks.statistic, abs=1e-12)


def test_ks_is_exact_on_a_long_noisy_curve(noisy: tuple[IntArray, FloatArray]) -> None:
    labels, scores = noisy
    fpr, tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
    assert ks_statistic(labels, scores).statistic == pytest.approx(float(np.max(tpr - fpr)), abs=1e-12)


def test_threshold_metrics_match_counts_by_hand(breast: tuple[IntArray, FloatArray]) -> None:
    labels, scores = breast
    for threshold in (0.3, 0.5, 0.8):
        result = threshold_metrics(labels, scores, threshold)
        predicted = scores >= threshold
        tp = int(np.sum(predicted & (labels == 1)))
        fp = int(np.sum(predicted & (labels == 0)))
        fn = int(np.sum(~predicted & (labels == 1)))
        tn = int(np.sum(~predicted & (labels == 0)))
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        assert result.confusion_matrix.to_dict() == {"labels": [0, 1], "matrix": [[tn, fp], [fn, tp]]}
        assert result.accuracy == pytest.approx((tp + tn) / len(labels))
        assert result.precision == pytest.approx(precision)
        assert result.recall == pytest.approx(recall)
        assert result.f1 == pytest.approx(2 * precision * recall / (precision + recall))
        assert result.f1 == pytest.approx(skm.f1_score(labels, predicted.astype(int)))


def test_threshold_is_inclusive_and_nothing_predicted_gives_zero_precision() -> None:
    labels, scores = [0, 1, 1], [0.2, 0.5, 0.4]
    assert threshold_metrics(labels, scores, 0.5).confusion_matrix.matrix == ((1, 0), (1, 1))
    none_predicted = threshold_metrics(labels, scores, 0.9)
    assert (none_predicted.precision, none_predicted.recall, none_predicted.f1) == (0.0, 0.0, 0.0)


def test_binary_metrics_bundle_agrees_with_the_single_functions(breast: tuple[IntArray, FloatArray]) -> None:
    labels, scores = breast
    result = binary_metrics(labels, scores, threshold=0.4)
    assert result.rows == len(labels)
    assert result.positives == int(labels.sum())
    assert result.auc == roc_auc(labels, scores)
    assert result.ks == ks_statistic(labels, scores)
    assert result.at_threshold == threshold_metrics(labels, scores, 0.4)
    assert result.curve == roc_curve_points(labels, scores)
    expected = {"auc", "ks", "ks_threshold", "accuracy", "precision", "recall", "f1"}
    if scores.min() >= 0 and scores.max() <= 1:
        expected.add("log_loss")
    assert set(result.scalars()) == expected


def test_log_loss_matches_sklearn_and_is_only_reported_for_probabilities(breast: tuple[IntArray, FloatArray]) -> None:
    labels, _ = breast
    rng = np.random.default_rng(3)
    probabilities = np.clip(labels * 0.6 + rng.random(len(labels)) * 0.4, 0.0, 1.0)
    probabilities[:3] = [0.0, 1.0, 0.5]  # exact 0 and 1 are clipped, as scikit-learn clips them
    expected = skm.log_loss(labels, np.clip(probabilities, 1e-15, 1 - 1e-15))
    assert log_loss(labels, probabilities) == pytest.approx(expected, rel=1e-12)
    assert binary_metrics(labels, probabilities).scalars()["log_loss"] == pytest.approx(expected, rel=1e-12)
    assert binary_metrics(labels, probabilities * 3 - 1).log_loss is None  # scores, not probabilities
    with pytest.raises(ValueError, match="probabilities"):
        log_loss(labels, probabilities * 3 - 1)


def test_curves_are_downsampled_keeping_endpoints_and_the_ks_point(noisy: tuple[IntArray, FloatArray]) -> None:
    labels, scores = noisy
    full_length = len(skm.roc_curve(labels, scores)[0])
    assert full_length > 1000  # the case worth testing: far more points than the board needs
    curve = roc_curve_points(labels, scores)
    assert len(curve.fpr) == len(curve.tpr) == len(curve.thresholds) <= 200
    assert (curve.fpr[0], curve.tpr[0]) == (0.0, 0.0)
    assert (curve.fpr[-1], curve.tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(curve.thresholds) < 0)
    assert np.all(np.diff(curve.fpr) >= 0) and np.all(np.diff(curve.tpr) >= 0)
    ks = ks_statistic(labels, scores)
    i = curve.ks_index
    assert curve.tpr[i] - curve.fpr[i] == pytest.approx(ks.statistic, abs=1e-12)
    assert curve.thresholds[i] == ks.threshold
    # The first threshold is "above every score", finite so that it is valid JSON.
    assert curve.thresholds[0] > scores.max()
    assert np.isfinite(curve.thresholds[0])


def test_curve_dicts_are_json(noisy: tuple[IntArray, FloatArray]) -> None:
    result = binary_metrics(*noisy)
    roc, ks_curve = result.curve.roc_dict(), result.curve.ks_dict()
    matrix = result.at_threshold.confusion_matrix.to_dict()
    for value in (roc, ks_curve, matrix):
        assert json.loads(json.dumps(value, allow_nan=False)) == value
    assert set(roc) == {"fpr", "tpr", "thresholds"}
    assert set(ks_curve) == {"threshold", "tpr", "fpr"}
    assert ks_curve["threshold"] == roc["thresholds"]


def test_short_curves_are_kept_whole() -> None:
    labels, scores = [0, 0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.5, 0.7, 0.9]
    curve = roc_curve_points(labels, scores)
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    assert curve.fpr == tuple(fpr.tolist())
    assert curve.tpr == tuple(tpr.tolist())


@pytest.mark.parametrize("length", [201, 250, 1000, 123_457])
@pytest.mark.parametrize("keep", [(), (1,), (137,), (5, 77, 199)])
def test_downsample_indices(length: int, keep: tuple[int, ...]) -> None:
    chosen = downsample_indices(length, 200, keep=keep)
    assert len(chosen) <= 200
    assert chosen == sorted(set(chosen))
    assert {0, length - 1, *keep} <= set(chosen)
    assert len(chosen) >= 190  # it uses the budget rather than collapsing


def test_downsample_indices_edges() -> None:
    assert downsample_indices(5, 200) == [0, 1, 2, 3, 4]
    assert downsample_indices(0, 200) == []
    with pytest.raises(ValueError, match="outside"):
        downsample_indices(10, 200, keep=(10,))
    with pytest.raises(ValueError, match="cannot keep"):
        downsample_indices(1000, 3, keep=(5, 6))


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1, 1], [0.1, 0.2], "aligned row by row"),
        ([], [], "empty"),
        ([0, 2, 1], [0.1, 0.2, 0.3], r"labels 0 and 1; found also \[2.0\]"),
        ([0, 1, np.nan], [0.1, 0.2, 0.3], "missing or infinite"),
        (["a", "b"], [0.1, 0.2], "labels must be 0 or 1"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "scores hold 1 missing or infinite"),
        ([0, 1, 1], [0.1, np.inf, 0.3], "scores hold 1 missing or infinite"),
        ([0, 1], ["x", "y"], "scores must be numbers"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "every label is 1"),
    ],
)
def test_binary_input_validation(labels: Any, scores: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics(labels, scores)


def test_threshold_metrics_accept_one_class_but_not_a_bad_threshold() -> None:
    assert threshold_metrics([1, 1], [0.9, 0.2]).recall == 0.5
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        threshold_metrics([0, 1], [0.2, 0.9], threshold=float("nan"))


def test_boolean_and_float_labels_are_binary() -> None:
    scores = [0.2, 0.9, 0.4]
    assert roc_auc([False, True, False], scores) == roc_auc([0.0, 1.0, 0.0], scores) == 1.0


# --- multiclass ------------------------------------------------------------------------------------------------


def test_multiclass_matches_sklearn_and_counts() -> None:
    features, target = load_wine(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.5, random_state=0, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=1000)).fit(x_train, y_train)
    predicted = model.predict(x_test)
    result = multiclass_metrics(y_test, predicted)

    matrix = np.array(result.confusion_matrix.matrix)
    assert result.confusion_matrix.labels == (0, 1, 2)
    assert matrix.tolist() == skm.confusion_matrix(y_test, predicted).tolist()
    assert matrix.sum() == len(y_test)
    per_class_precision = np.diag(matrix) / matrix.sum(axis=0)
    per_class_recall = np.diag(matrix) / matrix.sum(axis=1)
    per_class_f1 = 2 * per_class_precision * per_class_recall / (per_class_precision + per_class_recall)
    assert result.accuracy == pytest.approx(np.trace(matrix) / matrix.sum())
    assert result.precision_macro == pytest.approx(per_class_precision.mean())
    assert result.recall_macro == pytest.approx(per_class_recall.mean())
    assert result.f1_macro == pytest.approx(per_class_f1.mean())
    assert result.f1_macro == pytest.approx(skm.f1_score(y_test, predicted, average="macro"))
    assert json.loads(json.dumps(result.confusion_matrix.to_dict())) == result.confusion_matrix.to_dict()


def test_multiclass_counts_classes_only_predicted_and_scores_them_zero() -> None:
    result = multiclass_metrics([0, 0, 1, 1], [0, 0, 1, 2])
    assert result.confusion_matrix.labels == (0, 1, 2)
    assert result.confusion_matrix.matrix == ((2, 0, 0), (0, 1, 1), (0, 0, 0))
    assert result.recall_macro == pytest.approx((1 + 0.5 + 0) / 3)


def test_multiclass_validation() -> None:
    assert multiclass_metrics([0.0, 2.0], [2, 2]).confusion_matrix.labels == (0, 2)
    with pytest.raises(ValueError, match=r"integer class labels; found \[2.5\]"):
        multiclass_metrics([0.0, 2.5], [0, 2])
    with pytest.raises(ValueError, match="aligned row by row"):
        multiclass_metrics([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="missing or infinite"):
        multiclass_metrics([0, 1, 2], [0, 1, np.nan])
    many = np.arange(MAX_CLASSES + 1)
    with pytest.raises(ValueError, match="distinct classes"):
        multiclass_metrics(many, many)


# --- regression ------------------------------------------------------------------------------------------------


def test_regression_matches_formulas() -> None:
    features, target = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.5, random_state=0)
    predicted = LinearRegression().fit(x_train, y_train).predict(x_test)
    result = regression_metrics(y_test, predicted)
    errors = y_test - predicted
    mse = float(np.mean(errors**2))
    assert result.rows == len(y_test)
    assert result.mae == pytest.approx(np.mean(np.abs(errors)))
    assert result.mse == pytest.approx(mse)
    assert result.rmse == pytest.approx(np.sqrt(mse))
    assert result.r2 == pytest.approx(1 - mse / np.var(y_test))
    assert result.explained_variance == pytest.approx(1 - np.var(errors) / np.var(y_test))
    assert 0.3 < result.r2 < 0.7


def test_regression_explained_variance_ignores_a_constant_bias() -> None:
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    result = regression_metrics(truth, truth + 10)
    assert result.explained_variance == pytest.approx(1.0)
    assert result.r2 < 0
    assert result.mae == pytest.approx(10.0)


def test_regression_edge_cases() -> None:
    assert regression_metrics([3.0, 3.0], [3.0, 3.0]).r2 == 1.0
    assert regression_metrics([3.0, 3.0], [3.0, 4.0]).r2 == 0.0
    with pytest.raises(ValueError, match="at least 2 rows"):
        regression_metrics([1.0], [1.0])
    with pytest.raises(ValueError, match="predicted values hold 1 missing"):
        regression_metrics([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="aligned row by row"):
        regression_metrics([1.0, 2.0], [1.0])


# --- task inference --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        ([0, 1, 1], "binary"),
        ([1.0, 1.0], "binary"),
        ([True, False], "binary"),
        ([0, 1, 2], "multiclass"),
        ([3.0, 7.0, 3.0], "multiclass"),
        (list(range(21)), "regression"),
        ([0.5, 1.0], "regression"),
    ],
)
def test_infer_task_type(labels: list[Any], task: str) -> None:
    assert infer_task_type(labels) == task


def test_infer_task_type_refuses_what_is_no_label() -> None:
    with pytest.raises(ValueError, match="missing or infinite"):
        infer_task_type([0.0, np.nan])
    with pytest.raises(ValueError, match="empty"):
        infer_task_type(np.array([], dtype=np.float64))
    with pytest.raises(ValueError, match="must be numbers"):
        infer_task_type(["yes", "no"])


# --- the component ---------------------------------------------------------------------------------------------


class FakeContext:
    """What ``evaluation.run`` uses of a Context: one input table, metrics, a logger."""

    def __init__(self, table: Mapping[str, npt.ArrayLike], label_column: str | None = None) -> None:
        self.table = Table({name: np.asarray(values) for name, values in table.items()}, label_column=label_column)
        self.sink = MemoryMetricSink()
        self.metrics = Metrics(self.sink)
        self.logger = logging.getLogger("test.evaluation")
        self.slots: list[str] = []

    def read_input(self, slot: str) -> Table:
        self.slots.append(slot)
        return self.table

    def logged(self) -> dict[str, Any]:
        assert all(point.step is None for point in self.sink.points)
        names = [point.name for point in self.sink.points]
        assert len(names) == len(set(names)), names
        return {point.name: point.value for point in self.sink.points}


def run_component(table: Mapping[str, npt.ArrayLike], label_column: str | None = None, **params: Any) -> FakeContext:
    ctx = FakeContext(table, label_column)
    component.run(cast(Context, ctx), component.EvaluationParams.model_validate(params))
    assert ctx.slots == ["data"]
    return ctx


def test_component_binary_logs_scalars_and_curves(
    breast: tuple[IntArray, FloatArray], caplog: pytest.LogCaptureFixture
) -> None:
    labels, scores = breast
    with caplog.at_level(logging.INFO, logger="test.evaluation"):
        ctx = run_component({"label": labels, "predict_score": scores, "id": np.arange(len(labels))}, threshold=0.4)
    logged = ctx.logged()
    expected = binary_metrics(labels, scores, threshold=0.4)
    assert set(logged) == {*expected.scalars(), "roc", "ks_curve", "confusion_matrix"}
    for name, value in expected.scalars().items():
        assert logged[name] == value
    assert logged["roc"] == expected.curve.roc_dict()
    assert logged["ks_curve"] == expected.curve.ks_dict()
    assert logged["confusion_matrix"] == expected.at_threshold.confusion_matrix.to_dict()
    json.dumps(logged, allow_nan=False)  # what the node stores
    assert "binary task (inferred from the labels)" in caplog.text
    assert f"{len(labels)} rows" in caplog.text
    assert "auc=" in caplog.text and "ks=" in caplog.text


def test_component_multiclass_and_regression() -> None:
    multi = run_component({"label": [0, 1, 2, 2], "predict_label": [0, 1, 1, 2]}).logged()
    assert set(multi) == {"accuracy", "precision_macro", "recall_macro", "f1_macro", "confusion_matrix"}
    assert multi["accuracy"] == 0.75
    assert multi["confusion_matrix"] == {"labels": [0, 1, 2], "matrix": [[1, 0, 0], [0, 1, 0], [0, 1, 1]]}

    regression = run_component({"label": [1.5, 2.0, 3.5], "predict_value": [1.0, 2.0, 4.0]}).logged()
    assert set(regression) == {"mae", "mse", "rmse", "r2", "explained_variance"}
    assert regression["mae"] == pytest.approx(1 / 3)


def test_component_explicit_task_type_overrides_inference() -> None:
    # 0/1 labels would be inferred binary; the user says they are a regression target.
    logged = run_component({"label": [0, 1, 1], "predict_value": [0.0, 1.0, 0.5]}, task_type="regression").logged()
    assert logged["mse"] == pytest.approx(0.25 / 3)


def test_component_uses_the_tables_declared_label_column() -> None:
    logged = run_component({"y": [0, 1, 1], "label": [1, 0, 0], "predict_score": [0.1, 0.8, 0.9]}, "y").logged()
    assert logged["auc"] == 1.0


def test_component_names_a_missing_column_and_the_fix() -> None:
    with pytest.raises(ValueError, match=r"needs a column 'predict_score'.*\['label', 'predict_label'\]"):
        run_component({"label": [0, 1], "predict_label": [0, 1]})
    with pytest.raises(ValueError, match="needs a column 'label'"):
        run_component({"y": [0, 1], "predict_score": [0.1, 0.9]})


def test_component_spec_and_params() -> None:
    spec = component.SPEC
    assert spec.name == "evaluation"
    assert spec.roles == frozenset({Role.GUEST})
    assert spec.inputs == ("data",)
    assert spec.outputs == ()
    defaults = component.EvaluationParams()
    assert (defaults.task_type, defaults.threshold) == ("auto", 0.5)
    for bad in ({"threshold": 0.0}, {"threshold": 1.0}, {"task_type": "ranking"}, {"thresold": 0.3}):
        with pytest.raises(ValidationError):
            component.EvaluationParams.model_validate(bad)


class NoFederation:
    def send(self, tag: str, value: Value, to: PartyRef) -> None:
        raise AssertionError(f"evaluation must send nothing; it sent '{tag}' to {to}")

    def recv(self, tag: str, frm: PartyRef, timeout: float) -> Value:
        raise AssertionError(f"evaluation must receive nothing; it waited for '{tag}' from {frm}")


def test_component_through_a_real_context_and_table(tmp_path: Path) -> None:
    """Parquet round trip: the label and score columns come back as the table store returns them."""
    store = TableStore(tmp_path)
    sink = MemoryMetricSink()
    ctx = Context(
        job_id="j1",
        component="evaluation_0",
        me=PartyRef(Role.GUEST, 9999),
        parties={Role.GUEST: [9999], Role.HOST: [10000]},
        federation=NoFederation(),
        metrics=Metrics(sink),
        logger=logging.getLogger("test.evaluation"),
        tables=store,
        inputs={"data": "hetero_lr_0.data"},
    )
    labels = np.array([0, 0, 0, 0, 1, 1, 1], dtype=np.int64)
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.5, 0.7, 0.9])
    columns = {"id": np.arange(7), "y": labels, "predict_score": scores}
    store.write(ctx.output_table_name("data", "hetero_lr_0"), Table(columns, id_column="id", label_column="y"))
    component.run(ctx, component.EvaluationParams())
    logged = {point.name: point.value for point in sink.points}
    assert logged["ks"] == pytest.approx(0.75)
    assert logged["ks_threshold"] == pytest.approx(0.5)
    assert logged["auc"] == pytest.approx(skm.roc_auc_score(labels, scores))

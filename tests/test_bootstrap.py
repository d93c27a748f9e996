"""Tests for skpneumo.bootstrap and the confidence intervals of evaluation reports."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score, roc_auc_score

from skpneumo.bootstrap import _weighted_metrics, bootstrap_intervals
from skpneumo.evaluation import EvaluationReport, evaluate


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(400), 0, 1), 2)  # rounding makes ties
    return y, p


def test_weighted_metrics_equal_sklearn_on_the_repeated_samples(scores):
    y, p = scores
    weights = np.random.default_rng(1).integers(0, 3, (4, len(y)))
    metrics = _weighted_metrics(weights.astype(float), y.astype(bool), p, 0.5)
    for row, w in zip(metrics, weights):
        idx = np.repeat(np.arange(len(y)), w)
        pred = p[idx] >= 0.5
        np.testing.assert_allclose(row, [roc_auc_score(y[idx], p[idx]), recall_score(y[idx], pred),
                                         recall_score(y[idx], pred, pos_label=0)], rtol=1e-12)


def test_weighted_metrics_nan_without_a_class():
    y = np.array([False, False, True, True])
    metrics = _weighted_metrics(np.array([[1.0, 2, 0, 0], [0, 0, 1, 1]]), y, np.array([.1, .6, .4, .8]), 0.5)
    np.testing.assert_array_equal(np.isnan(metrics), [[True, True, False], [True, False, True]])


def test_intervals_bracket_the_estimate_and_repeat_with_a_seed(scores):
    y, p = scores
    intervals = bootstrap_intervals(y, p, 0.5, random_state=0)
    assert set(intervals) == {"roc_auc", "recall", "specificity"}
    estimates = {"roc_auc": roc_auc_score(y, p), "recall": recall_score(y, p >= 0.5),
                 "specificity": recall_score(y, p >= 0.5, pos_label=0)}
    for name, (low, high) in intervals.items():
        assert low < estimates[name] < high and high - low < 0.2
    assert bootstrap_intervals(y, p, 0.5, random_state=0) == intervals
    assert bootstrap_intervals(y, p, 0.5, random_state=1) != intervals
    narrow = bootstrap_intervals(y, p, 0.5, confidence=0.5, random_state=0)
    assert all(narrow[k][0] > intervals[k][0] and narrow[k][1] < intervals[k][1] for k in intervals)


def test_resampling_patients_widens_intervals_of_repeated_images(scores):
    # Four identical images per patient: resampling images overstates the evidence.
    y, p = scores
    y4, p4, patients = np.repeat(y, 4), np.repeat(p, 4), np.repeat(np.arange(len(y)), 4)
    by_image = bootstrap_intervals(y4, p4, 0.5, random_state=0)
    by_patient = bootstrap_intervals(y4, p4, 0.5, groups=patients, random_state=0)
    single = bootstrap_intervals(y, p, 0.5, random_state=0)
    for name in by_image:
        width = {k: v[name][1] - v[name][0] for k, v in
                 {"image": by_image, "patient": by_patient, "single": single}.items()}
        assert width["patient"] > 1.5 * width["image"]
        assert width["patient"] == pytest.approx(width["single"], rel=0.25)


def test_undefined_interval_is_none():
    intervals = bootstrap_intervals([1, 1, 1], [0.2, 0.6, 0.9], 0.5, n_bootstrap=50, random_state=0)
    assert intervals["roc_auc"] is None and intervals["specificity"] is None
    assert intervals["recall"][0] <= 2 / 3 <= intervals["recall"][1]


@pytest.mark.parametrize("kwargs, match", [
    ({"n_bootstrap": 0}, "n_bootstrap must be an integer >= 1"),
    ({"n_bootstrap": 10.5}, "n_bootstrap"),
    ({"confidence": 1.0}, r"confidence must be a number in \(0, 1\)"),
    ({"confidence": 0}, "confidence"),
    ({"groups": [1, 2]}, "groups holds 2 values for 3 samples"),
])
def test_invalid_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_intervals([0, 1, 1], [0.2, 0.6, 0.9], 0.5, **kwargs)


# Reports -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_and_data(scores):
    y, p = scores
    X = (p + np.random.default_rng(2).normal(0, 0.05, len(p)))[:, None]
    return LogisticRegression().fit(X, y), X, y


def test_report_holds_intervals_of_the_given_threshold(model_and_data, tmp_path):
    model, X, y = model_and_data
    patients = np.arange(len(y)) // 2
    report = evaluate(model, X, y, threshold=0.4, groups=patients, random_state=0)
    p = model.predict_proba(X)[:, 1]
    assert report.confidence_intervals == bootstrap_intervals(y, p, 0.4, groups=patients, random_state=0)
    assert (report.confidence, report.n_bootstrap, report.bootstrap_unit) == (0.95, 1000, "groups")
    low, high = report.confidence_intervals["recall"]
    assert low <= report.recall <= high

    text = report.summary()
    assert f"[95% CI {low:.4f} to {high:.4f}]" in text
    assert "1000 resamples of patients (groups)" in text
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["confidence_intervals"]["recall"] == [low, high]
    assert EvaluationReport.from_dict(data) == report
    report.save(tmp_path)
    assert EvaluationReport.load(tmp_path) == report
    markdown = (tmp_path / "report.md").read_text()
    assert f"| Recall (sensitivity) | {report.recall:.4f} [95% CI {low:.4f} to {high:.4f}] |" in markdown


def test_report_without_bootstrap_and_from_older_json(model_and_data):
    model, X, y = model_and_data
    report = evaluate(model, X, y, n_bootstrap=0, confidence=0.9)
    assert report.confidence_intervals == {} and report.n_bootstrap == 0 and report.confidence is None
    assert "CI" not in report.summary() and "CI" not in report._markdown(False)
    older = report.to_dict()
    for key in ("confidence_intervals", "confidence", "n_bootstrap", "bootstrap_unit"):
        del older[key]
    assert EvaluationReport.from_dict(older) == report


def test_single_class_report_has_no_auc_interval(model_and_data):
    model, X, y = model_and_data
    report = evaluate(model, X[y == 1], y[y == 1], n_bootstrap=100, random_state=0)
    assert report.confidence_intervals["roc_auc"] is None
    assert "ROC AUC               n/a  [95% CI n/a]" in report.summary()
    assert EvaluationReport.from_dict(json.loads(json.dumps(report.to_dict()))).confidence_intervals == \
        report.confidence_intervals


class NotPredicting(LogisticRegression):
    def predict_proba(self, X):
        raise AssertionError("predict_proba must not run")


@pytest.mark.parametrize("kwargs, match", [
    ({"n_bootstrap": -1}, "n_bootstrap must be an integer >= 0"),
    ({"confidence": 1.5}, "confidence"),
    ({"groups": [0, 1]}, "groups holds 2 values for 400 samples"),
])
def test_evaluate_checks_bootstrap_parameters_before_predicting(model_and_data, kwargs, match):
    _, X, y = model_and_data
    model = NotPredicting().fit(X, y)
    with pytest.raises(ValueError, match=match):
        evaluate(model, X, y, **kwargs)

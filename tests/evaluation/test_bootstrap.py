"""Tests for skpneumo.evaluation.bootstrap and .intervals, and the confidence intervals of reports."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score, roc_auc_score

from skpneumo.evaluation import EvaluationReport, evaluate, rate_intervals, render, wilson_interval
from skpneumo.evaluation.bootstrap import _weighted_metrics, bootstrap_intervals


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
    bootstrap = bootstrap_intervals(y, p, 0.4, groups=patients, random_state=0)
    wilson, n_units = rate_intervals(y, p >= 0.4, groups=patients)
    assert report.confidence_intervals == {"roc_auc": bootstrap["roc_auc"], **wilson}
    assert (report.confidence, report.n_bootstrap, report.bootstrap_unit) == (0.95, 1000, "groups")
    low, high = report.confidence_intervals["recall"]
    assert low <= report.recall <= high
    assert report.interval_methods == {
        "roc_auc": "percentile bootstrap over 1000 resamples of patients (groups)",
        "recall": f"Wilson score, n = {n_units['recall']} patients (groups; each patient one observation)",
        "specificity": f"Wilson score, n = {n_units['specificity']} patients (groups; each patient one "
                       "observation)",
    }

    text = report.summary()
    assert f"[95% CI {low:.4f} to {high:.4f}]" in text
    assert "Confidence intervals (95%):" in text
    assert "  ROC AUC: percentile bootstrap over 1000 resamples of patients (groups)" in text
    assert f"  Recall (sensitivity): {report.interval_methods['recall']}" in text
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["confidence_intervals"]["recall"] == [low, high]
    assert EvaluationReport.from_dict(data) == report
    report.save(tmp_path)
    assert EvaluationReport.load(tmp_path) == report
    markdown = (tmp_path / "report.md").read_text()
    assert f"| Recall (sensitivity) | {report.recall:.4f} [95% CI {low:.4f} to {high:.4f}] |" in markdown
    assert f"  - Specificity: {report.interval_methods['specificity']}" in markdown
    assert data["interval_methods"] == report.interval_methods


def test_report_without_bootstrap_and_from_older_json(model_and_data):
    model, X, y = model_and_data
    report = evaluate(model, X, y, n_bootstrap=0, confidence=0.9)
    assert report.confidence_intervals == {} and report.n_bootstrap == 0 and report.confidence is None
    assert report.interval_methods == {}
    assert "CI" not in report.summary() and "CI" not in render.markdown(report)
    older = report.to_dict()
    for key in ("confidence_intervals", "confidence", "n_bootstrap", "bootstrap_unit", "interval_methods"):
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


# Wilson score intervals of sensitivity and specificity ------------------------------

# Hand-computed with z = 1.959964 (95%): for 20 of 20, z^2/n = 0.192073, centre
# (1 + 0.096036) / 1.192073 = 0.919437, half-width 1.644164 * sqrt(z^2 / 1600) = 0.080563,
# so [0.838875, 1]. The other rows follow from the same formula.
@pytest.mark.parametrize("successes, n, expected", [
    (20, 20, (0.83887, 1.0)),
    (15, 20, (0.53130, 0.88814)),
    (10, 10, (0.72247, 1.0)),
    (0, 5, (0.0, 0.43448)),
])
def test_wilson_interval_hand_computed(successes, n, expected):
    low, high = wilson_interval(successes, n)
    assert (low, high) == pytest.approx(expected, abs=1e-5)
    assert wilson_interval(successes, n, confidence=0.5)[0] >= low


@pytest.mark.parametrize("args, match", [
    ((3, 0), "n must be a positive number"),
    ((4, 3), r"successes must be a number in \[0, n=3\]"),
    ((1, 3, 1.0), "confidence"),
])
def test_wilson_interval_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(*args)


class PerfectStub(LogisticRegression):
    """Predicts P(positive) = the single feature, so X = y is a perfect classifier."""

    def predict_proba(self, X):
        p = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - p, p])


def test_perfect_classifier_gets_an_honest_sensitivity_interval():
    y = np.array([1] * 20 + [0] * 30)
    X = y[:, None].astype(float)
    model = PerfectStub().fit(X, y)
    # The percentile bootstrap of a proportion that is 1 collapses to [1, 1] ...
    assert bootstrap_intervals(y, y, 0.5, random_state=0)["recall"] == (1.0, 1.0)
    report = evaluate(model, X, y, random_state=0)
    assert report.recall == 1.0 and report.specificity == 1.0
    # ... the Wilson interval of 20 of 20 does not.
    assert report.confidence_intervals["recall"] == pytest.approx((0.83887, 1.0), abs=1e-5)
    assert report.confidence_intervals["specificity"] == pytest.approx(wilson_interval(30, 30))
    assert report.interval_methods["recall"] == "Wilson score, n = 20 samples"
    assert "Recall (sensitivity): Wilson score, n = 20 samples" in report.summary()

    # Two films per patient: 10 patients, not 20 films, carry the evidence.
    patients = np.arange(len(y)) // 2
    by_patient = evaluate(model, X, y, groups=patients, random_state=0)
    assert by_patient.confidence_intervals["recall"] == pytest.approx((0.72247, 1.0), abs=1e-5)
    assert by_patient.interval_methods["recall"].startswith("Wilson score, n = 10 patients")


def test_rate_intervals_count_patients_with_a_film_of_the_class():
    y_true = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 1])
    groups = np.array(["a", "a", "b", "b", "c", "d", "d", "e", "e", "f"])
    intervals, n_units = rate_intervals(y_true, y_pred, groups=groups)
    # Sensitivity 5/6 over films; patients a, b, c, d have a positive film.
    assert n_units == {"recall": 4, "specificity": 3}
    assert intervals["recall"] == pytest.approx(wilson_interval(5 / 6 * 4, 4))
    assert intervals["specificity"] == pytest.approx(wilson_interval(3 / 4 * 3, 3))
    by_film, n_films = rate_intervals(y_true, y_pred)
    assert n_films == {"recall": 6, "specificity": 4}
    assert by_film["recall"] == pytest.approx(wilson_interval(5, 6))
    # Fewer observations, wider interval; one film per patient changes nothing.
    assert by_film["recall"][0] > intervals["recall"][0]
    assert rate_intervals(y_true, y_pred, groups=np.arange(10))[0] == by_film
    assert rate_intervals(y_true[:6], y_pred[:6])[0]["specificity"] is None

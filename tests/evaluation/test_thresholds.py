"""Tests for skpneumo.evaluation: choosing and storing an operating point."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skpneumo.evaluation import OperatingPoint, choose_threshold, point_by_rule, set_operating_point

# Sorted by score: N .1, N .3, P .4, N .6, P .7, P .9
Y = np.array(["NORMAL", "NORMAL", "NORMAL", "PNEUMONIA", "PNEUMONIA", "PNEUMONIA"])
P = np.array([0.1, 0.3, 0.6, 0.4, 0.7, 0.9])


@pytest.mark.parametrize("target, threshold, sensitivity, specificity", [
    (0.3, 0.9, 1 / 3, 1.0),
    (1 / 3, 0.9, 1 / 3, 1.0),
    (0.5, 0.7, 2 / 3, 1.0),
    (0.9, 0.4, 1.0, 2 / 3),
    (1.0, 0.4, 1.0, 2 / 3),
])
def test_target_sensitivity_hand_computed(target, threshold, sensitivity, specificity):
    point = choose_threshold(Y, P, target_sensitivity=target)
    assert point == OperatingPoint(threshold, pytest.approx(sensitivity), pytest.approx(specificity),
                                   f"target_sensitivity={target:g}")
    assert isinstance(point.threshold, float)


def test_youden_hand_computed_prefers_the_higher_of_tied_thresholds():
    # J = 2/3 at 0.7 (sens 2/3, spec 1) and at 0.4 (sens 1, spec 2/3).
    point = choose_threshold(Y, P)
    assert (point.threshold, point.criterion) == (0.7, "youden")
    assert "threshold 0.7 (youden)" in str(point)


def test_youden_finds_the_single_best_threshold():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.05, 0.2, 0.3, 0.55, 0.5, 0.6, 0.8, 0.9])
    # Candidates: 0.6 -> J = 3/4, 0.5 -> J = 1 - 1/4 = 3/4, 0.55 -> 2/4 - 1/4.
    point = choose_threshold(y, p)
    assert point.threshold == 0.6 and point.sensitivity == 0.75 and point.specificity == 1.0
    p[3] = 0.45  # now perfectly separable at 0.5
    assert choose_threshold(y, p) == OperatingPoint(0.5, 1.0, 1.0, "youden")


def test_matches_brute_force_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(np.clip(0.25 * y + 0.75 * rng.random(300), 0, 1), 2)  # with ties
    candidates = np.unique(p)
    sens = np.array([np.mean(p[y == 1] >= t) for t in candidates])
    spec = np.array([np.mean(p[y == 0] < t) for t in candidates])
    for target in (0.5, 0.8, 0.95):
        point = choose_threshold(y, p, target_sensitivity=target)
        expected = candidates[sens >= target].max()
        assert point.threshold == expected
        assert point.sensitivity == pytest.approx(sens[candidates == expected][0])
        assert point.specificity == pytest.approx(spec[candidates == expected][0])
    j = sens + spec - 1
    assert choose_threshold(y, p).threshold == candidates[np.isclose(j, j.max())].max()


def test_positive_class_choice():
    y01 = (Y == "PNEUMONIA").astype(int)
    assert choose_threshold(y01, P, target_sensitivity=1.0).threshold == 0.4
    # With NORMAL as the positive class the scores must be P(NORMAL).
    flipped = choose_threshold(Y, 1 - P, target_sensitivity=1.0, pos_label="NORMAL")
    assert flipped.threshold == pytest.approx(0.4) and flipped.specificity == pytest.approx(2 / 3)


@pytest.mark.parametrize("target", [0, -0.1, 1.01, np.nan, True, "0.9"])
def test_invalid_target(target):
    with pytest.raises(ValueError, match=r"target_sensitivity must be a number in \(0, 1\]"):
        choose_threshold(Y, P, target_sensitivity=target)


def test_unreachable_target_sensitivity():
    # The lowest PNEUMONIA score is below every NORMAL one: 100% sensitivity means
    # calling everyone positive.
    p = np.array([0.2, 0.3, 0.6, 0.1, 0.7, 0.9])
    with pytest.raises(ValueError, match=r"target_sensitivity=1 cannot be reached.*'NORMAL'.*specificity 0"):
        choose_threshold(Y, p, target_sensitivity=1.0)
    assert choose_threshold(Y, p, target_sensitivity=0.6).threshold == 0.7


def test_a_rule_returns_its_point_or_says_why_it_fell_back():
    p = np.array([0.2, 0.3, 0.6, 0.1, 0.7, 0.9])
    reached = point_by_rule(Y, p, 0.6)
    assert reached == choose_threshold(Y, p, target_sensitivity=0.6) and reached.fallback is None
    assert point_by_rule(Y, p, "youden") == choose_threshold(Y, p)
    fell_back = point_by_rule(Y, p, 1.0)
    youden = choose_threshold(Y, p)
    assert (fell_back.threshold, fell_back.criterion) == (youden.threshold, "youden")
    assert fell_back.fallback.startswith("target_sensitivity=1 cannot be reached")
    assert "Youden's J chose instead" in str(fell_back)
    for bad in ("keep", 0, "0.9"):
        with pytest.raises(ValueError, match="threshold_rule|chooses no threshold"):
            point_by_rule(Y, p, bad)


@pytest.mark.parametrize("y, p, match", [
    (Y[:3], P[:3], "both classes"),
    (Y, P[:5], "6 labels but y_score 5"),
    (Y, P + 0.5, r"probabilities in \[0, 1\]"),
    (Y, np.r_[P[:5], np.nan], r"probabilities in \[0, 1\]"),
])
def test_invalid_data(y, p, match):
    with pytest.raises(ValueError, match=match):
        choose_threshold(y, p, target_sensitivity=0.9)


def test_unknown_pos_label():
    with pytest.raises(ValueError, match="pos_label='COVID'"):
        choose_threshold(Y, P, pos_label="COVID")


class ScoreClassifier(ClassifierMixin, BaseEstimator):
    """P(PNEUMONIA) is the single input column; ``threshold`` drives ``predict``."""

    def __init__(self, threshold=0.5):
        self.threshold = threshold

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        p = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] >= self.threshold).astype(int)]


@pytest.mark.parametrize("wrap", [False, True])
def test_set_operating_point_stores_the_threshold(wrap):
    model = ScoreClassifier().fit(P[:, None], Y)
    if wrap:
        model = Pipeline([("id", FunctionTransformer()), ("clf", model)]).fit(P[:, None], Y)
    point = set_operating_point(model, P[:, None], Y, target_sensitivity=0.9)
    assert point.threshold == 0.4
    final = model[-1] if wrap else model
    assert final.threshold == 0.4
    np.testing.assert_array_equal(model.predict(P[:, None]), np.where(P >= 0.4, "PNEUMONIA", "NORMAL"))
    assert set_operating_point(model, P[:, None], Y).threshold == final.threshold == 0.7


class Unpredictable(ScoreClassifier):
    def predict_proba(self, X):
        raise AssertionError("predict_proba must not run")


@pytest.mark.parametrize("model, X, y, kwargs, match", [
    (LogisticRegression().fit(P[:, None], Y), P[:, None], Y, {}, "FixedThresholdClassifier"),
    (Unpredictable().fit(P[:, None], Y), P[:, None], Y, {"target_sensitivity": 2}, "target_sensitivity"),
    (Unpredictable().fit(P[:, None], Y), P[:, None], Y[:4], {}, "6 samples but y holds 4"),
])
def test_set_operating_point_checks_before_predicting(model, X, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        set_operating_point(model, X, y, **kwargs)

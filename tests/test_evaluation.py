"""Tests for skpneumo.evaluation: label/column alignment, metrics and saving."""

import json
import math
import sys

import matplotlib
import matplotlib.image
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skpneumo.evaluation import EvaluationReport, evaluate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUIRED_KEYS = {
    "accuracy", "precision", "recall", "specificity", "f1", "roc_auc",
    "average_precision", "confusion_matrix", "threshold", "n_samples",
    "class_counts", "pos_label", "neg_label",
}


class ScoreStub(ClassifierMixin, BaseEstimator):
    """Classifier whose input column *is* P(``scored_label``).

    ``classes`` fixes the order of ``classes_`` (and of the probability
    columns), so tests can put the positive class in either column.
    """

    def __init__(self, classes=("PNEUMONIA", "NORMAL"), scored_label="PNEUMONIA",
                 threshold=None):
        self.classes = classes
        self.scored_label = scored_label
        self.threshold = threshold

    def fit(self, X, y=None):
        self.classes_ = np.array(self.classes)
        self.n_calls_ = 0
        return self

    def predict_proba(self, X):
        self.n_calls_ += 1
        score = np.asarray(X, dtype=float).reshape(-1)
        proba = np.empty((len(score), 2))
        scored = list(self.classes_).index(self.scored_label)
        proba[:, scored] = score
        proba[:, 1 - scored] = 1 - score
        return proba


# Hand-computed case: at threshold 0.5 the predictions are
# N P N | P N P P  ->  tn=2 fp=1 fn=1 tp=3.
# AUC: positive scores beat 3+2+3+2 = 10 of the 4*3 = 12 negative ones.
STUB_Y = np.array(["NORMAL"] * 3 + ["PNEUMONIA"] * 4)
STUB_P = np.array([0.1, 0.6, 0.3, 0.8, 0.4, 0.9, 0.55])
STUB_X = STUB_P.reshape(-1, 1)


def fitted_stub(**params):
    return ScoreStub(**params).fit(STUB_X)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def string_model(data):
    X, y = data
    y_str = np.where(y == 1, "PNEUMONIA", "NORMAL")
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    return model.fit(X, y_str), X, y_str


@pytest.fixture(scope="module")
def report(string_model):
    model, X, y = string_model
    return evaluate(model, X, y)


def assert_matches_sklearn(report, y_true, proba_pos, threshold=0.5):
    pred = (proba_pos >= threshold).astype(int)
    assert report.roc_auc == roc_auc_score(y_true, proba_pos)
    assert report.average_precision == average_precision_score(y_true, proba_pos)
    assert report.accuracy == accuracy_score(y_true, pred)
    assert report.precision == precision_score(y_true, pred, zero_division=0)
    assert report.recall == recall_score(y_true, pred, zero_division=0)
    assert report.f1 == f1_score(y_true, pred, zero_division=0)
    np.testing.assert_array_equal(report.y_true, y_true.astype(int))
    np.testing.assert_array_equal(report.y_score, proba_pos)


# --- alignment of labels and probability columns ---------------------------

def test_string_labels_match_sklearn(string_model, report):
    model, X, y = string_model
    column = list(model.classes_).index("PNEUMONIA")
    assert_matches_sklearn(report, y == "PNEUMONIA", model.predict_proba(X)[:, column])
    assert (report.pos_label, report.neg_label) == ("PNEUMONIA", "NORMAL")
    assert report.roc_auc > 0.9
    assert report.class_counts == {
        "NORMAL": int((y == "NORMAL").sum()), "PNEUMONIA": int((y == "PNEUMONIA").sum())
    }
    assert report.n_samples == len(y) == sum(map(sum, report.confusion_matrix))


def test_integer_labels_default_to_one(data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    report = evaluate(model, X, y)
    assert report.pos_label == 1 and report.neg_label == 0
    assert_matches_sklearn(report, y == 1, model.predict_proba(X)[:, 1])
    assert report.class_counts == {"0": int((y == 0).sum()), "1": int((y == 1).sum())}


def test_positive_column_looked_up_when_it_is_first(data):
    X, y = data
    y_str = np.where(y == 1, "PNEUMONIA", "ZZZ")
    model = LogisticRegression().fit(X, y_str)
    assert list(model.classes_) == ["PNEUMONIA", "ZZZ"]
    report = evaluate(model, X, y_str)
    assert report.pos_label == "PNEUMONIA"
    assert_matches_sklearn(report, y_str == "PNEUMONIA", model.predict_proba(X)[:, 0])
    # A hard-coded column 1 would give 1 - AUC here.
    assert report.roc_auc > 0.9


def test_default_positive_is_second_class_otherwise(data):
    X, y = data
    y_str = np.where(y == 1, "b", "a")
    report = evaluate(LogisticRegression().fit(X, y_str), X, y_str)
    assert (report.pos_label, report.neg_label) == ("b", "a")


def test_reversed_classes_stub_hand_computed():
    report = evaluate(fitted_stub(), STUB_X, STUB_Y)
    assert report.pos_label == "PNEUMONIA"
    assert report.confusion_matrix == [[2, 1], [1, 3]]
    assert all(type(v) is int for row in report.confusion_matrix for v in row)
    assert report.accuracy == pytest.approx(5 / 7)
    assert report.precision == pytest.approx(3 / 4)
    assert report.recall == pytest.approx(3 / 4)
    assert report.specificity == pytest.approx(2 / 3)
    assert report.roc_auc == pytest.approx(10 / 12)
    np.testing.assert_array_equal(report.y_score, STUB_P)
    np.testing.assert_array_equal(report.y_true, [0, 0, 0, 1, 1, 1, 1])


def test_explicit_pos_label_flips_everything():
    report = evaluate(fitted_stub(), STUB_X, STUB_Y, pos_label="NORMAL")
    assert (report.pos_label, report.neg_label) == ("NORMAL", "PNEUMONIA")
    np.testing.assert_allclose(report.y_score, 1 - STUB_P)
    assert report.roc_auc == pytest.approx(10 / 12)
    # NORMAL positive: P(NORMAL) >= 0.5 where P(PNEUMONIA) <= 0.5.
    assert report.confusion_matrix == [[3, 1], [1, 2]]


def test_specificity_is_tn_over_tn_plus_fp(report):
    (tn, fp), (fn, tp) = report.confusion_matrix
    assert report.specificity == pytest.approx(tn / (tn + fp))
    assert report.recall == pytest.approx(tp / (tp + fn))


# --- threshold --------------------------------------------------------------

def test_threshold_from_final_step_and_override():
    pipe = Pipeline([("id", FunctionTransformer()), ("clf", ScoreStub(threshold=0.7))])
    pipe.fit(STUB_X)
    report = evaluate(pipe, STUB_X, STUB_Y)
    assert report.threshold == 0.7
    assert report.confusion_matrix == [[3, 0], [2, 2]]
    assert evaluate(fitted_stub(threshold=0.7), STUB_X, STUB_Y).threshold == 0.7
    overridden = evaluate(pipe, STUB_X, STUB_Y, threshold=0.35)
    assert overridden.threshold == 0.35
    assert overridden.confusion_matrix == [[2, 1], [0, 4]]
    # No threshold attribute (LogisticRegression) or None: 0.5.
    assert evaluate(fitted_stub(), STUB_X, STUB_Y).threshold == 0.5


def test_score_equal_to_threshold_is_positive():
    report = evaluate(fitted_stub(), STUB_X, STUB_Y, threshold=0.55)
    assert report.confusion_matrix == [[2, 1], [1, 3]]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "high", True])
def test_invalid_threshold_rejected(bad):
    with pytest.raises(ValueError, match="threshold"):
        evaluate(fitted_stub(), STUB_X, STUB_Y, threshold=bad)


def test_invalid_threshold_on_final_step_rejected():
    with pytest.raises(ValueError, match="ScoreStub.threshold"):
        evaluate(fitted_stub(threshold=2.0), STUB_X, STUB_Y)


# --- input validation -------------------------------------------------------

def test_pos_label_not_in_classes_rejected():
    with pytest.raises(ValueError, match="pos_label='COVID'"):
        evaluate(fitted_stub(), STUB_X, STUB_Y, pos_label="COVID")


def test_length_mismatch_rejected_before_predicting():
    model = fitted_stub()
    with pytest.raises(ValueError, match="different lengths"):
        evaluate(model, STUB_X, STUB_Y[:-1])
    assert model.n_calls_ == 0


def test_labels_outside_classes_rejected(data):
    X, y = data
    model = LogisticRegression().fit(X, y)  # classes_ = [0, 1]
    y_str = np.where(y == 1, "PNEUMONIA", "NORMAL")
    with pytest.raises(ValueError, match="not in the estimator's classes_"):
        evaluate(model, X, y_str)


def test_non_binary_and_unfitted_estimators_rejected(data):
    X, y = data
    with pytest.raises(ValueError, match="binary"):
        evaluate(LogisticRegression().fit(X, np.arange(len(y)) % 3), X, y)
    with pytest.raises(TypeError, match="fitted"):
        evaluate(LogisticRegression(), X, y)


# --- single-class y ---------------------------------------------------------

def test_single_class_y_gives_nan_auc_and_json_null(tmp_path):
    mask = STUB_Y == "PNEUMONIA"
    report = evaluate(fitted_stub(), STUB_X[mask], STUB_Y[mask])
    assert math.isnan(report.roc_auc) and math.isnan(report.average_precision)
    assert report.notes and "undefined" in report.notes[0]
    assert report.confusion_matrix == [[0, 0], [1, 3]]
    assert report.class_counts == {"NORMAL": 0, "PNEUMONIA": 4}
    assert report.to_dict()["roc_auc"] is None
    assert "n/a" in str(report)
    written = report.save(tmp_path)
    assert len(written) == 4
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["roc_auc"] is None and saved["average_precision"] is None
    assert math.isnan(EvaluationReport.load(tmp_path).roc_auc)


# --- text output ------------------------------------------------------------

def test_summary_is_readable(report):
    text = str(report)
    assert text == report.summary()
    assert f"{report.roc_auc:.4f}" in text and f"{report.accuracy:.4f}" in text
    assert "pred PNEUMONIA" in text and "true NORMAL" in text
    assert "0.5" in text


def test_to_dict_is_strict_json(report):
    data = report.to_dict()
    assert REQUIRED_KEYS <= set(data)
    json.dumps(data, allow_nan=False)
    assert EvaluationReport.from_dict(data) == report


def test_from_dict_rejects_missing_keys(report):
    data = report.to_dict()
    del data["roc_auc"]
    with pytest.raises(ValueError, match="roc_auc"):
        EvaluationReport.from_dict(data)


# --- saving -----------------------------------------------------------------

def test_save_writes_all_files(report, tmp_path):
    folder = tmp_path / "nested" / "run1"
    written = report.save(folder)
    names = {"report.json", "report.md", "roc_curve.png", "confusion_matrix.png"}
    assert set(written) == names
    assert {p.name for p in folder.iterdir()} == names  # no temporary leftovers
    assert all(path == folder / name for name, path in written.items())

    saved = json.loads((folder / "report.json").read_text())
    assert REQUIRED_KEYS <= set(saved)
    assert saved == report.to_dict()
    assert EvaluationReport.load(folder).to_dict() == report.to_dict()

    for name in ("roc_curve.png", "confusion_matrix.png"):
        assert (folder / name).read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(folder / name)
        assert image.shape[0] > 200 and image.shape[1] > 200
        assert image[..., :3].std() > 0.05  # not a blank canvas

    markdown = (folder / "report.md").read_text()
    for text in ("ROC AUC", f"{report.roc_auc:.4f}", "Specificity",
                 "(roc_curve.png)", "(confusion_matrix.png)", "Predicted PNEUMONIA"):
        assert text in markdown


def test_save_overwrites_existing_report(report, tmp_path):
    report.save(tmp_path)
    other = evaluate(fitted_stub(), STUB_X, STUB_Y)
    other.save(tmp_path)
    assert EvaluationReport.load(tmp_path) == EvaluationReport.from_dict(other.to_dict())
    assert len(list(tmp_path.iterdir())) == 4


def test_loaded_report_saves_without_roc(report, tmp_path):
    report.save(tmp_path / "a")
    loaded = EvaluationReport.load(tmp_path / "a")
    written = loaded.save(tmp_path / "b")
    assert "roc_curve.png" not in written and len(written) == 3
    assert "roc_curve.png" not in (tmp_path / "b" / "report.md").read_text()


def test_save_under_regular_file_fails_cleanly(report, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("keep me")
    for folder in (blocker / "out", blocker):
        with pytest.raises(OSError, match="not_a_folder"):
            report.save(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["not_a_folder"]
    assert blocker.read_text() == "keep me"


def test_failed_write_leaves_nothing(report, tmp_path, monkeypatch):
    import skpneumo.evaluation as evaluation

    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(evaluation.os, "replace", fail)
    folder = tmp_path / "new" / "folder"
    with pytest.raises(PermissionError, match="folder"):
        report.save(folder)
    assert list(tmp_path.iterdir()) == []  # temporaries and created folders removed

    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(PermissionError):
        report.save(existing)
    assert list(existing.iterdir()) == []


def test_save_leaves_matplotlib_backend_alone(report, tmp_path):
    previous = matplotlib.get_backend()
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    matplotlib.use("pdf")
    try:
        report.save(tmp_path)
        assert matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(previous)
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_loaded

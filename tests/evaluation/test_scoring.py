"""Tests for skpneumo.evaluation.scoring, .report and .render: label/column alignment, metrics, saving."""

import copy
import json
import math
import re
import sys
import warnings

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
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import skpneumo.utils.files
from skpneumo.datasets import patient_id
from skpneumo.evaluation import EvaluationReport, evaluate, expected_calibration_error, reliability_bins, render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SAVED_NAMES = {"report.json", "report.md", "roc_curve.png", "pr_curve.png", "reliability.png",
               "confusion_matrix.png"}
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
    assert report.class_counts == {"NORMAL": int((y == 0).sum()), "PNEUMONIA": int((y == 1).sum())}


def test_a_model_trained_on_target_is_reported_as_normal_and_pneumonia(data, tmp_path):
    X, y = data  # 0/1, as the loaders' target
    report = evaluate(LogisticRegression().fit(X, y), X[y == 1], y[y == 1], n_bootstrap=0)
    assert (report.pos_label, report.neg_label) == (1, 0)  # the classes stay those of classes_
    assert (report.pos_name, report.neg_name) == ("PNEUMONIA", "NORMAL")
    text, markdown = report.summary(), render.markdown(report)
    assert "positive class 'PNEUMONIA'" in text and "pred NORMAL" in text and "true PNEUMONIA" in text
    assert "- Positive class: `PNEUMONIA`" in markdown and "| **True NORMAL** |" in markdown
    assert "y holds only class 'PNEUMONIA'" in report.notes[0]
    saved = report.to_dict()
    assert (saved["pos_label"], saved["pos_name"], saved["neg_name"]) == (1, "PNEUMONIA", "NORMAL")
    report.save(tmp_path)
    loaded = EvaluationReport.load(tmp_path)
    assert loaded == report and loaded.pos_name == "PNEUMONIA"


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
    assert set(written) == SAVED_NAMES
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


def test_rendering_leaves_the_data_alone_and_shows_every_metric(report, tmp_path):
    before = copy.deepcopy(report.to_dict())
    y_true, y_score = report.y_true.copy(), report.y_score.copy()
    text, markdown = report.summary(), render.markdown(report)
    report.save(tmp_path)
    assert report.to_dict() == before and EvaluationReport.from_dict(before) == report
    assert json.loads((tmp_path / "report.json").read_text()) == before
    np.testing.assert_array_equal(report.y_true, y_true)
    np.testing.assert_array_equal(report.y_score, y_score)
    # EvaluationReport.METRICS is the one list: every metric is a JSON key, a summary line
    # and a Markdown row, with its value.
    for name, label in EvaluationReport.METRICS:
        value = f"{getattr(report, name):.4f}"
        assert before[name] == getattr(report, name)
        assert re.search(rf"^  {re.escape(label)} +{value}( |$)", text, re.MULTILINE), label
        assert re.search(rf"^\| {re.escape(label)} \| {value} ", markdown, re.MULTILINE), label


def test_from_dict_rejects_missing_keys(report):
    data = report.to_dict()
    del data["roc_auc"]
    with pytest.raises(ValueError, match="roc_auc"):
        EvaluationReport.from_dict(data)


# --- saving -----------------------------------------------------------------

def test_save_writes_all_files(report, tmp_path):
    folder = tmp_path / "nested" / "run1"
    written = report.save(folder)
    assert set(written) == SAVED_NAMES
    assert {p.name for p in folder.iterdir()} == SAVED_NAMES  # no temporary leftovers
    assert all(path == folder / name for name, path in written.items())

    saved = json.loads((folder / "report.json").read_text())
    assert REQUIRED_KEYS <= set(saved)
    assert saved == report.to_dict()
    assert EvaluationReport.load(folder).to_dict() == report.to_dict()

    for name in ("roc_curve.png", "pr_curve.png", "reliability.png", "confusion_matrix.png"):
        assert (folder / name).read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(folder / name)
        assert image.shape[0] > 200 and image.shape[1] > 200
        assert image[..., :3].std() > 0.05  # not a blank canvas

    markdown = (folder / "report.md").read_text()
    for text in ("ROC AUC", f"{report.roc_auc:.4f}", "Specificity", "(roc_curve.png)", "(pr_curve.png)",
                 "(reliability.png)", "(confusion_matrix.png)", "Predicted PNEUMONIA",
                 f"| Brier score | {report.brier_score:.4f} |", f"| Calibration (ECE) | {report.ece:.4f} |"):
        assert text in markdown


def test_save_overwrites_existing_report(report, tmp_path):
    report.save(tmp_path)
    other = evaluate(fitted_stub(), STUB_X, STUB_Y)
    other.save(tmp_path)
    assert EvaluationReport.load(tmp_path) == EvaluationReport.from_dict(other.to_dict())
    assert {p.name for p in tmp_path.iterdir()} == SAVED_NAMES


def test_loaded_report_saves_without_curves(report, tmp_path):
    report.save(tmp_path / "a")
    loaded = EvaluationReport.load(tmp_path / "a")
    written = loaded.save(tmp_path / "b")
    # The reliability diagram is drawn from the bins kept in report.json; the
    # curves need the scores, which are not saved.
    assert set(written) == {"report.json", "report.md", "confusion_matrix.png", "reliability.png"}
    markdown = (tmp_path / "b" / "report.md").read_text()
    assert "roc_curve.png" not in markdown and "pr_curve.png" not in markdown


def test_save_under_regular_file_fails_cleanly(report, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("keep me")
    for folder in (blocker / "out", blocker):
        with pytest.raises(OSError, match="not_a_folder"):
            report.save(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["not_a_folder"]
    assert blocker.read_text() == "keep me"


def test_failed_write_leaves_nothing(report, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(skpneumo.utils.files.os, "replace", fail)
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


# --- calibration ------------------------------------------------------------

# Hand-computed: bins of width 0.1 hold
#   [0.0, 0.1): 0.05 (N)                 mean 0.05,  observed 0    -> gap 0.05,  1 sample
#   [0.1, 0.2): 0.15 (N), 0.12 (P)       mean 0.135, observed 1/2  -> gap 0.365, 2 samples
#   [0.4, 0.5): 0.45 (P), 0.41 (P), 0.48 (N)  mean 0.4467, observed 2/3 -> gap 0.22, 3 samples
#   [0.9, 1.0]: 0.95 (P), 1.0 (P)        mean 0.975, observed 1    -> gap 0.025, 2 samples
# ECE = (1 * 0.05 + 2 * 0.365 + 3 * 0.22 + 2 * 0.025) / 8 = 1.49 / 8.
CAL_Y = np.array(["NORMAL", "NORMAL", "PNEUMONIA", "PNEUMONIA", "PNEUMONIA", "NORMAL", "PNEUMONIA",
                  "PNEUMONIA"])
CAL_P = np.array([0.05, 0.15, 0.12, 0.45, 0.41, 0.48, 0.95, 1.0])


def test_ece_and_reliability_bins_hand_computed():
    y = (CAL_Y == "PNEUMONIA").astype(int)
    assert expected_calibration_error(y, CAL_P) == pytest.approx(1.49 / 8)
    bins = reliability_bins(y, CAL_P)
    assert bins["bin_edges"] == pytest.approx(np.linspace(0, 1, 11))
    assert bins["count"] == [1, 2, 0, 0, 3, 0, 0, 0, 0, 2]  # p = 1 falls in the last bin
    assert bins["mean_predicted"][:2] == pytest.approx([0.05, 0.135])
    assert bins["fraction_positive"][4] == pytest.approx(2 / 3)
    assert bins["mean_predicted"][2] is None and bins["fraction_positive"][2] is None
    # 0.3 belongs to [0.3, 0.4), although np.linspace(0, 1, 11)[3] is 0.30000000000000004.
    assert reliability_bins([0], [0.3])["count"][3] == 1
    # An edge belongs to the upper bin (calibration_curve would put 0.5 in [0.4, 0.5)).
    assert reliability_bins([0], [0.5])["count"][5] == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"y_prob": [0.2, 1.5]}, r"\[0, 1\]"),
    ({"y_prob": [0.2]}, "1 probabilities"),
    ({"n_bins": 0}, "n_bins"),
])
def test_calibration_input_errors(kwargs, match):
    args = {"y_true": [0, 1], "y_prob": [0.2, 0.7], **kwargs}
    with pytest.raises(ValueError, match=match):
        reliability_bins(**args)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_scores_that_are_not_probabilities_rejected(bad):
    with pytest.raises(ValueError, match=r"class 'PNEUMONIA' must hold probabilities in \[0, 1\]"):
        evaluate(fitted_stub(), np.r_[STUB_P[:-1], bad].reshape(-1, 1), STUB_Y, n_bootstrap=0)


def test_report_calibration_hand_computed_and_against_sklearn():
    report = evaluate(fitted_stub(), CAL_P.reshape(-1, 1), CAL_Y, n_bootstrap=0)
    y = (CAL_Y == "PNEUMONIA").astype(int)
    assert report.ece == pytest.approx(1.49 / 8)
    assert report.brier_score == pytest.approx(brier_score_loss(y, CAL_P))
    assert report.reliability == reliability_bins(y, CAL_P)
    # Positive class in the first column: calibration uses P(PNEUMONIA), not column 1.
    flipped = evaluate(fitted_stub(), STUB_X, STUB_Y, pos_label="NORMAL", n_bootstrap=0)
    assert flipped.brier_score == pytest.approx(brier_score_loss(STUB_Y == "NORMAL", 1 - STUB_P))


def test_calibration_in_json_summary_and_markdown(report, string_model, tmp_path):
    model, X, y = string_model
    proba = model.predict_proba(X)[:, list(model.classes_).index("PNEUMONIA")]
    assert report.brier_score == pytest.approx(brier_score_loss(y == "PNEUMONIA", proba))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["brier_score"] == report.brier_score and data["ece"] == report.ece
    assert data["reliability"]["count"] == report.reliability["count"]
    assert sum(data["reliability"]["count"]) == len(y)
    text = report.summary()
    assert f"Brier score           {report.brier_score:.4f}" in text
    assert f"Calibration (ECE)     {report.ece:.4f}" in text
    assert "Reliability (10 equal-width bins of P(PNEUMONIA)):" in text
    report.save(tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    assert "## Calibration" in markdown
    first = next(i for i, n in enumerate(report.reliability["count"]) if n)
    low, high = report.reliability["bin_edges"][first:first + 2]
    row = (f"| {low:g}-{high:g} | {report.reliability['count'][first]} | "
           f"{report.reliability['mean_predicted'][first]:.4f} | "
           f"{report.reliability['fraction_positive'][first]:.4f} |")
    assert row in markdown


def test_older_report_without_new_fields_loads_and_saves(report, tmp_path):
    older = report.to_dict()
    for key in ("brier_score", "ece", "reliability", "groups_source", "n_groups", "interval_methods"):
        del older[key]
    loaded = EvaluationReport.from_dict(older)
    assert math.isnan(loaded.brier_score) and math.isnan(loaded.ece)
    assert (loaded.reliability, loaded.groups_source, loaded.n_groups, loaded.interval_methods) == \
        (None, None, None, {})
    assert loaded.roc_auc == report.roc_auc and loaded.confidence_intervals == report.confidence_intervals
    text = loaded.summary()
    assert "Brier score" in text and "n/a" in text and "Reliability" not in text
    # Intervals saved before Wilson intervals existed keep their one-line description.
    assert "percentile bootstrap over 1000 resamples of samples" in text
    written = loaded.save(tmp_path)
    assert set(written) == {"report.json", "report.md", "confusion_matrix.png"}
    assert EvaluationReport.load(tmp_path).to_dict() == loaded.to_dict()


# --- patients (groups) read from file names ---------------------------------


class PathStub(ClassifierMixin, BaseEstimator):
    """Classifier of file paths whose P(PNEUMONIA) is looked up in ``scores``."""

    def __init__(self, scores=None):
        self.scores = scores

    def fit(self, X=None, y=None):
        self.classes_ = np.array(["NORMAL", "PNEUMONIA"])
        return self

    def predict_proba(self, X):
        p = np.array([self.scores[str(path)] for path in X])
        return np.column_stack([1 - p, p])


def path_data(names):
    """Paths under test/<class>/, a label and a score each: even rows NORMAL."""
    labels = np.array(["NORMAL" if i % 2 == 0 else "PNEUMONIA" for i in range(len(names))])
    paths = [f"/data/test/{label}/{name}" for label, name in zip(labels, names)]
    scores = np.linspace(0.05, 0.95, len(names))
    scores[labels == "PNEUMONIA"] += 0.04  # classes separated, not perfectly
    model = PathStub(dict(zip(paths, scores))).fit()
    return model, paths, labels


KERMANY_NAMES = [
    "IM-0001-0001.jpeg", "person1_virus_6.jpeg", "IM-0001-0002.jpeg", "person1_bacteria_7.jpeg",
    "NORMAL2-IM-0302-0001.jpeg", "person2_virus_1.jpeg", "IM-0005-0001.jpeg", "person3_bacteria_2.jpeg",
]


def test_auto_groups_from_file_names_match_explicit_patients():
    model, paths, labels = path_data(KERMANY_NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every name parses: no warning
        report = evaluate(model, paths, labels, random_state=0)
    patients = [patient_id(p) for p in paths]
    explicit = evaluate(model, paths, labels, groups=patients, random_state=0)
    assert (report.groups_source, report.n_groups, report.bootstrap_unit) == ("from file names", 6, "groups")
    assert report.confidence_intervals == explicit.confidence_intervals
    assert explicit.groups_source == "given" and explicit.n_groups == 6
    assert report.interval_methods["recall"].startswith("Wilson score, n = 3 patients")
    assert "Patients (groups): 6, read from the file names" in report.summary()
    assert "- Patients (groups): 6, read from the file names" in render.markdown(report)
    data = report.to_dict()
    assert (data["groups_source"], data["n_groups"]) == ("from file names", 6)
    assert EvaluationReport.from_dict(data).groups_source == "from file names"

    by_image = evaluate(model, paths, labels, groups=None, random_state=0)
    assert (by_image.groups_source, by_image.n_groups, by_image.bootstrap_unit) == ("none (images)", None,
                                                                                    "samples")
    assert "Patients (groups): none; samples treated as independent" in by_image.summary()


def test_auto_groups_fall_back_per_file_with_a_warning():
    names = [*KERMANY_NAMES[:6], "scan_7.png", "scan_8.png"]
    model, paths, labels = path_data(names)
    with pytest.warns(UserWarning, match=r"2 of 8 file names hold no patient id .*'scan_7\.png'") as record:
        report = evaluate(model, paths, labels, random_state=0)
    assert record[0].filename == __file__  # points at the caller of evaluate
    assert (report.groups_source, report.n_groups) == ("from file names", 6)  # 4 patients + 2 files
    assert "2 of 8 file names hold no patient id" in report.notes[0]
    assert report.notes[0] in report.summary()

    model, paths, labels = path_data([f"scan_{i}.png" for i in range(8)])
    with pytest.warns(UserWarning, match="8 of 8 file names"):
        report = evaluate(model, paths, labels, random_state=0)
    assert (report.groups_source, report.n_groups, report.bootstrap_unit) == ("none (images)", None, "samples")
    assert "No file name holds a patient id" in report.notes[0]


def test_dicom_export_names_never_merge_patients_and_the_rule_is_noted():
    # IM-0001-0001.dcm, IM-0001-0002.dcm: series 1 of a DICOM export, not one Kermany patient.
    names = [*KERMANY_NAMES[:6], "IM-0001-0003.dcm", "IM-0001-0004.DCM"]
    model, paths, labels = path_data(names)
    with pytest.warns(UserWarning, match=r"2 of 8 file names hold no patient id .*'IM-0001-0003\.dcm'"):
        report = evaluate(model, paths, labels, random_state=0)
    # IM-0001 (two JPEGs), person1, NORMAL2-IM-0302, person2, and each DICOM file alone.
    assert (report.groups_source, report.n_groups) == ("from file names", 6)
    assert report.notes[1] == ("Patients read from the file names: the Kermany forms person<N>_..., IM-<N>-... and "
                               "NORMAL<N>-IM-<N>-... (and skpneumo's synthetic SYNTH-P<N>-...), in .jpeg, .jpg "
                               "and .png file names only.")
    assert report.notes[1] in report.summary() and report.notes[1] in render.markdown(report)
    model, paths, labels = path_data([f"IM-0001-{i:04d}.dcm" for i in range(1, 9)])
    with pytest.warns(UserWarning, match="8 of 8 file names"):
        report = evaluate(model, paths, labels, random_state=0)
    assert (report.groups_source, report.n_groups, report.bootstrap_unit) == ("none (images)", None, "samples")
    assert "in .jpeg, .jpg and .png file names only" in report.notes[0]


def test_auto_groups_need_file_paths(report):
    # X of feature vectors: nothing to parse, samples are independent.
    assert (report.groups_source, report.n_groups, report.bootstrap_unit) == ("none (images)", None, "samples")
    with pytest.raises(ValueError, match="groups must be 'auto', None or one value per sample; got 'patients'"):
        evaluate(fitted_stub(), STUB_X, STUB_Y, groups="patients")


@pytest.mark.parametrize("y_true", [[-1, 1, -1, 1], ["0", "1", "0", "1"], [1, 2, 1, 2]])
def test_calibration_and_intervals_take_only_0_1_labels(y_true):
    from skpneumo.evaluation import rate_intervals

    with pytest.raises(ValueError, match="y_true must hold 0/1 or True/False"):
        expected_calibration_error(y_true, [0.1, 0.9, 0.1, 0.9])
    with pytest.raises(ValueError, match="y_true must hold 0/1 or True/False"):
        rate_intervals(y_true, [0, 1, 0, 1])
    assert expected_calibration_error([0, 1, 0, 1], [0.1, 0.9, 0.1, 0.9]) == pytest.approx(0.1)


def test_a_threshold_wrapper_is_scored_at_its_threshold_on_its_positive_class():
    from sklearn.model_selection import FixedThresholdClassifier

    X, y = make_classification(n_samples=80, random_state=0)
    y = y + 1  # labels 1 and 2: skpneumo's positive class is 1, scikit-learn's default classes_[1] = 2
    wrong = FixedThresholdClassifier(LogisticRegression(), threshold=0.3).fit(X, y)
    with pytest.raises(ValueError, match=r"threshold applies to P\(2\) but the report's positive class is 1"):
        evaluate(wrong, X, y, n_bootstrap=0)
    right = FixedThresholdClassifier(LogisticRegression(), threshold=0.3, pos_label=1).fit(X, y)
    report = evaluate(right, X, y, n_bootstrap=0)
    assert report.threshold == 0.3
    predicted_positive = right.predict(X) == 1
    assert report.confusion_matrix[1][1] + report.confusion_matrix[0][1] == int(predicted_positive.sum())
    assert evaluate(wrong, X, y, threshold=0.4, n_bootstrap=0).threshold == 0.4  # an explicit one is the caller's


def test_evaluate_scores_gives_evaluates_report_from_the_same_scores():
    from sklearn.linear_model import LogisticRegression

    from skpneumo.evaluation import evaluate_scores

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 1))
    y = np.where(X[:, 0] + rng.normal(scale=1.0, size=60) > 0, "PNEUMONIA", "NORMAL")
    groups = np.repeat(np.arange(30), 2)
    model = LogisticRegression().fit(X, y)
    expected = evaluate(model, X, y, threshold=0.4, groups=groups, random_state=0)
    scores = model.predict_proba(X)[:, 1]
    got = evaluate_scores(y, scores, classes=model.classes_, threshold=0.4, groups=groups, random_state=0)
    assert got.roc_auc == expected.roc_auc and got.confusion_matrix == expected.confusion_matrix
    assert got.confidence_intervals == expected.confidence_intervals and got.n_groups == 30
    assert got.recall == expected.recall and got.brier_score == expected.brier_score
    with pytest.raises(ValueError, match=r"labels \['OTHER'\]"):
        evaluate_scores(np.append(y[:-1], "OTHER"), scores, classes=model.classes_)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        evaluate_scores(y, scores, classes=model.classes_, threshold=2)
    with pytest.raises(ValueError, match="same, non-zero number"):
        evaluate_scores(y[:-1], scores, classes=model.classes_)

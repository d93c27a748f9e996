"""Evaluation of a fitted NORMAL-vs-PNEUMONIA classifier: :func:`evaluate`, the numbers.

Every metric is computed from the probability of an explicitly chosen positive
class, whose column is looked up by label in ``estimator.classes_``. A former
design read a hard-coded column and reported 87% accuracy next to a ROC AUC of
0.513; looking the column up by label (and validating ``y`` against
``classes_``) makes that kind of misalignment impossible.

Confidence intervals count patients, not films, whenever the patients are known
(given, or read from the file names): ROC AUC by a percentile bootstrap over
patients, sensitivity and specificity by Wilson score intervals with one
observation per patient (see :mod:`skpneumo.evaluation.intervals`), because a
percentile bootstrap of a proportion collapses to [1, 1] when the proportion is 1.

The report's data is :class:`~skpneumo.evaluation.EvaluationReport`
(``report.py``), its text, Markdown and figures come from ``render.py``. To add a
metric, compute it here and pass it to the report; the list of metrics and their
order is ``EvaluationReport.METRICS`` in ``report.py``.
"""

import math
import os

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
from sklearn.utils.validation import column_or_1d

from ..utils.labels import as_builtin, class_name, find_label, positive_index
from ..utils.pipelines import final_step
from ..utils.validation import check_probabilities, is_real, num_samples
from .bootstrap import bootstrap_intervals, check_bootstrap_params
from .calibration import calibration_error, reliability_bins
from .intervals import rate_intervals
from .report import EvaluationReport

__all__ = ["evaluate"]

DEFAULT_THRESHOLD = 0.5
N_CALIBRATION_BINS = 10


def evaluate(estimator, X, y, *, threshold=None, pos_label=None, groups="auto", n_bootstrap=1000,
             confidence=0.95, random_state=None) -> EvaluationReport:
    """Evaluate a fitted binary classifier on ``X``, ``y``.

    Parameters
    ----------
    estimator : classifier or Pipeline
        Fitted, with ``predict_proba`` and ``classes_`` (a Pipeline exposes
        the ``classes_`` of its last step). ``classes_`` must hold exactly
        two classes.
    X : sequence or array-like
        Samples accepted by ``estimator.predict_proba`` (e.g. image paths).
    y : array-like of shape (n_samples,)
        True labels, all of them members of ``estimator.classes_``: the loaders'
        ``target`` for a model trained on it (the report still names its classes
        NORMAL and PNEUMONIA, see ``EvaluationReport.pos_name``). A single
        class is allowed: ROC AUC and average precision are then NaN.
    threshold : float in [0, 1], default=None
        Predicted positive when the positive-class probability is
        ``>= threshold``. None uses the ``threshold`` attribute of the final
        step (the estimator itself outside a Pipeline), else 0.5.
    pos_label : label, default=None
        The positive class. None picks ``"PNEUMONIA"`` if it is a class, else
        ``1`` if it is a class, else ``classes_[1]``.
    groups : "auto", array-like of shape (n_samples,) or None, default="auto"
        Patient (group) of each sample. The intervals then count patients, not
        images: the bootstrap of ROC AUC resamples whole patients and the
        Wilson intervals of sensitivity and specificity take the number of
        patients as their sample size (see Notes), the honest choice when a
        patient has several images. ``"auto"`` reads the patients from the file
        names when ``X`` holds file paths (:func:`resolve_groups`: the Kermany
        forms, in JPEG and PNG names only, see :func:`skpneumo.datasets.patient_id`,
        and the report's notes say so); a file whose name holds no
        patient id counts as its own patient, with a UserWarning, and when no
        name holds one, or ``X`` holds no paths, samples are treated as
        independent. None treats samples as independent, even for file paths.
        ``report.groups_source`` records which case applied.
    n_bootstrap : int, default=1000
        Bootstrap resamples for the confidence interval of ROC AUC; 0 computes
        no intervals at all (neither bootstrap nor Wilson).
    confidence : float in (0, 1), default=0.95
        Coverage of the intervals.
    random_state : int, RandomState or None, default=None
        Seed of the bootstrap; an int makes the intervals repeatable.

    Returns
    -------
    EvaluationReport
        The metrics, with the raw ``y_true`` and ``y_score`` for plotting.

    Raises
    ------
    ValueError
        If the lengths of ``X``, ``y`` (and ``groups``) differ, ``groups`` is a
        string other than ``"auto"``, ``classes_`` does not hold two classes,
        ``pos_label`` or a label of ``y`` is not in ``classes_``, the threshold
        is not in [0, 1], a bootstrap parameter is invalid, or
        ``predict_proba`` does not return probabilities of shape
        (n_samples, 2).
    TypeError
        If ``estimator`` is not a fitted probabilistic classifier or ``X``
        has no length.

    Warns
    -----
    UserWarning
        With ``groups="auto"``, if some file names of ``X`` hold no patient id.

    Notes
    -----
    Intervals. ROC AUC gets a percentile bootstrap interval (over patients when
    groups are known). Sensitivity and specificity get Wilson score intervals
    instead: a percentile bootstrap of a proportion collapses to [1, 1] when the
    proportion is 1 on the sample, whereas the Wilson interval of 20 detected
    out of 20 is [0.839, 1]. Films of one patient are correlated, so a Wilson
    interval over films would be too narrow when patients have several; with
    groups, the interval keeps the proportion over films but counts each
    patient having a film of the class as one observation (see
    :func:`skpneumo.evaluation.rate_intervals`). That assumes a patient's films
    fully correlated, so it errs on the wide side.

    Calibration. ``brier_score`` and ``ece`` measure how far the probabilities
    are from observed frequencies (see :class:`EvaluationReport`); they do not
    depend on the threshold.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = [[0.0], [1.0], [2.0], [3.0]]
    >>> y = ["NORMAL", "NORMAL", "PNEUMONIA", "PNEUMONIA"]
    >>> report = evaluate(LogisticRegression().fit(X, y), X, y)
    >>> report.pos_label, report.confusion_matrix
    ('PNEUMONIA', [[2, 0], [0, 2]])
    """
    classes = getattr(estimator, "classes_", None)
    if classes is None or not hasattr(estimator, "predict_proba"):
        raise TypeError(
            "estimator must be a fitted classifier with predict_proba and classes_; "
            f"got {type(estimator).__name__}."
        )
    classes = _two_classes(classes, "classes_")

    # Check cheap preconditions before predict_proba, which may run a CNN.
    y = column_or_1d(y)
    n_samples = num_samples(X)
    if n_samples != len(y):
        raise ValueError(
            f"X and y have different lengths: {n_samples} samples vs {len(y)} labels."
        )
    if n_samples == 0:
        raise ValueError("Cannot evaluate on zero samples.")
    check_bootstrap_params(n_bootstrap, confidence, minimum=0)
    groups, groups_source, notes = resolve_groups(X, groups, stacklevel=2)
    pos_index = positive_index(classes, pos_label)
    pos, neg = as_builtin(classes[pos_index]), as_builtin(classes[1 - pos_index])
    threshold = _resolve_threshold(estimator, threshold, classes[pos_index])
    y_true = _binary_truth(y, classes, pos_index)

    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    if proba.shape != (n_samples, 2):
        raise ValueError(
            f"predict_proba returned shape {proba.shape}; expected ({n_samples}, 2)."
        )
    y_score = proba[:, pos_index]
    check_probabilities(y_score, f"predict_proba's column of class {pos!r}")
    return _report(y_true, y_score, threshold, pos, neg, groups, groups_source, notes,
                   n_bootstrap, confidence, random_state)


def evaluate_scores(y, y_score, *, classes, threshold=DEFAULT_THRESHOLD, pos_label=None, groups=None,
                    n_bootstrap=1000, confidence=0.95, random_state=None) -> EvaluationReport:
    """:func:`evaluate`'s report from probabilities already computed.

    For a caller that has predicted the samples for another purpose too (choosing
    a threshold on the same validation patients, say): the report is the one
    :func:`evaluate` gives for an estimator whose ``predict_proba`` returned
    ``y_score`` for the positive class.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        True labels, members of ``classes``.
    y_score : array-like of shape (n_samples,)
        Probabilities of the positive class.
    classes : array-like of shape (2,)
        The classifier's ``classes_``.
    threshold : float in [0, 1], default=0.5
        Predicted positive when ``y_score >= threshold``.
    pos_label : label, default=None
        The positive class, as in :func:`evaluate`.
    groups : array-like of shape (n_samples,) or None, default=None
        Patient of each sample (see :func:`evaluate`); None treats samples as independent.
    n_bootstrap, confidence, random_state
        As in :func:`evaluate`.

    Returns
    -------
    EvaluationReport

    Raises
    ------
    ValueError
        As :func:`evaluate`, for the labels, the scores, the threshold or the groups.
    """
    classes = _two_classes(classes, "classes")
    y, y_score = column_or_1d(y), column_or_1d(np.asarray(y_score, dtype=float))
    if len(y) != len(y_score) or not len(y):
        raise ValueError(f"y and y_score must hold the same, non-zero number of samples; got {len(y)} and "
                         f"{len(y_score)}.")
    check_bootstrap_params(n_bootstrap, confidence, minimum=0)
    threshold = _checked_threshold(threshold, "threshold")
    groups, groups_source, notes = resolve_groups(y_score, None if groups is None else np.asarray(groups))
    pos_index = positive_index(classes, pos_label)
    pos, neg = as_builtin(classes[pos_index]), as_builtin(classes[1 - pos_index])
    y_true = _binary_truth(y, classes, pos_index)
    check_probabilities(y_score, f"y_score (the probability of class {pos!r})")
    return _report(y_true, y_score, threshold, pos, neg, groups, groups_source, notes,
                   n_bootstrap, confidence, random_state)


def _binary_truth(y, classes, pos_index):
    # 1 for the positive class, 0 for the other; every label must be a class.
    try:
        labels, inverse = np.unique(y, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"y mixes label types that cannot be compared: {exc}") from exc
    unknown = [as_builtin(v) for v in labels if find_label(classes, v) is None]
    if unknown:
        raise ValueError(
            f"y contains labels {unknown} that are not in the estimator's classes_ "
            f"{[as_builtin(c) for c in classes]}."
        )
    is_pos = np.array([find_label(classes, v) == pos_index for v in labels])
    return is_pos[inverse.ravel()].astype(int)


def _report(y_true, y_score, threshold, pos, neg, groups, groups_source, notes, n_bootstrap, confidence,
            random_state):
    # The numbers of evaluate and evaluate_scores: from the binary truth and the positive-class scores.
    pos_name, neg_name = class_name(pos), class_name(neg)
    notes = list(notes)
    n_samples = len(y_true)
    y_pred = (y_score >= threshold).astype(int)
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist()
    n_pos = tp + fn
    n_neg = tn + fp

    if n_pos and n_neg:
        roc_auc = float(roc_auc_score(y_true, y_score))
        average_precision = float(average_precision_score(y_true, y_score))
    else:
        roc_auc = average_precision = math.nan
        present = pos_name if n_pos else neg_name
        notes.append(
            f"y holds only class {present!r}: ROC AUC and average precision are undefined."
        )
    if not n_pos:
        notes.append(f"No {pos_name!r} samples: recall (sensitivity) is undefined, reported as 0.")
    if not n_neg:
        notes.append(f"No {neg_name!r} samples: specificity is undefined, reported as 0.")
    intervals, methods = {}, {}
    if n_bootstrap:
        unit = "samples" if groups is None else "patients (groups)"
        intervals["roc_auc"] = bootstrap_intervals(
            y_true, y_score, threshold, groups=groups, n_bootstrap=n_bootstrap, confidence=confidence,
            random_state=random_state,
        )["roc_auc"]
        methods["roc_auc"] = f"percentile bootstrap over {n_bootstrap} resamples of {unit}"
        rates, n_units = rate_intervals(y_true, y_pred, groups=groups, confidence=confidence)
        intervals.update(rates)
        for name, n in n_units.items():
            methods[name] = (
                f"Wilson score, n = {n} samples" if groups is None
                else f"Wilson score, n = {n} patients (groups; each patient one observation)"
            )
    reliability = reliability_bins(y_true, y_score, N_CALIBRATION_BINS)

    return EvaluationReport(
        accuracy=float(accuracy_score(y_true, y_pred)),
        precision=float(precision_score(y_true, y_pred, zero_division=0)),
        recall=float(recall_score(y_true, y_pred, zero_division=0)),
        specificity=float(recall_score(y_true, y_pred, pos_label=0, zero_division=0)),
        f1=float(f1_score(y_true, y_pred, zero_division=0)),
        roc_auc=roc_auc,
        average_precision=average_precision,
        confusion_matrix=[[tn, fp], [fn, tp]],
        threshold=threshold,
        n_samples=n_samples,
        class_counts={neg_name: n_neg, pos_name: n_pos},
        pos_label=pos,
        neg_label=neg,
        notes=tuple(notes),
        confidence_intervals=intervals,
        confidence=confidence if n_bootstrap else None,
        n_bootstrap=n_bootstrap,
        bootstrap_unit=("samples" if groups is None else "groups") if n_bootstrap else None,
        interval_methods=methods,
        brier_score=float(brier_score_loss(y_true, y_score)),
        ece=calibration_error(reliability),
        reliability=reliability,
        groups_source=groups_source,
        n_groups=None if groups is None else len(np.unique(groups)),
        y_true=y_true,
        y_score=y_score,
    )




def resolve_groups(X, groups="auto", *, stacklevel=2):
    """The patients of ``X`` as :func:`evaluate` uses them, where they come from, and notes.

    The one home of the ``groups`` rule, so that every report (:func:`evaluate`,
    :func:`~skpneumo.evaluation.stress_report`) reads patients the same way.

    Parameters
    ----------
    X : sequence or array-like
        The samples; file paths for ``"auto"`` to read patients from.
    groups : "auto", array-like of shape (n_samples,) or None, default="auto"
        As for :func:`evaluate`: ``"auto"`` reads the patients from the file names
        (:func:`skpneumo.datasets.patient_groups`, whose rule is
        :data:`skpneumo.datasets.PATIENT_NAME_RULE`); a file whose name holds no
        patient id counts as its own patient, and when no name holds one, or ``X``
        holds no paths, samples are independent.
    stacklevel : int, default=2
        Where the warning about names without a patient id points, counted from
        the caller of this function.

    Returns
    -------
    groups : ndarray or None
        The patient of each sample, or None for independent samples.
    source : str
        ``EvaluationReport.GROUPS_GIVEN``, ``GROUPS_FROM_NAMES`` or ``GROUPS_NONE``.
    notes : list of str
        What a report should say about them: the rule applied to the file names,
        and how many names hold no patient id.

    Raises
    ------
    ValueError
        If ``groups`` is a string other than ``"auto"``, or does not hold one
        value per sample.

    Warns
    -----
    UserWarning
        With ``"auto"``, if some file names hold no patient id.
    """
    if groups is None:
        return None, EvaluationReport.GROUPS_NONE, []
    if isinstance(groups, str):
        if groups != "auto":
            raise ValueError(f"groups must be 'auto', None or one value per sample; got {groups!r}.")
        paths = _file_paths(X)
        if paths is None:
            return None, EvaluationReport.GROUPS_NONE, []
        # Imported here: datasets pulls in OpenCV, which evaluation needs for nothing else.
        from ..datasets import PATIENT_NAME_RULE, patient_groups

        groups, n_unparsed = patient_groups(paths, stacklevel=stacklevel + 1)
        if n_unparsed == len(paths):
            return None, EvaluationReport.GROUPS_NONE, [
                f"No file name holds a patient id ({PATIENT_NAME_RULE}): samples are treated as independent."]
        notes = []
        if n_unparsed:
            notes.append(
                f"{n_unparsed} of {len(paths)} file names hold no patient id; each of those "
                "files counts as its own patient."
            )
        notes.append(f"Patients read from the file names: {PATIENT_NAME_RULE}.")
        return groups, EvaluationReport.GROUPS_FROM_NAMES, notes
    groups = column_or_1d(groups)
    n_samples = num_samples(X)
    if len(groups) != n_samples:
        raise ValueError(f"groups holds {len(groups)} values for {n_samples} samples.")
    return groups, EvaluationReport.GROUPS_GIVEN, []


def _file_paths(X):
    """The items of ``X`` if all are file paths (str or path-like), else None."""
    if isinstance(X, (str, bytes)) or getattr(X, "ndim", 1) != 1:
        return None
    items = list(X)
    return items if all(isinstance(item, (str, os.PathLike)) for item in items) else None


def _resolve_threshold(estimator, threshold, positive):
    source = "threshold"
    if threshold is None:
        final = final_step(estimator)[1]
        # A skpneumo classifier's threshold, or a scikit-learn threshold wrapper's
        # (FixedThresholdClassifier.threshold, TunedThresholdClassifierCV.best_threshold_).
        name = "threshold" if hasattr(final, "threshold") else "best_threshold_"
        threshold = getattr(final, name, None)
        source = f"{type(final).__name__}.{name}"
        if threshold is None or (isinstance(threshold, str) and threshold == "auto"):
            return DEFAULT_THRESHOLD
        if isinstance(final, (FixedThresholdClassifier, TunedThresholdClassifierCV)):
            # These threshold their pos_label, else classes_[1]: refuse one that is not
            # the report's positive class rather than score the wrong column.
            wrapped = getattr(final, "pos_label", None)
            wrapped = final.classes_[1] if wrapped is None else wrapped
            if wrapped != positive:
                raise ValueError(
                    f"{source} applies to P({as_builtin(wrapped)}) but the report's positive "
                    f"class is {as_builtin(positive)!r}; pass threshold= on that probability."
                )
    return _checked_threshold(threshold, source)


def _checked_threshold(threshold, source):
    if not is_real(threshold, 0, 1, high_inclusive=True):
        raise ValueError(f"{source} must be a number in [0, 1]; got {threshold!r}.")
    return float(threshold)


def _two_classes(classes, what):
    classes = list(classes)
    if len(classes) != 2:
        raise ValueError(f"evaluate supports binary classifiers only; {what} is {classes}.")
    return classes

"""Operating points: choosing the decision threshold on validation data.

A screening programme fixes the sensitivity it must reach; elsewhere Youden's J
(sensitivity + specificity - 1) balances both errors. Either way the threshold is
chosen on patients held out from training, never on the test set, and then stored
as the classifier's ``threshold`` so that ``predict``, ``evaluate`` and the command
line use it.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_curve
from sklearn.utils.validation import column_or_1d

from ..utils.labels import as_builtin, find_label, positive_index
from ..utils.pipelines import final_step
from ..utils.validation import check_probabilities, is_real, num_samples

__all__ = ["OperatingPoint", "check_threshold_rule", "choose_threshold", "point_by_rule", "set_operating_point",
           "store_threshold"]


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold and the sensitivity and specificity it gives.

    Attributes
    ----------
    threshold : float
        A sample is predicted positive when its score is ``>= threshold``.
    sensitivity : float
        Fraction of positive samples at or above the threshold.
    specificity : float
        Fraction of negative samples below the threshold.
    criterion : str
        How the threshold was chosen: ``"target_sensitivity=0.95"`` or ``"youden"``.
    fallback : str or None, default=None
        Why the rule asked for (:func:`point_by_rule`) was not the one used, when it
        was not: an unreachable target sensitivity falls back to Youden's J.
    """

    threshold: float
    sensitivity: float
    specificity: float
    criterion: str
    fallback: object = None

    def __str__(self):
        text = (f"threshold {self.threshold:.4g} ({self.criterion}): sensitivity "
                f"{self.sensitivity:.4f}, specificity {self.specificity:.4f}")
        return text if self.fallback is None else f"{text}; {self.fallback}"

    def describe(self, where):
        """The point as a model card records it (``card["threshold"]``).

        Parameters
        ----------
        where : str
            The data it was chosen on, e.g. ``"the validation patients"``.

        Returns
        -------
        dict
            ``value``, ``sensitivity``, ``specificity`` and ``rule`` (the criterion, where,
            and the fallback when there was one).
        """
        rule = f"{self.criterion} on {where}" + (f" ({self.fallback})" if self.fallback else "")
        return {"value": self.threshold, "sensitivity": self.sensitivity, "specificity": self.specificity,
                "rule": rule}


def _is_target(value):
    # A target sensitivity: a number in (0, 1].
    return is_real(value, 0, 1, True) and value > 0


def _check_target(target_sensitivity):
    if target_sensitivity is not None and not _is_target(target_sensitivity):
        raise ValueError(f"target_sensitivity must be a number in (0, 1], got {target_sensitivity!r}.")


def check_threshold_rule(rule):
    """Raise ValueError unless ``rule`` is a threshold rule of :func:`point_by_rule` or ``"keep"``.

    Parameters
    ----------
    rule : object
        ``"youden"``, a target sensitivity in (0, 1], or ``"keep"`` (the classifier's
        own threshold, chosen by nothing here).
    """
    if isinstance(rule, str) and rule in ("keep", "youden"):
        return
    if isinstance(rule, str) or not _is_target(rule):
        raise ValueError(f"threshold_rule must be 'keep', 'youden' or a target sensitivity in (0, 1], got {rule!r}.")


def point_by_rule(y_true, y_score, rule, *, pos_label=None):
    """The operating point a threshold rule chooses; an unreachable target falls back to Youden's J.

    The one place where a rule becomes a threshold: :func:`skpneumo.fit_model` and
    the presets name their rule (:data:`skpneumo.estimators.PRESET_VALIDATION`), this
    applies it. Unlike :func:`choose_threshold`, an unreachable target does not
    raise (a finished training run must not be lost to it): the result says so in
    ``fallback``.

    Parameters
    ----------
    y_true, y_score, pos_label
        As :func:`choose_threshold`.
    rule : "youden" or float in (0, 1]
        Youden's J, or the target sensitivity.

    Returns
    -------
    OperatingPoint
        ``fallback`` is None when the rule itself chose the threshold.
    """
    check_threshold_rule(rule)
    if rule == "keep":
        raise ValueError("threshold_rule='keep' chooses no threshold.")
    target = None if rule == "youden" else rule
    point, unreachable = _choose(y_true, y_score, target, pos_label)
    if unreachable is None:
        return point
    youden = _choose(y_true, y_score, None, pos_label)[0]
    return OperatingPoint(youden.threshold, youden.sensitivity, youden.specificity, youden.criterion,
                          fallback=f"{unreachable} Youden's J chose instead.")


def choose_threshold(y_true, y_score, *, target_sensitivity=None, pos_label=None):
    """Choose a decision threshold from labels and scores.

    With ``target_sensitivity``, the highest threshold whose sensitivity reaches the
    target (so the best specificity among those that do); otherwise the threshold
    maximising Youden's J = sensitivity + specificity - 1 (the highest one among
    ties). Candidates are the observed scores, as in
    :func:`sklearn.metrics.roc_curve`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels of validation samples (held-out patients); both classes present.
    y_score : array-like of shape (n_samples,)
        Probability of the positive class, in [0, 1].
    target_sensitivity : float in (0, 1], default=None
        The sensitivity to reach; None maximises Youden's J.
    pos_label : label, default=None
        The positive class; None picks ``"PNEUMONIA"`` if present, else ``1`` if
        present, else the larger label.

    Returns
    -------
    OperatingPoint
        The threshold and the sensitivity and specificity it gives on these data.

    Raises
    ------
    ValueError
        If ``target_sensitivity`` is not in (0, 1], the lengths differ, ``y_true``
        does not hold two classes or ``pos_label`` is not one of them, a score is
        outside [0, 1], or the target is unreachable: reaching it would call every
        negative sample positive (specificity 0).

    Examples
    --------
    >>> from skpneumo.evaluation import choose_threshold
    >>> y = ["NORMAL", "NORMAL", "NORMAL", "PNEUMONIA", "PNEUMONIA", "PNEUMONIA"]
    >>> p = [0.1, 0.3, 0.6, 0.4, 0.7, 0.9]
    >>> choose_threshold(y, p, target_sensitivity=1.0).threshold
    0.4
    >>> choose_threshold(y, p)  # J = 2/3 at 0.7 and at 0.4: the higher one
    OperatingPoint(threshold=0.7, sensitivity=0.6666666666666666, specificity=1.0, criterion='youden')
    """
    point, unreachable = _choose(y_true, y_score, target_sensitivity, pos_label)
    if unreachable is not None:
        raise ValueError(f"{unreachable} Lower the target or improve the model.")
    return point


def _choose(y_true, y_score, target_sensitivity, pos_label):
    # (point, None), or (None, why) when the target cannot be reached.
    _check_target(target_sensitivity)
    y_true, y_score = column_or_1d(y_true), column_or_1d(y_score).astype(float)
    if len(y_true) != len(y_score):
        raise ValueError(f"y_true holds {len(y_true)} labels but y_score {len(y_score)} scores.")
    check_probabilities(y_score, "y_score")
    classes = list(np.unique(y_true))
    if len(classes) != 2:
        raise ValueError(
            "Choosing a threshold needs validation labels of both classes; y_true holds "
            f"{[as_builtin(c) for c in classes]}."
        )
    if pos_label is not None and find_label(classes, pos_label) is None:
        raise ValueError(f"pos_label={pos_label!r} is not one of the labels {[as_builtin(c) for c in classes]}.")
    positive = classes[positive_index(classes, pos_label)]
    fpr, tpr, thresholds = roc_curve(y_true == positive, y_score, drop_intermediate=False)
    # The first point of roc_curve (threshold +inf) predicts nothing positive.
    fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]
    # Counts, so that ties are exact and the rates equal evaluate's to the last bit.
    n_pos = int(np.sum(y_true == positive))
    n_neg = len(y_true) - n_pos
    tp, fp = np.rint(tpr * n_pos), np.rint(fpr * n_neg)
    if target_sensitivity is None:
        best = int(np.argmax(tp * n_neg - fp * n_pos))  # Youden's J times n_pos * n_neg
        criterion = "youden"
    else:
        best = int(np.argmax(tpr >= target_sensitivity))  # tpr grows as the threshold falls
        criterion = f"target_sensitivity={target_sensitivity:g}"
        if fpr[best] == 1:
            return None, (
                f"target_sensitivity={target_sensitivity:g} cannot be reached on these data: "
                f"the highest threshold reaching it ({thresholds[best]:.4g}) calls every "
                f"{as_builtin(classes[1 - classes.index(positive)])!r} sample positive "
                "(specificity 0)."
            )
    return OperatingPoint(
        threshold=float(thresholds[best]),
        sensitivity=float(tp[best] / n_pos),
        specificity=float((n_neg - fp[best]) / n_neg),
        criterion=criterion,
    ), None


def set_operating_point(estimator, X, y, *, target_sensitivity=None, fallback=False):
    """Choose the threshold of a fitted classifier on validation data and store it.

    Predicts ``X`` once, chooses the threshold on the probability of the positive class
    (``pos_label_``: ``"PNEUMONIA"`` for the usual labels) with
    :func:`choose_threshold` and sets it as the ``threshold`` parameter of the final
    step (``clf__threshold`` of a skpneumo pipeline), which ``predict``,
    :func:`~skpneumo.evaluation.evaluate` and the command line use.

    Parameters
    ----------
    estimator : PneumoniaPipeline or PneumoniaClassifier
        Fitted; its final step has a ``threshold`` parameter applied to the
        probability of the positive class.
    X : sequence or array-like
        Validation samples accepted by ``estimator.predict_proba``: images of
        patients held out from training, never the test set.
    y : array-like of shape (n_samples,)
        Their labels, of both classes.
    target_sensitivity : float in (0, 1], default=None
        The sensitivity to reach; None maximises Youden's J.
    fallback : bool, default=False
        When the target cannot be reached, choose by Youden's J and say why in
        the result's ``fallback`` (:func:`point_by_rule`) instead of raising.

    Returns
    -------
    OperatingPoint
        The chosen threshold, now set on ``estimator``, and the validation
        sensitivity and specificity it gives.

    Raises
    ------
    ValueError
        As :func:`choose_threshold`; also if the final step has no ``threshold``
        parameter. Parameter errors are raised before ``X`` is predicted.

    Examples
    --------
    >>> from skpneumo.evaluation import set_operating_point
    >>> point = set_operating_point(pipe, val.paths, val.labels,
    ...                             target_sensitivity=0.95)  # doctest: +SKIP
    >>> pipe.get_params()["clf__threshold"] == point.threshold  # doctest: +SKIP
    True
    """
    _threshold_key(estimator)
    # Cheap checks first: predicting may take minutes.
    _check_target(target_sensitivity)
    n_samples = num_samples(X)
    if n_samples != len(y):
        raise ValueError(f"X holds {n_samples} samples but y holds {len(y)} labels.")
    classes = list(estimator.classes_)
    pos = positive_index(classes)
    scores = estimator.predict_proba(X)[:, pos]
    if fallback:
        rule = "youden" if target_sensitivity is None else target_sensitivity
        point = point_by_rule(y, scores, rule, pos_label=classes[pos])
    else:
        point = choose_threshold(y, scores, target_sensitivity=target_sensitivity, pos_label=classes[pos])
    store_threshold(estimator, point.threshold)
    return point


def store_threshold(estimator, threshold):
    """Set ``threshold`` as the decision threshold of a classifier or of a pipeline's final step.

    Parameters
    ----------
    estimator : PneumoniaPipeline or PneumoniaClassifier
        Its final step has a ``threshold`` parameter applied to the probability of
        the positive class.
    threshold : float in [0, 1]
        The threshold, e.g. an :class:`OperatingPoint`'s.

    Raises
    ------
    ValueError
        If the final step has no ``threshold`` parameter.
    """
    estimator.set_params(**{_threshold_key(estimator): threshold})


def _threshold_key(estimator):
    # The set_params name of the final step's threshold ("clf__threshold" in a pipeline).
    name, final = final_step(estimator)
    if "threshold" not in final.get_params(deep=False):
        raise ValueError(
            f"{type(final).__name__} has no threshold parameter; wrap the estimator in "
            "sklearn.model_selection.FixedThresholdClassifier instead."
        )
    return f"{name}__threshold" if name else "threshold"

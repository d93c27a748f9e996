"""Training the default pipeline on image files, with a patient-level validation split."""

import time
import warnings

import keras
import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from ..datasets import patient_groups
from ..estimators.pipeline import make_pipeline
from ..estimators.presets import preset_validation
from ..evaluation import evaluate, set_operating_point
from ..evaluation.thresholds import check_threshold_rule
from ..utils.pipelines import final_step
from ..utils.validation import is_real
from .model_card import describe_films, new_card, validation_metrics
from .progress import progress


# Not tqdm.keras.TqdmCallback: it resets and closes its bar at each fit call, and training fits once per phase.
class EpochProgress(keras.callbacks.Callback):
    """One progress bar over the epochs of both training phases.

    Parameters
    ----------
    total : int
        Epochs planned (early stopping may end sooner).
    quiet : bool
        No bar at all.
    """

    def __init__(self, total, quiet):
        super().__init__()
        self.bar = progress(total=total, quiet=quiet, desc="training", unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if "auc" in k or k == "loss"})
        self.bar.update(1)


def patient_validation_split(groups, labels, val_size, random_state):
    """Training and validation indices with no patient on both sides.

    Parameters
    ----------
    groups : array-like of shape (n,)
        The patient of each image.
    labels : array-like of shape (n,)
        The labels, stratified on.
    val_size : float
        Fraction of the images to hold out, in (0, 1): one fold of
        ``StratifiedGroupKFold(round(1 / val_size))``.
    random_state : int or None
        Seed of the fold assignment.

    Returns
    -------
    train_idx, val_idx : ndarray of int
    """
    n_splits = max(2, round(1 / val_size))
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return next(cv.split(np.zeros(len(labels)), labels, groups))


def fit_model(paths, labels, groups=None, *, params=None, val_size=None, threshold_rule=None,
              random_state=None, split_random_state=None, quiet=True):
    """Fit :func:`~skpneumo.make_pipeline` on image files, validate on held-out patients, record a card.

    With a validation fraction (``val_size``, or the preset's), those patients are
    held out: the classifier monitors their ROC AUC for early stopping, the decision
    threshold is chosen on them (``threshold_rule``), and their metrics with
    intervals over patients go into the model card. The returned pipeline carries
    the card as ``model_card_`` (:func:`~skpneumo.save_model` writes it).

    Parameters
    ----------
    paths : ndarray of path-like, shape (n,)
        The image files.
    labels : ndarray of shape (n,)
        Their labels.
    groups : ndarray of shape (n,) or None, default=None
        The patient of each file; None reads them from the file names
        (:func:`~skpneumo.datasets.patient_groups`), each name without a patient
        id counting as its own patient.
    params : dict or None, default=None
        Keywords of :func:`~skpneumo.make_pipeline` (``preset``, ``size``, ...).
    val_size : float or None, default=None
        Fraction of patients held out for validation, in [0, 1); None uses the
        preset's (:func:`~skpneumo.estimators.preset_validation`: 0.2 for the
        presets) and no validation without a preset; 0 holds out nobody.
    threshold_rule : None, "keep", "youden" or float, default=None
        How the decision threshold is chosen on the validation patients:
        ``"youden"`` maximises sensitivity + specificity, a float in (0, 1] is a
        target sensitivity (the highest threshold reaching it), ``"keep"`` keeps
        the classifier's ``threshold``. None uses the preset's rule (``"keep"``
        without a preset or without validation).
    random_state : int or None, default=None
        Seeds the pipeline and, unless ``split_random_state`` is given, the
        validation split.
    split_random_state : int or None, default=None
        Seeds the validation split alone, so that seeds of the training can vary
        on the same patients.
    quiet : bool, default=True
        No progress bar on stderr.

    Returns
    -------
    pipe : PneumoniaPipeline
        Fitted, with its threshold and ``model_card_``. The progress bar is removed
        from its callbacks afterwards, so that it pickles cleanly; callbacks given
        in ``params`` stay.
    validation : (ndarray, ndarray) or None
        The preprocessed validation images and their labels (with ``streaming``
        in ``params``: their paths, never all decoded at once); None without validation.

    Raises
    ------
    ValueError
        For bad parameters (before any image is read), or a threshold rule given
        without validation patients.
    """
    paths, labels = np.asarray(paths), np.asarray(labels)
    params = dict(params or {})
    if threshold_rule is not None:
        check_threshold_rule(threshold_rule)
    preset = preset_validation(params.get("preset"))
    if val_size is None:
        val_size = preset["val_size"]
    elif not is_real(val_size, 0, 1):
        raise ValueError(f"val_size must be a fraction of the patients in [0, 1), got {val_size!r}.")
    if threshold_rule is None:
        threshold_rule = preset["threshold_rule"] if val_size else "keep"
    elif threshold_rule != "keep" and not val_size:
        raise ValueError(f"threshold_rule={threshold_rule!r} chooses the threshold on validation patients: "
                         "hold out some (val_size, or --val-size on the command line).")
    pipe = make_pipeline(**params, random_state=random_state)
    pipe.check_before_fit(paths, labels)
    if groups is None and val_size:
        groups = patient_groups(paths, stacklevel=2)[0]
    groups = None if groups is None else np.asarray(groups)
    clf = final_step(pipe)[1]
    fit_params, validation, val_idx = {}, None, None
    train_idx = np.arange(len(paths))
    if val_size:
        split_seed = random_state if split_random_state is None else split_random_state
        train_idx, val_idx = patient_validation_split(groups, labels, val_size, split_seed)
        # Paths: the pipeline preprocesses validation images once, as at prediction.
        fit_params["clf__validation_data"] = (paths[val_idx], labels[val_idx])
    epoch_bar = EpochProgress(sum(phase["epochs"] for phase in clf.planned_phases()), quiet)
    callbacks = clf.callbacks
    clf.set_params(callbacks=[*(callbacks or ()), epoch_bar])
    started = time.perf_counter()
    try:
        # Paths, not preprocessed arrays: a step such as CLAHE must run exactly once.
        pipe.fit(paths[train_idx], labels[train_idx], **fit_params)
    finally:
        epoch_bar.bar.close()
        clf.set_params(callbacks=callbacks)
    seconds = time.perf_counter() - started
    threshold, validation_card = None, None
    if val_idx is not None:
        # What the classifier sees at prediction: every step but the last, samplers skipped. Streamed:
        # the paths, which the pipeline predicts chunk by chunk instead of holding all films decoded.
        scored, validation = ((pipe, (paths[val_idx], labels[val_idx])) if pipe.streaming
                              else (clf, (pipe[:-1].transform(paths[val_idx]), labels[val_idx])))
        if threshold_rule != "keep":
            target = None if threshold_rule == "youden" else threshold_rule
            # An unreachable target must not throw away a finished training run: it falls back, with a warning.
            point = set_operating_point(scored, *validation, target_sensitivity=target, fallback=True)
            if point.fallback:
                warnings.warn(point.fallback, UserWarning, stacklevel=2)
            threshold = {"value": point.threshold, "sensitivity": point.sensitivity,
                         "specificity": point.specificity,
                         "rule": f"{point.criterion} on the validation patients"
                                 + (f" ({point.fallback})" if point.fallback else "")}
        report = evaluate(scored, *validation, groups=groups[val_idx], random_state=0)
        validation_card = {**describe_films(paths[val_idx], labels[val_idx], groups[val_idx]),
                           "report": validation_metrics(report)}
    pipe.model_card_ = new_card(
        recipe={**params, **({"stream_balance": pipe.stream_balance} if pipe.streaming else {}),
                "random_state": random_state, "val_size": val_size, "threshold_rule": threshold_rule,
                "split_random_state": split_random_state},
        training=describe_films(paths[train_idx], labels[train_idx], None if groups is None else groups[train_idx]),
        validation=validation_card, threshold=threshold, trained_seconds=seconds,
    )
    return pipe, validation

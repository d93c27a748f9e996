"""Training the default pipeline on image files, with a patient-level validation split."""

import keras
import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from ..estimators.pipeline import make_pipeline
from .progress import progress


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


def fit_model(paths, labels, groups=None, *, params=None, val_size=None, random_state=None, quiet=True):
    """Fit :func:`~skpneumo.make_pipeline` on image files, optionally validating on held-out patients.

    With ``val_size``, a fraction of the patients is held out: the classifier
    monitors their ROC AUC for early stopping, and their preprocessed images are
    returned so that a decision threshold can be chosen on them
    (:func:`~skpneumo.set_operating_point`).

    Parameters
    ----------
    paths : ndarray of path-like, shape (n,)
        The image files.
    labels : ndarray of shape (n,)
        Their labels.
    groups : ndarray of shape (n,) or None, default=None
        The patient of each file; required with ``val_size``.
    params : dict or None, default=None
        Keywords of :func:`~skpneumo.make_pipeline` (``preset``, ``size``, ...).
    val_size : float or None, default=None
        Fraction of patients held out for validation, in (0, 1).
    random_state : int or None, default=None
        Seeds the pipeline and the validation split.
    quiet : bool, default=True
        No progress bar on stderr.

    Returns
    -------
    pipe : PneumoniaPipeline
        Fitted. The progress bar is removed from its callbacks afterwards, so that it
        pickles cleanly; callbacks given in ``params`` stay.
    validation : (ndarray, ndarray) or None
        The preprocessed validation images and their labels; None without ``val_size``.
    """
    paths, labels = np.asarray(paths), np.asarray(labels)
    pipe = make_pipeline(**(params or {}), random_state=random_state)
    pipe.check_before_fit(paths, labels)
    if val_size and groups is None:
        raise ValueError("val_size needs groups: the patient of each file.")
    clf = pipe.named_steps["clf"]
    fit_params, validation = {}, None
    if val_size:
        train_idx, val_idx = patient_validation_split(groups, labels, val_size, random_state)
        # Paths: the pipeline preprocesses validation images once, as at prediction.
        validation = (paths[val_idx], labels[val_idx])
        fit_params["clf__validation_data"] = validation
        paths, labels = paths[train_idx], labels[train_idx]
    epoch_bar = EpochProgress(sum(phase["epochs"] for phase in clf.planned_phases()), quiet)
    callbacks = clf.callbacks
    clf.set_params(callbacks=[*(callbacks or ()), epoch_bar])
    try:
        # Paths, not preprocessed arrays: a step such as CLAHE must run exactly once.
        pipe.fit(paths, labels, **fit_params)
    finally:
        epoch_bar.bar.close()
        clf.set_params(callbacks=callbacks)
    if validation is not None:
        # What the classifier sees at prediction: every step but the last, samplers skipped.
        validation = (pipe[:-1].transform(validation[0]), validation[1])
    return pipe, validation

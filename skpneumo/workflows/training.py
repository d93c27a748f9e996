"""Training the default pipeline on image files, with a patient-level validation split."""

import time
import warnings

import keras
import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from ..datasets import patient_groups
from ..estimators.pipeline import Preprocessed, make_pipeline
from ..estimators.presets import preset_validation
from ..evaluation import evaluate_scores
from ..evaluation.thresholds import check_threshold_rule, point_by_rule, store_threshold
from ..network.distributed import is_first_process, process_count, process_index, shard_indices, shared_seed
from ..utils.labels import positive_index
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

    Notes
    -----
    In processes joined by :func:`skpneumo.network.distributed.join`, every process
    calls this with the same files: all draw the same validation split, each trains
    on its own share of the training films (the same count of each class; a few,
    fewer than the processes per class, are left out), and together they train one
    network, data-parallel, with ``batch_size`` as the global batch. Every process
    monitors the whole validation set during training (the copies leave the loss
    and AUC unchanged); the first process alone then chooses the threshold and
    writes the card, the others return ``(pipe, None)`` without ``model_card_``.
    """
    paths, labels = np.asarray(paths), np.asarray(labels)
    params = dict(params or {})
    val_size, threshold_rule = _resolve_validation(params, val_size, threshold_rule)
    processes = process_count()
    if processes > 1:
        # Several processes (network/distributed.py): one data-parallel model, each process on its shard.
        params["distribution"] = "data_parallel"
        quiet = quiet or not is_first_process()
        # JAX refuses replicated variables created with different values on different processes.
        random_state = shared_seed(random_state)
    pipe = make_pipeline(**params, random_state=random_state)
    pipe.check_before_fit(paths, labels)
    if groups is None and val_size:
        groups = patient_groups(paths, stacklevel=2)[0]
    groups = None if groups is None else np.asarray(groups)
    train_idx, val_idx = np.arange(len(paths)), None
    if val_size:
        # One split for all processes.
        split_seed = shared_seed(random_state if split_random_state is None else split_random_state)
        train_idx, val_idx = patient_validation_split(groups, labels, val_size, split_seed)
    fit_idx = train_idx
    if processes > 1:
        fit_idx = train_idx[shard_indices(labels[train_idx], process_index(), processes)]
    X_val = None if val_idx is None else _validation_images(pipe, paths[val_idx])
    seconds = _train(pipe, paths, labels, fit_idx, val_idx, X_val, quiet)
    if not is_first_process():
        return pipe, None  # process 0 chooses the threshold and writes the card
    validation, threshold, validation_card = None, None, None
    if val_idx is not None:
        validation, threshold, validation_card = _validate(pipe, paths[val_idx], X_val, labels[val_idx],
                                                           groups[val_idx], threshold_rule)
    pipe.model_card_ = new_card(
        recipe={**params, **({"processes": processes} if processes > 1 else {}),
                **({"stream_balance": pipe.stream_balance} if pipe.streaming else {}), "random_state": random_state,
                "val_size": val_size, "threshold_rule": threshold_rule, "split_random_state": split_random_state},
        training=describe_films(paths[train_idx], labels[train_idx], None if groups is None else groups[train_idx]),
        validation=validation_card, threshold=threshold, trained_seconds=seconds,
    )
    return pipe, validation


def _resolve_validation(params, val_size, threshold_rule):
    # The validation fraction and the threshold rule, the preset's where not given; checked before any image is read.
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
    return val_size, threshold_rule


def _validation_images(pipe, paths):
    # The validation films decoded once, before training, for early stopping and then _validate; a streamed
    # fit reads them itself, batch by batch, from their paths.
    if pipe.streaming:
        return paths
    pipe.check_stateless_steps("fit_model, which decodes the validation films once before training,")
    # Every step but the last, samplers skipped, as at prediction: they learn nothing, so before fit is the same.
    return Preprocessed(pipe[:-1].transform(paths))


def _train(pipe, paths, labels, train_idx, val_idx, X_val, quiet):
    # Fits on the training patients, the validation patients monitored for early stopping; returns the seconds.
    clf = final_step(pipe)[1]
    # Training images as paths, so that a step such as CLAHE runs exactly once.
    fit_params = {} if X_val is None else {"clf__validation_data": (X_val, labels[val_idx])}
    epoch_bar = EpochProgress(sum(phase["epochs"] for phase in clf.planned_phases()), quiet)
    callbacks = clf.callbacks
    clf.set_params(callbacks=[*(callbacks or ()), epoch_bar])
    started = time.perf_counter()
    try:
        pipe.fit(paths[train_idx], labels[train_idx], **fit_params)
    finally:
        epoch_bar.bar.close()
        clf.set_params(callbacks=callbacks)
    return time.perf_counter() - started


def _validate(pipe, paths, X_val, labels, groups, threshold_rule):
    # The validation patients, predicted once after training: the threshold chosen on their
    # scores and stored, and the card's report computed from the same scores.
    clf = final_step(pipe)[1]
    if pipe.streaming:
        # The paths, which the pipeline predicts chunk by chunk instead of holding every film decoded.
        X = paths
        scores = pipe.predict_proba(paths)[:, positive_index(clf.classes_)]
    else:
        X = X_val.images
        scores = clf.predict_proba(X)[:, positive_index(clf.classes_)]
    threshold = None
    if threshold_rule != "keep":
        # An unreachable target must not throw away a finished training run: it falls back, with a warning.
        point = point_by_rule(labels, scores, threshold_rule, pos_label=clf.pos_label_)
        if point.fallback:
            warnings.warn(point.fallback, UserWarning, stacklevel=3)
        store_threshold(clf, point.threshold)
        threshold = point.describe("the validation patients")
    report = evaluate_scores(labels, scores, classes=clf.classes_, threshold=clf.threshold, groups=groups,
                             random_state=0)
    card = {**describe_films(paths, labels, groups), "report": validation_metrics(report)}
    return (X, labels), threshold, card

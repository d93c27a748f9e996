"""Predicting image files in chunks: an unreadable file is reported, never fatal."""

import numpy as np

from ..estimators.classifier import skpneumo_classifier
from ..estimators.pipeline import DEFAULT_CHUNK_SIZE
from ..exceptions import ImageReadError
from ..utils.images import chunks
from ..utils.labels import positive_index
from .progress import progress


def per_file(func, paths):
    """``func(paths)``, or when that fails on a file, ``func`` on each file alone.

    Only :class:`~skpneumo.ImageReadError` (the readers' error for a file that cannot be
    read or decoded) is isolated: any other error is the model's or the code's, the
    same for every file, and propagates from the first call.

    Parameters
    ----------
    func : callable
        Takes a list of paths and returns one result per path.
    paths : list of path-like
        The files.

    Returns
    -------
    results : list
        The results for the readable paths, as ``func`` returns them for the whole
        list or as a list of one-file results.
    errors : list of str or None
        An error message (or None) per path.

    Raises
    ------
    Exception
        Whatever ``func`` raises other than :class:`~skpneumo.ImageReadError`.
    """
    try:
        return func(paths), [None] * len(paths)
    except ImageReadError:
        # Find the unreadable files one by one; the rest still go through.
        results, errors = [], []
        for path in paths:
            try:
                results.append(func([path])[0])
                errors.append(None)
            except ImageReadError as exc:
                errors.append(str(exc))
        return results, errors


def file_rows(paths, func, fields, *, chunk_size, quiet, desc):
    """One row per file: ``func`` on chunks of ``paths``, an unreadable file isolated.

    Parameters
    ----------
    paths : list of path-like
        The files, in the order of the rows.
    func : callable
        Takes a list of paths and returns one dict of ``fields`` per path.
    fields : sequence of str
        The keys ``func`` fills; None for an unreadable file.
    chunk_size : int
        Paths per call of ``func``.
    quiet : bool
        No progress bar on stderr.
    desc : str
        The progress bar's label.

    Returns
    -------
    rows : list of dict
        ``path``, the ``fields`` and ``error`` (why the file could not be read, else None).
    """
    rows = []
    with progress(total=len(paths), quiet=quiet, desc=desc, unit="img") as bar:
        for chunk in chunks(paths, chunk_size):
            results, errors = per_file(func, chunk)
            results = iter(results)
            for path, error in zip(chunk, errors):
                values = dict.fromkeys(fields) if error else next(results)
                rows.append({"path": path, **values, "error": error})
            bar.update(len(chunk))
    return rows


def predict_paths(model, paths, quiet=True):
    """Predict image files chunk by chunk; unreadable files are reported, not fatal.

    Parameters
    ----------
    model : estimator
        A fitted skpneumo pipeline, or a fitted binary classifier of file paths with
        ``predict_proba`` (e.g. a scikit-learn wrapper of a pipeline).
    paths : list of path-like
        The image files.
    quiet : bool, default=True
        No progress bar on stderr.

    Returns
    -------
    rows : list of dict
        One per path, in order: ``path``, ``probability`` (of the positive class,
        ``pos_label_``), ``label`` and ``error`` (why the file could not be read,
        else None).
    """
    column = positive_index(model.classes_)
    clf = skpneumo_classifier(model)

    def predict(chunk):
        p = model.predict_proba(chunk)[:, column]
        # A wrapper decides by its own rule (a tuned threshold, calibrated probabilities).
        labels = clf.labels_for(p) if clf is not None else model.predict(chunk)
        return [{"probability": float(pi), "label": label} for pi, label in zip(p, np.asarray(labels).tolist())]

    return file_rows(paths, predict, ("probability", "label"), quiet=quiet, desc="predicting",
                     chunk_size=getattr(model, "chunk_size", DEFAULT_CHUNK_SIZE))

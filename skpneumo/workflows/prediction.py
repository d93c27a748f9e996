"""Predicting image files in chunks: an unreadable file is reported, never fatal."""

import numpy as np

from ..estimators.classifier import skpneumo_classifier
from ..exceptions import ImageReadError
from ..utils.labels import positive_index
from .progress import progress

# Files per prediction chunk for models without a chunk_size of their own (wrappers).
DEFAULT_CHUNK = 1024


def chunks(items, size):
    """Consecutive slices of ``items`` of ``size`` items (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def per_file(func, paths):
    """``func(paths)``, or when that fails on a file, ``func`` on each file alone.

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
    """
    try:
        return func(paths), [None] * len(paths)
    except (ImageReadError, ValueError):
        # Find the unreadable files one by one; the rest still go through.
        results, errors = [], []
        for path in paths:
            try:
                results.append(func([path])[0])
                errors.append(None)
            except (ImageReadError, ValueError) as exc:
                errors.append(str(exc))
        return results, errors


def _predict_chunk(model, paths):
    column = positive_index(model.classes_)
    clf = skpneumo_classifier(model)

    def predict(chunk):
        p = model.predict_proba(chunk)[:, column]
        # A wrapper decides by its own rule (a tuned threshold, calibrated probabilities).
        labels = clf.labels_for(p) if clf is not None else model.predict(chunk)
        return list(zip(p.tolist(), np.asarray(labels).tolist()))

    return per_file(predict, paths)


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
    rows = []
    with progress(total=len(paths), quiet=quiet, desc="predicting", unit="img") as bar:
        for chunk in chunks(paths, getattr(model, "chunk_size", DEFAULT_CHUNK)):
            results, errors = _predict_chunk(model, chunk)
            results = iter(results)
            for path, error in zip(chunk, errors):
                if error:
                    rows.append({"path": path, "probability": None, "label": None, "error": error})
                    continue
                p, label = next(results)
                rows.append({"path": path, "probability": float(p), "label": label, "error": None})
            bar.update(len(chunk))
    return rows

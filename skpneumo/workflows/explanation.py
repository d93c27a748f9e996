"""Grad-CAM overlays for image files, chunk by chunk: an unreadable file is reported, never fatal."""

from pathlib import Path

from ..estimators.classifier import skpneumo_classifier
from ..evaluation.gradcam import explain, overlay_names
from .prediction import file_rows

# Smaller than the pipeline's prediction chunks: Grad-CAM keeps a heatmap per image
# at its full size, often 2000x2000.
EXPLAIN_CHUNK = 32


def explain_paths(model, paths, out, *, alpha=0.5, quiet=True):
    """Write a Grad-CAM overlay PNG per image file to ``out``, with its prediction.

    Parameters
    ----------
    model : PneumoniaPipeline
        A fitted skpneumo pipeline.
    paths : list of path-like
        The image files.
    out : path-like
        Folder for the overlays, created if needed; names from :func:`overlay_names`.
    alpha : float, default=0.5
        Opacity of the colour map at the hottest point of an overlay.
    quiet : bool, default=True
        No progress bar on stderr.

    Returns
    -------
    rows : list of dict
        One per path, in order: ``path``, ``probability`` (of ``pos_label_``) and
        ``label``, those of :func:`predict_paths` (with the classifier's ``tta``),
        ``overlay`` (the PNG written) and ``error`` (why the file could not be read,
        else None).

    Raises
    ------
    TypeError
        If ``model`` is not a skpneumo pipeline (a scikit-learn wrapper of one is
        explained through the pipeline it wraps).
    ValueError
        If ``out`` is an existing file.
    """
    clf = skpneumo_classifier(model)
    if clf is None:
        raise TypeError(f"explain needs a skpneumo pipeline, got a {type(model).__name__} "
                        "(explain the pipeline it wraps instead)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder, but '{out}' is a file")
    names = dict(zip(paths, overlay_names(paths)))

    def explain_chunk(chunk):
        _, proba = explain(model, chunk, out=out, names=[names[p] for p in chunk], alpha=alpha,
                           return_proba=True)
        labels = clf.labels_for(proba).tolist()
        return [{"probability": float(p), "label": label, "overlay": str(out / names[path])}
                for p, label, path in zip(proba, labels, chunk)]

    return file_rows(paths, explain_chunk, ("probability", "label", "overlay"), chunk_size=EXPLAIN_CHUNK,
                     quiet=quiet, desc="explaining")

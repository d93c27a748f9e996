"""The model behind the HTTP routes: predictions, Grad-CAM overlays and metadata, on one worker thread."""

import copy
import importlib.metadata
from pathlib import Path

import numpy as np

from ..estimators import skpneumo_classifier
from ..evaluation.gradcam import explain, overlay_png
from ..io import read_image
from ..utils.labels import class_name, positive_index
from ..workflows.persistence import load_model
from ..workflows.prediction import per_file
from .batching import MicroBatcher

# The packages whose versions decide a prediction, reported by model_info.
VERSIONED_PACKAGES = ("skpneumo", "keras", "tensorflow", "jax", "scikit-learn", "numpy", "opencv-python-headless",
                      "pydicom")


class PredictionService:
    """A fitted skpneumo pipeline, served: batched prediction, Grad-CAM, metadata.

    Every use of the model runs on the one thread of a :class:`MicroBatcher`:
    predictions of concurrent callers are gathered into shared batches, a Grad-CAM
    overlay runs alone between them.

    Parameters
    ----------
    model : PneumoniaPipeline
        Fitted (a scikit-learn wrapper of one decides by its own rule and has no
        Grad-CAM: it is refused).
    name : str
        The model's name in every answer (a shipped name, or the file or folder name).
    max_batch_size : int or None, default=None
        Films after which the worker stops gathering requests into a batch; None: the
        classifier's ``batch_size`` (the batches Keras predicts in).
    max_wait : float, default=0.05
        Seconds the worker waits for more requests after the first. Each call of the
        model costs a fixed ~0.1 s on a CPU besides its films, so gathering
        concurrent requests for a while pays (see docs/serving.md).

    Raises
    ------
    TypeError
        If ``model`` is not a skpneumo pipeline.
    """

    def __init__(self, model, name, *, max_batch_size=None, max_wait=0.05):
        self.clf = skpneumo_classifier(model)
        if self.clf is None:
            raise TypeError(f"skpneumo serve needs a skpneumo pipeline, got a {type(model).__name__} "
                            "(serve the pipeline it wraps instead)")
        self.model = model
        self.name = name
        self.column = positive_index(self.clf.classes_)
        max_batch_size = self.clf.batch_size if max_batch_size is None else max_batch_size
        self._warm_up(max_batch_size)
        self.batcher = MicroBatcher(self._predict_batch, max_batch_size, max_wait)

    @classmethod
    def load(cls, model, **params):
        """Load ``model`` as :func:`~skpneumo.load_model` does (a shipped name, a model folder or a
        joblib file) and serve it under its name."""
        return cls(load_model(model), Path(str(model)).name, **params)

    @property
    def threshold(self):
        """The classifier's stored decision threshold on P(positive class)."""
        return float(self.clf.threshold)

    @property
    def version(self):
        """When the model was trained (from its model card), else None."""
        return (getattr(self.model, "model_card_", None) or {}).get("trained")

    def _warm_up(self, max_batch_size):
        # Keras traces its prediction function for the first batch sizes it sees (a second or more
        # each on a CPU): done on blank films before the service is ready, not in the first requests.
        blank = np.zeros((max_batch_size, *self.clf.X_shape_[1:3]), np.uint8)
        for size in sorted({1, max(1, max_batch_size // 2), max_batch_size}):
            self.model.predict_proba(blank[:size])

    def _predict_batch(self, items):
        """``(probability, error)`` per item: unreadable files isolated, as ``skpneumo predict`` does."""
        results, errors = per_file(lambda chunk: self.model.predict_proba(chunk)[:, self.column].tolist(), items)
        results = iter(results)
        return [(None, error) if error else (next(results), None) for error in errors]

    def labels(self, probabilities, threshold=None):
        """Class names of ``probabilities`` at ``threshold`` (None: the stored one), by the classifier's rule."""
        clf = self.clf
        if threshold is not None:
            clf = copy.copy(clf)  # shares the network; only this request's threshold differs
            clf.threshold = threshold
        return [class_name(label) for label in np.asarray(clf.labels_for(probabilities)).tolist()]

    def predict(self, images, threshold=None):
        """Predict in-memory files through the shared batches (blocks until done).

        Parameters
        ----------
        images : list of EncodedImage
            The files, decoded by content.
        threshold : float or None, default=None
            Decision threshold for this call instead of the stored one.

        Returns
        -------
        rows : list of dict
            One per image, in order: ``file``, ``probability``, ``label``,
            ``threshold`` and ``error`` (why it could not be read, else None).
        """
        return self.rows(images, self.batcher.submit(images).result(), threshold)

    def rows(self, images, results, threshold=None):
        """The answer rows of ``images`` from the batcher's ``(probability, error)`` results."""
        used = self.threshold if threshold is None else float(threshold)
        readable = [p for p, error in results if error is None]
        labels = iter(self.labels(readable, threshold) if readable else [])
        return [{"file": image.name, "probability": p, "label": None if error else next(labels),
                 "threshold": used, "error": error} for image, (p, error) in zip(images, results)]

    def explain(self, image, alpha=0.5):
        """The Grad-CAM overlay of one in-memory file, as ``skpneumo explain`` writes it.

        Parameters
        ----------
        image : EncodedImage
        alpha : float, default=0.5
            Opacity of the colour map at the hottest point.

        Returns
        -------
        row : dict
            As :meth:`predict` gives it.
        png : bytes
            The overlay, a PNG file.

        Raises
        ------
        ImageReadError
            If the file cannot be decoded.
        """
        def run():
            heatmaps, proba = explain(self.model, [image], alpha=alpha, return_proba=True)
            # The overlay goes on the film as stored, as explain's own files do.
            return float(proba[0]), overlay_png(read_image(image), heatmaps[0], alpha)

        p, png = self.batcher.call(run).result()
        return self.rows([image], [(p, None)])[0], png

    def info(self):
        """The ``GET /v1/model`` answer: name, card, classes, threshold, input size, versions."""
        card = getattr(self.model, "model_card_", None)
        stored = (card or {}).get("threshold") or {}
        versions = {}
        for package in VERSIONED_PACKAGES:
            try:
                versions[package] = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                continue
        return {
            "name": self.name,
            "version": self.version,
            "classes": [class_name(c) for c in self.clf.classes_.tolist()],
            "positive_class": class_name(self.clf.classes_[self.column]),
            "threshold": {"value": self.threshold, "rule": stored.get("rule"),
                          "sensitivity": stored.get("sensitivity"), "specificity": stored.get("specificity")},
            "input_size": list(self.clf.X_shape_[1:]),
            "model_card": card,
            "versions": versions,
        }

    def close(self):
        """Finish the queued work and stop the model's thread."""
        self.batcher.close()

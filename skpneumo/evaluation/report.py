"""The evaluation report's data: :class:`EvaluationReport`, its JSON form and its files.

What is in a report, and its JSON schema, live here; how it is shown (text summary,
Markdown, figures) lives in :mod:`skpneumo.evaluation.render`, and how its numbers
are computed in :mod:`skpneumo.evaluation.scoring`.

To add a metric (a row of the summary and of the Markdown table, a key of
``report.json``): declare its field below, with a default (NaN) so that older
``report.json`` files still load; add it to :attr:`EvaluationReport.METRICS`, the one
list of metrics and their order, which :meth:`~EvaluationReport.to_dict`,
:meth:`~EvaluationReport.from_dict` and the renderer follow; and compute it in
:func:`skpneumo.evaluation.evaluate`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.files import write_files_atomically
from ..utils.labels import as_builtin, class_name
from .render import files as rendered_files
from .render import summary as summary_text

__all__ = ["EvaluationReport"]

# The keys every report.json has had since the first release; keys added later are
# optional, read with a default.
REQUIRED_KEYS = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "average_precision",
    "confusion_matrix",
    "threshold",
    "n_samples",
    "class_counts",
    "pos_label",
    "neg_label",
)
JSON_NAME = "report.json"


@dataclass(frozen=True)
class EvaluationReport:
    """Metrics of a binary classifier at one decision threshold.

    Build it with :func:`~skpneumo.evaluation.evaluate` (or :meth:`load` to read a
    saved one).

    Attributes
    ----------
    accuracy, precision, recall, specificity, f1 : float
        Threshold-dependent metrics; ``recall`` is the sensitivity and
        ``specificity`` the recall of the negative class. Undefined ratios
        (e.g. no predicted positives) are reported as 0.
    roc_auc, average_precision : float
        Threshold-free metrics of ``y_score``; NaN when ``y`` holds one class.
    confusion_matrix : list of list of int
        ``[[tn, fp], [fn, tp]]`` with ``pos_label`` as the positive class.
    threshold : float
        A sample is predicted positive when its score is ``>= threshold``.
    n_samples : int
        Number of evaluated samples.
    class_counts : dict of str to int
        Number of samples of each class in ``y``, keyed by the class's name
        (``pos_name``, ``neg_name``).
    pos_label, neg_label : str, int or bool
        The positive and negative classes, as found in ``classes_``.
    pos_name, neg_name : str
        Their names, as the summary, the Markdown and the figures show them
        (:func:`skpneumo.utils.labels.class_name`): ``"PNEUMONIA"`` and
        ``"NORMAL"`` for the classes 1 and 0 of a model trained on integer
        targets, ``str(label)`` otherwise. Properties, derived from the labels.
    notes : tuple of str
        Caveats about undefined metrics; empty in the usual case.
    confidence_intervals : dict of str to (float, float) or None
        Intervals of ``roc_auc``, ``recall`` and ``specificity`` (None where
        undefined), made as ``interval_methods`` says; empty without intervals.
    confidence : float or None
        Coverage of the intervals, e.g. 0.95; None without intervals.
    n_bootstrap : int
        Number of bootstrap resamples; 0 without intervals.
    bootstrap_unit : {"samples", "groups"} or None
        What the bootstrap resamples drew: single samples, or whole groups
        (patients).
    interval_methods : dict of str to str
        Metric name to a description of the method behind its interval, e.g.
        ``"percentile bootstrap over 1000 resamples of patients (groups)"`` or
        ``"Wilson score, n = 212 patients (groups; each patient one
        observation)"``; empty without intervals and in older reports.
    brier_score : float
        Mean squared difference between ``y_score`` and the 0/1 label; 0 is
        perfect, and always predicting the prevalence ``q`` scores ``q (1 - q)``.
        NaN for a report saved before it existed.
    ece : float
        Expected calibration error over 10 equal-width bins of ``y_score``: the
        bin-count-weighted mean of ``|observed fraction of positives - mean
        predicted probability|`` (see
        :func:`skpneumo.evaluation.expected_calibration_error`). NaN for a
        report saved before it existed.
    reliability : dict or None
        The bins behind ``ece`` and ``reliability.png``, as returned by
        :func:`skpneumo.evaluation.reliability_bins`; None in older reports.
    groups_source : {"given", "from file names", "none (images)"} or None
        Where the patients (groups) behind the intervals came from: passed by the
        caller, read from the file names of ``X``, or none, images being treated
        as independent (``GROUPS_GIVEN``, ``GROUPS_FROM_NAMES``, ``GROUPS_NONE``).
        None in older reports.
    n_groups : int or None
        Number of distinct patients (groups); None without groups.
    y_true : ndarray of int or None
        True labels as 0/1 (1 = ``pos_label``); None for a loaded report.
    y_score : ndarray of float or None
        Probability of ``pos_label`` per sample; None for a loaded report.
    """

    # The metrics, in display order: (attribute, human-readable name). The one list
    # of them: to_dict, from_dict, the text summary and the Markdown table follow it.
    # (Plain class attributes, not fields; the renderer reads them from the report.)
    METRICS = (
        ("accuracy", "Accuracy"),
        ("precision", "Precision"),
        ("recall", "Recall (sensitivity)"),
        ("specificity", "Specificity"),
        ("f1", "F1 score"),
        ("roc_auc", "ROC AUC"),
        ("average_precision", "Average precision"),
        ("brier_score", "Brier score"),
        ("ece", "Calibration (ECE)"),
    )
    # Values of groups_source.
    GROUPS_GIVEN = "given"
    GROUPS_FROM_NAMES = "from file names"
    GROUPS_NONE = "none (images)"

    accuracy: float
    precision: float
    recall: float
    specificity: float
    f1: float
    roc_auc: float
    average_precision: float
    confusion_matrix: list[list[int]]
    threshold: float
    n_samples: int
    class_counts: dict[str, int]
    pos_label: Any
    neg_label: Any
    notes: tuple[str, ...] = ()
    confidence_intervals: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    confidence: float | None = None
    n_bootstrap: int = 0
    bootstrap_unit: str | None = None
    interval_methods: dict[str, str] = field(default_factory=dict)
    brier_score: float = math.nan
    ece: float = math.nan
    reliability: dict[str, list] | None = None
    groups_source: str | None = None
    n_groups: int | None = None
    y_true: np.ndarray | None = field(default=None, repr=False, compare=False)
    y_score: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def pos_name(self) -> str:
        """The name shown for ``pos_label`` (``"PNEUMONIA"`` for 1)."""
        return class_name(self.pos_label)

    @property
    def neg_name(self) -> str:
        """The name shown for ``neg_label`` (``"NORMAL"`` for 0)."""
        return class_name(self.neg_label)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-serialisable dict.

        ``y_true`` and ``y_score`` are left out; NaN metrics become None.

        Returns
        -------
        dict
            Keys: the metric names, ``confusion_matrix``, ``threshold``,
            ``n_samples``, ``class_counts``, ``pos_label``, ``neg_label``,
            ``pos_name``, ``neg_name``, ``notes``, ``confidence_intervals`` (metric name to ``[low, high]``
            or None), ``confidence``, ``n_bootstrap``, ``bootstrap_unit``,
            ``interval_methods``, ``reliability``, ``groups_source`` and
            ``n_groups``.
        """
        data: dict[str, Any] = {name: _nan_to_none(getattr(self, name)) for name, _ in self.METRICS}
        data.update(
            confusion_matrix=[[int(v) for v in row] for row in self.confusion_matrix],
            threshold=float(self.threshold),
            n_samples=int(self.n_samples),
            class_counts={str(k): int(v) for k, v in self.class_counts.items()},
            pos_label=as_builtin(self.pos_label),
            neg_label=as_builtin(self.neg_label),
            pos_name=self.pos_name,
            neg_name=self.neg_name,
            notes=list(self.notes),
            confidence_intervals={
                name: None if bounds is None else list(bounds)
                for name, bounds in self.confidence_intervals.items()
            },
            confidence=self.confidence,
            n_bootstrap=int(self.n_bootstrap),
            bootstrap_unit=self.bootstrap_unit,
            interval_methods=dict(self.interval_methods),
            reliability=None if self.reliability is None else {
                key: list(values) for key, values in self.reliability.items()
            },
            groups_source=self.groups_source,
            n_groups=None if self.n_groups is None else int(self.n_groups),
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationReport:
        """Rebuild a report from :meth:`to_dict` output.

        Parameters
        ----------
        data : dict
            As returned by :meth:`to_dict` or read from ``report.json``.

        Returns
        -------
        EvaluationReport
            The report, without ``y_true`` and ``y_score``. Keys added after the
            first release (intervals, calibration, groups) are optional, so older
            reports load with their defaults (NaN, None or empty). ``pos_name`` and
            ``neg_name`` are not read: they follow from the labels.

        Raises
        ------
        ValueError
            If a required key is missing or the confusion matrix is not 2x2.
        """
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise ValueError(f"Evaluation report data lacks the keys {missing}.")
        matrix = [[int(v) for v in row] for row in data["confusion_matrix"]]
        if len(matrix) != 2 or any(len(row) != 2 for row in matrix):
            raise ValueError(
                f"confusion_matrix must be 2x2 [[tn, fp], [fn, tp]], got {matrix}."
            )
        return cls(
            # None is a NaN metric; metrics added after the first release may be absent.
            **{name: math.nan if data.get(name) is None else float(data[name]) for name, _ in cls.METRICS},
            confusion_matrix=matrix,
            threshold=float(data["threshold"]),
            n_samples=int(data["n_samples"]),
            class_counts={str(k): int(v) for k, v in data["class_counts"].items()},
            pos_label=data["pos_label"],
            neg_label=data["neg_label"],
            notes=tuple(data.get("notes", ())),
            # Reports saved before bootstrap intervals existed lack these keys.
            confidence_intervals={
                name: None if bounds is None else (float(bounds[0]), float(bounds[1]))
                for name, bounds in data.get("confidence_intervals", {}).items()
            },
            confidence=data.get("confidence"),
            n_bootstrap=int(data.get("n_bootstrap", 0)),
            bootstrap_unit=data.get("bootstrap_unit"),
            # Reports saved before calibration and patient counts lack these.
            interval_methods={str(k): str(v) for k, v in data.get("interval_methods", {}).items()},
            reliability=data.get("reliability"),
            groups_source=data.get("groups_source"),
            n_groups=None if data.get("n_groups") is None else int(data["n_groups"]),
        )

    @classmethod
    def load(cls, folder: str | os.PathLike) -> EvaluationReport:
        """Read ``report.json`` from a folder written by :meth:`save`.

        Parameters
        ----------
        folder : str or path-like
            The folder passed to :meth:`save`.

        Returns
        -------
        EvaluationReport
            The report, without ``y_true`` and ``y_score``.
        """
        path = Path(folder) / JSON_NAME
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def summary(self) -> str:
        """Return a readable multi-line text summary.

        Returns
        -------
        str
            Metrics with their intervals and how each interval was made, the
            patients behind them, class counts, the labelled confusion matrix,
            the reliability bins and notes (see
            :func:`skpneumo.evaluation.render.summary`).
        """
        return summary_text(self)

    def __str__(self) -> str:
        return self.summary()

    def save(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write the report and its figures to ``folder``.

        Writes ``report.json``, ``report.md``, ``confusion_matrix.png``,
        ``reliability.png`` (when the report holds its bins, i.e. not for a
        report saved before they existed) and, when ``y_score`` is available
        (not for a loaded report), ``roc_curve.png`` and ``pr_curve.png``.
        Each file is written to a temporary file in ``folder`` and moved into
        place with :func:`os.replace`, so a reader never sees a partial file;
        on failure the temporary files (and any folder this call created) are
        removed. Figures are drawn with the Agg canvas directly, leaving the
        caller's matplotlib backend untouched.

        Parameters
        ----------
        folder : str or path-like
            Destination folder, created with its parents if needed. Existing
            files of the same names are replaced.

        Returns
        -------
        dict of str to Path
            File name to path of each written file.

        Raises
        ------
        OSError
            If the folder cannot be created or written; the message names it.
        """
        # Render everything in memory first so that a plotting error cannot
        # leave a half-written report behind.
        files = {JSON_NAME: (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode("utf-8")}
        files.update(rendered_files(self))
        return write_files_atomically(folder, files, "the evaluation report")


def _nan_to_none(value):
    value = float(value)
    return None if math.isnan(value) else value

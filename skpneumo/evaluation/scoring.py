"""Evaluation of a fitted NORMAL-vs-PNEUMONIA classifier.

Every metric is computed from the probability of an explicitly chosen positive
class, whose column is looked up by label in ``estimator.classes_``. A former
design read a hard-coded column and reported 87% accuracy next to a ROC AUC of
0.513; looking the column up by label (and validating ``y`` against
``classes_``) makes that kind of misalignment impossible.

Confidence intervals count patients, not films, whenever the patients are known
(given, or read from the file names): ROC AUC by a percentile bootstrap over
patients, sensitivity and specificity by Wilson score intervals with one
observation per patient (see :mod:`skpneumo.intervals`), because a percentile
bootstrap of a proportion collapses to [1, 1] when the proportion is 1.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
from sklearn.utils.validation import column_or_1d

from ..datasets import patient_groups
from ..utils.files import write_files_atomically
from ..utils.labels import as_builtin, find_label, positive_index
from ..utils.validation import is_real, num_samples
from .bootstrap import bootstrap_intervals, check_bootstrap_params
from .calibration import expected_calibration_error, reliability_bins
from .intervals import rate_intervals

__all__ = ["EvaluationReport", "evaluate"]

DEFAULT_THRESHOLD = 0.5

# (attribute, human-readable name), in display order.
_METRICS = (
    ("accuracy", "Accuracy"),
    ("precision", "Precision"),
    ("recall", "Recall (sensitivity)"),
    ("specificity", "Specificity"),
    ("f1", "F1 score"),
    ("roc_auc", "ROC AUC"),
    ("average_precision", "Average precision"),
)
# Calibration of the probabilities; optional keys, as older reports lack them.
_CALIBRATION_METRICS = (
    ("brier_score", "Brier score"),
    ("ece", "Calibration (ECE)"),
)
N_CALIBRATION_BINS = 10
# Values of EvaluationReport.groups_source.
GROUPS_GIVEN = "given"
GROUPS_FROM_NAMES = "from file names"
GROUPS_NONE = "none (images)"
_REQUIRED_KEYS = (
    *(name for name, _ in _METRICS),
    "confusion_matrix",
    "threshold",
    "n_samples",
    "class_counts",
    "pos_label",
    "neg_label",
)
_JSON_NAME = "report.json"
_MARKDOWN_NAME = "report.md"
_ROC_NAME = "roc_curve.png"
_CM_NAME = "confusion_matrix.png"
_PR_NAME = "pr_curve.png"
_RELIABILITY_NAME = "reliability.png"


@dataclass(frozen=True)
class EvaluationReport:
    """Metrics of a binary classifier at one decision threshold.

    Build it with :func:`evaluate` (or :meth:`load` to read a saved one).

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
        Number of samples of each class in ``y``, keyed by ``str(label)``.
    pos_label, neg_label : str, int or bool
        The positive and negative classes, as found in ``classes_``.
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
        :func:`skpneumo.calibration.expected_calibration_error`). NaN for a
        report saved before it existed.
    reliability : dict or None
        The bins behind ``ece`` and ``reliability.png``, as returned by
        :func:`skpneumo.calibration.reliability_bins`; None in older reports.
    groups_source : {"given", "from file names", "none (images)"} or None
        Where the patients (groups) behind the intervals came from: passed by the
        caller, read from the file names of ``X``, or none, images being treated
        as independent. None in older reports.
    n_groups : int or None
        Number of distinct patients (groups); None without groups.
    y_true : ndarray of int or None
        True labels as 0/1 (1 = ``pos_label``); None for a loaded report.
    y_score : ndarray of float or None
        Probability of ``pos_label`` per sample; None for a loaded report.
    """

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

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-serialisable dict.

        ``y_true`` and ``y_score`` are left out; NaN metrics become None.

        Returns
        -------
        dict
            Keys: the metric names, ``confusion_matrix``, ``threshold``,
            ``n_samples``, ``class_counts``, ``pos_label``, ``neg_label``,
            ``notes``, ``confidence_intervals`` (metric name to ``[low, high]``
            or None), ``confidence``, ``n_bootstrap``, ``bootstrap_unit``,
            ``interval_methods``, ``brier_score``, ``ece``, ``reliability``,
            ``groups_source`` and ``n_groups``.
        """
        data: dict[str, Any] = {
            name: _nan_to_none(getattr(self, name)) for name, _ in (*_METRICS, *_CALIBRATION_METRICS)
        }
        data.update(
            confusion_matrix=[[int(v) for v in row] for row in self.confusion_matrix],
            threshold=float(self.threshold),
            n_samples=int(self.n_samples),
            class_counts={str(k): int(v) for k, v in self.class_counts.items()},
            pos_label=as_builtin(self.pos_label),
            neg_label=as_builtin(self.neg_label),
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
            reports load with their defaults (NaN, None or empty).

        Raises
        ------
        ValueError
            If a required key is missing or the confusion matrix is not 2x2.
        """
        missing = [key for key in _REQUIRED_KEYS if key not in data]
        if missing:
            raise ValueError(f"Evaluation report data lacks the keys {missing}.")
        matrix = [[int(v) for v in row] for row in data["confusion_matrix"]]
        if len(matrix) != 2 or any(len(row) != 2 for row in matrix):
            raise ValueError(
                f"confusion_matrix must be 2x2 [[tn, fp], [fn, tp]], got {matrix}."
            )
        metrics = {
            name: math.nan if data[name] is None else float(data[name])
            for name, _ in _METRICS
        }
        return cls(
            **metrics,
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
            **{
                name: math.nan if data.get(name) is None else float(data[name])
                for name, _ in _CALIBRATION_METRICS
            },
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
        path = Path(folder) / _JSON_NAME
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def summary(self) -> str:
        """Return a readable multi-line text summary.

        Returns
        -------
        str
            Metrics with their intervals and how each interval was made, the
            patients behind them, class counts, the labelled confusion matrix,
            the reliability bins and notes.
        """
        neg, pos = str(self.neg_label), str(self.pos_label)
        lines = [
            f"Evaluation report: {self.n_samples} samples, positive class {pos!r}, "
            f"predicted positive when P({pos}) >= {self.threshold:.4g}",
        ]
        metrics = (*_METRICS, *_CALIBRATION_METRICS)
        width = max(len(label) for _, label in metrics)
        lines += [
            f"  {label:<{width}}  {_format_metric(getattr(self, name))}{self._interval_text(name, '  ')}"
            for name, label in metrics
        ]
        if self.n_bootstrap:
            header, methods = self._interval_methods_text()
            lines += [header, *(f"  {method}" for method in methods)]
        if self.groups_source is not None:
            lines.append(self._groups_text())
        counts = ", ".join(f"{k}: {v}" for k, v in self.class_counts.items())
        lines.append(f"Class counts: {counts}")
        lines.append("Confusion matrix (rows: true class, columns: predicted class):")
        row_names = [f"true {neg}", f"true {pos}"]
        col_names = [f"pred {neg}", f"pred {pos}"]
        first = max(len(name) for name in row_names)
        cells = [
            max(len(col_names[j]), *(len(str(row[j])) for row in self.confusion_matrix))
            for j in range(2)
        ]
        lines.append(
            "  " + " " * first + "".join(f"  {c:>{w}}" for c, w in zip(col_names, cells))
        )
        for name, row in zip(row_names, self.confusion_matrix):
            lines.append(
                f"  {name:<{first}}" + "".join(f"  {v:>{w}}" for v, w in zip(row, cells))
            )
        if self.reliability is not None:
            head, rows = self._reliability_table()
            lines.append(f"Reliability ({len(rows)} equal-width bins of P({pos})):")
            widths = [max(len(row[j]) for row in (head, *rows)) for j in range(len(head))]
            lines += [
                "  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in (head, *rows)
            ]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _interval_text(self, name, prefix):
        if name not in self.confidence_intervals:
            return ""
        bounds = self.confidence_intervals[name]
        text = "n/a" if bounds is None else f"{bounds[0]:.4f} to {bounds[1]:.4f}"
        return f"{prefix}[{self.confidence * 100:g}% CI {text}]"

    def _interval_methods_text(self):
        """A header and one line per interval saying which method made it."""
        if not self.interval_methods:  # reports saved before Wilson intervals
            unit = "patients (groups)" if self.bootstrap_unit == "groups" else "samples"
            return (
                f"Confidence intervals: {self.confidence * 100:g}%, percentile bootstrap over "
                f"{self.n_bootstrap} resamples of {unit}.", []
            )
        labels = dict(_METRICS)
        return f"Confidence intervals ({self.confidence * 100:g}%):", [
            f"{labels.get(name, name)}: {method}" for name, method in self.interval_methods.items()
        ]

    def _groups_text(self):
        if self.groups_source == GROUPS_NONE:
            return "Patients (groups): none; samples treated as independent"
        how = "read from the file names" if self.groups_source == GROUPS_FROM_NAMES else "given"
        return f"Patients (groups): {self.n_groups}, {how}"

    def _reliability_table(self):
        """Header and rows of strings: bin range, count, mean predicted, observed fraction."""
        bins = self.reliability
        edges = bins["bin_edges"]
        rows = [
            (f"{low:g}-{high:g}", str(count), "-" if count == 0 else f"{predicted:.4f}",
             "-" if count == 0 else f"{observed:.4f}")
            for low, high, count, predicted, observed in zip(
                edges[:-1], edges[1:], bins["count"], bins["mean_predicted"], bins["fraction_positive"]
            )
        ]
        return ("P range", "samples", "mean predicted", "observed positive"), rows

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
        has_scores = self.y_score is not None and self.y_true is not None
        files = {
            _JSON_NAME: (
                json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
            ).encode("utf-8"),
            _MARKDOWN_NAME: self._markdown(has_scores).encode("utf-8"),
            _CM_NAME: _figure_to_png(self._confusion_matrix_figure()),
        }
        if self.reliability is not None:
            files[_RELIABILITY_NAME] = _figure_to_png(self._reliability_figure())
        if has_scores:
            files[_ROC_NAME] = _figure_to_png(self._roc_figure())
            files[_PR_NAME] = _figure_to_png(self._pr_figure())
        return write_files_atomically(folder, files, "the evaluation report")

    def _markdown(self, has_scores: bool) -> str:
        neg, pos = _md_escape(self.neg_label), _md_escape(self.pos_label)
        counts = ", ".join(f"{_md_escape(k)}: {v}" for k, v in self.class_counts.items())
        (tn, fp), (fn, tp) = self.confusion_matrix
        lines = [
            "# Evaluation report",
            "",
            f"- Samples: {self.n_samples} ({counts})",
            *([f"- {self._groups_text()}"] if self.groups_source is not None else []),
            f"- Positive class: `{pos}`",
            f"- Decision threshold: predicted `{pos}` when P({pos}) >= {self.threshold:.4g}",
        ]
        if self.n_bootstrap:
            header, methods = self._interval_methods_text()
            lines += [f"- {header}", *(f"  - {method}" for method in methods)]
        lines += [
            "",
            "## Metrics",
            "",
            "| Metric | Value |",
            "|---|---:|",
            *(f"| {label} | {_format_metric(getattr(self, name))}{self._interval_text(name, ' ')} |"
              for name, label in (*_METRICS, *_CALIBRATION_METRICS)),
            "",
            "## Confusion matrix",
            "",
            f"| | Predicted {neg} | Predicted {pos} |",
            "|---|---:|---:|",
            f"| **True {neg}** | {tn} | {fp} |",
            f"| **True {pos}** | {fn} | {tp} |",
            "",
        ]
        if self.reliability is not None:
            head, rows = self._reliability_table()
            lines += [
                "## Calibration",
                "",
                f"Observed fraction of `{pos}` among the samples of each P({pos}) bin; a calibrated "
                "model has it close to the mean predicted probability.",
                "",
                "| " + " | ".join(head) + " |",
                "|---|---:|---:|---:|",
                *("| " + " | ".join(row) + " |" for row in rows),
                "",
            ]
        lines += ["## Figures", ""]
        if has_scores:
            lines += [f"![ROC curve]({_ROC_NAME})", "", f"![Precision-recall curve]({_PR_NAME})", ""]
        else:
            lines += ["ROC and precision-recall curves not available: the report holds no scores.", ""]
        if self.reliability is not None:
            lines += [f"![Reliability diagram]({_RELIABILITY_NAME})", ""]
        lines += [f"![Confusion matrix]({_CM_NAME})", ""]
        if self.notes:
            lines += ["## Notes", "", *(f"- {note}" for note in self.notes), ""]
        return "\n".join(lines)

    def _roc_figure(self):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.5, 5.5), layout="constrained")
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Chance (AUC = 0.5)")
        if math.isnan(self.roc_auc):
            ax.text(0.5, 0.6, "ROC curve undefined:\nonly one class in y", ha="center")
        else:
            fpr, tpr, _ = roc_curve(self.y_true, self.y_score)
            ax.plot(fpr, tpr, linewidth=2, label=f"ROC curve (AUC = {self.roc_auc:.3f})")
            # The operating point follows from the confusion matrix because
            # roc_curve uses the same "score >= threshold" convention.
            (tn, fp), (fn, tp) = self.confusion_matrix
            self._mark_operating_point(ax, fp / (fp + tn), tp / (tp + fn),
                                       f"sensitivity {self.recall:.3f}, specificity {self.specificity:.3f}")
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.02),
            xlabel="False positive rate (1 - specificity)",
            ylabel="True positive rate (sensitivity)",
            title=f"ROC curve, positive class: {self.pos_label}",
        )
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize="small")
        return fig

    def _mark_operating_point(self, ax, x, y, rates):
        """The point of a curve where the decision threshold sits, as a red dot."""
        ax.plot(x, y, marker="o", markersize=9, linestyle="none", color="tab:red",
                label=f"Threshold {self.threshold:.3g} ({rates})")

    def _pr_figure(self):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.5, 5.5), layout="constrained")
        ax = fig.add_subplot()
        prevalence = float(np.mean(self.y_true))
        ax.axhline(prevalence, linestyle="--", color="grey",
                   label=f"Chance (precision = prevalence {prevalence:.3f})")
        if math.isnan(self.average_precision):
            ax.text(0.5, 0.5, "Precision-recall curve undefined:\nonly one class in y", ha="center")
        else:
            precision, recall, _ = precision_recall_curve(self.y_true, self.y_score)
            ax.plot(recall, precision, drawstyle="steps-post", linewidth=2,
                    label=f"PR curve (average precision = {self.average_precision:.3f})")
            (tn, fp), (fn, tp) = self.confusion_matrix
            if tp + fp:  # precision is undefined without a predicted positive
                self._mark_operating_point(ax, self.recall, self.precision,
                                           f"recall {self.recall:.3f}, precision {self.precision:.3f}")
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.02),
            xlabel="Recall (sensitivity)",
            ylabel="Precision (positive predictive value)",
            title=f"Precision-recall curve, positive class: {self.pos_label}\n"
                  f"average precision {_format_metric(self.average_precision)}",
        )
        ax.set_aspect("equal")
        ax.legend(loc="lower left", fontsize="small")
        return fig

    def _reliability_figure(self):
        from matplotlib.figure import Figure

        bins = self.reliability
        edges = np.asarray(bins["bin_edges"])
        count = np.asarray(bins["count"])
        filled = count > 0
        predicted = np.asarray([np.nan if v is None else v for v in bins["mean_predicted"]])
        observed = np.asarray([np.nan if v is None else v for v in bins["fraction_positive"]])

        fig = Figure(figsize=(5.5, 6.5), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Perfectly calibrated")
        top.plot(predicted[filled], observed[filled], marker="o", linewidth=2,
                 label=f"Model (ECE = {_format_metric(self.ece)})")
        top.set(
            xlim=(0, 1),
            ylim=(-0.02, 1.02),
            ylabel=f"Observed fraction of {self.pos_label}",
            title=f"Reliability diagram, {len(count)} bins of P({self.pos_label})",
        )
        top.legend(loc="upper left", fontsize="small")
        # Bin counts: a point resting on 3 films says little, one on 300 a lot.
        bottom.bar(edges[:-1], count, width=np.diff(edges), align="edge", color="tab:blue",
                   alpha=0.6, edgecolor="white")
        for left, width, n in zip(edges[:-1], np.diff(edges), count):
            if n:
                bottom.text(left + width / 2, n, str(n), ha="center", va="bottom", fontsize="x-small")
        bottom.set(
            xlabel=f"Predicted P({self.pos_label})",
            ylabel="Samples",
            ylim=(0, max(1, count.max()) * 1.25),
        )
        return fig

    def _confusion_matrix_figure(self):
        from matplotlib.figure import Figure

        matrix = np.asarray(self.confusion_matrix)
        labels = [str(self.neg_label), str(self.pos_label)]
        fig = Figure(figsize=(5, 4.4), layout="constrained")
        ax = fig.add_subplot()
        image = ax.imshow(matrix, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax)
        ax.set_xticks([0, 1], labels=labels)
        ax.set_yticks([0, 1], labels=labels)
        ax.set(
            xlabel="Predicted label",
            ylabel="True label",
            title=f"Confusion matrix (threshold {self.threshold:.3g})",
        )
        for (i, j), count in np.ndenumerate(matrix):
            dark = count > matrix.max() / 2
            ax.text(j, i, str(count), ha="center", va="center", fontsize=14,
                    color="white" if dark else "black")
        return fig


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
        True labels, all of them members of ``estimator.classes_``. A single
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
        names when ``X`` holds file paths (see
        :func:`skpneumo.datasets.patient_id`); a file whose name holds no
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
    :func:`skpneumo.intervals.rate_intervals`). That assumes a patient's films
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
    classes = list(classes)
    if len(classes) != 2:
        raise ValueError(
            f"evaluate supports binary classifiers only; classes_ is {classes}."
        )

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
    notes = []
    groups, groups_source = _resolve_groups(X, groups, n_samples, notes)

    pos_index = positive_index(classes, pos_label)
    pos, neg = as_builtin(classes[pos_index]), as_builtin(classes[1 - pos_index])
    threshold = _resolve_threshold(estimator, threshold, classes[pos_index])

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
    y_true = is_pos[inverse.ravel()].astype(int)

    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    if proba.shape != (n_samples, 2):
        raise ValueError(
            f"predict_proba returned shape {proba.shape}; expected ({n_samples}, 2)."
        )
    y_score = proba[:, pos_index]
    if not np.all(np.isfinite(y_score)) or y_score.min() < 0 or y_score.max() > 1:
        raise ValueError(
            f"predict_proba returned values outside [0, 1] for class {pos!r}; "
            "expected probabilities."
        )

    y_pred = (y_score >= threshold).astype(int)
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist()
    n_pos = tp + fn
    n_neg = tn + fp

    if n_pos and n_neg:
        roc_auc = float(roc_auc_score(y_true, y_score))
        average_precision = float(average_precision_score(y_true, y_score))
    else:
        roc_auc = average_precision = math.nan
        present = pos if n_pos else neg
        notes.append(
            f"y holds only class {present!r}: ROC AUC and average precision are undefined."
        )
    if not n_pos:
        notes.append(f"No {pos!r} samples: recall (sensitivity) is undefined, reported as 0.")
    if not n_neg:
        notes.append(f"No {neg!r} samples: specificity is undefined, reported as 0.")
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
        class_counts={str(neg): n_neg, str(pos): n_pos},
        pos_label=pos,
        neg_label=neg,
        notes=tuple(notes),
        confidence_intervals=intervals,
        confidence=confidence if n_bootstrap else None,
        n_bootstrap=n_bootstrap,
        bootstrap_unit=("samples" if groups is None else "groups") if n_bootstrap else None,
        interval_methods=methods,
        brier_score=float(np.mean((y_score - y_true) ** 2)),
        ece=expected_calibration_error(y_true, y_score, N_CALIBRATION_BINS),
        reliability=reliability,
        groups_source=groups_source,
        n_groups=None if groups is None else len(np.unique(groups)),
        y_true=y_true,
        y_score=y_score,
    )


def _resolve_groups(X, groups, n_samples, notes):
    """Return ``(groups or None, groups_source)``, appending caveats to ``notes``."""
    if groups is None:
        return None, GROUPS_NONE
    if isinstance(groups, str):
        if groups != "auto":
            raise ValueError(f"groups must be 'auto', None or one value per sample; got {groups!r}.")
        paths = _file_paths(X)
        if paths is None:
            return None, GROUPS_NONE
        # Imported here: datasets pulls in OpenCV, which evaluation needs for nothing else.


        groups, n_unparsed = patient_groups(paths, stacklevel=3)
        if n_unparsed == len(paths):
            notes.append("No file name holds a patient id: samples are treated as independent.")
            return None, GROUPS_NONE
        if n_unparsed:
            notes.append(
                f"{n_unparsed} of {len(paths)} file names hold no patient id; each of those "
                "files counts as its own patient."
            )
        return groups, GROUPS_FROM_NAMES
    groups = column_or_1d(groups)
    if len(groups) != n_samples:
        raise ValueError(f"groups holds {len(groups)} values for {n_samples} samples.")
    return groups, GROUPS_GIVEN


def _file_paths(X):
    """The items of ``X`` if all are file paths (str or path-like), else None."""
    if isinstance(X, (str, bytes)) or getattr(X, "ndim", 1) != 1:
        return None
    items = list(X)
    return items if all(isinstance(item, (str, os.PathLike)) for item in items) else None


def _resolve_threshold(estimator, threshold, positive):
    source = "threshold"
    if threshold is None:
        steps = getattr(estimator, "steps", None)
        final_step = steps[-1][1] if steps else estimator
        # A skpneumo classifier's threshold, or a scikit-learn threshold wrapper's
        # (FixedThresholdClassifier.threshold, TunedThresholdClassifierCV.best_threshold_).
        name = "threshold" if hasattr(final_step, "threshold") else "best_threshold_"
        threshold = getattr(final_step, name, None)
        source = f"{type(final_step).__name__}.{name}"
        if threshold is None or (isinstance(threshold, str) and threshold == "auto"):
            return DEFAULT_THRESHOLD
        if isinstance(final_step, (FixedThresholdClassifier, TunedThresholdClassifierCV)):
            # These threshold their pos_label, else classes_[1]: refuse one that is not
            # the report's positive class rather than score the wrong column.
            wrapped = getattr(final_step, "pos_label", None)
            wrapped = final_step.classes_[1] if wrapped is None else wrapped
            if wrapped != positive:
                raise ValueError(
                    f"{source} applies to P({as_builtin(wrapped)}) but the report's positive "
                    f"class is {as_builtin(positive)!r}; pass threshold= on that probability."
                )
    if not is_real(threshold, 0, 1, high_inclusive=True):
        raise ValueError(f"{source} must be a number in [0, 1]; got {threshold!r}.")
    return float(threshold)


def _nan_to_none(value):
    value = float(value)
    return None if math.isnan(value) else value


def _format_metric(value):
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _md_escape(value):
    return str(value).replace("|", "\\|")


def _figure_to_png(fig) -> bytes:
    # An explicit Agg canvas renders without touching pyplot or the backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()

"""Showing an evaluation report: text summary, Markdown, and figures as PNG bytes.

Every function takes an :class:`~skpneumo.evaluation.EvaluationReport` and only reads
it (duck-typed: this module does not import :mod:`~skpneumo.evaluation.report`,
which calls it). The metric rows, their labels and their order come from
``EvaluationReport.METRICS`` in ``report.py``, the one list of metrics; what is here
is how a row, a table or a figure looks. :meth:`EvaluationReport.save
<skpneumo.evaluation.EvaluationReport.save>` writes what :func:`files` returns next to
``report.json``.

Figures are drawn on an explicit Agg canvas, so rendering never touches pyplot or the
caller's matplotlib backend; matplotlib is imported only when a figure is drawn.
"""

import math
from io import BytesIO

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

__all__ = [
    "confusion_matrix_figure",
    "figure_to_png",
    "files",
    "markdown",
    "pr_figure",
    "reliability_figure",
    "roc_figure",
    "summary",
]

MARKDOWN_NAME = "report.md"
ROC_NAME = "roc_curve.png"
PR_NAME = "pr_curve.png"
RELIABILITY_NAME = "reliability.png"
CM_NAME = "confusion_matrix.png"


def files(report):
    """The rendered files of a report: name -> content, everything but ``report.json``.

    ``report.md`` and ``confusion_matrix.png`` always; ``reliability.png`` when the
    report holds its bins; ``roc_curve.png`` and ``pr_curve.png`` when it holds the
    scores (not a loaded report).

    Parameters
    ----------
    report : EvaluationReport

    Returns
    -------
    dict of str to bytes
    """
    out = {
        MARKDOWN_NAME: markdown(report).encode("utf-8"),
        CM_NAME: figure_to_png(confusion_matrix_figure(report)),
    }
    if report.reliability is not None:
        out[RELIABILITY_NAME] = figure_to_png(reliability_figure(report))
    if _has_scores(report):
        out[ROC_NAME] = figure_to_png(roc_figure(report))
        out[PR_NAME] = figure_to_png(pr_figure(report))
    return out


def summary(report):
    """A readable multi-line text summary of ``report`` (``str(report)``).

    Parameters
    ----------
    report : EvaluationReport

    Returns
    -------
    str
        Metrics with their intervals and how each interval was made, the patients
        behind them, class counts, the labelled confusion matrix, the reliability
        bins and notes.
    """
    neg, pos = report.neg_name, report.pos_name
    lines = [
        f"Evaluation report: {report.n_samples} samples, positive class {pos!r}, "
        f"predicted positive when P({pos}) >= {report.threshold:.4g}",
    ]
    width = max(len(label) for _, label in report.METRICS)
    lines += [
        f"  {label:<{width}}  {_format_metric(getattr(report, name))}{_interval_text(report, name, '  ')}"
        for name, label in report.METRICS
    ]
    if report.n_bootstrap:
        header, methods = _interval_methods_text(report)
        lines += [header, *(f"  {method}" for method in methods)]
    if report.groups_source is not None:
        lines.append(_groups_text(report))
    counts = ", ".join(f"{k}: {v}" for k, v in report.class_counts.items())
    lines.append(f"Class counts: {counts}")
    lines.append("Confusion matrix (rows: true class, columns: predicted class):")
    row_names = [f"true {neg}", f"true {pos}"]
    col_names = [f"pred {neg}", f"pred {pos}"]
    first = max(len(name) for name in row_names)
    cells = [
        max(len(col_names[j]), *(len(str(row[j])) for row in report.confusion_matrix))
        for j in range(2)
    ]
    lines.append("  " + " " * first + "".join(f"  {c:>{w}}" for c, w in zip(col_names, cells)))
    for name, row in zip(row_names, report.confusion_matrix):
        lines.append(f"  {name:<{first}}" + "".join(f"  {v:>{w}}" for v, w in zip(row, cells)))
    if report.reliability is not None:
        head, rows = _reliability_table(report)
        lines.append(f"Reliability ({len(rows)} equal-width bins of P({pos})):")
        widths = [max(len(row[j]) for row in (head, *rows)) for j in range(len(head))]
        lines += ["  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in (head, *rows)]
    lines += [f"Note: {note}" for note in report.notes]
    return "\n".join(lines)


def markdown(report):
    """``report.md``: the summary as Markdown tables, linking the figures of :func:`files`.

    Parameters
    ----------
    report : EvaluationReport

    Returns
    -------
    str
        The Markdown text; label cells have ``|`` escaped.
    """
    neg, pos = _md_escape(report.neg_name), _md_escape(report.pos_name)
    counts = ", ".join(f"{_md_escape(k)}: {v}" for k, v in report.class_counts.items())
    (tn, fp), (fn, tp) = report.confusion_matrix
    lines = [
        "# Evaluation report",
        "",
        f"- Samples: {report.n_samples} ({counts})",
        *([f"- {_groups_text(report)}"] if report.groups_source is not None else []),
        f"- Positive class: `{pos}`",
        f"- Decision threshold: predicted `{pos}` when P({pos}) >= {report.threshold:.4g}",
    ]
    if report.n_bootstrap:
        header, methods = _interval_methods_text(report)
        lines += [f"- {header}", *(f"  - {method}" for method in methods)]
    lines += [
        "",
        "## Metrics",
        "",
        "| Metric | Value |",
        "|---|---:|",
        *(f"| {label} | {_format_metric(getattr(report, name))}{_interval_text(report, name, ' ')} |"
          for name, label in report.METRICS),
        "",
        "## Confusion matrix",
        "",
        f"| | Predicted {neg} | Predicted {pos} |",
        "|---|---:|---:|",
        f"| **True {neg}** | {tn} | {fp} |",
        f"| **True {pos}** | {fn} | {tp} |",
        "",
    ]
    if report.reliability is not None:
        head, rows = _reliability_table(report)
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
    if _has_scores(report):
        lines += [f"![ROC curve]({ROC_NAME})", "", f"![Precision-recall curve]({PR_NAME})", ""]
    else:
        lines += ["ROC and precision-recall curves not available: the report holds no scores.", ""]
    if report.reliability is not None:
        lines += [f"![Reliability diagram]({RELIABILITY_NAME})", ""]
    lines += [f"![Confusion matrix]({CM_NAME})", ""]
    if report.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in report.notes), ""]
    return "\n".join(lines)


def roc_figure(report):
    """The ROC curve with the operating point, as a matplotlib Figure (needs the scores).

    Parameters
    ----------
    report : EvaluationReport
        Holding ``y_true`` and ``y_score``. With a single class in ``y_true`` the figure
        says the curve is undefined.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _curve_figure()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Chance (AUC = 0.5)")
    if math.isnan(report.roc_auc):
        ax.text(0.5, 0.6, "ROC curve undefined:\nonly one class in y", ha="center")
    else:
        fpr, tpr, _ = roc_curve(report.y_true, report.y_score)
        ax.plot(fpr, tpr, linewidth=2, label=f"ROC curve (AUC = {report.roc_auc:.3f})")
        # The operating point follows from the confusion matrix because
        # roc_curve uses the same "score >= threshold" convention.
        (tn, fp), (fn, tp) = report.confusion_matrix
        _mark_operating_point(ax, report, fp / (fp + tn), tp / (tp + fn),
                              f"sensitivity {report.recall:.3f}, specificity {report.specificity:.3f}")
    _curve_axes(ax, "False positive rate (1 - specificity)", "True positive rate (sensitivity)",
                f"ROC curve, positive class: {report.pos_name}", legend="lower right")
    return fig


def pr_figure(report):
    """The precision-recall curve with the operating point, as a Figure (needs the scores).

    The operating point is left out when nothing is predicted positive (precision undefined).

    Parameters
    ----------
    report : EvaluationReport
        Holding ``y_true`` and ``y_score``. With a single class in ``y_true`` the figure
        says the curve is undefined.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _curve_figure()
    prevalence = float(np.mean(report.y_true))
    ax.axhline(prevalence, linestyle="--", color="grey",
               label=f"Chance (precision = prevalence {prevalence:.3f})")
    if math.isnan(report.average_precision):
        ax.text(0.5, 0.5, "Precision-recall curve undefined:\nonly one class in y", ha="center")
    else:
        precision, recall, _ = precision_recall_curve(report.y_true, report.y_score)
        ax.plot(recall, precision, drawstyle="steps-post", linewidth=2,
                label=f"PR curve (average precision = {report.average_precision:.3f})")
        (tn, fp), (fn, tp) = report.confusion_matrix
        if tp + fp:  # precision is undefined without a predicted positive
            _mark_operating_point(ax, report, report.recall, report.precision,
                                  f"recall {report.recall:.3f}, precision {report.precision:.3f}")
    _curve_axes(ax, "Recall (sensitivity)", "Precision (positive predictive value)",
                f"Precision-recall curve, positive class: {report.pos_name}\n"
                f"average precision {_format_metric(report.average_precision)}", legend="lower left")
    return fig


def reliability_figure(report):
    """The reliability diagram over the bins kept in ``report.reliability``, with bin counts.

    Parameters
    ----------
    report : EvaluationReport
        With ``reliability`` not None.

    Returns
    -------
    matplotlib.figure.Figure
        Observed fraction against mean predicted probability of the non-empty bins
        above, the number of samples per bin below.
    """
    from matplotlib.figure import Figure

    bins = report.reliability
    edges = np.asarray(bins["bin_edges"])
    count = np.asarray(bins["count"])
    filled = count > 0
    predicted = np.asarray([np.nan if v is None else v for v in bins["mean_predicted"]])
    observed = np.asarray([np.nan if v is None else v for v in bins["fraction_positive"]])

    fig = Figure(figsize=(5.5, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Perfectly calibrated")
    top.plot(predicted[filled], observed[filled], marker="o", linewidth=2,
             label=f"Model (ECE = {_format_metric(report.ece)})")
    top.set(
        xlim=(0, 1),
        ylim=(-0.02, 1.02),
        ylabel=f"Observed fraction of {report.pos_name}",
        title=f"Reliability diagram, {len(count)} bins of P({report.pos_name})",
    )
    top.legend(loc="upper left", fontsize="small")
    # Bin counts: a point resting on 3 films says little, one on 300 a lot.
    bottom.bar(edges[:-1], count, width=np.diff(edges), align="edge", color="tab:blue",
               alpha=0.6, edgecolor="white")
    for left, width, n in zip(edges[:-1], np.diff(edges), count):
        if n:
            bottom.text(left + width / 2, n, str(n), ha="center", va="bottom", fontsize="x-small")
    bottom.set(
        xlabel=f"Predicted P({report.pos_name})",
        ylabel="Samples",
        ylim=(0, max(1, count.max()) * 1.25),
    )
    return fig


def confusion_matrix_figure(report):
    """The labelled confusion matrix at the report's threshold, as a Figure.

    Parameters
    ----------
    report : EvaluationReport

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    matrix = np.asarray(report.confusion_matrix)
    labels = [report.neg_name, report.pos_name]
    fig = Figure(figsize=(5, 4.4), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax)
    ax.set_xticks([0, 1], labels=labels)
    ax.set_yticks([0, 1], labels=labels)
    ax.set(
        xlabel="Predicted label",
        ylabel="True label",
        title=f"Confusion matrix (threshold {report.threshold:.3g})",
    )
    for (i, j), count in np.ndenumerate(matrix):
        dark = count > matrix.max() / 2
        ax.text(j, i, str(count), ha="center", va="center", fontsize=14,
                color="white" if dark else "black")
    return fig


def figure_to_png(fig):
    """PNG bytes of a matplotlib Figure, drawn on an Agg canvas (pyplot and the backend untouched).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Attached to a new Agg canvas.

    Returns
    -------
    bytes
        The PNG image at 120 dpi.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def _has_scores(report):
    return report.y_score is not None and report.y_true is not None


def _curve_figure():
    """A square figure with one axes, for the ROC and precision-recall curves."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5.5), layout="constrained")
    return fig, fig.add_subplot()


def _mark_operating_point(ax, report, x, y, rates):
    """The point of a curve where the decision threshold sits, as a red dot."""
    ax.plot(x, y, marker="o", markersize=9, linestyle="none", color="tab:red",
            label=f"Threshold {report.threshold:.3g} ({rates})")


def _curve_axes(ax, xlabel, ylabel, title, legend):
    """The square unit axes of a ROC or precision-recall curve, labelled, with a legend."""
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel, title=title)
    ax.set_aspect("equal")
    ax.legend(loc=legend, fontsize="small")


def _interval_text(report, name, prefix):
    if name not in report.confidence_intervals:
        return ""
    bounds = report.confidence_intervals[name]
    text = "n/a" if bounds is None else f"{bounds[0]:.4f} to {bounds[1]:.4f}"
    return f"{prefix}[{report.confidence * 100:g}% CI {text}]"


def _interval_methods_text(report):
    """A header and one line per interval saying which method made it."""
    if not report.interval_methods:  # reports saved before Wilson intervals
        unit = "patients (groups)" if report.bootstrap_unit == "groups" else "samples"
        return (
            f"Confidence intervals: {report.confidence * 100:g}%, percentile bootstrap over "
            f"{report.n_bootstrap} resamples of {unit}.", []
        )
    labels = dict(report.METRICS)
    return f"Confidence intervals ({report.confidence * 100:g}%):", [
        f"{labels.get(name, name)}: {method}" for name, method in report.interval_methods.items()
    ]


def _groups_text(report):
    if report.groups_source == report.GROUPS_NONE:
        return "Patients (groups): none; samples treated as independent"
    how = "read from the file names" if report.groups_source == report.GROUPS_FROM_NAMES else "given"
    return f"Patients (groups): {report.n_groups}, {how}"


def _reliability_table(report):
    """Header and rows of strings: bin range, count, mean predicted, observed fraction."""
    bins = report.reliability
    edges = bins["bin_edges"]
    rows = [
        (f"{low:g}-{high:g}", str(count), "-" if count == 0 else f"{predicted:.4f}",
         "-" if count == 0 else f"{observed:.4f}")
        for low, high, count, predicted, observed in zip(
            edges[:-1], edges[1:], bins["count"], bins["mean_predicted"], bins["fraction_positive"]
        )
    ]
    return ("P range", "samples", "mean predicted", "observed positive"), rows


def _format_metric(value):
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _md_escape(value):
    return str(value).replace("|", "\\|")

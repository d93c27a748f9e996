"""Model cards: what a model is, what it learned from, how it was validated, where it stops.

:func:`~skpneumo.fit_model` records a card on the pipeline it returns (``model_card_``):
the recipe, the training and validation films (counts per class, patients, a SHA-256 of
the sorted file names, so that anyone can check which films they were), the validation
metrics with intervals over patients, and the threshold with the rule that chose it.
:func:`~skpneumo.save_model` writes it into a model folder as ``model_card.json`` and a
readable ``MODEL_CARD.md``, completed with the library versions and the date; a pipeline
fitted some other way gets a card that says what is not known about it.
"""

import hashlib
import json
import math
import os
from datetime import datetime, timezone

import numpy as np

from ..utils.labels import as_builtin, class_name
from ..utils.pipelines import final_step

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "MODEL_CARD.md"
CARD_FORMAT = "skpneumo-model-card"

INTENDED_USE = (
    "Research, teaching and method development on frontal chest X-rays: ranking films by the "
    "probability of pneumonia, and a starting point to adapt and validate on local films. "
    "Not a medical device: not for diagnosis or triage of patients."
)
LIMITATIONS = (
    "Learned from the films listed under training data only; films from other hospitals, machines, "
    "age groups or projections (lateral, portable AP) can score differently: validate on local "
    "patients before relying on any number here.",
    "The validation metrics come from patients held out of the same collection, which flatters: new "
    "patients of the pediatric data set's official test split scored lower than validation patients "
    "with every skpneumo recipe (ROC AUC 0.94-0.99 against 0.99-1.00, docs/benchmarks.md).",
    "Two classes only (NORMAL, PNEUMONIA): other findings are not recognised and may be called either.",
)


def describe_films(paths, labels, groups=None):
    """Counts and a fingerprint of a set of training or validation films.

    Parameters
    ----------
    paths : sequence of path-like or None
        The files; None when the images were given as arrays (no names to list).
    labels : array-like of shape (n,)
        Their labels.
    groups : array-like of shape (n,) or None, default=None
        The patient of each film.

    Returns
    -------
    dict
        ``n_images``, ``class_counts`` (keyed by class name,
        :func:`~skpneumo.utils.labels.class_name`: NORMAL and PNEUMONIA for 0 and 1),
        ``n_patients`` (None without groups) and
        ``file_names_sha256``: the SHA-256 of the sorted base names joined by
        newlines (UTF-8), None without paths.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    digest = None
    if paths is not None:
        names = sorted(os.path.basename(os.fspath(p)) for p in paths)
        digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()
    return {
        "n_images": int(len(labels)),
        "class_counts": {class_name(c): int(n) for c, n in zip(classes, counts)},
        "n_patients": None if groups is None else int(len(np.unique(np.asarray(groups)))),
        "file_names_sha256": digest,
    }


def _finite(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def validation_metrics(report):
    """The card's summary of an :class:`~skpneumo.evaluation.EvaluationReport`."""
    intervals = report.confidence_intervals or {}
    metrics = {}
    for name in ("roc_auc", "average_precision", "recall", "specificity", "precision", "accuracy"):
        interval = intervals.get(name)
        metrics[name] = {"value": _finite(float(getattr(report, name))),
                         "interval": None if interval is None else [float(v) for v in interval]}
    return {"metrics": metrics, "threshold": float(report.threshold), "confidence": report.confidence,
            "interval_methods": dict(report.interval_methods or {}), "n_groups": report.n_groups}


def new_card(*, recipe, training, validation=None, threshold=None, trained_seconds=None):
    """The card :func:`~skpneumo.fit_model` records.

    Parameters
    ----------
    recipe : dict
        The :func:`~skpneumo.make_pipeline` keywords the model was built from.
    training : dict
        :func:`describe_films` of the films the network trained on.
    validation : dict or None
        :func:`describe_films` of the validation films plus ``report``:
        :func:`validation_metrics` at the stored threshold.
    threshold : dict or None
        ``value``, ``rule`` (how it was chosen) and, when chosen on validation
        films, their ``sensitivity`` and ``specificity``.
    trained_seconds : float or None
        Wall-clock time of the fit.

    Returns
    -------
    dict
    """
    return {
        "format": CARD_FORMAT,
        "format_version": 1,
        "trained": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "trained_seconds": None if trained_seconds is None else round(float(trained_seconds), 1),
        "recipe": {key: _recipe_value(value) for key, value in recipe.items()},
        "training_data": training,
        "validation": validation,
        "threshold": threshold,
        "intended_use": INTENDED_USE,
        "limitations": list(LIMITATIONS),
    }


def _recipe_value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_recipe_value(v) for v in value]
    return repr(value)


def complete_card(model, versions, *, name=None):
    """The card to save with ``model``: its recorded card, brought up to date.

    A pipeline not fitted by :func:`~skpneumo.fit_model` gets a card that says
    what is not known. The threshold is the one the model holds now; when it
    differs from the recorded one, the card says it was changed after training.

    Parameters
    ----------
    model : PneumoniaPipeline
        Fitted.
    versions : dict
        Library versions saving the model.
    name : str or None, default=None
        The model's name.

    Returns
    -------
    dict
    """
    clf = final_step(model)[1]
    card = dict(getattr(model, "model_card_", None) or {**new_card(recipe={}, training=None), "trained": None})
    card.update(name=name, saved=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
                versions=versions, classes=[as_builtin(c) for c in clf.classes_],
                phases=clf.phases_)
    recorded = card.get("threshold")
    if recorded is None:
        card["threshold"] = {"value": float(clf.threshold),
                             "rule": "not recorded (the model was not fitted by skpneumo.fit_model)"}
    elif not math.isclose(recorded["value"], float(clf.threshold)):
        card["threshold"] = {"value": float(clf.threshold),
                             "rule": f"set by hand after training (the recorded rule, {recorded['rule']}, "
                                     f"chose {recorded['value']:.4g})"}
    return card


_METRIC_LABELS = {"roc_auc": "ROC AUC", "average_precision": "Average precision", "recall": "Sensitivity",
                  "specificity": "Specificity", "precision": "Precision", "accuracy": "Accuracy"}


def new_patients_entry(name, description, report, paths, labels, groups):
    """A card's record of films of new patients scored once after training.

    Parameters
    ----------
    name : str
        What the films are, in a few words (``"test-dev"``).
    description : str
        Where they come from and what they may and may not have been used for.
    report : EvaluationReport
        Their report at the stored threshold.
    paths, labels, groups : array-like
        The films, their labels and patients.

    Returns
    -------
    dict
        For the card's ``new_patients`` list.
    """
    return {"name": name, "description": description, **describe_films(paths, labels, groups),
            "report": validation_metrics(report)}


def _metric_line(label, entry, digits=3):
    if entry is None or entry.get("value") is None:
        return f"| {label} | n/a | |"
    interval = entry.get("interval")
    shown = "" if interval is None else f"{interval[0]:.{digits}f} to {interval[1]:.{digits}f}"
    return f"| {label} | {entry['value']:.{digits}f} | {shown} |"


def _metrics_table(report, when):
    """A card report (:func:`validation_metrics`) as Markdown lines: its threshold, then its metrics."""
    confidence = int(round(100 * (report.get("confidence") or 0.95)))
    return [f"{when}, {report['threshold']:.4g} ({confidence}% intervals over patients):", "",
            "| Metric | Value | Interval |", "|---|---|---|",
            *(_metric_line(label, report["metrics"].get(key)) for key, label in _METRIC_LABELS.items())]


def _films_lines(films):
    counts = ", ".join(f"{name} {n}" for name, n in films["class_counts"].items())
    lines = [f"- {films['n_images']} films ({counts})"]
    if films.get("n_patients") is not None:
        lines.append(f"- {films['n_patients']} patients")
    if films.get("file_names_sha256"):
        lines.append(f"- SHA-256 of the sorted file names: `{films['file_names_sha256']}`")
    return lines


def _class_text(label):
    """A class as predicted, with its name when that differs: ``1 (PNEUMONIA)``."""
    name = class_name(label)
    return name if name == str(label) else f"{label} ({name})"


def render_card(card):
    """The card as Markdown (``MODEL_CARD.md``).

    Parameters
    ----------
    card : dict
        As :func:`complete_card` returns it.

    Returns
    -------
    str
    """
    title = card.get("name") or "skpneumo model"
    lines = [f"# Model card: {title}", ""]
    if card.get("summary"):
        lines += [card["summary"], ""]
    lines += ["## Intended use", "", card["intended_use"], "", "## Limits", ""]
    lines += [f"- {text}" for text in card["limitations"]] + [""]
    lines += ["## Recipe", ""]
    if card.get("recipe"):
        lines += ["`make_pipeline(" + ", ".join(f"{k}={v!r}" for k, v in card["recipe"].items()) + ")`", ""]
    else:
        lines += ["Not recorded (the model was not fitted by `skpneumo.fit_model` or `skpneumo fit`).", ""]
    for phase in card.get("phases") or ():
        lines.append(f"- phase {phase.get('phase')}: {phase.get('trained')}, "
                     f"learning rate {phase.get('learning_rate')}, {phase.get('epochs')} epochs")
    if card.get("trained_seconds") is not None:
        lines.append(f"- training time: {card['trained_seconds']:.0f} s")
    lines += ["", "## Training data", ""]
    if card.get("data_source"):
        lines += [card["data_source"], ""]
    lines += _films_lines(card["training_data"]) if card.get("training_data") else ["Not recorded."]
    lines += ["", "## Validation", ""]
    validation = card.get("validation")
    if validation:
        report = validation["report"]
        lines += _films_lines(validation)
        lines += ["- patients never trained on; early stopping watched them (and a threshold rule, "
                  "when there was one, chose on them), so the numbers are optimistic", ""]
        lines += _metrics_table(report, "At the threshold of training time")
    elif card.get("trained") is None:
        lines.append("Not recorded (the model was not fitted by `skpneumo.fit_model` or `skpneumo fit`).")
    else:
        lines.append("None: no films were held out, so nothing here says how well it works.")
    for entry in card.get("new_patients") or ():
        lines += ["", f"## New patients: {entry['name']}", "", entry["description"], ""]
        lines += _films_lines(entry)
        lines += [""] + _metrics_table(entry["report"], "At the stored threshold")
    threshold = card["threshold"]
    lines += ["", "## Decision threshold", "", f"{threshold['value']:.4g}: {threshold['rule']}."]
    if threshold.get("sensitivity") is not None:
        lines.append(f"On the validation films: sensitivity {threshold['sensitivity']:.3f}, "
                     f"specificity {threshold['specificity']:.3f}.")
    lines += ["", "## Provenance", "", f"- classes: {', '.join(map(_class_text, card.get('classes', [])))}",
              f"- trained: {card.get('trained') or 'unknown'}; saved: {card.get('saved')}"]
    if card.get("weights_dtype", "float32") != "float32":
        lines.append(f"- weights stored as {card['weights_dtype']} (computed in float32)")
    lines += [f"- {package} {number}" for package, number in (card.get("versions") or {}).items()]
    if card.get("citation"):
        lines += ["", "## Citation", "", card["citation"]]
    return "\n".join(lines) + "\n"


def card_files(card):
    """``{file name: text}`` of the card's two files."""
    return {CARD_JSON: json.dumps(card, indent=2) + "\n", CARD_MARKDOWN: render_card(card)}

"""Which class is positive: one rule for the classifier, evaluation and thresholds."""

import numpy as np

DEFAULT_POS_LABEL = "PNEUMONIA"


def find_label(classes, label):
    """Index of ``label`` in ``classes`` by equality, or None."""
    # Python-level equality: numpy elementwise comparison between string and
    # integer arrays is unreliable across versions.
    for index, candidate in enumerate(classes):
        if candidate == label:
            return index
    return None


def positive_index(classes, pos_label=None):
    """Index of the positive class in ``classes``.

    ``pos_label`` when given; otherwise ``"PNEUMONIA"`` if it is a class, else ``1``
    (or ``True``), else the second class. Raises ValueError for a ``pos_label`` that
    is not a class.
    """
    if pos_label is not None:
        index = find_label(classes, pos_label)
        if index is None:
            shown = [c.item() if hasattr(c, "item") else c for c in classes]
            raise ValueError(f"pos_label={pos_label!r} is not one of the classes {shown}.")
        return index
    for default in (DEFAULT_POS_LABEL, 1):
        index = find_label(classes, default)
        if index is not None:
            return index
    return 1


def as_builtin(label):
    """A numpy scalar label as the matching Python value (for JSON and messages)."""
    return label.item() if isinstance(label, np.generic) else label

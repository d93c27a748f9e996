"""Which class is positive: one rule for the classifier, evaluation and thresholds."""

import numpy as np

DEFAULT_POS_LABEL = "PNEUMONIA"


def find_label(classes, label):
    """Index of ``label`` in ``classes`` by equality, or None.

    Parameters
    ----------
    classes : sequence
        The class labels, e.g. an estimator's ``classes_``.
    label : object
        The label to look for.

    Returns
    -------
    int or None
        Index of the first class equal to ``label``; None when there is none.
    """
    # Python-level equality: numpy elementwise comparison between string and
    # integer arrays is unreliable across versions.
    for index, candidate in enumerate(classes):
        if candidate == label:
            return index
    return None


def positive_index(classes, pos_label=None):
    """Index of the positive class in ``classes``.

    ``pos_label`` when given; otherwise ``"PNEUMONIA"`` if it is a class, else ``1``
    (or ``True``), else the second class.

    Parameters
    ----------
    classes : sequence
        The two class labels, e.g. an estimator's ``classes_``.
    pos_label : object or None, default=None
        The positive class; None applies the defaults above.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``pos_label`` is given and is not one of ``classes``.
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
    """A numpy scalar label as the matching Python value (for JSON and messages).

    Parameters
    ----------
    label : object
        A class label.

    Returns
    -------
    object
        ``label.item()`` for a numpy scalar, else ``label`` unchanged.
    """
    return label.item() if isinstance(label, np.generic) else label

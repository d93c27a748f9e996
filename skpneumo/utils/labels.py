"""Which class is positive, and the name shown for each class: one rule for the whole library."""

import numpy as np

#: The two classes by name; the integer target of the data-set loaders is the index here.
CLASS_NAMES = ("NORMAL", "PNEUMONIA")
DEFAULT_POS_LABEL = CLASS_NAMES[1]


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


def class_name(label):
    """The name shown for a class in reports, model cards and the command line.

    The integers 0 and 1, the ``target`` of the data-set loaders, are shown as
    ``"NORMAL"`` and ``"PNEUMONIA"``; any other label (strings, booleans, other
    numbers) as ``str(label)``. Only the display changes: a model trained on 0/1
    still predicts 0/1.

    Parameters
    ----------
    label : object
        A class label, e.g. an item of an estimator's ``classes_``.

    Returns
    -------
    str
    """
    label = as_builtin(label)
    # bool is an int subclass, but True/False read well as they are.
    if isinstance(label, int) and not isinstance(label, bool) and label in (0, 1):
        return CLASS_NAMES[label]
    return str(label)

"""Parameter and input checks shared by every layer."""

import numbers

import numpy as np
from sklearn.utils.multiclass import type_of_target


# Not sklearn's check_scalar or Interval: both accept bools (epochs=True), and check_scalar accepts NaN
# and raises TypeError for a wrong type, where skpneumo's checks raise ValueError.
def is_int(value, minimum):
    """True for an integer (not a bool) of at least ``minimum``, numpy integers included.

    Parameters
    ----------
    value : object
        The value to test.
    minimum : int or float
        Smallest accepted value (``-np.inf`` for any integer).

    Returns
    -------
    bool
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def is_real(value, low, high, high_inclusive=False):
    """True for a finite real number (not a bool) in ``[low, high)`` or ``[low, high]``.

    Parameters
    ----------
    value : object
        The value to test; integers and numpy numbers count as real.
    low, high : float
        Bounds of the accepted interval.
    high_inclusive : bool, default=False
        Accept ``high`` itself.

    Returns
    -------
    bool
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
        return False
    return low <= value <= high if high_inclusive else low <= value < high


def binary_indicator(values, name):
    """``values`` as a bool array; ValueError naming ``name`` unless they are 0/1 or bool.

    Parameters
    ----------
    values : array-like
        Labels as 0/1 (integer or float) or bool, 1 being the positive class.
    name : str
        Named in the error message.

    Returns
    -------
    ndarray of bool, shape (n,)
        Flattened.

    Raises
    ------
    ValueError
        If ``values`` holds anything but 0, 1, True and False.
    """
    values = np.asarray(values).reshape(-1)
    if values.dtype != bool and not (
        values.dtype.kind in "uif" and np.isin(values, (0, 1)).all()
    ):
        raise ValueError(f"{name} must hold 0/1 or True/False, 1 being the positive class; "
                         f"got values {np.unique(values)[:5].tolist()}.")
    return values.astype(bool)


def check_probabilities(values, name):
    """Raise ValueError naming ``name`` unless every value is a probability (finite, in [0, 1]).

    Parameters
    ----------
    values : ndarray of float
        Probabilities, at least one.
    name : str
        Named in the error message.

    Raises
    ------
    ValueError
        If a value is NaN, infinite, negative or above 1.
    """
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1].")


def check_hw(size, name):
    """``(height, width)`` from a positive int or a pair of them; ValueError naming ``name``.

    Parameters
    ----------
    size : int or (int, int)
        One side for a square, or ``(height, width)``.
    name : str
        Named in the error message.

    Returns
    -------
    (int, int)
        ``(height, width)`` as Python ints.

    Raises
    ------
    ValueError
        If ``size`` is neither a positive int nor a tuple or list of two positive ints.
    """
    hw = (size, size) if is_int(size, -np.inf) else size
    if not isinstance(hw, (tuple, list)) or len(hw) != 2 or not all(is_int(s, 1) for s in hw):
        raise ValueError(f"{name} must be a positive int or a (height, width) pair, got {size!r}.")
    return int(hw[0]), int(hw[1])


def check_binary_labels(y, n_samples):
    """Raise ValueError unless ``y`` holds one label per image, two classes, none missing.

    Parameters
    ----------
    y : array-like of shape (n,)
        Labels, e.g. ``"NORMAL"``/``"PNEUMONIA"`` or 0/1.
    n_samples : int
        Number of images the labels belong to.

    Returns
    -------
    y : ndarray of shape (n,)
        ``np.asarray(y)``.

    Raises
    ------
    ValueError
        If ``y`` is not one-dimensional, is empty, has missing (None, NaN), infinite,
        complex or continuous values, does not hold ``n_samples`` labels or does not
        hold exactly two classes.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {y.shape}.")
    if len(y) == 0:
        raise ValueError("y is empty.")
    if y.dtype == object and any(v is None for v in y):
        raise ValueError("y contains missing labels (None).")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite labels.")
    if len(y) != n_samples:
        raise ValueError(f"X holds {n_samples} images but y holds {len(y)} labels.")
    if y.dtype.kind == "c":
        raise ValueError("Complex data not supported: y must hold class labels.")
    if type_of_target(y) == "continuous":
        raise ValueError(
            "Unknown label type: continuous. y must hold class labels, e.g. NORMAL and "
            "PNEUMONIA or 0 and 1, not probabilities or measurements."
        )
    classes = np.unique(y)
    if len(classes) != 2:
        found = ", ".join(repr(c) for c in classes[:10].tolist())
        prefix = "Only binary classification is supported. " if len(classes) > 2 else ""
        raise ValueError(
            f"{prefix}y must hold exactly two classes (NORMAL and PNEUMONIA, or 0 and 1); "
            f"found {len(classes)} class{'es' if len(classes) != 1 else ''}: {found}."
        )
    return y


def num_samples(X):
    """Number of images in ``X`` (its first dimension, or its length); TypeError if unsized.

    Parameters
    ----------
    X : array-like or sized collection
        Images or image paths.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``X`` has neither a non-empty ``shape`` nor a length.
    """
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise TypeError(
            f"X must be a sized collection (e.g. a list of image paths); "
            f"got {type(X).__name__}."
        ) from None

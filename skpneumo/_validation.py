"""Parameter checks shared by the estimators and helpers."""

import numbers

import numpy as np


def is_int(value, minimum):
    """True for an integer (not a bool) of at least ``minimum``, numpy integers included."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def is_real(value, low, high, high_inclusive=False):
    """True for a finite real number (not a bool) in ``[low, high)`` or ``[low, high]``."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
        return False
    return low <= value <= high if high_inclusive else low <= value < high


def binary_indicator(values, name):
    """``values`` as a bool array; ValueError naming ``name`` unless they are 0/1 or bool."""
    values = np.asarray(values).reshape(-1)
    if values.dtype != bool and not (
        values.dtype.kind in "uif" and np.isin(values, (0, 1)).all()
    ):
        raise ValueError(f"{name} must hold 0/1 or True/False, 1 being the positive class; "
                         f"got values {np.unique(values)[:5].tolist()}.")
    return values.astype(bool)


def check_hw(size, name):
    """``(height, width)`` from a positive int or a pair of them; ValueError naming ``name``."""
    hw = (size, size) if is_int(size, -np.inf) else size
    if not isinstance(hw, (tuple, list)) or len(hw) != 2 or not all(is_int(s, 1) for s in hw):
        raise ValueError(f"{name} must be a positive int or a (height, width) pair, got {size!r}.")
    return int(hw[0]), int(hw[1])


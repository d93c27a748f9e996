"""Wilson score intervals of sensitivity and specificity, on images or on patients.

A percentile bootstrap of a proportion collapses to [1, 1] when the proportion is 1
on the sample (every resample is 1 too): 20 of 20 pneumonia films detected would be
reported as a sensitivity of exactly 100%. The Wilson score interval stays honest at
the ends, [0.839, 1] for 20 of 20 at 95%, and has close to nominal coverage for the
sample sizes of a test set.

Images of one patient are correlated (same lungs, same illness, often the same
day), so counting every film as an independent observation overstates the evidence
when patients have several films. With ``groups``, :func:`rate_intervals` keeps the
proportion over films (the reported sensitivity) but takes the number of patients
as the sample size: each patient counts as one observation per class, as if all
films of a patient were perfectly correlated (a design effect equal to the mean
number of films per patient). The true effective sample size lies between the
number of patients and the number of films, so this interval errs on the wide side;
with one film per patient it is the ordinary Wilson interval.
"""

import math
from statistics import NormalDist

import numpy as np

from ..utils.validation import binary_indicator, is_real

__all__ = ["rate_intervals", "wilson_interval"]


def wilson_interval(successes, n, confidence=0.95):
    """Wilson score interval of the proportion ``successes / n``.

    With ``p = successes / n`` and ``z`` the ``(1 + confidence) / 2`` quantile of
    the standard normal distribution, the interval is::

        (p + z**2 / (2 n) -+ z * sqrt(p (1 - p) / n + z**2 / (4 n**2))) / (1 + z**2 / n)

    Parameters
    ----------
    successes : float
        Number of successes, in ``[0, n]``; need not be an integer (an effective
        count, see :func:`rate_intervals`).
    n : float
        Number of trials (> 0), or an effective sample size.
    confidence : float in (0, 1), default=0.95
        Coverage of the interval.

    Returns
    -------
    (float, float)
        The lower and upper bounds; exactly 0 (1) when ``successes`` is 0 (``n``).

    Raises
    ------
    ValueError
        If ``n`` is not positive, ``successes`` is outside ``[0, n]`` or
        ``confidence`` outside (0, 1).

    Examples
    --------
    >>> low, high = wilson_interval(20, 20)
    >>> round(low, 4), high
    (0.8389, 1.0)
    """
    _check_confidence(confidence)
    if not (is_real(n, 0, math.inf) and n > 0):
        raise ValueError(f"n must be a positive number, got {n!r}.")
    if not is_real(successes, 0, n, high_inclusive=True):
        raise ValueError(f"successes must be a number in [0, n={n}], got {successes!r}.")
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At p = 0 or 1 one bound is mathematically 0 or 1; rounding would give 1e-17 or
    # 0.9999999999999999.
    low = 0.0 if successes == 0 else max(0.0, center - half_width)
    high = 1.0 if successes == n else min(1.0, center + half_width)
    return float(low), float(high)


def rate_intervals(y_true, y_pred, *, groups=None, confidence=0.95):
    """Wilson intervals of sensitivity and specificity, counting patients if given.

    Sensitivity is the fraction of positive samples predicted positive, specificity
    the fraction of negative samples predicted negative. Without ``groups`` the
    interval is the Wilson interval of these counts of images. With ``groups`` the
    proportion is the same but the sample size is the number of groups (patients)
    having at least one sample of the class, and the success count that proportion
    of it: see the module documentation for why this is the honest choice when a
    patient has several films.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels as 0/1 or bool, 1 being the positive class.
    y_pred : array-like of shape (n_samples,)
        Predicted labels as 0/1 or bool.
    groups : array-like of shape (n_samples,), default=None
        Group (patient) of each sample; None counts samples.
    confidence : float in (0, 1), default=0.95
        Coverage of the intervals.

    Returns
    -------
    intervals : dict of str to (float, float) or None
        Keys ``"recall"`` (sensitivity) and ``"specificity"``; None when ``y_true``
        holds no sample of the class the metric needs.
    n_units : dict of str to int
        Same keys: the sample size behind each interval, i.e. the number of samples
        of the class, or of groups having one.

    Raises
    ------
    ValueError
        If the arrays differ in length or ``confidence`` is not in (0, 1).

    Examples
    --------
    >>> intervals, n_units = rate_intervals([1, 1, 1, 1, 0], [1, 1, 1, 1, 0], groups=[1, 1, 2, 2, 3])
    >>> n_units
    {'recall': 2, 'specificity': 1}
    >>> round(intervals["recall"][0], 4)
    0.3424
    """
    _check_confidence(confidence)
    y_true = binary_indicator(y_true, "y_true")
    y_pred = binary_indicator(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true holds {len(y_true)} labels but y_pred {len(y_pred)} predictions.")
    if groups is not None:
        groups = np.asarray(groups).reshape(-1)
        if len(groups) != len(y_true):
            raise ValueError(f"groups holds {len(groups)} values for {len(y_true)} samples.")
    intervals, n_units = {}, {}
    for name, members in (("recall", y_true), ("specificity", ~y_true)):
        n_samples = int(members.sum())
        n = n_samples if groups is None else len(np.unique(groups[members]))
        n_units[name] = n
        if not n:
            intervals[name] = None
            continue
        correct = int((y_pred[members] == y_true[members]).sum())
        intervals[name] = wilson_interval(correct / n_samples * n, n, confidence)
    return intervals, n_units


def _check_confidence(confidence):
    if not (is_real(confidence, 0, 1) and confidence > 0):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}.")

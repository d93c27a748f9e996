"""Calibration of predicted probabilities: reliability bins and expected calibration error.

A probability is calibrated when it can be read as a frequency: of the films given
P(pneumonia) close to 0.8, about 80% show pneumonia. ROC AUC ignores this (any
increasing transformation of the scores keeps it), so a model can rank films well and
still state probabilities that are far too confident; these numbers say by how much.
"""

import numpy as np

from ..utils.validation import binary_indicator, check_probabilities, is_int

__all__ = ["expected_calibration_error", "reliability_bins"]


def reliability_bins(y_true, y_prob, n_bins=10):
    """Films, mean predicted probability and observed fraction of positives per bin.

    The bins split [0, 1] into ``n_bins`` intervals of equal width: bin ``b`` holds
    the probabilities ``p`` with ``b / n_bins <= p < (b + 1) / n_bins``, the last bin
    also ``p = 1``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels as 0/1 or bool, 1 being the positive class.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of the positive class, in [0, 1].
    n_bins : int, default=10
        Number of bins (>= 1).

    Returns
    -------
    bins : dict
        ``"bin_edges"``: list of ``n_bins + 1`` floats; ``"count"``: list of int,
        samples per bin; ``"mean_predicted"`` and ``"fraction_positive"``: lists of
        float, the mean of ``y_prob`` and of ``y_true`` in each bin, None for an
        empty bin.

    Raises
    ------
    ValueError
        If ``n_bins`` is not an integer >= 1, the arrays are empty or differ in
        length, or ``y_prob`` is not in [0, 1].

    Examples
    --------
    >>> bins = reliability_bins([0, 1, 1], [0.15, 0.12, 0.95], n_bins=2)
    >>> bins["count"], bins["fraction_positive"]
    ([2, 1], [0.5, 1.0])
    """
    if not is_int(n_bins, 1):
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}.")
    y_true = binary_indicator(y_true, "y_true")
    y_prob = np.asarray(y_prob, dtype=float).reshape(-1)
    if len(y_true) != len(y_prob):
        raise ValueError(f"y_true holds {len(y_true)} labels but y_prob {len(y_prob)} probabilities.")
    if len(y_prob) == 0:
        raise ValueError("y_prob is empty.")
    check_probabilities(y_prob, "y_prob")
    # floor(p * n) rather than comparing with linspace edges: 3 / 10 * 10 lands in
    # bin 3, whereas np.linspace(0, 1, 11)[3] is 0.30000000000000004 > 0.3. Not
    # sklearn's calibration_curve: it puts 0.3 in bin 2 and an edge like 0.5 in the lower
    # bin, and returns neither counts nor the empty bins that the report shows.
    index = np.minimum((y_prob * n_bins).astype(int), n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    sum_prob = np.bincount(index, weights=y_prob, minlength=n_bins)
    sum_true = np.bincount(index, weights=y_true, minlength=n_bins)
    return {
        "bin_edges": [b / n_bins for b in range(n_bins + 1)],
        "count": [int(c) for c in count],
        "mean_predicted": [float(s / c) if c else None for s, c in zip(sum_prob, count)],
        "fraction_positive": [float(s / c) if c else None for s, c in zip(sum_true, count)],
    }


def expected_calibration_error(y_true, y_prob, n_bins=10):
    """Expected calibration error (ECE) of positive-class probabilities.

    With the equal-width bins of :func:`reliability_bins` (10 by default), ``N``
    samples, ``n_b`` of them in bin ``b``, ``o_b`` the fraction of positives and
    ``e_b`` the mean predicted probability in that bin::

        ECE = sum over non-empty bins b of (n_b / N) * |o_b - e_b|

    i.e. the gap between stated probability and observed frequency, averaged over
    samples. 0 is perfect; 0.05 means the stated probabilities are off by 5
    percentage points on average. The value depends on the binning and is biased
    upwards on small samples (a bin of 3 films rarely matches its mean exactly).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels as 0/1 or bool, 1 being the positive class.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of the positive class, in [0, 1].
    n_bins : int, default=10
        Number of equal-width bins.

    Returns
    -------
    float
        The ECE, in [0, 1].

    Raises
    ------
    ValueError
        As :func:`reliability_bins`.

    Examples
    --------
    >>> expected_calibration_error([0, 1], [0.25, 0.75], n_bins=2)
    0.25
    """
    return calibration_error(reliability_bins(y_true, y_prob, n_bins))


def calibration_error(bins):
    """The expected calibration error of bins already made by :func:`reliability_bins`.

    For a caller that keeps the bins too (:func:`skpneumo.evaluation.evaluate`
    stores them in the report), so that the probabilities are binned once. A helper
    of this subpackage, not re-exported by it.

    Parameters
    ----------
    bins : dict
        As returned by :func:`reliability_bins`.

    Returns
    -------
    float
        The ECE, as :func:`expected_calibration_error` defines it.

    Examples
    --------
    >>> calibration_error(reliability_bins([0, 1], [0.25, 0.75], n_bins=2))
    0.25
    """
    total = sum(bins["count"])
    return float(sum(
        n * abs(observed - predicted)
        for n, observed, predicted in zip(bins["count"], bins["fraction_positive"], bins["mean_predicted"])
        if n
    ) / total)

"""Class-imbalance handling: SMOTE on image arrays."""

import numbers

import numpy as np
from imblearn.over_sampling import SMOTE
from sklearn.base import clone
from sklearn.utils import check_random_state

# Synthetic images are interpolated this many float32 bytes at a time, so the
# temporaries stay small next to the output whatever the image size.
_BLOCK_BYTES = 32 * 2**20


class ImageSMOTE(SMOTE):
    """imbalanced-learn's :class:`~imblearn.over_sampling.SMOTE` for image batches.

    Synthesises minority-class images by interpolating between an image and one
    of its ``k_neighbors`` nearest same-class neighbours in pixel space. Images are
    flattened for SMOTE and reshaped back, so it accepts ``(n, H, W[, C])`` arrays.
    Inside an imbalanced-learn :class:`~imblearn.pipeline.Pipeline` it runs during
    ``fit`` only; ``predict`` never resamples.

    Parameters
    ----------
    sampling_strategy, random_state, k_neighbors
        As for :class:`imblearn.over_sampling.SMOTE`.

    Notes
    -----
    The resampled batch keeps the input's dtype: synthetic ``uint8`` and ``uint16``
    pixels are interpolated in ``float32`` and rounded, exactly as plain SMOTE on the
    ``float32`` images followed by rounding. Memory: the output is allocated once
    and the synthetic images are written into it in small blocks, so besides the
    input and the output only the minority class (as ``float32``, for the
    neighbour search) is held, never a ``float32`` copy of the whole batch.
    """

    def fit_resample(self, X, y, **params):
        """Resample the image batch.

        Parameters
        ----------
        X : ndarray of shape (n, H, W[, C])
            Images, all of one shape.
        y : array-like of shape (n,)
            Labels.
        **params : dict
            Passed to :meth:`imblearn.over_sampling.SMOTE.fit_resample`.

        Returns
        -------
        X_resampled : ndarray of shape (n_resampled, H, W[, C])
            The input images first, then the synthetic ones.
        y_resampled : ndarray of shape (n_resampled,)
        """
        X = np.asarray(X)
        if X.dtype == object or X.ndim < 2:
            raise ValueError(
                "ImageSMOTE: expected a stacked array of equally sized images "
                f"(n, H, W[, C]), got an array of shape {X.shape} and dtype {X.dtype}."
            )
        self._check_minority_size(y)
        X_res, y_res = super().fit_resample(X.reshape(len(X), -1), y, **params)
        return X_res.reshape((-1, *X.shape[1:])), y_res

    def _fit_resample(self, X, y):
        # imblearn's SMOTE vstacks the input with float64 synthetic samples: two more
        # full copies. Here one output array is filled in place, block by block.
        self._validate_estimator()
        n_new = sum(self.sampling_strategy_.values())
        X_res = np.empty((len(X) + n_new, X.shape[1]), dtype=X.dtype)
        X_res[: len(X)] = X
        y_parts = [y]
        start = len(X)
        for class_sample, n_samples in self.sampling_strategy_.items():
            if n_samples == 0:
                continue
            X_class = X[np.flatnonzero(y == class_sample)]
            neighbours = self._neighbours(X_class)
            # The random draws of imblearn's SMOTE._make_samples, in its order.
            random_state = check_random_state(self.random_state)
            samples = random_state.randint(low=0, high=neighbours.size, size=n_samples)
            steps = random_state.uniform(size=n_samples)[:, np.newaxis]
            rows, cols = np.divmod(samples, neighbours.shape[1])
            block = max(1, _BLOCK_BYTES // (4 * X.shape[1]))
            for a in range(0, n_samples, block):
                b = min(a + block, n_samples)
                X_res[start + a:start + b] = _interpolate(
                    X_class, neighbours[rows[a:b], cols[a:b]], rows[a:b], steps[a:b]
                )
            y_parts.append(np.full(n_samples, class_sample, dtype=y.dtype))
            start += n_samples
        return X_res, np.concatenate(y_parts)

    def _neighbours(self, X_class):
        """Indices of each image's ``k_neighbors`` nearest same-class images."""
        # Integer pixels are compared as float32: unsigned differences would wrap.
        data = X_class.astype(np.float32) if X_class.dtype.kind in "ui" else X_class
        # A fitted copy, not nn_k_ itself: a fitted NearestNeighbors keeps its training
        # images, which would stay in memory (and in saved models) for nothing.
        return clone(self.nn_k_).fit(data).kneighbors(data, return_distance=False)[:, 1:]

    def _check_minority_size(self, y):
        # SMOTE's own error for a tiny minority class is a cryptic NearestNeighbors one.
        k = self.k_neighbors
        if not isinstance(k, numbers.Integral):
            return
        labels, counts = np.unique(np.asarray(y), return_counts=True)
        if len(labels) < 2:
            return
        minority = int(np.argmin(counts))
        if counts[minority] <= k:
            raise ValueError(
                f"SMOTE needs more than k_neighbors={k} images of the minority class "
                f"{str(labels[minority])!r}, got {counts[minority]}; lower smote__k_neighbors or "
                "disable SMOTE with smote=None (class_weight='balanced' is an alternative)."
            )


def _interpolate(X_class, partners, rows, steps):
    """Synthetic images ``x + step * (neighbour - x)``, in the input's dtype.

    The arithmetic is imblearn's on ``float32`` images (integers) or on the input's
    float type; integer results are rounded and clipped to the dtype's range.
    """
    integer = X_class.dtype.kind in "ui"
    work = np.float32 if integer else X_class.dtype
    base = X_class[rows].astype(work, copy=False)
    diffs = X_class[partners].astype(work, copy=False) - base
    new = (base + steps * diffs).astype(work)
    if integer:
        info = np.iinfo(X_class.dtype)
        np.clip(np.rint(new, out=new), info.min, info.max, out=new)
    return new

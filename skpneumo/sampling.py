"""Class-imbalance handling: SMOTE on image arrays."""

import numbers

import numpy as np
from imblearn.over_sampling import SMOTE


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
    pixels are interpolated in float and rounded.
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
        y_resampled : ndarray of shape (n_resampled,)
        """
        X = np.asarray(X)
        if X.dtype == object or X.ndim < 2:
            raise ValueError(
                "ImageSMOTE: expected a stacked array of equally sized images "
                f"(n, H, W[, C]), got an array of shape {X.shape} and dtype {X.dtype}."
            )
        self._check_minority_size(y)
        shape = X.shape[1:]
        flat = X.reshape(len(X), -1)
        integer = np.issubdtype(X.dtype, np.integer)
        if integer:
            # SMOTE's neighbour differences would wrap around in unsigned integers.
            flat = flat.astype(np.float32)
        X_res, y_res = super().fit_resample(flat, y, **params)
        if integer:
            info = np.iinfo(X.dtype)
            X_res = np.clip(np.rint(X_res), info.min, info.max)
        return X_res.reshape((-1, *shape)).astype(X.dtype, copy=False), y_res

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

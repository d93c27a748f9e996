"""Base classes of the image transformers, and the per-image hook the pipeline fuses."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..utils.images import as_image_list, stack_images


class StatelessTransformer(TransformerMixin, BaseEstimator):
    """Image transformer that learns nothing: ``fit`` only validates parameters."""

    def check_params(self):
        """Raise ValueError naming the first invalid parameter; nothing by default.

        :class:`~skpneumo.PneumoniaPipeline` calls it on every step before the
        first image is read.
        """

    def fit(self, X, y=None):
        """Validate the parameters; nothing is learned from data.

        Parameters
        ----------
        X : image batch or sequence of paths
            Ignored.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self.check_params()
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class ImageTransformer(StatelessTransformer):
    """A stateless transformer that works image by image, through :meth:`transform_image`.

    Subclasses implement ``transform_image`` (and ``check_params`` if they have
    parameters); ``transform`` applies it to every image of a batch. The same hook
    lets :class:`~skpneumo.PneumoniaPipeline` fuse the transformers that follow
    the loader into its decoding threads, each image transformed as soon as it is
    decoded: the result equals ``transform`` on the loaded batch.
    """

    def transform_image(self, image):
        """Transform one image array and return the result (a new array or ``image``).

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, C)
            One checked image.

        Returns
        -------
        image : ndarray
        """
        raise NotImplementedError(f"{type(self).__name__} must implement transform_image.")

    def transform(self, X):
        """Apply the transformation to every image of ``X``.

        Parameters
        ----------
        X : array of shape (n, H, W[, C]) or sequence of image arrays
            The images.

        Returns
        -------
        images : ndarray
            The transformed batch, stacked when all images share shape and dtype.
        """
        self.check_params()
        images = as_image_list(X, type(self).__name__)
        out = [self.transform_image(img) for img in images]
        if isinstance(X, np.ndarray) and all(o is i for o, i in zip(out, images)):
            # Nothing changed: hand the batch on instead of copying it.
            return X
        return stack_images(out)

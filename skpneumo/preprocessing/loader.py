"""The pipeline's first step: image files (or arrays) in, a batch of images out."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from joblib import effective_n_jobs

from ..io import EncodedImage, check_image_file, read_image
from ..utils.images import as_image_list, check_image, check_not_one_path, is_path, stack_images
from ..utils.validation import check_hw, is_int
from .base import StatelessTransformer

# Images per task of the decoding threads: large enough to amortise the task
# overhead, small enough to balance the load.
_BLOCK = 16


def _is_auto(reduce_to):
    return isinstance(reduce_to, str) and reduce_to == "auto"


class ImageLoader(StatelessTransformer):
    """Load images from file paths.

    The first step of the skpneumo pipeline. Each element of ``X`` is a path
    (``str`` or :class:`pathlib.Path`), a file's bytes in memory
    (:class:`~skpneumo.io.EncodedImage`, decoded exactly as the file would be) or an
    already-loaded image array, so the same pipeline accepts files and in-memory images.

    Parameters
    ----------
    n_jobs : int or None, default=None
        Number of threads decoding in parallel (OpenCV releases the GIL while
        decoding). ``None`` means 1, ``-1`` all cores. Results are identical to
        sequential decoding.
    reduce_to : "auto", int, (int, int) or None, default=None
        Size (``size`` or ``(height, width)``) the images are resized to next. JPEGs
        at least twice as large are then decoded at 1/2, 1/4 or 1/8 scale by
        libjpeg, the largest scale keeping both sides at least this size, and the
        :class:`Resizer` does the rest: several times faster for full-size
        radiographs, and close to, but not bitwise equal to, a full decode followed
        by resizing. Grayscale JPEGs stay grayscale and colour JPEGs RGB, as with
        a full decode; other formats are always decoded in full. ``None`` decodes
        everything in full. ``"auto"`` (what :func:`skpneumo.make_pipeline` uses)
        takes the size of the :class:`Resizer` that follows in a
        :class:`~skpneumo.PneumoniaPipeline` when the pipeline runs, and decodes in
        full when the loader is used on its own.

    See Also
    --------
    read_image : Decode a single file.
    Resizer : The next pipeline step.

    Examples
    --------
    >>> from skpneumo import ImageLoader
    >>> images = ImageLoader().transform(["a.png", "b.jpeg"])  # doctest: +SKIP
    """

    def __init__(self, n_jobs=None, reduce_to=None):
        self.n_jobs = n_jobs
        self.reduce_to = reduce_to

    def check_params(self):
        """Raise ValueError naming the first invalid parameter."""
        if self.n_jobs is not None and (not is_int(self.n_jobs, -np.inf) or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be None or a non-zero integer, got {self.n_jobs!r}.")
        if self.reduce_to is not None and not _is_auto(self.reduce_to):
            check_hw(self.reduce_to, "reduce_to (or 'auto')")

    def decode_size(self, size):
        """The ``(height, width)`` large JPEGs are decoded for, or None for a full decode.

        Parameters
        ----------
        size : (int, int) or None
            The size the images are resized to next, which ``reduce_to="auto"``
            decodes for.

        Returns
        -------
        (int, int) or None
        """
        if _is_auto(self.reduce_to):
            return size
        return None if self.reduce_to is None else check_hw(self.reduce_to, "reduce_to (or 'auto')")

    def transform(self, X):
        """Load the images.

        Parameters
        ----------
        X : sequence of path-like, EncodedImage or image arrays, or an array of shape (n, H, W[, C])
            The images to load.

        Returns
        -------
        images : ndarray
            ``(n, H, W[, C])`` when all images share their shape, otherwise a 1-D
            object array of per-image arrays. Images of several pixel types are
            stacked in one: 8- and 16-bit together as ``uint16`` (8-bit values
            times 257), integer and float together as ``float32`` in [0, 1].

        Raises
        ------
        ImageReadError
            Naming the first file that is missing, empty, a directory or corrupt.
        """
        self.check_params()
        if isinstance(X, np.ndarray) and X.dtype != object and X.dtype.kind not in "US":
            as_image_list(X, "ImageLoader")  # validation only: a loaded batch passes as is
            return X
        return self.load(X)

    def load(self, X, per_image=(), size=None):
        """Load ``X``, passing each image through the ``per_image`` functions in turn.

        The pipeline hands the per-image steps that follow the loader (their
        :meth:`~skpneumo.preprocessing.ImageTransformer.transform_image`) to the
        decoding threads, so each image is decoded, transformed and written to its
        row of the output while it is still in the CPU cache: the same result as
        running the steps one after another, without the intermediate batches.

        Parameters
        ----------
        X : sequence of path-like or image arrays
            The images to load.
        per_image : sequence of callable, default=()
            Functions of one image array returning one image array.
        size : (int, int) or None, default=None
            The ``(height, width)`` the images are resized to next, which
            ``reduce_to="auto"`` decodes for.

        Returns
        -------
        images : ndarray
            As :meth:`transform` returns them.
        """
        check_not_one_path(X, "ImageLoader: X")
        items = list(X)
        if not items:
            raise ValueError("ImageLoader: the input holds no images.")
        # Cheap checks on every file first, so a bad path late in a long list fails at once.
        for item in items:
            if is_path(item):
                check_image_file(os.fspath(item))
        reduce_to = self.decode_size(size)

        def load(i):
            item = items[i]
            if is_path(item) or isinstance(item, EncodedImage):
                image = read_image(item, reduce_to)
            else:
                image = check_image(item, f"ImageLoader: image {i}")
            for step in per_image:
                image = step(image)
            return image

        first = load(0)
        out = np.empty((len(items), *first.shape), dtype=first.dtype)
        out[0] = first
        odd = {}  # images whose shape or dtype differ from the first one's

        def load_block(start):
            for i in range(start, min(start + _BLOCK, len(items))):
                image = load(i)
                if image.shape == first.shape and image.dtype == first.dtype:
                    out[i] = image
                else:
                    odd[i] = image

        starts = range(1, len(items), _BLOCK)
        n_threads = min(effective_n_jobs(self.n_jobs), len(starts))
        if n_threads > 1:
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(load_block, starts))  # re-raises the first failing block's error
        else:
            for start in starts:
                load_block(start)
        if not odd:
            return out
        return stack_images([odd.get(i, out[i]) for i in range(len(items))])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags

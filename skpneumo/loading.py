"""Reading images from files: the first step of the pipeline."""

import os

import cv2
import numpy as np
from joblib import Parallel, delayed

from ._images import (
    StatelessTransformer,
    as_image_list,
    check_image,
    is_path,
    stack_images,
)
from ._validation import is_int

DICOM_EXTENSIONS = (".dcm", ".dicom")
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", *DICOM_EXTENSIONS)


class ImageReadError(ValueError):
    """An image file is missing, empty, corrupt or not an image."""


def is_dicom_path(path):
    """True when the file name ends in ``.dcm`` or ``.dicom``, in any case."""
    return os.fspath(path).lower().endswith(DICOM_EXTENSIONS)


def check_image_file(path):
    """Raise :class:`ImageReadError` unless ``path`` is an existing, non-empty file.

    A DICOM file's header is checked too (pixel data present, a supported photometric
    interpretation, a decoder installed), without decoding its pixels.
    """
    if not os.path.exists(path):
        raise ImageReadError(f"Image file not found: '{path}'.")
    if os.path.isdir(path):
        raise ImageReadError(f"Expected an image file, got a directory: '{path}'.")
    if os.path.getsize(path) == 0:
        raise ImageReadError(f"Image file is empty (0 bytes): '{path}'.")
    if is_dicom_path(path):
        from .dicom import check_dicom_file  # imported on use: dicom.py imports this module

        check_dicom_file(path)


def read_image(path):
    """Decode one image file with OpenCV, keeping its bit depth and channel count.

    Parameters
    ----------
    path : str or path-like
        JPEG, PNG (8 or 16 bit), BMP or TIFF file, or a DICOM file (``.dcm``,
        ``.dicom``, or any name when OpenCV cannot decode it and it has the DICOM
        preamble), read by :func:`skpneumo.dicom.read_dicom`.

    Returns
    -------
    image : ndarray of shape (H, W), (H, W, 3) or (H, W, 4)
        ``uint8`` or ``uint16``; colour images in RGB(A) order. Grayscale files stay
        two-dimensional.

    Raises
    ------
    ImageReadError
        If the file is missing, empty, a directory or cannot be decoded.
    """
    path = os.fspath(path)
    check_image_file(path)
    dicom = is_dicom_path(path)
    if not dicom:
        # np.fromfile + imdecode instead of imread: imread silently fails on non-ASCII paths.
        data = np.fromfile(path, dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        # Archives often store DICOM files without an extension: look for the 'DICM' prefix.
        dicom = image is None and data[128:132].tobytes() == b"DICM"
    if dicom:
        from .dicom import read_dicom

        return read_dicom(path)
    if image is None:
        raise ImageReadError(
            f"Cannot decode '{path}': the file is corrupt or not a supported image "
            f"format ({', '.join(IMAGE_EXTENSIONS)})."
        )
    if image.ndim == 3:
        if image.shape[2] == 1:
            image = image[:, :, 0]
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        else:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return check_image(image, f"'{path}'")


class ImageLoader(StatelessTransformer):
    """Load images from file paths.

    The first step of the skpneumo pipeline. Each element of ``X`` is a path
    (``str`` or :class:`pathlib.Path`) or an already-loaded image array, so the same
    pipeline accepts files and in-memory images.

    Parameters
    ----------
    n_jobs : int or None, default=None
        Number of threads decoding in parallel (OpenCV releases the GIL while
        decoding). ``None`` means 1, ``-1`` all cores. Results are identical to
        sequential decoding.

    See Also
    --------
    read_image : Decode a single file.
    Resizer : The next pipeline step.

    Examples
    --------
    >>> from skpneumo import ImageLoader
    >>> images = ImageLoader().transform(["a.png", "b.jpeg"])  # doctest: +SKIP
    """

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs

    def _check_params(self):
        if self.n_jobs is not None and (not is_int(self.n_jobs, -np.inf) or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be None or a non-zero integer, got {self.n_jobs!r}.")

    def transform(self, X):
        """Load the images.

        Parameters
        ----------
        X : sequence of path-like or image arrays, or an array of shape (n, H, W[, C])
            The images to load.

        Returns
        -------
        images : ndarray
            ``(n, H, W[, C])`` when all images share shape and dtype, otherwise a 1-D
            object array of per-image arrays.

        Raises
        ------
        ImageReadError
            Naming the first file that is missing, empty, a directory or corrupt.
        """
        self._check_params()
        if isinstance(X, np.ndarray) and X.dtype != object and X.dtype.kind not in "US":
            as_image_list(X, "ImageLoader")  # validation only: a loaded batch passes as is
            return X
        if is_path(X):
            raise TypeError(
                "ImageLoader: expected a sequence of paths or images, got a single "
                f"{type(X).__name__}; wrap it in a list."
            )
        items = list(X)
        if not items:
            raise ValueError("ImageLoader: the input holds no images.")
        paths = [os.fspath(item) for item in items if is_path(item)]
        # Cheap checks on every file first, so a bad path late in a long list fails at once.
        for path in paths:
            check_image_file(path)
        images = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(read_image)(item) if is_path(item)
            else delayed(check_image)(item, f"ImageLoader: image {i}")
            for i, item in enumerate(items)
        )
        return stack_images(images)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags

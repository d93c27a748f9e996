"""Reading images from files: the first step of the pipeline."""

import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from joblib import effective_n_jobs

from ._images import StatelessTransformer, as_image_list, check_image, is_path, stack_images
from ._validation import check_hw, is_int

DICOM_EXTENSIONS = (".dcm", ".dicom")
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", *DICOM_EXTENSIONS)

# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they
# hold the image size and the number of colour components.
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Scale factor -> (grayscale flag, colour flag). IMREAD_UNCHANGED ignores EXIF
# orientation; the reduced modes would apply it, so they are told not to.
_REDUCED_FLAGS = {
    factor: (gray | cv2.IMREAD_IGNORE_ORIENTATION, colour | cv2.IMREAD_IGNORE_ORIENTATION)
    for factor, gray, colour in [
        (8, cv2.IMREAD_REDUCED_GRAYSCALE_8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_GRAYSCALE_4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_GRAYSCALE_2, cv2.IMREAD_REDUCED_COLOR_2),
    ]
}
# Images per task of the decoding threads: large enough to amortise the task
# overhead, small enough to balance the load.
_BLOCK = 16


class ImageReadError(ValueError):
    """An image file is missing, empty, corrupt or not an image."""


def _is_auto(reduce_to):
    return isinstance(reduce_to, str) and reduce_to == "auto"


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


def _jpeg_frame(data):
    """``(height, width, components)`` from a JPEG's frame header, or None."""
    buf = memoryview(data)
    if len(buf) < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        return None
    i = 2
    while i + 10 <= len(buf) and buf[i] == 0xFF:
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
        elif marker in _JPEG_SOF:
            return (buf[i + 5] << 8 | buf[i + 6], buf[i + 7] << 8 | buf[i + 8], buf[i + 9])
        else:
            i += 2 + (buf[i + 2] << 8 | buf[i + 3])
    return None


def _decode_flag(data, reduce_to):
    """The ``cv2.imdecode`` flag: the largest reduced JPEG decode keeping ``reduce_to``."""
    frame = None if reduce_to is None else _jpeg_frame(data)
    if frame is None or frame[2] not in (1, 3):
        return cv2.IMREAD_UNCHANGED
    height, width, components = frame
    for factor, (gray, colour) in _REDUCED_FLAGS.items():
        # libjpeg rounds the scaled size up.
        if -(-height // factor) >= reduce_to[0] and -(-width // factor) >= reduce_to[1]:
            return gray if components == 1 else colour
    return cv2.IMREAD_UNCHANGED


def read_image(path, reduce_to=None):
    """Decode one image file with OpenCV, keeping its bit depth and channel count.

    Parameters
    ----------
    path : str or path-like
        JPEG, PNG (8 or 16 bit), BMP or TIFF file, or a DICOM file (``.dcm``,
        ``.dicom``, or any name when OpenCV cannot decode it and it has the DICOM
        preamble), read by :func:`skpneumo.dicom.read_dicom`.
    reduce_to : (int, int) or None, default=None
        ``(height, width)`` the image will be resized to afterwards. A JPEG at least
        twice as large is decoded at 1/2, 1/4 or 1/8 scale (the largest that keeps
        both sides at least this size), which is several times faster; see
        :class:`ImageLoader`. Other formats are decoded in full.

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
        try:
            image = cv2.imdecode(data, _decode_flag(data, reduce_to))
        except cv2.error as exc:
            # E.g. a header declaring more pixels than OpenCV's limit, or a damaged stream.
            reason = (getattr(exc, "err", None) or str(exc)).strip().splitlines()[-1]
            raise ImageReadError(f"Cannot decode '{path}': OpenCV refused it ({reason}).") from None
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

    def _check_params(self):
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
        X : sequence of path-like or image arrays, or an array of shape (n, H, W[, C])
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
        self._check_params()
        if isinstance(X, np.ndarray) and X.dtype != object and X.dtype.kind not in "US":
            as_image_list(X, "ImageLoader")  # validation only: a loaded batch passes as is
            return X
        return self._load(X)

    def _load(self, X, per_image=(), size=None):
        """Load ``X``, passing each image through the ``per_image`` functions in turn.

        The pipeline hands the per-image steps that follow the loader to the decoding
        threads, so each image is decoded, transformed and written to its row of
        the output while it is still in the CPU cache: the same result as running
        the steps one after another, without the intermediate batches. ``size`` is
        the ``(height, width)`` the images are resized to next, which
        ``reduce_to="auto"`` decodes for.
        """
        if is_path(X):
            raise TypeError(
                "ImageLoader: expected a sequence of paths or images, got a single "
                f"{type(X).__name__}; wrap it in a list."
            )
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
            if is_path(item):
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

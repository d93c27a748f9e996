"""Image arrays and batches of images of any size: checks, stacking and chunks.

A batch is either one stacked array ``(n, H, W)`` / ``(n, H, W, C)`` or, while
images still differ in size or channels, a 1-D object array of per-image arrays.
"""

import numpy as np

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


def check_image(image, where):
    """Validate one decoded or user-supplied image array and return it.

    Parameters
    ----------
    image : array-like
        One image.
    where : str
        Where the image comes from (a file, a step and index), prefixed to error messages.

    Returns
    -------
    image : ndarray of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        ``np.asarray(image)``, unchanged.

    Raises
    ------
    ValueError
        If the pixel type is not uint8, uint16, float32 or float64, the shape is not
        one of the above, the image is empty, or a float image holds NaN or infinite
        values.
    """
    image = np.asarray(image)
    if image.dtype.type not in SUPPORTED_DTYPES:
        raise ValueError(
            f"{where}: unsupported pixel type {image.dtype}; expected uint8, uint16, "
            "float32 or float64."
        )
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(
            f"{where}: expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
            f"got shape {image.shape}."
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{where}: the image is empty (shape {image.shape}).")
    if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
        raise ValueError(f"{where}: the image contains NaN or infinite values.")
    return image


def is_path(item):
    """True for one file path: ``str``, ``bytes`` or path-like.

    Parameters
    ----------
    item : object
        The value to test.

    Returns
    -------
    bool
    """
    return isinstance(item, (str, bytes)) or hasattr(item, "__fspath__")


def check_not_one_path(X, where="X"):
    """Raise TypeError when ``X`` is one path instead of a sequence of paths or images.

    A string is a sequence too: without this, its characters would become file names.

    Parameters
    ----------
    X : object
        The input of a fit, transform or predict.
    where : str, default="X"
        Names the input in the error message.

    Raises
    ------
    TypeError
        If ``X`` is a ``str``, ``bytes`` or path-like object.
    """
    if is_path(X):
        raise TypeError(f"{where} must be a sequence of image paths or arrays, got a single "
                        f"{type(X).__name__}; wrap it in a list.")


def as_image_list(X, step):
    """Return the images of batch ``X`` as a list of arrays, validating each.

    A numeric array of 3 or 4 dimensions is a stacked batch; anything else must be
    a sequence of per-image arrays.

    Parameters
    ----------
    X : ndarray or sequence of array-like
        A stacked batch ``(n, H, W)`` / ``(n, H, W, C)``, or per-image arrays.
    step : str
        Name of the calling step, prefixed to error messages.

    Returns
    -------
    images : list of ndarray
        Each checked by :func:`check_image`.

    Raises
    ------
    TypeError
        If ``X`` is a single path or not iterable.
    ValueError
        If a numeric array has neither 3 nor 4 dimensions, ``X`` holds no image, or an
        image fails :func:`check_image`.
    """
    check_not_one_path(X, f"{step}: X")
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim not in (3, 4):
            raise ValueError(
                f"{step}: expected a stacked batch of shape (n, H, W) or (n, H, W, C), "
                f"got an array of shape {X.shape}."
            )
        images = list(X)
    else:
        try:
            images = list(X)
        except TypeError:
            raise TypeError(
                f"{step}: expected a sequence of images, got {type(X).__name__}."
            ) from None
    if not images:
        raise ValueError(f"{step}: the input holds no images.")
    return [check_image(img, f"{step}: image {i}") for i, img in enumerate(images)]


def to_common_depth(image, dtype):
    """``image`` in ``dtype`` (uint16 or float32) at the same brightness.

    uint8 becomes uint16 times 257, so that 255 maps to 65535 and ``x / 255`` equals
    ``257 * x / 65535`` bit for bit in float32; integer images become float32 in
    [0, 1] (divided by 255 or 65535), float images keep their values.

    Parameters
    ----------
    image : ndarray
        uint8, uint16, float32 or float64 pixels; uint8 or uint16 when ``dtype`` is uint16.
    dtype : numpy dtype
        ``uint16`` or ``float32``, from :func:`common_depth`.

    Returns
    -------
    ndarray
        ``image`` itself when it is already in ``dtype``, else a converted copy.
    """
    if image.dtype == dtype:
        return image
    if dtype == np.uint16:
        return image.astype(np.uint16) * np.uint16(257)
    if image.dtype.kind == "u":
        return np.divide(image, np.float32(np.iinfo(image.dtype).max), dtype=np.float32)
    return image.astype(np.float32)


def common_depth(dtypes):
    """The dtype a batch of images of these pixel types is stacked in.

    One type stays as it is; 8- and 16-bit images together become uint16; integer
    and float images together become float32 in [0, 1].

    Parameters
    ----------
    dtypes : iterable of numpy dtype
        The pixel types of the images, repeats allowed.

    Returns
    -------
    numpy dtype
    """
    dtypes = set(dtypes)
    if len(dtypes) == 1:
        return dtypes.pop()
    if all(dtype.kind == "u" for dtype in dtypes):
        return np.dtype(np.uint16)
    return np.dtype(np.float32)


def stack_images(images):
    """Stack images into one array when they share shape, else an object array.

    Images of several pixel types (8- and 16-bit files, DICOM next to JPEG) are
    first brought to one (:func:`common_depth`), keeping their brightness.

    Parameters
    ----------
    images : sequence of ndarray
        At least one image.

    Returns
    -------
    batch : ndarray
        Of shape ``(n, H, W)`` or ``(n, H, W, C)`` when all shapes match; otherwise a
        1-D object array of the images, unchanged in type.
    """
    first = images[0]
    if all(img.shape == first.shape for img in images):
        dtype = common_depth(img.dtype for img in images)
        return np.stack([to_common_depth(img, dtype) for img in images])
    batch = np.empty(len(images), dtype=object)
    for i, img in enumerate(images):
        batch[i] = img
    return batch


def chunks(items, size):
    """Consecutive slices of ``items`` of ``size`` items (the last may be shorter).

    The one chunking loop behind the pipeline's prediction, Grad-CAM and the
    per-file workflows.

    Parameters
    ----------
    items : sequence
        Anything with ``len`` and slicing (list, ndarray).
    size : int
        Items per slice, >= 1.

    Yields
    ------
    sequence
        ``items[start:start + size]``, of the type of ``items``; none for empty ``items``.
    """
    for start in range(0, len(items), size):
        yield items[start:start + size]

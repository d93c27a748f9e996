"""Decoding image files: OpenCV formats, reduced-scale JPEG, and DICOM through :mod:`.dicom`."""

import os

import cv2
import numpy as np

from ..exceptions import ImageReadError
from ..utils.images import check_image
from .dicom import check_dicom_file, read_dicom
from .encoded import EncodedImage

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


def is_image_name(name):
    """True for a file name the readers take: a known image extension, not a hidden file.

    Hidden files (``.DS_Store``, macOS ``._x.jpeg`` resource forks) are never images.

    Parameters
    ----------
    name : str
        A file name (or path).

    Returns
    -------
    bool
    """
    name = os.path.basename(name)
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_dicom_path(path):
    """True when the file name ends in ``.dcm`` or ``.dicom``, in any case.

    Parameters
    ----------
    path : str or path-like
        A file name or path; the file is not opened.

    Returns
    -------
    bool
    """
    return os.fspath(path).lower().endswith(DICOM_EXTENSIONS)


def check_image_file(path):
    """Raise :class:`ImageReadError` unless ``path`` is an existing, non-empty file.

    A DICOM file's header is checked too (pixel data present, a supported photometric
    interpretation, a decoder installed), without decoding its pixels.

    Parameters
    ----------
    path : str or path-like
        The image file.

    Raises
    ------
    ImageReadError
        If the file is missing, a directory or empty, or a ``.dcm``/``.dicom`` file fails
        :func:`~skpneumo.io.check_dicom_file`.
    """
    if not os.path.exists(path):
        raise ImageReadError(f"Image file not found: '{path}'.")
    if os.path.isdir(path):
        raise ImageReadError(f"Expected an image file, got a directory: '{path}'.")
    if os.path.getsize(path) == 0:
        raise ImageReadError(f"Image file is empty (0 bytes): '{path}'.")
    if is_dicom_path(path):
        check_dicom_file(path)


def check_image_header(path):
    """Raise :class:`ImageReadError` unless ``path`` looks decodable, without decoding it.

    :func:`check_image_file`, then the file's signature: one OpenCV has a decoder
    for, or a DICOM preamble. Reads a few bytes of the file, so every file of a
    large set can be checked before a long run starts; a file damaged after its
    header still fails only when it is decoded.

    Parameters
    ----------
    path : str or path-like
        The image file.

    Raises
    ------
    ImageReadError
        As :func:`check_image_file`, or if the file is no image OpenCV or pydicom reads.
    """
    path = os.fspath(path)
    check_image_file(path)
    if is_dicom_path(path):
        return
    try:
        with open(path, "rb") as file:
            head = file.read(132)
    except OSError as exc:
        raise ImageReadError(f"Cannot read '{path}': {exc.strerror or exc}.") from exc
    if not (head[128:132] == b"DICM" or cv2.haveImageReader(path)):
        raise ImageReadError(
            f"Cannot decode '{path}': the file is corrupt or not a supported image "
            f"format ({', '.join(IMAGE_EXTENSIONS)})."
        )


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
    path : str, path-like or EncodedImage
        JPEG, PNG (8 or 16 bit), BMP or TIFF file, or a DICOM file (``.dcm``,
        ``.dicom``, or any name when OpenCV cannot decode it and it has the DICOM
        preamble), read by :func:`skpneumo.io.read_dicom`; or such a file's bytes in
        memory (:class:`EncodedImage`), whose format is read from the content only.
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
        Naming the file, if it is missing, empty, a directory, cannot be read or decoded, or
        decodes to an array that is not an image (see
        :func:`skpneumo.utils.images.check_image`).
    """
    if isinstance(path, EncodedImage):
        where, data, dicom = path.name, np.frombuffer(path.data, dtype=np.uint8), False
        if not data.size:
            raise ImageReadError(f"Image file is empty (0 bytes): '{where}'.")
    else:
        path = where = os.fspath(path)
        check_image_file(path)
        dicom = is_dicom_path(path)
        data = None
        if not dicom:
            # np.fromfile + imdecode instead of imread: imread silently fails on non-ASCII paths.
            try:
                data = np.fromfile(path, dtype=np.uint8)
            except OSError as exc:  # e.g. no permission to read it
                raise ImageReadError(f"Cannot read '{path}': {exc.strerror or exc}.") from exc
    if not dicom:
        try:
            image = cv2.imdecode(data, _decode_flag(data, reduce_to))
        except cv2.error as exc:
            # E.g. a header declaring more pixels than OpenCV's limit, or a damaged stream.
            reason = (getattr(exc, "err", None) or str(exc)).strip().splitlines()[-1]
            raise ImageReadError(f"Cannot decode '{where}': OpenCV refused it ({reason}).") from None
        # Archives often store DICOM files without an extension: look for the 'DICM' prefix.
        dicom = image is None and data[128:132].tobytes() == b"DICM"
    if dicom:
        return read_dicom(path)
    if image is None:
        raise ImageReadError(
            f"Cannot decode '{where}': the file is corrupt or not a supported image "
            f"format ({', '.join(IMAGE_EXTENSIONS)})."
        )
    if image.ndim == 3:
        if image.shape[2] == 1:
            image = image[:, :, 0]
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        else:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    try:
        return check_image(image, f"'{where}'")
    except ValueError as exc:  # decoded, but not an image skpneumo reads (e.g. a float TIFF holding NaN)
        raise ImageReadError(str(exc)) from exc

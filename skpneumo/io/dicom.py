"""Reading DICOM files (pydicom): stored pixel values to the image a viewer shows.

:func:`read_image` and :class:`~skpneumo.ImageLoader` call :func:`read_dicom` for
``.dcm`` and ``.dicom`` files, so DICOM mixes freely with JPEG and PNG.
"""

import contextlib
import io
import os

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi, apply_windowing, get_decoder

from ..exceptions import ImageReadError
from .encoded import EncodedImage

MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
# pydicom returns these as RGB; colour radiographs are rare (secondary captures).
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")

# Large elements (pixel data, LUTs) stay on disk while the header is checked.
_HEADER_DEFER_SIZE = 1024


@contextlib.contextmanager
def _errors_naming(path):
    """Turn any failure while reading ``path`` into an ImageReadError naming it."""
    try:
        yield
    except ImageReadError:
        raise
    except InvalidDicomError:
        raise ImageReadError(
            f"'{path}' is not a DICOM file: it lacks the 128-byte preamble and 'DICM' prefix."
        ) from None
    except Exception as exc:  # pydicom parses elements lazily: a damaged one can fail anywhere
        raise ImageReadError(f"Cannot read DICOM file '{path}': {exc}") from exc


def _decoder(ds, path):
    """The pydicom decoder of the file's transfer syntax, or a clear error."""
    syntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID")
    if syntax is None:  # pydicom falls back to an uncompressed syntax
        return None
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise ImageReadError(
            f"Cannot decode DICOM file '{path}': pydicom has no decoder for its transfer "
            f"syntax {syntax.name} ({syntax})."
        ) from None
    if not decoder.is_available:
        raise ImageReadError(
            f"Cannot decode DICOM file '{path}': its transfer syntax {syntax.name} needs a "
            f"decoder package that is not installed. Install one of: {_install_hint(decoder)}."
        )
    return decoder


def _install_hint(decoder):
    # pydicom lists each plugin as "name - requires pkg>=x and pkg2>=y".
    return "; ".join(decoder.missing_dependencies)


def _source(path):
    """What pydicom reads for ``path`` (a file, or an in-memory file for an EncodedImage) and its name."""
    if isinstance(path, EncodedImage):
        return io.BytesIO(path.data), path.name
    path = os.fspath(path)
    return path, path


def _check_dataset(ds, path):
    if "PixelData" not in ds:
        raise ImageReadError(
            f"DICOM file '{path}' holds no pixel data (no (7FE0,0010) Pixel Data element): "
            f"it is not an image (Modality {ds.get('Modality', 'unknown')})."
        )
    interpretation = ds.get("PhotometricInterpretation")
    if interpretation not in MONOCHROME + COLOUR:
        raise ImageReadError(
            f"DICOM file '{path}': unsupported photometric interpretation {interpretation!r}; "
            f"skpneumo reads {', '.join(MONOCHROME + COLOUR)}."
        )
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        raise ImageReadError(
            f"DICOM file '{path}' holds {frames} frames; skpneumo classifies single radiographs: "
            "save the frame to classify as a file of its own."
        )
    return _decoder(ds, path)


def check_dicom_file(path):
    """Check a DICOM file's header without decoding its pixels.

    Cheap enough to run on every file before a long decode starts: only the header
    is parsed, large elements stay on disk.

    Parameters
    ----------
    path : str, path-like or EncodedImage
        The DICOM file, or its bytes in memory.

    Raises
    ------
    ImageReadError
        If the file is not DICOM, holds no pixel data, has an unsupported photometric
        interpretation or several frames, or needs a decoder package that is not
        installed (the message names the packages).
    """
    source, path = _source(path)
    with _errors_naming(path):
        _check_dataset(pydicom.dcmread(source, defer_size=_HEADER_DEFER_SIZE), path)


def read_dicom(path):
    """Read a single-frame DICOM image as the display image a viewer shows.

    Monochrome images go through the DICOM grayscale pipeline, computed in float64:

    1. the modality transform: Rescale Slope and Intercept, or the Modality LUT;
    2. the first VOI transform when present: the VOI LUT if the file has one, else
       the first Window Center/Width (VOI LUT Function ``LINEAR``, ``LINEAR_EXACT``
       or ``SIGMOID``). Its output range (the window's ends, or the smallest and
       largest LUT entries) maps linearly to ``[0, MAX]``. Without a VOI transform the
       image's own minimum and maximum map to ``[0, MAX]``, as viewers do;
    3. ``MONOCHROME1`` images are inverted (``MAX - value``), so bone is bright;
    4. rounding to ``uint8`` (``MAX = 255``) when Bits Stored is at most 8, else to
       ``uint16`` (``MAX = 65535``): 12- to 16-bit data keep their precision until the
       :class:`~skpneumo.Normalizer` divides by 65535.

    Colour images (RGB and the YBR interpretations, which pydicom converts to RGB)
    have no modality or VOI transform: ``[0, 2**BitsStored - 1]`` maps to
    ``[0, MAX]``, which leaves 8-bit RGB unchanged.

    Parameters
    ----------
    path : str, path-like or EncodedImage
        A DICOM file with a preamble and file meta header (Part 10 format), or its
        bytes in memory.

    Returns
    -------
    image : ndarray of shape (H, W) or (H, W, 3)
        ``uint8`` or ``uint16``.

    Raises
    ------
    ImageReadError
        Naming the file, if it is missing or not DICOM, holds no pixel data, has an
        unsupported photometric interpretation or several frames, its compression
        needs a decoder package that is not installed (the message names the
        packages), or its pixel data or window are invalid.

    Examples
    --------
    >>> from skpneumo.io import read_dicom
    >>> image = read_dicom("chest.dcm")  # doctest: +SKIP
    >>> image.dtype, image.shape  # doctest: +SKIP
    (dtype('uint16'), (2048, 2048))
    """
    source, path = _source(path)
    with _errors_naming(path):
        ds = pydicom.dcmread(source)
        decoder = _check_dataset(ds, path)
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # decoder plugins raise their own error types
            raise _decode_error(path, exc, decoder) from exc
        bits = int(ds.BitsStored)
        if ds.PhotometricInterpretation in COLOUR:
            return _to_display(pixels, 0, 2**bits - 1, bits, invert=False)
        values, lo, hi = _voi(apply_modality_lut(pixels, ds), ds)
        return _to_display(values, lo, hi, bits, invert=ds.PhotometricInterpretation == "MONOCHROME1")


def _decode_error(path, exc, decoder):
    reason = " ".join(line.strip() for line in str(exc).splitlines()).rstrip(".")
    hint = ""
    if decoder is not None and decoder.missing_dependencies:
        hint = f" Another decoder may read it; install one of: {_install_hint(decoder)}."
    return ImageReadError(f"Cannot decode the pixel data of DICOM file '{path}': {reason}.{hint}")


def _voi(values, ds):
    """Apply pydicom's first VOI transform; return the values and the range mapping to black..white."""
    lut = ds.get("VOILUTSequence")
    if lut and lut[0].get("LUTDescriptor") is not None and lut[0].get("LUTData") is not None:
        n_entries, first, _ = lut[0].LUTDescriptor
        entries = apply_voi(np.arange(first, first + (n_entries or 2**16)), ds)
        # LUT inputs are integers; the modality transform may have produced floats.
        values = apply_voi(np.rint(values).astype(np.int64), ds)
        return values, entries.min(), entries.max()
    if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        # Below and above the window pydicom writes the ends of its output range.
        lo, hi = apply_windowing(np.array([-np.inf, np.inf]), ds)
        return apply_windowing(values, ds), lo, hi
    return values, values.min(), values.max()


def _to_display(values, lo, hi, bits, invert):
    """Map ``[lo, hi]`` linearly to the full range of uint8 (``bits <= 8``) or uint16."""
    dtype = np.uint8 if bits <= 8 else np.uint16
    top = float(np.iinfo(dtype).max)
    # In place on one float64 copy: a radiograph has millions of pixels.
    scaled = np.array(values, dtype=np.float64)
    if hi == lo:
        scaled[...] = 0.0
    else:
        scaled -= float(lo)
        scaled *= top / (float(hi) - float(lo))
        np.clip(scaled, 0.0, top, out=scaled)
    if invert:
        np.subtract(top, scaled, out=scaled)
    return np.rint(scaled, out=scaled).astype(dtype)

"""Image preprocessing transformers: resize, contrast equalisation, grayscale to RGB, normalize."""

import cv2
import numpy as np

from ..utils.images import as_image_list
from ..utils.validation import check_hw, is_int, is_real
from .base import ImageTransformer

_INTERPOLATIONS = {
    "area": cv2.INTER_AREA,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
}


class Resizer(ImageTransformer):
    """Resize images to a fixed size, whatever their size or aspect ratio.

    Parameters
    ----------
    size : int or (int, int), default=224
        Output size: an int for square images, or ``(height, width)``.
    interpolation : {"auto", "area", "linear", "cubic", "nearest"}, default="auto"
        ``"auto"`` uses area interpolation when shrinking (no aliasing) and cubic
        when enlarging.

    Notes
    -----
    The bit depth (``uint8``, ``uint16``, float) and the channel count are kept.
    """

    def __init__(self, size=224, interpolation="auto"):
        self.size = size
        self.interpolation = interpolation

    def output_size(self):
        """The ``(height, width)`` images are resized to: ``size``, checked.

        Returns
        -------
        (int, int)
        """
        return check_hw(self.size, "size")

    def check_params(self):
        """Raise ValueError naming the first invalid parameter."""
        self.output_size()
        if self.interpolation != "auto" and self.interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be 'auto' or one of {sorted(_INTERPOLATIONS)}, "
                f"got {self.interpolation!r}."
            )

    def transform_image(self, image):
        h, w = self.output_size()
        if image.dtype == np.float64:
            # OpenCV resizes float32 natively; one float type keeps batches stackable.
            image = image.astype(np.float32)
        if image.shape[:2] == (h, w):
            return image
        if self.interpolation == "auto":
            shrinking = h * w < image.shape[0] * image.shape[1]
            flag = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        else:
            flag = _INTERPOLATIONS[self.interpolation]
        resized = cv2.resize(image, (w, h), interpolation=flag)
        if image.ndim == 3 and resized.ndim == 2:
            # OpenCV drops a single channel axis; keep the caller's layout.
            resized = resized[:, :, np.newaxis]
        if resized.dtype.kind == "f" and image.dtype.kind == "f":
            # Cubic interpolation overshoots; keep normalized images in range.
            lo, hi = float(image.min()), float(image.max())
            np.clip(resized, lo, hi, out=resized)
        return resized


class CLAHE(ImageTransformer):
    """Contrast-limited adaptive histogram equalisation (OpenCV's CLAHE).

    Equalises contrast tile by tile, so that exposure and processing differences
    between X-ray machines matter less; the clip limit keeps noise from being
    amplified. Optional: ``make_pipeline(clahe=CLAHE())`` puts it after resizing.

    Parameters
    ----------
    clip_limit : float, default=2.0
        Contrast limit per tile, relative to a uniform histogram.
    tile_grid_size : int, default=8
        The image is equalised in ``tile_grid_size x tile_grid_size`` tiles.

    Notes
    -----
    Works on ``uint8`` and ``uint16`` images, before :class:`Normalizer`.
    Multi-channel images are equalised channel by channel, so grayscale images
    stored as RGB stay gray.
    """

    def __init__(self, clip_limit=2.0, tile_grid_size=8):
        self.clip_limit = clip_limit
        self.tile_grid_size = tile_grid_size

    def check_params(self):
        """Raise ValueError naming the first invalid parameter."""
        if not (is_real(self.clip_limit, 0, np.inf) and self.clip_limit > 0):
            raise ValueError(f"clip_limit must be a positive float, got {self.clip_limit!r}.")
        if not is_int(self.tile_grid_size, 1):
            raise ValueError(f"tile_grid_size must be a positive int, got {self.tile_grid_size!r}.")

    def transform_image(self, image):
        if image.dtype not in (np.uint8, np.uint16):
            raise ValueError(
                f"CLAHE needs uint8 or uint16 images, got {image.dtype}; "
                "put it before Normalizer."
            )
        clahe = cv2.createCLAHE(clipLimit=float(self.clip_limit),
                                tileGridSize=(int(self.tile_grid_size),) * 2)
        if image.ndim == 2:
            return clahe.apply(image)
        return np.stack([clahe.apply(np.ascontiguousarray(image[:, :, c]))
                         for c in range(image.shape[2])], axis=2)


class GrayscaleToRGB(ImageTransformer):
    """Convert grayscale images to three-channel RGB.

    ``(H, W)`` and ``(H, W, 1)`` images are replicated to ``(H, W, 3)``; RGBA images
    lose their alpha channel; RGB images pass through unchanged. ImageNet backbones
    expect three channels.
    """

    def transform_image(self, image):
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.ndim == 2:
            if image.dtype.type in (np.uint8, np.uint16, np.float32):
                # Same pixels as np.repeat, an order of magnitude faster.
                return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
            return np.repeat(image[:, :, np.newaxis], 3, axis=2)
        channels = image.shape[2]
        if channels == 4:
            return np.ascontiguousarray(image[:, :, :3])
        return image


class Normalizer(ImageTransformer):
    """Scale pixel values to ``float32`` in [0, 1], respecting the bit depth.

    ``uint8`` images are divided by 255 and ``uint16`` images by 65535. Float images
    must already lie in [0, 1] and are only cast to ``float32``.

    Notes
    -----
    Returns one stacked ``(n, H, W[, C])`` array, so all images must share their
    shape: put a :class:`Resizer` before it.
    """

    def transform_image(self, image):
        if image.dtype == np.uint8:
            # One float32 output, no float32 copy of the input first: SMOTE-sized
            # batches are gigabytes.
            return np.divide(image, np.float32(255), dtype=np.float32)
        if image.dtype == np.uint16:
            return np.divide(image, np.float32(65535), dtype=np.float32)
        if image.dtype.kind == "f":
            if image.size and (image.min() < 0 or image.max() > 1):
                raise ValueError(
                    "Normalizer: float images must already be scaled to [0, 1], got values in "
                    f"[{image.min():.3g}, {image.max():.3g}]; pass uint8 or uint16 images instead."
                )
            return image.astype(np.float32, copy=False)
        raise ValueError(
            f"Normalizer: unsupported pixel type {image.dtype}; expected uint8, uint16 or float."
        )

    def transform(self, X):
        """Scale every image to ``float32`` in [0, 1].

        Parameters
        ----------
        X : array of shape (n, H, W[, C]) or sequence of equally sized image arrays
            The images.

        Returns
        -------
        images : ndarray of float32, shape (n, H, W[, C])

        Raises
        ------
        ValueError
            If the images differ in shape or have an unsupported pixel type.
        """
        if isinstance(X, np.ndarray) and X.dtype != object and X.ndim in (3, 4):
            as_image_list(X, "Normalizer")  # validation only
            # Whole-batch fast path: one output array instead of per-image copies.
            return self.transform_image(X)
        images = super().transform(X)
        if images.dtype == object:
            shapes = sorted({img.shape for img in images})
            raise ValueError(
                f"Normalizer: images differ in shape ({shapes[:3]}...); resize them to one "
                "size first (Resizer) and convert them to one channel layout (GrayscaleToRGB)."
            )
        return images

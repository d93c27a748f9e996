"""Test-time augmentation: deterministic transforms of a batch of images.

:class:`~skpneumo.PneumoniaClassifier` averages its predicted probabilities over
the transforms named by its ``tta`` parameter.
"""

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class TTATransform:
    """One deterministic affine transform about the image centre.

    Parameters
    ----------
    angle : float
        Counter-clockwise rotation, in degrees.
    scale : float
        Magnification (> 1 zooms in).
    shift_x, shift_y : float
        Translation as a fraction of the image width and height (positive: right, down).
    flip : bool
        Mirror left-right after the other steps.
    """

    angle: float = 0.0
    scale: float = 1.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    flip: bool = False

    def matrix(self, height, width):
        """The 2x3 affine matrix mapping input to output pixel coordinates."""
        center = ((width - 1) / 2.0, (height - 1) / 2.0)
        m = cv2.getRotationMatrix2D(center, self.angle, self.scale)
        m[0, 2] += self.shift_x * width
        m[1, 2] += self.shift_y * height
        if self.flip:
            m[0] = -m[0]
            m[0, 2] += width - 1
        return m


# Magnitudes stay inside the default training augmentation (rotation 10 degrees,
# zoom and shift 0.1), so every view looks like something the network was trained on.
TTA_TRANSFORMS = {
    "identity": TTATransform(),
    "shift_left": TTATransform(shift_x=-0.05),
    "shift_right": TTATransform(shift_x=0.05),
    "shift_up": TTATransform(shift_y=-0.05),
    "shift_down": TTATransform(shift_y=0.05),
    "zoom_in": TTATransform(scale=1.08),
    "zoom_out": TTATransform(scale=0.92),
    "rotate_left": TTATransform(angle=5.0),
    "rotate_right": TTATransform(angle=-5.0),
    "flip": TTATransform(flip=True),
}

# No flip: the heart is on the left, so a mirrored film is not a plausible film.
DEFAULT_TTA = ("identity", "zoom_in", "zoom_out", "rotate_left", "rotate_right")


def resolve_tta(tta):
    """The transform names that ``tta`` stands for, validated.

    Parameters
    ----------
    tta : None, "default" or sequence of str
        ``None``: no test-time augmentation; ``"default"``: :data:`DEFAULT_TTA`;
        otherwise names from :data:`TTA_TRANSFORMS`.

    Returns
    -------
    names : tuple of str
        Empty for ``None``.

    Raises
    ------
    ValueError
        Naming the ``tta`` parameter and the valid transform names.
    """
    if tta is None:
        return ()
    if isinstance(tta, str):
        if tta == "default":
            return DEFAULT_TTA
        names = None
    else:
        try:
            names = tuple(tta)
        except TypeError:
            names = None
    if not names or not all(isinstance(n, str) and n in TTA_TRANSFORMS for n in names):
        raise ValueError(
            f"tta must be None, 'default' or a non-empty sequence of transform names among "
            f"{sorted(TTA_TRANSFORMS)}, got {tta!r}."
        )
    return names


def tta_transform(images, name):
    """Apply the named test-time transform to every image of a batch.

    Uncovered pixels are filled with 0, like the training augmentation.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, C)
        Images with at most 4 channels.
    name : str
        Key of :data:`TTA_TRANSFORMS`.

    Returns
    -------
    transformed : ndarray of shape (n, H, W, C)
        ``images`` itself for ``"identity"``, otherwise a new ``float32`` array.

    Examples
    --------
    >>> import numpy as np
    >>> from skpneumo.estimators import tta_transform
    >>> x = np.zeros((1, 40, 40, 3), np.float32); x[0, 20, 10] = 1
    >>> int(np.argmax(tta_transform(x, "shift_right")[0, 20, :, 0]))
    12
    """
    transform = TTA_TRANSFORMS[name]
    if transform == TTA_TRANSFORMS["identity"]:
        return images
    height, width = images.shape[1:3]
    m = transform.matrix(height, width)
    out = np.empty(images.shape, np.float32)
    for i, image in enumerate(images):
        warped = cv2.warpAffine(image.astype(np.float32, copy=False), m, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        # OpenCV drops a single channel axis.
        out[i] = warped.reshape(image.shape)
    return out

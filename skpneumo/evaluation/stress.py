"""Stress tests: how a model's operating point holds on films taken differently.

Films from another machine, period or hospital differ in sharpness, resolution,
exposure, contrast, noise, compression and post-processing. A threshold chosen on
clean validation patients can fail on them while the ROC AUC barely moves: on the
Kermany films, NORMAL films are sharper than PNEUMONIA films, so a network can learn
"blurry means pneumonia", and blurrier new films then lose specificity.
:func:`stress_report` re-scores held-out films under each change at the model's
stored threshold, so a recipe can be chosen on the numbers that survive.

Every change acts on the decoded film, before the model's own preprocessing, and is
scaled to the film's size (a blur of 0.5% of the shorter side is 1.1 pixels on a 224
pixel film and 10 pixels on a 2,000 pixel one).
"""

import dataclasses
from functools import partial

import cv2
import numpy as np

from ..io import read_image
from ..preprocessing import CLAHE
from ..utils.images import check_not_one_path, is_path
from .scoring import evaluate, resolve_groups


def _to_unit(image):
    """float32 copy in [0, 1] and the maximum of the image's integer type (or None)."""
    if image.dtype.kind in "ui":
        top = float(np.iinfo(image.dtype).max)
        return image.astype(np.float32) / np.float32(top), top
    return image.astype(np.float32), None


def _from_unit(unit, dtype, top):
    unit = np.clip(unit, 0.0, 1.0)
    if top is None:
        return unit.astype(dtype)
    return np.rint(unit * top).astype(dtype)


def _planes(function):
    """Run ``function`` on a (H, W) or (H, W, 3) image: OpenCV drops a single channel and
    knows nothing of alpha, so (H, W, 1) is squeezed and restored, and alpha kept as is."""

    def apply(image, **params):
        if image.ndim == 3 and image.shape[2] in (1, 4):
            color = image[:, :, 0] if image.shape[2] == 1 else image[:, :, :3]
            out = function(np.ascontiguousarray(color), **params)
            if image.shape[2] == 1:
                return out[:, :, np.newaxis]
            return np.concatenate([out, image[:, :, 3:]], axis=2)
        return function(image, **params)

    apply.__name__, apply.__doc__ = function.__name__, function.__doc__
    return apply


def _per_pixel(function):
    """Apply ``function`` to the image in [0, 1] and return the image's own pixel type."""

    @_planes
    def apply(image, **params):
        unit, top = _to_unit(image)
        return _from_unit(function(unit, **params), image.dtype, top)

    apply.__name__, apply.__doc__ = function.__name__, function.__doc__
    return apply


def _shorter_side(image):
    return min(image.shape[:2])


@_per_pixel
def blur(image, sigma=0.005):
    """Gaussian blur of standard deviation ``sigma`` times the shorter side (a softer detector)."""
    return cv2.GaussianBlur(image, (0, 0), sigma * _shorter_side(image))


@_per_pixel
def sharpen(image, amount=1.0, sigma=0.005):
    """Unsharp masking: ``image + amount * (image - blur(image))`` (an edge-enhancing console)."""
    return image + amount * (image - cv2.GaussianBlur(image, (0, 0), sigma * _shorter_side(image)))


@_per_pixel
def downscale(image, factor=0.5):
    """Shrink by ``factor`` (area averaging) and enlarge back (bilinear): a coarser detector."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@_per_pixel
def gamma(image, gamma=1.5):
    """Power law ``image ** gamma``: darker mid-tones above 1, lighter below (exposure)."""
    return np.power(image, gamma)


@_per_pixel
def contrast(image, factor=0.7):
    """Scale the deviation from the film's mean intensity by ``factor``."""
    mean = image.mean()
    return mean + factor * (image - mean)


@_planes
def noise(image, std=0.03, random_state=0):
    """Add Gaussian noise of standard deviation ``std`` (in [0, 1] units): lower dose.

    ``random_state`` seeds the noise, so that a stress test is repeatable.
    """
    unit, top = _to_unit(image)
    rng = np.random.default_rng(random_state)
    return _from_unit(unit + rng.normal(0.0, std, unit.shape).astype(np.float32), image.dtype, top)


def _through_eight_bits(function):
    """Run an 8-bit OpenCV ``function`` on any image and return the image's own pixel type."""

    @_planes
    def apply(image, **params):
        unit, top = _to_unit(image)
        eight_bit = image if image.dtype == np.uint8 else _from_unit(unit, np.uint8, 255.0)
        out = function(eight_bit, **params).reshape(image.shape)
        return out if image.dtype == np.uint8 else _from_unit(out / np.float32(255), image.dtype, top)

    apply.__name__, apply.__doc__ = function.__name__, function.__doc__
    return apply


@_through_eight_bits
def jpeg(image, quality=30):
    """Encode as JPEG at ``quality`` and decode again (compression by an archive)."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("stress test: OpenCV could not encode the image as JPEG.")
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


@_planes
def clahe(image, clip_limit=2.0, tile_grid_size=8):
    """Contrast-limited adaptive histogram equalisation, as some consoles apply to every film.

    :class:`~skpneumo.preprocessing.CLAHE` on 8- and 16-bit films; float films go
    through 16 bits.
    """
    step = CLAHE(clip_limit=clip_limit, tile_grid_size=tile_grid_size)
    if image.dtype in (np.uint8, np.uint16):
        return step.transform_image(image)
    unit, top = _to_unit(image)
    return (step.transform_image(_from_unit(unit, np.uint16, 65535.0)) / np.float32(65535)).astype(image.dtype)


#: The acquisition changes :func:`stress_report` applies by default, by name.
ACQUISITION_SHIFTS = {
    "blur 0.5%": partial(blur, sigma=0.005),
    "blur 1%": partial(blur, sigma=0.01),
    "downscale 1/2": partial(downscale, factor=0.5),
    "downscale 1/4": partial(downscale, factor=0.25),
    "sharpen": partial(sharpen, amount=1.0),
    "gamma 0.67": partial(gamma, gamma=0.67),
    "gamma 1.5": partial(gamma, gamma=1.5),
    "contrast 0.7": partial(contrast, factor=0.7),
    "contrast 1.3": partial(contrast, factor=1.3),
    "noise 3%": partial(noise, std=0.03),
    "jpeg 20": partial(jpeg, quality=20),
    "clahe": clahe,
}


def stress_report(estimator, X, y, *, shifts=None, groups="auto", n_bootstrap=0, random_state=0):
    """Evaluate a fitted model on films under acquisition changes, at its stored threshold.

    Parameters
    ----------
    estimator : PneumoniaPipeline or classifier
        Fitted; its ``predict_proba`` takes a list of image arrays as read from
        the files (a skpneumo pipeline does), and its threshold is the one of
        :func:`~skpneumo.evaluation.evaluate`.
    X : sequence of path-like or image arrays
        Films of patients never trained on or selected on.
    y : array-like of shape (n_samples,)
        Their labels.
    shifts : dict of str to callable, default=None
        Name to function of one image array returning the changed image (same
        shape and pixel type). None uses :data:`ACQUISITION_SHIFTS`. The clean
        films are always scored first, under the name ``"clean"``.
    groups : "auto", array-like or None, default="auto"
        Patient of each film, as for :func:`~skpneumo.evaluation.evaluate`
        (:func:`~skpneumo.evaluation.scoring.resolve_groups`): ``"auto"`` reads them from
        the file names when ``X`` holds paths, and each report says so in its
        ``groups_source`` and notes.
    n_bootstrap : int, default=0
        Bootstrap resamples for the ROC AUC interval of each report (0: none).
    random_state : int, default=0
        Seeds the bootstrap.

    Returns
    -------
    dict of str to EvaluationReport
        ``"clean"`` then one report per shift, in order.

    Raises
    ------
    ValueError
        If a shift is not callable, is named ``"clean"`` or changes an image's
        shape or pixel type, or if ``X`` is empty or its length differs from
        ``y``'s, before any prediction.
    ImageReadError
        Naming the first film that cannot be read.
    """
    shifts = ACQUISITION_SHIFTS if shifts is None else dict(shifts)
    for name, function in shifts.items():
        if not callable(function):
            raise ValueError(f"stress_report: shift {name!r} is not callable.")
    if "clean" in shifts:
        raise ValueError("stress_report: 'clean' names the unchanged films; give the shift another name.")
    check_not_one_path(X, "stress_report: X")
    items = list(X)
    if not items:
        raise ValueError("stress_report: X holds no films.")
    if len(items) != len(y):
        raise ValueError(f"stress_report: X holds {len(items)} films but y {len(y)} labels.")
    # Resolved here, from the paths: evaluate sees the decoded (and changed) films.
    groups, groups_source, group_notes = resolve_groups(items, groups, stacklevel=2)
    images = [read_image(item) if is_path(item) else np.asarray(item) for item in items]
    for name, function in shifts.items():  # cheap shape check on one film before minutes of scoring
        changed = function(images[0])
        if changed.shape != images[0].shape or changed.dtype != images[0].dtype:
            raise ValueError(f"stress_report: shift {name!r} turned a {images[0].dtype} image of shape "
                             f"{images[0].shape} into a {changed.dtype} image of shape {changed.shape}.")
    reports = {}
    for name, function in {"clean": None, **shifts}.items():
        shifted = images if function is None else [function(image) for image in images]
        report = evaluate(estimator, shifted, y, groups=groups, n_bootstrap=n_bootstrap,
                          random_state=random_state)
        # evaluate took them as given: say where they came from, as evaluate on the paths would.
        reports[name] = dataclasses.replace(report, groups_source=groups_source,
                                            notes=(*group_notes, *report.notes))
    return reports

"""Grad-CAM explanations: where in each X-ray the classifier found its evidence.

Grad-CAM (Selvaraju et al., ICCV 2017) weights each channel of the backbone's last
convolutional feature map by the mean gradient of the pneumonia logit with respect
to it; the ReLU of the weighted sum is a coarse map of the regions that raise the
predicted probability of the positive class (``pos_label_``).
"""

import os
from pathlib import Path

import cv2
import keras
import numpy as np
from keras import ops
from sklearn.utils.validation import check_is_fitted

from ..estimators import skpneumo_classifier
from ..io import check_image_file
from ..network import check_input_images
from ..preprocessing import ImageLoader
from ..utils.files import write_files_atomically
from ..utils.images import as_image_list, check_not_one_path, chunks, is_path, stack_images
from ..utils.labels import positive_index
from ..utils.validation import is_real

OVERLAY_SUFFIX = "_gradcam.png"


def _value_and_gradient(fn, x):
    """``fn(x)`` and the gradient of its sum with respect to ``x``.

    The one backend-specific step: Keras 3 has no backend-neutral gradient.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return value, tape.gradient(value, x)
    if backend == "jax":
        import jax

        value, pullback = jax.vjp(fn, x)
        return value, pullback(jax.numpy.ones_like(value))[0]
    raise NotImplementedError(
        f"Grad-CAM supports the tensorflow and jax Keras backends, not {backend!r}."
    )


def _network_parts(model):
    """Split the classifier's network around its backbone.

    Returns the layers before the backbone, the backbone, the head layers after it
    and the final sigmoid unit, whose logit Grad-CAM differentiates.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [layer.name for layer in layers]
    output = layers[-1]
    if "backbone" not in names or not (
        isinstance(output, keras.layers.Dense) and output.activation is keras.activations.sigmoid
    ):
        raise ValueError(
            "Grad-CAM needs a skpneumo network: a sub-model named 'backbone' and a final "
            f"sigmoid Dense unit; got layers {names}."
        )
    i = names.index("backbone")
    return layers[:i], layers[i], layers[i + 1:-1], output


def grad_cam(model, images, batch_size=32, negate=False):
    """Raw Grad-CAM maps of a skpneumo network, at the resolution of its feature map.

    Parameters
    ----------
    model : keras.Model
        The ``model_`` of a fitted :class:`~skpneumo.PneumoniaClassifier`.
    images : ndarray of shape (n, H, W, 3)
        Preprocessed images, as the classifier takes them.
    batch_size : int, default=32
        Images per forward and backward pass.
    negate : bool, default=False
        Explain the other class: the probability of the first class of
        ``classes_``, whose logit is the negated network output.

    Returns
    -------
    maps : ndarray of shape (n, h, w)
        Non-negative, unscaled; ``h x w`` is the backbone's last feature map (7x7 for
        ResNet-50 at 224 px).
    proba : ndarray of shape (n,)
        The probability of the explained class (``classes_[1]``, or ``classes_[0]``
        with ``negate``), computed in the same pass.
    """
    before, backbone, head, output = _network_parts(model)

    def logit(features):
        # Inference mode throughout: no augmentation, no dropout, frozen statistics.
        h = features
        for layer in head:
            h = layer(h, training=False)
        kernel = ops.cast(output.kernel, h.dtype)
        value = ops.squeeze(ops.matmul(h, kernel), -1) + ops.cast(output.bias, h.dtype)
        return -value if negate else value

    maps, logits = [], []
    for start in range(0, len(images), batch_size):
        x = ops.convert_to_tensor(images[start:start + batch_size], dtype=model.inputs[0].dtype)
        for layer in before:
            x = layer(x, training=False)
        features = backbone(x, training=False)
        value, gradient = _value_and_gradient(logit, features)
        features = ops.convert_to_numpy(features).astype(np.float32)
        weights = ops.convert_to_numpy(gradient).astype(np.float32).mean(axis=(1, 2))
        maps.append(np.maximum(np.einsum("nhwc,nc->nhw", features, weights), 0.0))
        logits.append(ops.convert_to_numpy(value).astype(np.float64))
    return np.concatenate(maps), 1.0 / (1.0 + np.exp(-np.concatenate(logits)))


def _heatmap(cam, height, width):
    """Upsample one map to the image size and scale it to [0, 1]."""
    heat = cv2.resize(cam.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    peak = float(heat.max())
    return heat / peak if peak > 0 else np.zeros_like(heat)


def _display_rgb(image):
    """The image as 8-bit RGB for display, stretched to its own range.

    Stretched because 16-bit radiographs often use only 10 to 12 bits.
    """
    image = image.astype(np.float32)
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    image = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return scaled * 255.0


def overlay(image, heatmap, alpha=0.5):
    """Blend a heatmap, in the jet colour map, over an image.

    Each pixel is coloured in proportion to its heat, so regions without heat keep
    their original grey values.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        The image as read (any supported bit depth; alpha is dropped).
    heatmap : ndarray of shape (H, W)
        Values in [0, 1].
    alpha : float, default=0.5
        Opacity of the colour map where the heat is 1.

    Returns
    -------
    rgb : ndarray of shape (H, W, 3), uint8
    """
    colours = cv2.applyColorMap(np.round(heatmap * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB).astype(np.float32)
    weight = alpha * heatmap[:, :, np.newaxis]
    blended = _display_rgb(image) * (1.0 - weight) + colours * weight
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def overlay_png(image, heatmap, alpha=0.5):
    """The :func:`overlay` of ``heatmap`` on ``image``, encoded as a PNG file's bytes.

    The overlay files :func:`explain` writes hold exactly these bytes.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        The image as read.
    heatmap : ndarray of shape (H, W)
        Values in [0, 1].
    alpha : float, default=0.5
        Opacity of the colour map where the heat is 1.

    Returns
    -------
    png : bytes
    """
    return cv2.imencode(".png", cv2.cvtColor(overlay(image, heatmap, alpha), cv2.COLOR_RGB2BGR))[1].tobytes()


def overlay_names(X):
    """File names for the overlays of ``X``: unique, derived from the input names.

    ``chest/IM-0001.jpeg`` becomes ``IM-0001_gradcam.png``; a name already taken
    (compared case-insensitively, for case-insensitive file systems) gets a number,
    ``IM-0001_2_gradcam.png``. In-memory images are named ``image-<index>``.

    Parameters
    ----------
    X : sequence of path-like or image arrays

    Returns
    -------
    names : list of str
    """
    names, taken = [], set()
    for i, item in enumerate(X):
        stem = Path(os.fsdecode(item)).stem if is_path(item) else f"image-{i}"
        name, k = stem + OVERLAY_SUFFIX, 2
        while name.lower() in taken:
            name, k = f"{stem}_{k}{OVERLAY_SUFFIX}", k + 1
        taken.add(name.lower())
        names.append(name)
    return names


def _split_estimator(estimator):
    """The fitted classifier and the pipeline of the steps that feed it (None for a
    bare classifier)."""
    clf = skpneumo_classifier(estimator)
    if clf is None:
        raise TypeError(
            "explain needs a fitted skpneumo pipeline or PneumoniaClassifier, got "
            f"{type(estimator).__name__}."
        )
    check_is_fitted(clf)
    head = estimator[:-1] if clf is not estimator and len(estimator.steps) > 1 else None
    return clf, head


def _check_names(names, n):
    names = list(names)
    if len(names) != n:
        raise ValueError(f"names holds {len(names)} file names for {n} images.")
    bad = [name for name in names if not isinstance(name, str) or Path(name).name != name
           or not name.lower().endswith(".png")]
    if bad:
        raise ValueError(f"names must be plain file names ending in .png, got {bad[0]!r}.")
    if len({name.lower() for name in names}) != n:
        raise ValueError("names must be unique (compared case-insensitively).")
    return names


def explain(estimator, X, *, out=None, names=None, alpha=0.5, return_proba=False):
    """Grad-CAM heatmaps of pneumonia evidence, one per image, at each image's size.

    The images go through the pipeline's transform steps (samplers skipped), then the
    network in inference mode (no augmentation, no dropout). The heatmap is the ReLU
    of the backbone's last feature map weighted by the gradients of the logit of
    the positive class ``pos_label_`` (PNEUMONIA), upsampled to the size of the image as read, so it
    lines up with the original even when the pipeline resizes or stretches it, and
    scaled to a maximum of 1. It is all zeros when no region raises the probability.

    Parameters
    ----------
    estimator : PneumoniaPipeline or PneumoniaClassifier
        Fitted. A bare classifier takes preprocessed arrays.
    X : sequence of path-like or image arrays
        What the estimator's ``predict_proba`` takes: file paths or images.
    out : path-like or None, default=None
        Folder (created if needed) to write one PNG overlay per image: the image with
        the heatmap in the jet colour map blended over it (see :func:`overlay`). The
        files of each batch are written atomically.
    names : sequence of str or None, default=None
        Overlay file names (unique ``.png`` names without a folder), one per image;
        default :func:`overlay_names` of ``X``.
    alpha : float, default=0.5
        Opacity of the colour map at the hottest point of an overlay, in [0, 1].
    return_proba : bool, default=False
        Also return the probability of the positive class ``pos_label_`` for each image,
        as ``predict_proba`` gives it (with the classifier's test-time augmentation).

    Returns
    -------
    heatmaps : list of ndarray of shape (H_i, W_i), float32
        Values in [0, 1]; deterministic.
    proba : ndarray of shape (n,)
        Only with ``return_proba``: the classifier's ``predict_proba`` of
        ``pos_label_``, with its ``tta`` views, so that a label at its threshold
        (chosen on those probabilities) is the one ``predict`` gives. The heatmap
        explains the film as is, without augmentation.

    Raises
    ------
    ImageReadError
        Naming the first unreadable file, before any image is explained.
    ValueError
        On a bad parameter, or if ``out`` is an existing file.

    Examples
    --------
    >>> from skpneumo import explain
    >>> heatmaps = explain(pipe, ["a.png", "b.jpeg"], out="gradcam/")  # doctest: +SKIP
    >>> heatmaps[0].shape  # the size of a.png  # doctest: +SKIP
    (1858, 2090)
    """
    clf, head = _split_estimator(estimator)
    if not is_real(alpha, 0, 1, high_inclusive=True):
        raise ValueError(f"alpha must be a float in [0, 1], got {alpha!r}.")
    check_not_one_path(X)
    items = X if isinstance(X, np.ndarray) else list(X)
    if len(items) == 0:
        raise ValueError("X holds no images.")
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"out must be a folder, but '{out}' is a file.")
    if names is not None or out is not None:
        names = _check_names(overlay_names(items) if names is None else names, len(items))
    # Cheap checks first, so a bad path late in a long list fails at once.
    for item in items:
        if is_path(item):
            check_image_file(os.fspath(item))

    first = head.steps[0][1] if head is not None else None
    loader = first if isinstance(first, ImageLoader) else None
    heatmaps, probas = [], []
    for chunk in chunks(items, clf.batch_size):
        loaded = loader.transform(chunk) if loader is not None else stack_images(as_image_list(chunk, "explain"))
        # The overlay goes on the image as stored, the network gets exactly what
        # predict_proba gives it (large JPEGs decoded at reduced scale for the model).
        Xt = head.transform(chunk) if head is not None else loaded
        check_input_images(Xt)
        maps, proba = grad_cam(clf.model_, Xt, clf.batch_size,
                               negate=positive_index(clf.classes_) == 0)
        if return_proba:
            # predict's own probability: a threshold chosen with test-time augmentation applies to
            # probabilities with it, and grad_cam's come from the film as is.
            proba = clf.predict_proba(Xt)[:, positive_index(clf.classes_)]
        chunk_heatmaps = [_heatmap(m, *image.shape[:2]) for m, image in zip(maps, loaded)]
        if out is not None:
            files = {
                name: overlay_png(image, heat, alpha)
                # heatmaps holds those of the earlier chunks: this chunk's names start there.
                for name, image, heat in zip(names[len(heatmaps):], loaded, chunk_heatmaps)
            }
            write_files_atomically(out, files, "Grad-CAM overlays")
        heatmaps.extend(chunk_heatmaps)
        probas.append(proba)
    return (heatmaps, np.concatenate(probas)) if return_proba else heatmaps

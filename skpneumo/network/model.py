"""The pneumonia network: backbone, in-model preprocessing, augmentation and head.

Only Keras 3 APIs are used here, so the model runs on the TensorFlow, JAX and
PyTorch backends alike. :func:`check_input_images` states what it takes.
"""

import keras
import numpy as np
from keras import layers
from scipy import sparse

from .backbones import BACKBONES, make_backbone
from .layers import ImageNetPreprocessing, PerImageStandardization

_MIN_IMAGE_SIDE = 32


def check_input_images(X, where="X"):
    """Raise unless ``X`` is a batch of images the network takes.

    That is a dense, real NumPy array of float RGB images in [0, 1], of shape
    ``(n, H, W, 3)`` with ``n >= 1`` and sides of at least 32 pixels,
    without NaN or infinite values. The messages name the preprocessing
    step that makes such images.

    Parameters
    ----------
    X : object
        The images to check.
    where : str, default="X"
        How the messages name ``X``.

    Raises
    ------
    TypeError
        If ``X`` is a sparse matrix.
    ValueError
        For any other departure from the contract.
    """
    if sparse.issparse(X):
        raise TypeError(f"{where}: sparse input is not supported; pass a dense array of images.")
    if isinstance(X, np.ndarray) and X.dtype.kind == "c":
        raise ValueError(f"{where}: Complex data not supported; pass real-valued images.")
    if not isinstance(X, np.ndarray) or X.dtype == object:
        raise ValueError(
            f"{where}: expected a float array of RGB images (n, H, W, 3); got "
            f"{type(X).__name__}. Use skpneumo.make_pipeline() to classify image files."
        )
    if X.ndim != 4 or X.shape[-1] != 3:
        raise ValueError(
            f"{where}: expected RGB images of shape (n, H, W, 3), got shape {X.shape}; "
            "put GrayscaleToRGB before the classifier."
        )
    if min(X.shape[1:3]) < _MIN_IMAGE_SIDE:
        raise ValueError(
            f"{where}: images must be at least {_MIN_IMAGE_SIDE}x{_MIN_IMAGE_SIDE} pixels, "
            f"got {X.shape[1]}x{X.shape[2]}."
        )
    if len(X) == 0:
        raise ValueError(f"{where} holds no images.")
    if X.dtype.kind != "f":
        raise ValueError(
            f"{where}: expected float images scaled to [0, 1], got {X.dtype} pixels; "
            "put a Normalizer before the classifier (make_pipeline() does)."
        )
    # Two passes over X tell both: NaN propagates through min and max.
    low, high = float(X.min()), float(X.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{where} contains NaN or infinite values.")
    if low < 0 or high > 1:
        raise ValueError(
            f"{where}: expected float images scaled to [0, 1], got values in "
            f"[{low:.4g}, {high:.4g}]; put a Normalizer before the classifier "
            "(make_pipeline() does)."
        )


def build_model(input_shape, *, backbone, weights, dense_units, dropout, augmentation, standardize=False):
    """Build the pneumonia network (uncompiled).

    ``input -> [augmentation] -> [per-image standardisation] -> ImageNet preprocessing
    -> backbone (inference-mode BatchNormalization) -> global average pooling ->
    [dense + dropout]* -> sigmoid``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, 3)`` of the [0, 1] float images.
    backbone : str
        Key of :data:`BACKBONES`.
    weights : "imagenet", None or path-like
        Backbone weights.
    dense_units : sequence of int
        Sizes of the hidden dense layers of the head.
    dropout : float
        Dropout rate after each hidden dense layer.
    augmentation : keras.layers.Layer or None
        From :func:`build_augmentation`.
    standardize : bool, default=False
        Give each image mean 0.5 and standard deviation 0.25
        (:class:`~skpneumo.network.layers.PerImageStandardization`), after the
        augmentation, in training and at prediction.

    Returns
    -------
    keras.Model
        With the backbone reachable as ``model.get_layer("backbone")``.
    """
    spec = BACKBONES[backbone]
    inputs = keras.Input(shape=input_shape, name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    if standardize:
        x = PerImageStandardization(name="standardize")(x)
    x = ImageNetPreprocessing(spec.preprocessing, name="imagenet_preprocessing")(x)
    base = make_backbone(backbone, weights, input_shape)
    if weights is None:
        # From scratch, BatchNormalization must learn its statistics, and Keras'
        # default momentum (0.99) needs thousands of steps before inference works.
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = 0.9
        x = base(x)
    else:
        # training=False keeps pre-trained BatchNormalization statistics, also when fine-tuning.
        x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    for i, units in enumerate(dense_units):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    # float32 even under mixed precision: a float16 sigmoid saturates and destabilises the loss.
    outputs = layers.Dense(1, activation="sigmoid", name="pneumonia", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"skpneumo_{backbone}")


def set_trainable_layers(model, n_layers, freeze_batchnorm=True):
    """Freeze the backbone except its top ``n_layers`` layers.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_model`.
    n_layers : int or "all"
        Number of backbone layers, counted from the top, to train.
    freeze_batchnorm : bool, default=True
        Keep BatchNormalization layers frozen (right for pre-trained weights).
    """
    base = model.get_layer("backbone")
    base.trainable = True
    n_total = len(base.layers)
    first = 0 if n_layers == "all" else n_total - min(int(n_layers), n_total)
    for i, layer in enumerate(base.layers):
        is_bn = isinstance(layer, layers.BatchNormalization)
        layer.trainable = i >= first and not (freeze_batchnorm and is_bn)
    if first >= n_total:
        base.trainable = False

"""The pneumonia network: backbone, in-model preprocessing, augmentation and head.

Only Keras 3 APIs are used here, so the model runs on the TensorFlow, JAX and
PyTorch backends alike.
"""

import keras
from keras import layers

from .backbones import BACKBONES, make_backbone
from .layers import ImageNetPreprocessing

def build_model(input_shape, *, backbone, weights, dense_units, dropout, augmentation):
    """Build the pneumonia network (uncompiled).

    ``input -> [augmentation] -> ImageNet preprocessing -> backbone (inference-mode
    BatchNormalization) -> global average pooling -> [dense + dropout]* -> sigmoid``.

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

    Returns
    -------
    keras.Model
        With the backbone reachable as ``model.get_layer("backbone")``.
    """
    spec = BACKBONES[backbone]
    inputs = keras.Input(shape=input_shape, name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
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

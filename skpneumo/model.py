"""The Keras network: ImageNet backbone, in-model preprocessing, augmentation and head.

Only Keras 3 APIs are used here, so the model runs on the TensorFlow, JAX and
PyTorch backends alike.
"""

import math
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

import keras
from keras import layers, ops


@dataclass(frozen=True)
class Backbone:
    """A convolutional network usable as feature extractor.

    ``constructor`` names a ``keras.applications`` function or is a callable
    with the same signature; ``weights_url`` is ``None`` for networks without
    published ImageNet weights.
    """

    constructor: object
    preprocessing: str
    weights_url: object = None

    @property
    def weights_file(self):
        return self.weights_url.rsplit("/", 1)[-1]

    @property
    def name(self):
        return self.constructor if isinstance(self.constructor, str) else self.constructor.__name__

    def build(self, **kwargs):
        constructor = self.constructor
        if isinstance(constructor, str):
            constructor = getattr(keras.applications, constructor)
        return constructor(**kwargs)


def _conv_block(x, filters, strides=1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def SmallCNN(include_top=False, weights=None, input_shape=None, name="smallcnn"):
    """Compact VGG-style network (about 1.2 M parameters) for training from scratch.

    A strided stem and four stages of 3x3 convolutions with BatchNormalization
    (32, 64, 128, 256 filters), each stage but the last ending in max pooling;
    the feature map is 1/16 of the input size. About 0.4 GFLOPs per 128x128
    image, a tenth of ResNet-50 at 224x224, so it trains on CPUs.

    Parameters
    ----------
    include_top : bool, default=False
        Must be False (the classifier adds its own head); kept for the
        ``keras.applications`` signature.
    weights : None
        There are no pre-trained weights; a path to a weights file is accepted.
    input_shape : tuple of int
        ``(H, W, 3)``.
    name : str
        Model name.
    """
    if include_top:
        raise ValueError("SmallCNN has no classification top; use include_top=False.")
    if weights == "imagenet":
        raise ValueError("SmallCNN has no ImageNet weights; use weights=None.")
    inputs = keras.Input(shape=input_shape)
    x = _conv_block(inputs, 32, strides=2)
    for i, filters in enumerate((32, 64, 128, 256)):
        if i > 0:
            x = _conv_block(x, filters)
        x = _conv_block(x, filters)
        if i < 3:
            x = layers.MaxPooling2D()(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"

BACKBONES = {
    "resnet50": Backbone(
        "ResNet50", "caffe", _KERAS_APPS + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
    "densenet121": Backbone(
        "DenseNet121", "torch",
        _KERAS_APPS + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    # EfficientNet rescales 0-255 input itself, so it receives raw 0-255 pixels.
    "efficientnetb0": Backbone(
        "EfficientNetB0", "raw", "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"
    ),
    # MobileNetV3 also rescales inside; its ImageNet weights have a fixed file per input size.
    "mobilenetv3small": Backbone(
        "MobileNetV3Small", "raw",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
        "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
    ),
    "smallcnn": Backbone(SmallCNN, "tf"),
}

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


class WeightsUnavailableError(RuntimeError):
    """Pre-trained weights cannot be downloaded and are not cached locally."""


@keras.saving.register_keras_serializable(package="skpneumo")
class ImageNetPreprocessing(layers.Layer):
    """Map [0, 1] RGB images to the input an ImageNet backbone was trained on.

    Parameters
    ----------
    mode : {"caffe", "torch", "tf", "raw"}
        ``"caffe"`` (ResNet-50): 0-255 BGR minus the ImageNet channel means;
        ``"torch"`` (DenseNet): ImageNet mean/std standardisation of [0, 1] RGB;
        ``"tf"``: [-1, 1]; ``"raw"``: 0-255 RGB for networks that rescale inside.
    """

    def __init__(self, mode="caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "torch", "tf", "raw"):
            raise ValueError(f"Unknown ImageNet preprocessing mode {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        if self.mode == "torch":
            return (inputs - ops.array(_TORCH_MEAN, dtype=inputs.dtype)) / ops.array(
                _TORCH_STD, dtype=inputs.dtype
            )
        if self.mode == "tf":
            return inputs * 2.0 - 1.0
        x = inputs * 255.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1) - ops.array(_CAFFE_MEAN_BGR, dtype=inputs.dtype)
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def keras_weights_cache():
    """Folder where Keras looks for downloaded application weights."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def _weights_cache_dirs():
    # Keras falls back to /tmp/.keras when the home folder is not writable.
    return [keras_weights_cache(), os.path.join("/tmp", ".keras", "models")]


def _offline_message(backbone, reason):
    spec = BACKBONES[backbone]
    return (
        f"Cannot download the ImageNet weights for {spec.name} ({reason}). "
        f"On a machine with internet access, download\n  {spec.weights_url}\n"
        f"then either pass weights='/path/to/{spec.weights_file}' (CLI: --weights PATH), "
        f"or copy the file into Keras' cache folder {keras_weights_cache()} "
        "(set KERAS_HOME to use another folder). weights=None trains from scratch."
    )


# File signatures of the formats keras.Model.load_weights reads: HDF5 (.weights.h5 and
# legacy .h5) and the zipped .keras format.
_WEIGHTS_SIGNATURES = {".h5": b"\x89HDF\r\n\x1a\n", ".hdf5": b"\x89HDF\r\n\x1a\n", ".keras": b"PK\x03\x04"}


def _check_weights_file(path):
    """Raise unless ``path`` is a readable Keras weights file, by name and signature."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"weights file not found: '{path}' (weights must be 'imagenet', None or "
            "the path to a Keras weights file)."
        )
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _WEIGHTS_SIGNATURES:
        raise ValueError(
            f"weights file '{path}' is not a Keras weights file: expected a name ending in "
            ".weights.h5, .h5 or .keras."
        )
    with open(path, "rb") as file:
        head = file.read(8)
    if not head.startswith(_WEIGHTS_SIGNATURES[suffix]):
        raise ValueError(
            f"weights file '{path}' is not a valid {suffix} file (its first bytes are not "
            f"those of {'HDF5' if suffix != '.keras' else 'a .keras archive'}): truncated, or another format."
        )


def check_weights(weights, backbone="resnet50", timeout=10.0):
    """Check that ``weights`` can be used, before any training data is loaded.

    Parameters
    ----------
    weights : "imagenet", None or path-like
        The classifier's ``weights`` parameter.
    backbone : str
        Key of :data:`BACKBONES`.
    timeout : float
        Seconds to wait for the download server when the weights are not cached.

    Raises
    ------
    FileNotFoundError
        If ``weights`` is a path that does not exist.
    ValueError
        If ``weights`` is a file that is not a Keras weights file (by its name and
        its first bytes).
    WeightsUnavailableError
        If ImageNet weights are neither cached nor downloadable.
    """
    if weights is None:
        return
    if weights != "imagenet":
        _check_weights_file(os.fspath(weights))
        return
    spec = BACKBONES[backbone]
    if spec.weights_url is None:
        raise ValueError(
            f"backbone {backbone!r} has no ImageNet weights: use weights=None "
            "(or the path to a weights file trained for it)."
        )
    for folder in _weights_cache_dirs():
        if os.path.isfile(os.path.join(folder, spec.weights_file)):
            return
    try:
        with urllib.request.urlopen(
            urllib.request.Request(spec.weights_url, method="HEAD"), timeout=timeout
        ):
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsUnavailableError(_offline_message(backbone, exc)) from None


def _make_backbone(backbone, weights, input_shape):
    spec = BACKBONES[backbone]
    weights = weights if weights in (None, "imagenet") else os.fspath(weights)
    try:
        return spec.build(include_top=False, weights=weights, input_shape=input_shape, name="backbone")
    except Exception as exc:
        # Keras' get_file wraps network errors in a bare Exception("URL fetch failure ...").
        if weights == "imagenet" and "URL fetch failure" in str(exc):
            raise WeightsUnavailableError(_offline_message(backbone, exc)) from None
        raise


@keras.saving.register_keras_serializable(package="skpneumo")
class RandomAffine(layers.Layer):
    """Random rotation, zoom and shift in one warp, active in training only.

    One bilinear resampling instead of the three of Keras' ``RandomRotation``,
    ``RandomZoom`` and ``RandomTranslation``: a third of the cost on CPUs and
    less blur. Pixels coming from outside the image are black.

    Parameters
    ----------
    rotation : float
        Maximum rotation in degrees (uniform in ``[-rotation, rotation]``).
    zoom : float
        Maximum relative scale change (uniform in ``[1 - zoom, 1 + zoom]``).
    shift : float
        Maximum translation, as a fraction of the image height and width.
    seed : int or None
        Seed of the layer's random generator.
    """

    def __init__(self, rotation=0.0, zoom=0.0, shift=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.zoom, self.shift, self.seed = rotation, zoom, shift, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, n, limit):
        return keras.random.uniform((n,), -limit, limit, seed=self.seed_generator)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = ops.shape(inputs)
        n = shape[0]
        h, w = ops.cast(shape[1], "float32"), ops.cast(shape[2], "float32")
        angle = self._uniform(n, self.rotation * math.pi / 180.0)
        inv_scale = 1.0 / (1.0 + self._uniform(n, self.zoom))
        cx = (w - 1.0) / 2.0 + self._uniform(n, self.shift) * w
        cy = (h - 1.0) / 2.0 + self._uniform(n, self.shift) * h
        # affine_transform maps output to input pixels: undo shift, rotation and zoom.
        a0, a1 = ops.cos(angle) * inv_scale, ops.sin(angle) * inv_scale
        b0, b1 = -a1, a0
        a2 = (w - 1.0) / 2.0 - a0 * cx - a1 * cy
        b2 = (h - 1.0) / 2.0 - b0 * cx - b1 * cy
        zeros = ops.zeros_like(a0)
        transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return ops.image.affine_transform(
            inputs, ops.cast(transform, inputs.dtype), interpolation="bilinear",
            fill_mode="constant", fill_value=0,
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "zoom": self.zoom,
                "shift": self.shift, "seed": self.seed}


def build_augmentation(rotation, zoom, shift, contrast, horizontal_flip):
    """Random augmentation block, active in training only.

    Parameters
    ----------
    rotation : float
        Maximum rotation in degrees.
    zoom, shift, contrast : float
        Maximum relative zoom, translation (fraction of the image size) and
        contrast change.
    horizontal_flip : bool
        Random left-right flips (off by default: anatomy is not symmetric).

    Returns
    -------
    keras.Sequential or None
        ``None`` when every transformation is disabled.
    """
    steps = []
    if horizontal_flip:
        steps.append(layers.RandomFlip("horizontal"))
    if rotation or zoom or shift:
        steps.append(RandomAffine(rotation, zoom, shift))
    if contrast:
        steps.append(layers.RandomContrast(contrast, value_range=(0.0, 1.0)))
    return keras.Sequential(steps, name="augmentation") if steps else None


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
    base = _make_backbone(backbone, weights, input_shape)
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

"""Feature extractors: the ``keras.applications`` backbones, SmallCNN and their weights.

Checking ImageNet weights before training says where to put the file on an
offline machine, instead of failing minutes later inside Keras.
"""

import os
import urllib.error
import urllib.request
from dataclasses import dataclass

import keras
from keras import layers

from ..exceptions import WeightsUnavailableError
from .layers import ImageNetPreprocessing  # noqa: F401  (registers the custom layers: saved networks load)
from .pretrained import keras_weights_cache


@dataclass(frozen=True)
class Backbone:
    """A convolutional network usable as feature extractor.

    Parameters
    ----------
    constructor : str or callable
        Name of a ``keras.applications`` function, or a callable with the same
        signature (such as :func:`SmallCNN`).
    preprocessing : {"caffe", "torch", "tf", "raw"}
        Input scaling the network expects, the ``mode`` of
        :class:`~skpneumo.network.layers.ImageNetPreprocessing`.
    weights_url : str or None, default=None
        Download address of the ImageNet weights without top; None for networks
        without published ImageNet weights.
    """

    constructor: object
    preprocessing: str
    weights_url: object = None

    @property
    def weights_file(self):
        """File name of the ImageNet weights: the last component of ``weights_url``.

        Returns
        -------
        str
        """
        return self.weights_url.rsplit("/", 1)[-1]

    @property
    def name(self):
        """Name of the network: ``constructor`` itself, or the callable's ``__name__``.

        Returns
        -------
        str
        """
        return self.constructor if isinstance(self.constructor, str) else self.constructor.__name__

    def build(self, **kwargs):
        """Call the constructor.

        Parameters
        ----------
        **kwargs
            Keywords of the ``keras.applications`` signature (``include_top``,
            ``weights``, ``input_shape``, ``name``, ...).

        Returns
        -------
        keras.Model
        """
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
    name : str, default="smallcnn"
        Model name.

    Returns
    -------
    keras.Model
        Without top: outputs the 256-channel feature map.

    Raises
    ------
    ValueError
        If ``include_top`` is True or ``weights`` is ``"imagenet"``.
    """
    def body(x):
        x = _conv_block(x, 32, strides=2)
        for i, filters in enumerate((32, 64, 128, 256)):
            if i > 0:
                x = _conv_block(x, filters)
            x = _conv_block(x, filters)
            if i < 3:
                x = layers.MaxPooling2D()(x)
        return x

    return _network_from_scratch("SmallCNN", body, include_top, weights, input_shape, name)


def _network_from_scratch(kind, body, include_top, weights, input_shape, name):
    # What SmallCNN and SmallResNet share: the keras.applications checks and weights file.
    if include_top:
        raise ValueError(f"{kind} has no classification top; use include_top=False.")
    if weights == "imagenet":
        raise ValueError(f"{kind} has no ImageNet weights; use weights=None.")
    inputs = keras.Input(shape=input_shape)
    model = keras.Model(inputs, body(inputs), name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def _residual_block(x, filters, strides=1):
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    x = _conv_block(x, filters, strides=strides)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(layers.Add()([x, shortcut]))


def SmallResNet(include_top=False, weights=None, input_shape=None, name="smallresnet"):
    """Compact residual network (about 2.8 M parameters) for training from scratch.

    A ResNet-18 layout at a quarter of its width: a wide 5x5 strided stem (32
    filters) and max pooling, then four stages of two residual blocks (32, 64,
    128, 256 filters) with BatchNormalization, each stage but the first halving
    the feature map (1/32 of the input). About as costly per image as
    :func:`SmallCNN` at the same input size, with shortcuts that keep gradients
    flowing through the deeper stack.

    Parameters
    ----------
    include_top, weights, input_shape
        As :func:`SmallCNN`.
    name : str, default="smallresnet"
        Model name.

    Returns
    -------
    keras.Model
        Without top: outputs the 256-channel feature map.
    """
    def body(x):
        x = layers.Conv2D(32, 5, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        for i, filters in enumerate((32, 64, 128, 256)):
            x = _residual_block(x, filters, strides=1 if i == 0 else 2)
            x = _residual_block(x, filters)
        return x

    return _network_from_scratch("SmallResNet", body, include_top, weights, input_shape, name)


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
    "smallresnet": Backbone(SmallResNet, "tf"),
}

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
    backbone : str, default="resnet50"
        Key of :data:`BACKBONES`.
    timeout : float, default=10.0
        Seconds to wait for the download server when the weights are not cached.

    Raises
    ------
    FileNotFoundError
        If ``weights`` is a path that does not exist.
    ValueError
        If ``weights`` is a file that is not a Keras weights file (by its name and
        its first bytes), or is ``"imagenet"`` for a backbone without ImageNet weights.
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


def _copy_saved_backbone(path, network, backbone):
    """Set ``network``'s weights from the ``backbone`` layer of a saved ``.keras`` network.

    A whole skpneumo network (a model folder's ``model.keras``) or a saved backbone alone;
    read in memory with ``safe_mode``, so that starting from a trained model writes no file.
    """
    saved = keras.saving.load_model(path, compile=False, safe_mode=True)
    source = saved.get_layer("backbone") if any(layer.name == "backbone" for layer in saved.layers) else saved
    try:
        network.set_weights(source.get_weights())
    except ValueError as exc:
        raise ValueError(f"weights file '{path}' holds a different backbone than {backbone!r} "
                         f"({exc}); start from a network of the same backbone.") from exc


def make_backbone(backbone, weights, input_shape):
    """Build a backbone without classification top, as the layer named ``"backbone"``.

    Parameters
    ----------
    backbone : str
        Key of :data:`BACKBONES`.
    weights : "imagenet", None or path-like
        Passed to the constructor; ImageNet weights are downloaded by Keras when not cached.
        A ``.keras`` file is a saved network: its ``backbone`` layer's weights are used.
    input_shape : tuple of int
        ``(H, W, 3)``.

    Returns
    -------
    keras.Model

    Raises
    ------
    WeightsUnavailableError
        If ImageNet weights are not cached and Keras cannot download them.
    """
    spec = BACKBONES[backbone]
    weights = weights if weights in (None, "imagenet") else os.fspath(weights)
    if weights is not None and weights.lower().endswith(".keras"):
        network = spec.build(include_top=False, weights=None, input_shape=input_shape, name="backbone")
        _copy_saved_backbone(weights, network, backbone)
        return network
    try:
        return spec.build(include_top=False, weights=weights, input_shape=input_shape, name="backbone")
    except Exception as exc:
        # Keras' get_file wraps network errors in a bare Exception("URL fetch failure ...").
        if weights == "imagenet" and "URL fetch failure" in str(exc):
            raise WeightsUnavailableError(_offline_message(backbone, exc)) from None
        raise

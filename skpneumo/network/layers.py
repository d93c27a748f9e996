"""Custom Keras layers: ImageNet input scaling and training-time augmentation.

Registered as Keras serializables (package ``skpneumo``), so saved networks reload.
"""

import inspect
import math

import keras
from keras import layers, ops

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)

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


@keras.saving.register_keras_serializable(package="skpneumo")
class RandomGamma(layers.Layer):
    """Random exposure: each image raised to its own power, active in training only.

    Films of another machine or console differ in their grey-level curve; a power
    ``x ** g`` with ``g`` log-uniform in ``[1 / (1 + gamma), 1 + gamma]`` darkens or
    lightens the mid-tones while black stays black and white stays white.

    Parameters
    ----------
    gamma : float
        Maximum relative change of the exponent (0.5: exponents 0.67 to 1.5).
    seed : int or None
        Seed of the layer's random generator.
    """

    def __init__(self, gamma=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.gamma, self.seed = gamma, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        limit = math.log1p(self.gamma)
        log_g = keras.random.uniform((ops.shape(inputs)[0], 1, 1, 1), -limit, limit, seed=self.seed_generator)
        return ops.power(ops.clip(inputs, 0.0, 1.0), ops.cast(ops.exp(log_g), inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "seed": self.seed}


@keras.saving.register_keras_serializable(package="skpneumo")
class PerImageStandardization(layers.Layer):
    """Give every image the same mean and spread of grey levels, in training and at prediction.

    Each image is shifted and scaled to mean 0.5 and standard deviation 0.25 over
    all its pixels, so that the network sees films of another exposure or console
    as if they had been taken like the training films. Values stay near [0, 1],
    where the backbone's input scaling expects them.
    """

    def call(self, inputs):
        mean = ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
        std = ops.std(inputs, axis=(1, 2, 3), keepdims=True)
        return (inputs - mean) / (std + 1e-3) * 0.25 + 0.5

    def compute_output_shape(self, input_shape):
        return input_shape


def build_augmentation(*, rotation=0.0, zoom=0.0, shift=0.0, contrast=0.0, horizontal_flip=False, sharpness=0.0,
                       gamma=0.0):
    """Random augmentation block, active in training only.

    Its keywords are :class:`~skpneumo.PneumoniaClassifier` parameters of the same
    names, which passes them on by name (:data:`AUGMENTATION_PARAMS`): a new
    augmentation is a keyword here, a parameter there, and its check.

    Parameters
    ----------
    rotation : float
        Maximum rotation in degrees.
    zoom, shift, contrast : float
        Maximum relative zoom, translation (fraction of the image size) and
        contrast change.
    horizontal_flip : bool
        Random left-right flips (off by default: anatomy is not symmetric).
    sharpness : float in [0, 0.5], default=0.0
        Maximum change of sharpness: each image is blended with a 3x3 smoothing
        of itself by a random factor in ``[0.5 - sharpness, 0.5 + sharpness]`` of
        Keras' ``RandomSharpness`` (0 fully smoothed, 0.5 unchanged, 1 twice as
        sharp).
    gamma : float, default=0.0
        Maximum relative change of a random exposure exponent (:class:`RandomGamma`).

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
    if gamma:
        steps.append(RandomGamma(gamma))
    if sharpness:
        steps.append(layers.RandomSharpness((0.5 - sharpness, 0.5 + sharpness), value_range=(0.0, 1.0)))
    return keras.Sequential(steps, name="augmentation") if steps else None


#: The keywords of :func:`build_augmentation`.
AUGMENTATION_PARAMS = tuple(inspect.signature(build_augmentation).parameters)

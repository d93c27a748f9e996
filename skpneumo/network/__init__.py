"""The network: backbones, custom layers, the model and its training, in plain Keras 3.

Nothing here knows scikit-learn: :class:`~skpneumo.PneumoniaClassifier` wraps it.
Imported lazily, so that importing skpneumo does not load TensorFlow.
"""

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "BACKBONES": ".backbones",
    "Backbone": ".backbones",
    "SmallCNN": ".backbones",
    "SmallResNet": ".backbones",
    "check_weights": ".backbones",
    "keras_weights_cache": ".pretrained",
    "shipped_models": ".pretrained",
    "ImageNetPreprocessing": ".layers",
    "RandomAffine": ".layers",
    "PerImageStandardization": ".layers",
    "RandomGamma": ".layers",
    "build_augmentation": ".layers",
    "build_model": ".model",
    "check_input_images": ".model",
    "set_trainable_layers": ".model",
    "ArrayBatches": ".training",
    "FileStream": ".training",
    "StreamedBatches": ".training",
    "head_on_features": ".training",
    "pad_for_devices": ".training",
    "predict_probability": ".training",
    "seeded": ".training",
    "split_evenly": ".training",
    "train_phases": ".training",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""The scikit-learn estimators: the classifier, the pipeline, presets and test-time augmentation.

Imported lazily, so that importing skpneumo does not load TensorFlow.
"""

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "PneumoniaClassifier": ".classifier",
    "PneumoniaPipeline": ".pipeline",
    "make_pipeline": ".pipeline",
    "Preprocessed": ".pipeline",
    "PRESETS": ".presets",
    "init_params": ".presets",
    "preset_params": ".presets",
    "preset_validation": ".presets",
    "DEFAULT_TTA": ".tta",
    "TTA_TRANSFORMS": ".tta",
    "resolve_tta": ".tta",
    "skpneumo_classifier": ".classifier",
    "tta_transform": ".tta",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

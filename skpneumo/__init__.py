"""skpneumo: pneumonia detection on chest X-rays, the scikit-learn way.

File paths in, pneumonia probabilities out, through one imbalanced-learn
``Pipeline``: :class:`ImageLoader` -> :class:`Resizer` -> [:class:`CLAHE`, off by
default] -> :class:`GrayscaleToRGB` -> :class:`ImageSMOTE` -> :class:`Normalizer`
-> :class:`PneumoniaClassifier`. SMOTE runs in ``fit`` only, before the
:class:`Normalizer`, so it resamples the integer images decoded from the files.
"""

import importlib

__version__ = "0.1.0"

# Public name -> defining module. Imported on first use, so that the command line
# and the data-set helpers start without loading TensorFlow.
_EXPORTS = {
    "CLAHE": "preprocessing",
    "GrayscaleToRGB": "preprocessing",
    "ImageLoader": "loading",
    "ImageNetPreprocessing": "model",
    "ImageReadError": "loading",
    "ImageSMOTE": "sampling",
    "Normalizer": "preprocessing",
    "PneumoniaClassifier": "classifier",
    "PneumoniaPipeline": "pipeline",
    "Resizer": "preprocessing",
    "WeightsUnavailableError": "model",
    "EvaluationReport": "evaluation",
    "evaluate": "evaluation",
    "load_chest_xray": "datasets",
    "fetch_chest_xray": "datasets",
    "make_synthetic_xrays": "datasets",
    "make_pipeline": "pipeline",
    "predict_on_cluster": "cluster",
    "preset_params": "presets",
    "read_image": "loading",
    "read_dicom": "dicom",
    "OperatingPoint": "thresholds",
    "choose_threshold": "thresholds",
    "set_operating_point": "thresholds",
    "bootstrap_intervals": "bootstrap",
    "expected_calibration_error": "calibration",
    "wilson_interval": "intervals",
    "tta_transform": "tta",
    # explain() itself is imported from skpneumo.explain: re-exported here, its name
    # would be shadowed by the submodule once anything imports that.
    "grad_cam": "explain",
    "overlay": "explain",
    "overlay_names": "explain",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))

"""skpneumo: pneumonia detection on chest X-rays, the scikit-learn way.

File paths in, pneumonia probabilities out, through one imbalanced-learn
``Pipeline``: :class:`ImageLoader` -> :class:`Resizer` -> [:class:`CLAHE`, off by
default] -> :class:`GrayscaleToRGB` -> :class:`ImageSMOTE` -> :class:`Normalizer`
-> :class:`PneumoniaClassifier`. SMOTE runs in ``fit`` only, before the
:class:`Normalizer`, so it resamples the integer images decoded from the files.

The package is layered (``docs/architecture.md``): :mod:`~skpneumo.exceptions`
and :mod:`~skpneumo.utils` at the bottom, then :mod:`~skpneumo.io`, then
:mod:`~skpneumo.datasets`, :mod:`~skpneumo.preprocessing` and
:mod:`~skpneumo.network`, then :mod:`~skpneumo.estimators`,
:mod:`~skpneumo.evaluation`, :mod:`~skpneumo.workflows`, and the command line on
top. The names most scripts need are re-exported here; each subpackage lists
its own in ``__all__``.
"""

__version__ = "0.4.0"

from .utils.lazy import lazy_exports  # noqa: E402

# Public name -> defining module. Imported on first use, so that the command line
# and the data-set helpers start without loading TensorFlow.
_EXPORTS = {
    "ImageReadError": ".exceptions",
    "ModelFileError": ".exceptions",
    "WeightsUnavailableError": ".exceptions",
    "read_dicom": ".io",
    "read_image": ".io",
    "fetch_chest_xray": ".datasets",
    "load_chest_xray": ".datasets",
    "make_synthetic_xrays": ".datasets",
    "patient_groups": ".datasets",
    "read_groups": ".datasets",
    "CLAHE": ".preprocessing",
    "GrayscaleToRGB": ".preprocessing",
    "ImageLoader": ".preprocessing",
    "ImageSMOTE": ".preprocessing",
    "ImageTransformer": ".preprocessing",
    "Normalizer": ".preprocessing",
    "Resizer": ".preprocessing",
    "ImageNetPreprocessing": ".network",
    "SmallCNN": ".network",
    "SmallResNet": ".network",
    "PneumoniaClassifier": ".estimators",
    "PneumoniaPipeline": ".estimators",
    "make_pipeline": ".estimators",
    "preset_params": ".estimators",
    "tta_transform": ".estimators",
    "EvaluationReport": ".evaluation",
    "OperatingPoint": ".evaluation",
    "bootstrap_intervals": ".evaluation",
    "choose_threshold": ".evaluation",
    "evaluate": ".evaluation",
    "expected_calibration_error": ".evaluation",
    "explain": ".evaluation",
    "grad_cam": ".evaluation",
    "overlay": ".evaluation",
    "overlay_names": ".evaluation",
    "set_operating_point": ".evaluation",
    "stress_report": ".evaluation",
    "wilson_interval": ".evaluation",
    "fit_model": ".workflows",
    "explain_paths": ".workflows",
    "load_model": ".workflows",
    "predict_on_cluster": ".workflows",
    "predict_paths": ".workflows",
    "pretrained": ".workflows",
    "save_model": ".workflows",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

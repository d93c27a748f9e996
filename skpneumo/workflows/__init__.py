"""Workflows: the library functions the command line, the benchmarks and users' scripts call.

Training with a patient-level validation split, prediction of files with per-file
error isolation and progress, prediction on a Dask cluster, saving and loading.
Imported lazily, so that importing skpneumo does not load TensorFlow.
"""

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "predict_on_cluster": ".cluster",
    "load_model": ".persistence",
    "pretrained": ".persistence",
    "save_model": ".persistence",
    "explain_paths": ".explanation",
    "per_file": ".prediction",
    "predict_paths": ".prediction",
    "fit_model": ".training",
    "patient_validation_split": ".training",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

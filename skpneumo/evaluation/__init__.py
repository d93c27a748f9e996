"""Evaluation: metrics and intervals, thresholds, the report (data apart from its rendering), Grad-CAM.

Imported lazily, so that importing skpneumo does not load TensorFlow (only
Grad-CAM needs it).
"""

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "BOOTSTRAP_METRICS": ".bootstrap",
    "bootstrap_intervals": ".bootstrap",
    "expected_calibration_error": ".calibration",
    "reliability_bins": ".calibration",
    "explain": ".gradcam",
    "grad_cam": ".gradcam",
    "overlay": ".gradcam",
    "overlay_names": ".gradcam",
    "rate_intervals": ".intervals",
    "wilson_interval": ".intervals",
    "EvaluationReport": ".scoring",
    "evaluate": ".scoring",
    "OperatingPoint": ".thresholds",
    "choose_threshold": ".thresholds",
    "set_operating_point": ".thresholds",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""Evaluation: metrics and intervals, thresholds, the report (data apart from its rendering), Grad-CAM.

- ``scoring.py``: :func:`evaluate`, the numbers of a fitted classifier;
- ``report.py``: :class:`EvaluationReport`, the data, its JSON and ``save``;
  ``EvaluationReport.METRICS`` is the one list of metrics and their order;
- ``render.py``: the report shown: text summary, Markdown, figures (PNG);
- ``bootstrap.py``, ``intervals.py``, ``calibration.py``: intervals and calibration;
- ``thresholds.py``: operating points; ``gradcam.py``: Grad-CAM overlays;
- ``stress.py``: :func:`stress_report`, the metrics under acquisition changes.

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
    "overlay_png": ".gradcam",
    "rate_intervals": ".intervals",
    "wilson_interval": ".intervals",
    "EvaluationReport": ".report",
    "evaluate": ".scoring",
    "evaluate_scores": ".scoring",
    "ACQUISITION_SHIFTS": ".stress",
    "stress_report": ".stress",
    "OperatingPoint": ".thresholds",
    "check_threshold_rule": ".thresholds",
    "choose_threshold": ".thresholds",
    "point_by_rule": ".thresholds",
    "set_operating_point": ".thresholds",
    "store_threshold": ".thresholds",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

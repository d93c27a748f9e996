"""Serving a model over HTTP: ``skpneumo serve`` (needs the ``serve`` extra: Starlette, uvicorn).

``service.py`` (:class:`PredictionService`: the model on one worker thread, micro-batched),
``batching.py`` (:class:`MicroBatcher`), ``app.py`` (the Starlette routes and the viewer's
page), ``server.py`` (:func:`serve`: uvicorn, the token, graceful shutdown). Imported
lazily: importing skpneumo needs neither TensorFlow nor Starlette.
"""

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "MicroBatcher": ".batching",
    "PredictionService": ".service",
    "create_app": ".app",
    "serve": ".server",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

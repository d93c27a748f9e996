"""The HTTP routes (Starlette): prediction, Grad-CAM, metadata, health, and the viewer's page."""

import asyncio
import hmac
import json
import logging
import math
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..exceptions import ImageReadError
from ..io import EncodedImage

STATIC = Path(__file__).parent / "static"
# Open without a token: the health routes, and the page and its files, which hold no data or model
# (a browser loads them before the page can ask for the token).
OPEN_PATHS = ("/healthz", "/readyz", "/")
logger = logging.getLogger("skpneumo.serve")


class UploadTooLarge(Exception):
    """A request body over the upload limit, refused while it was read."""


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


class BearerToken:
    """ASGI middleware: every route but the health routes and the page needs ``Authorization: Bearer TOKEN``."""

    def __init__(self, app, token):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in OPEN_PATHS and not path.startswith("/static/"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, token = given.partition(b" ")
            # Compared in constant time: the answer's timing tells nothing about the token.
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.token):
                response = _error(401, "this route needs the header 'Authorization: Bearer <token>'")
                response.headers["WWW-Authenticate"] = "Bearer"
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


class InMemoryParser(MultiPartParser):
    """Starlette's multipart parser, keeping every uploaded file in memory (never spooled to disk)."""

    def __init__(self, *args, max_bytes, **kwargs):
        super().__init__(*args, **kwargs)
        # The request body is refused above max_bytes, so no file reaches the spool's limit.
        self.spool_max_size = max_bytes + 1


async def _limited(stream, max_bytes):
    """The request body, refused as soon as it passes ``max_bytes``."""
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > max_bytes:
            raise UploadTooLarge()
        yield chunk


async def read_uploads(request, max_bytes, max_files):
    """The films of the multipart field ``files``, as :class:`EncodedImage` objects.

    Raises
    ------
    HTTPException
        415 for a body that is not multipart/form-data, 400 for a malformed one, too
        many files or no ``files`` field.
    UploadTooLarge
        If the body is (or declares itself) larger than ``max_bytes``.
    """
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, "send the films as multipart/form-data, in the field 'files'")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLarge()
    parser = InMemoryParser(request.headers, _limited(request.stream(), max_bytes), max_bytes=max_bytes,
                            max_files=max_files, max_fields=max_files + 8)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(400, exc.message) from None
    try:
        uploads = [item for item in form.getlist("files") if not isinstance(item, str)]
        if not uploads:
            raise HTTPException(400, "no films: send them as files in the multipart field 'files'")
        return [EncodedImage(await upload.read(), upload.filename or f"file-{i}") for i, upload in enumerate(uploads)]
    finally:
        await form.close()


def _fraction(request, name, default=None):
    # A query parameter in [0, 1] (the threshold, the overlay's alpha); absent: the default.
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise HTTPException(400, f"{name} must be a number between 0 and 1, got {text!r}")
    return value


def create_app(service, *, max_upload_mb=20.0, max_files=16, token=None):
    """The Starlette application serving ``service``.

    Parameters
    ----------
    service : PredictionService
        The loaded model; the application does not close it.
    max_upload_mb : float, default=20.0
        Largest request body, in MiB; a larger one is refused with 413 while it is read.
    max_files : int, default=16
        Most films per request; more get 400.
    token : str or None, default=None
        When given, every route but ``/healthz``, ``/readyz`` and the page needs
        ``Authorization: Bearer TOKEN``.

    Returns
    -------
    Starlette
    """
    max_bytes = int(max_upload_mb * 1024 * 1024)

    async def in_worker(func, *args):
        # The model's worker answers through a Future; the event loop stays free meanwhile.
        return await asyncio.wrap_future(asyncio.get_running_loop().run_in_executor(None, func, *args))

    def head(service):
        return {"name": service.name, "version": service.version}

    async def predict(request):
        threshold = _fraction(request, "threshold")
        images = await read_uploads(request, max_bytes, max_files)
        results = await asyncio.wrap_future(service.batcher.submit(images))
        rows = service.rows(images, results, threshold)
        status = 422 if all(row["error"] for row in rows) else 200
        return JSONResponse({"model": head(service), "results": rows}, status_code=status)

    async def explain(request):
        alpha = _fraction(request, "alpha", 0.5)
        images = await read_uploads(request, max_bytes, 1)
        try:
            row, png = await in_worker(service.explain, images[0], alpha)
        except ImageReadError as exc:
            return _error(422, str(exc))
        if request.query_params.get("format") == "json":
            import base64

            return JSONResponse({"model": head(service), "result": row,
                                 "overlay_png_base64": base64.b64encode(png).decode()})
        return Response(png, media_type="image/png", headers={
            "X-Probability": repr(row["probability"]), "X-Label": row["label"],
            "X-Threshold": repr(row["threshold"]), "X-Model": json.dumps(head(service))})

    async def model(request):
        return JSONResponse(service.info())

    async def healthz(request):
        return JSONResponse({"status": "alive"})

    async def readyz(request):
        if not service.batcher.alive:
            return _error(503, "the model is not serving (shutting down)")
        return JSONResponse({"status": "ready", "model": head(service)})

    async def page(request):
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def http_error(request, exc):
        return _error(exc.status_code, exc.detail)

    async def too_large(request, exc):
        return _error(413, f"the upload is larger than the limit of {max_upload_mb:g} MiB (--max-upload-mb)")

    async def internal(request, exc):
        logger.exception("error answering %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the service's log has the details")

    routes = [
        Route("/", page),
        Route("/v1/predict", predict, methods=["POST"]),
        Route("/v1/explain", explain, methods=["POST"]),
        Route("/v1/model", model),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(BearerToken, token=token)] if token else []
    return Starlette(routes=routes, middleware=middleware, exception_handlers={
        HTTPException: http_error, UploadTooLarge: too_large, Exception: internal})

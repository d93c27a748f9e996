"""Running the service: load the model, check the security settings, serve with uvicorn until SIGTERM."""

import ipaddress
import logging
import os
import stat
import warnings
from pathlib import Path

from .app import create_app
from .service import PredictionService

logger = logging.getLogger("skpneumo.serve")


def is_loopback(host):
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1 or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def read_token(path):
    """The bearer token in the file ``path`` (its first line, stripped).

    Raises
    ------
    ValueError
        If the file is missing, unreadable or holds no token.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--token-file '{path}' cannot be read: {exc}") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise ValueError(f"--token-file '{path}' holds no token")
    if os.name == "posix" and os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(f"--token-file '{path}' can be read by other users; chmod 600 it", UserWarning, stacklevel=2)
    return token


def check_exposure(host, token):
    """Warn when the service listens beyond this machine and anybody reaching it may use it."""
    if not is_loopback(host) and token is None:
        warnings.warn(f"serving on {host}, reachable from other machines, without --token-file: anybody who "
                      "reaches this port can send films and read the model", UserWarning, stacklevel=2)


def serve(model, *, host="127.0.0.1", port=8000, token_file=None, max_upload_mb=20.0, max_files=16,
          max_batch_size=None, max_wait_ms=10.0, log_level="info"):
    """Serve ``model`` over HTTP until interrupted (Ctrl-C or SIGTERM).

    The model loads once, before the port opens; on SIGTERM the server stops
    accepting connections and finishes the requests in flight before it returns.

    Parameters
    ----------
    model : str or path-like
        A shipped model's name, a model folder or a joblib file (as for
        :func:`~skpneumo.load_model`).
    host : str, default="127.0.0.1"
        Address to listen on; a non-loopback address without ``token_file`` warns.
    port : int, default=8000
    token_file : path-like or None, default=None
        A file holding a bearer token that every route but the health routes and
        the page require.
    max_upload_mb : float, default=20.0
        Largest request body in MiB (refused with 413 while it is read).
    max_files : int, default=16
        Most films per request.
    max_batch_size : int or None, default=None
        Films after which the model's worker stops gathering requests into a batch;
        None: the classifier's ``batch_size``.
    max_wait_ms : float, default=10.0
        Milliseconds the worker waits for more requests after the first.
    log_level : str, default="info"
        uvicorn's log level.

    Raises
    ------
    ValueError
        On a bad setting, before the model loads.
    ModelFileError
        If the model cannot be loaded.
    """
    import uvicorn

    token = read_token(token_file) if token_file is not None else None
    check_exposure(host, token)
    service = PredictionService.load(model, max_batch_size=max_batch_size, max_wait=max_wait_ms / 1000)
    try:
        app = create_app(service, max_upload_mb=max_upload_mb, max_files=max_files, token=token)
        # uvicorn handles SIGINT and SIGTERM: no new connections, the requests in flight finish.
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                      timeout_graceful_shutdown=60)).run()
    finally:
        service.close()

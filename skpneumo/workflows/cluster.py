"""Scale-out on a Dask cluster: batch prediction of image files sharded over the workers.

Hyper-parameter searches need nothing from this module: scikit-learn runs them on
a cluster through joblib's Dask backend (user guide, "Scaling out").
"""

import math
import os

from ..estimators.pipeline import DEFAULT_CHUNK_SIZE
from ..utils.images import chunks
from ..utils.validation import is_int
from .prediction import predict_paths
from .progress import progress

CONNECT_TIMEOUT = 10


def _connect(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            "Prediction on a Dask cluster needs dask.distributed: pip install 'skpneumo[dask]'."
        ) from None
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"cannot reach the Dask scheduler at '{scheduler}' within {CONNECT_TIMEOUT} s ({exc})"
        ) from None


def _predict_chunk(paths, model):
    return predict_paths(model, paths, quiet=True)


def predict_on_cluster(model, paths, scheduler, *, chunk_size=None, quiet=True):
    """Predict image files on the workers of a Dask cluster.

    The model is sent to every worker once; the paths are split into chunks that
    the workers load, preprocess and classify, and the results come back in the
    order of ``paths``, exactly as ``skpneumo predict`` computes them on one machine.
    The workers read the files themselves, so they must see them at the same paths
    (shared storage); relative paths are made absolute first.

    Parameters
    ----------
    model : PneumoniaPipeline
        A fitted skpneumo pipeline (e.g. from ``joblib.load``).
    paths : sequence of path-like
        The image files.
    scheduler : str or distributed.Client
        Address of the Dask scheduler (``"tcp://host:8786"``) or a connected client.
    chunk_size : int or None, default=None
        Images per task. ``None`` spreads the files evenly over the workers, at
        most ``model.chunk_size`` (1,024) images per task, so that each worker's memory stays bounded.
    quiet : bool, default=True
        No progress bar on stderr.

    Returns
    -------
    rows : list of dict
        One per path, in order: ``path``, ``probability`` (of the positive class),
        ``label`` and ``error`` (the reason a file could not be read, else None).

    Raises
    ------
    ImportError
        If dask.distributed is not installed.
    ConnectionError
        If the scheduler cannot be reached.
    """
    paths = [os.fspath(path) for path in paths]
    if not paths:
        raise ValueError("paths holds no images.")
    if chunk_size is not None and not is_int(chunk_size, 1):
        raise ValueError(f"chunk_size must be None or an integer >= 1, got {chunk_size!r}.")
    owns_client = isinstance(scheduler, str)
    client = _connect(scheduler) if owns_client else scheduler
    try:
        if chunk_size is None:
            n_workers = max(1, len(client.nthreads()))
            chunk_size = min(getattr(model, "chunk_size", DEFAULT_CHUNK_SIZE), math.ceil(len(paths) / n_workers))
        parts = list(chunks([os.path.abspath(path) for path in paths], chunk_size))
        from distributed import as_completed

        remote_model = client.scatter(model, broadcast=True)
        futures = client.map(_predict_chunk, parts, model=remote_model)
        sizes = dict(zip((future.key for future in futures), map(len, parts)))
        with progress(total=len(paths), quiet=quiet, desc="predicting", unit="img") as bar:
            for future in as_completed(futures):
                bar.update(sizes[future.key])
        rows = [row for chunk_rows in client.gather(futures) for row in chunk_rows]
    finally:
        if owns_client:
            client.close()
    for row, path in zip(rows, paths):
        row["path"] = path
    return rows

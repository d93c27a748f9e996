"""Saving and loading fitted models (joblib files, model folders, shipped models) with clear errors."""

import contextlib
import importlib
import os
import sys

import joblib

from ..exceptions import ModelFileError
from ..network.pretrained import is_shipped_name, shipped_model_path
from ..utils.files import write_file_atomically

JOBLIB_SUFFIXES = (".joblib", ".pkl")

# Where skpneumo 0.1 defined the classes a pickled model refers to, and where they
# live now: pickles name a class by its module, so 0.1 models load through these.
_MOVED_MODULES = {
    "skpneumo.classifier": "skpneumo.estimators.classifier",
    "skpneumo.pipeline": "skpneumo.estimators.pipeline",
    "skpneumo.loading": "skpneumo.preprocessing.loader",
    "skpneumo.sampling": "skpneumo.preprocessing.sampling",
}


@contextlib.contextmanager
def _old_module_names():
    """Let the module names of skpneumo 0.1 resolve while a model is unpickled."""
    added = []
    for old, new in _MOVED_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)
            added.append(old)
    try:
        yield
    finally:
        for old in added:
            del sys.modules[old]


def save_model(model, path, *, weights_dtype="float32"):
    """Save a fitted model: a joblib file, or a portable folder that loads without pickle.

    Parameters
    ----------
    model : estimator
        Usually a fitted :class:`~skpneumo.PneumoniaPipeline`.
    path : path-like
        A name ending in ``.joblib`` (or ``.pkl``): a joblib file, written
        atomically, for any fitted model. Any other name: a new folder
        (:mod:`~skpneumo.workflows.model_folder`: JSON and a ``.keras`` network,
        loaded without pickle and across library versions), for skpneumo pipelines.
    weights_dtype : {"float32", "float16"}, default="float32"
        For a folder: how the network's weights are stored (float16 halves the file,
        see :func:`~skpneumo.workflows.model_folder.save_model_folder`). A joblib
        file always keeps the model as it is.
    """
    if os.fspath(path).lower().endswith(JOBLIB_SUFFIXES):
        if weights_dtype != "float32":
            raise ValueError("weights_dtype applies to model folders; a joblib file keeps the model as it is.")
        write_file_atomically(path, lambda tmp: joblib.dump(model, tmp))
    else:
        from .model_folder import save_model_folder  # Keras: imported when needed

        save_model_folder(model, path, weights_dtype=weights_dtype)


def load_model(path):
    """Load a fitted model saved by :func:`save_model` and check that it can classify.

    A model folder loads without pickle (:func:`~skpneumo.workflows.model_folder.load_model_folder`).
    A joblib file holds a skpneumo pipeline, or a fitted scikit-learn wrapper of one
    (such as ``CalibratedClassifierCV`` or ``TunedThresholdClassifierCV``) with
    ``predict_proba`` and two ``classes_``; models saved by skpneumo 0.1 load too.
    Only load joblib files you trust: unpickling can run arbitrary code.

    Parameters
    ----------
    path : path-like
        The model folder or joblib file, or the name of a model shipped with the
        package (``"kermany-v2"``, see :func:`pretrained`) when no file or folder
        of that name exists.

    Returns
    -------
    model : estimator

    Raises
    ------
    ModelFileError
        If the file is missing, corrupt, saved by an incompatible version, or holds
        something that is not a fitted binary classifier.
    """
    # Checked before joblib imports TensorFlow: a typo fails in milliseconds.
    if not os.path.exists(path) and is_shipped_name(path):
        path = shipped_model_path(path)
    if os.path.isdir(path):
        from .model_folder import load_model_folder  # Keras: imported when needed

        return load_model_folder(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"model file not found: '{path}'")
    try:
        with _old_module_names():
            model = joblib.load(path)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ModelFileError(
            f"'{path}' was saved by a skpneumo version this one cannot read ({type(exc).__name__}: "
            f"{exc}); retrain the model, or load it with the version that saved it and save it again"
        ) from exc
    except Exception as exc:
        raise ModelFileError(f"'{path}' is not a skpneumo model file or is corrupt "
                             f"({type(exc).__name__}: {exc})") from exc
    if not (hasattr(model, "predict_proba") and len(getattr(model, "classes_", ())) == 2):
        raise ModelFileError(f"'{path}' does not hold a fitted skpneumo pipeline or a fitted binary classifier "
                             f"with predict_proba (it holds a {type(model).__name__})")
    return model


def pretrained(name=None):
    """A model shipped with the package, ready to predict, offline.

    Parameters
    ----------
    name : str or None, default=None
        Its name; None is the default model, ``"kermany-v2"``: the 0.4 ``cpu``
        recipe trained on the 5,216 training films of Kermany et al. (pediatric,
        one hospital; 80% of the patients trained, 20% validated), also scored
        on new patients (test-dev). ``"kermany-v1"``, the 0.3 recipe, stays
        loadable in 0.4. Its model card (``model.model_card_``, and
        ``MODEL_CARD.md`` in its folder) says how it was trained and validated
        and what it is not for.

    Returns
    -------
    PneumoniaPipeline
        Fitted; ``predict_proba`` takes image files or arrays.

    Raises
    ------
    ValueError
        If no shipped model has that name (the message lists them).

    Examples
    --------
    >>> import skpneumo
    >>> model = skpneumo.pretrained()  # doctest: +SKIP
    >>> model.predict(["xray.jpeg"])  # doctest: +SKIP
    array(['PNEUMONIA'], dtype='<U9')
    """
    return load_model(shipped_model_path(name))

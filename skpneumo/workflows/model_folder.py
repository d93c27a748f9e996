"""A portable model format: a folder of JSON and a ``.keras`` network, loaded without pickle.

``pipeline.json`` holds the steps (their classes and parameters), the classes and
the versions that saved the model; ``model.keras`` holds the network, loaded with
Keras' ``safe_mode``; ``model_card.json`` and ``MODEL_CARD.md`` describe the model
(:mod:`skpneumo.workflows.model_card`). Loading runs no pickle and no code from the folder: only the
step classes listed here can be named, and nothing else may be in the folder.
"""

import io
import json
import os
import warnings
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import keras
import numpy as np

from ..estimators.classifier import PneumoniaClassifier, skpneumo_classifier
from ..estimators.pipeline import DEFAULT_CHUNK_SIZE, PneumoniaPipeline
from ..exceptions import ModelFileError
from ..network import layers as _custom_layers  # noqa: F401  (registered for loading)
from ..network.pretrained import FORMAT, FORMAT_VERSION, NETWORK_FILE, PIPELINE_FILE, read_model_description
from ..preprocessing import CLAHE, GrayscaleToRGB, ImageLoader, ImageSMOTE, Normalizer, Resizer
from ..utils.files import write_folder_atomically
from ..utils.labels import as_builtin
from .model_card import CARD_JSON, CARD_MARKDOWN, card_files, complete_card

# The only classes a folder may name: loading builds nothing else.
STEP_CLASSES = {cls.__name__: cls for cls in (ImageLoader, Resizer, CLAHE, GrayscaleToRGB, ImageSMOTE,
                                             Normalizer, PneumoniaClassifier)}
# Parameters that only steer a training run (objects, generators): saved as None.
_TRAINING_ONLY = ("callbacks",)
_VERSIONED = ("skpneumo", "keras", "scikeras", "scikit-learn", "imbalanced-learn", "numpy")


def _versions():
    found = {}
    for package in _VERSIONED:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _json_value(value, where):
    """``value`` as JSON data, or ValueError naming ``where``."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (tuple, list)):
        return [_json_value(v, where) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.random.RandomState):
        return None  # seeds the training run only
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"{where} = {value!r} cannot be saved in a model folder (JSON values only); "
                     "save with joblib instead (a path ending in .joblib).")


def _step_entry(name, step):
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return {"name": name, "class": "passthrough"}
    cls = type(step).__name__
    if STEP_CLASSES.get(cls) is not type(step):
        raise ValueError(f"step {name!r} is a {cls}: a model folder holds skpneumo steps only "
                         f"({', '.join(STEP_CLASSES)}); save with joblib instead (a path ending in .joblib).")
    params = {key: None if key in _TRAINING_ONLY else _json_value(value, f"{name}__{key}")
              for key, value in step.get_params(deep=False).items()}
    return {"name": name, "class": cls, "params": params}


def _without_optimizer(network):
    """An uncompiled copy of ``network`` with its weights: the optimizer's state (twice the
    weights, for Adam) is training state, not part of a model to predict with."""
    copy = keras.Model.from_config(network.get_config())  # clone_model would compile it again
    copy.set_weights(network.get_weights())
    return copy


def _store_weights_as(network_file, dtype):
    """Rewrite the float32 arrays of a saved ``.keras`` network in ``dtype``, in place.

    Keras casts stored arrays to its variables' dtype when it loads them, so the
    network still computes in float32; only the file shrinks (float16: by half).
    """
    import h5py  # a Keras dependency

    def copy(source, target):
        for key, value in source.attrs.items():
            target.attrs[key] = value
        for name, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(name))
            else:
                data = item[()]
                target.create_dataset(name, data=data.astype(dtype) if data.dtype == np.float32 else data)

    with zipfile.ZipFile(network_file) as source:
        entries = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(network_file, "w") as target:
        for info, data in entries:
            if info.filename.endswith(".h5"):
                rewritten = io.BytesIO()
                with h5py.File(io.BytesIO(data), "r") as old, h5py.File(rewritten, "w") as new:
                    copy(old, new)
                data = rewritten.getvalue()
            target.writestr(info, data)


def save_model_folder(model, folder, *, weights_dtype="float32"):
    """Save a fitted skpneumo pipeline as a folder that loads without pickle.

    Parameters
    ----------
    model : PneumoniaPipeline
        Fitted, its last step a :class:`~skpneumo.PneumoniaClassifier`.
    folder : path-like
        Created; must not exist yet (or be empty). Written under a temporary name
        and renamed, so that it never holds half a model.
    weights_dtype : {"float32", "float16"}, default="float32"
        How the network's weights are stored. ``"float16"`` halves the file; the
        loaded network still computes in float32, from weights rounded to float16
        (relative error about 5e-4): check the rounded model's numbers before
        shipping it.

    Raises
    ------
    ValueError
        If ``model`` is not a fitted skpneumo pipeline, or a parameter is not a JSON
        value (a custom object): save such models with joblib.
    FileExistsError
        If ``folder`` exists and is not empty.
    """
    clf = skpneumo_classifier(model)
    if not isinstance(model, PneumoniaPipeline) or clf is None:
        raise ValueError(f"a model folder holds a skpneumo pipeline, got a {type(model).__name__}; "
                         "save other models with joblib (a path ending in .joblib).")
    if not hasattr(clf, "model_"):
        raise ValueError("the pipeline is not fitted: fit it before saving.")
    if weights_dtype not in ("float32", "float16"):
        raise ValueError(f"weights_dtype must be 'float32' or 'float16', got {weights_dtype!r}.")
    description = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "chunk_size": _json_value(model.chunk_size, "chunk_size"),
        "steps": [_step_entry(name, step) for name, step in model.steps],
        "classes": [as_builtin(c) for c in clf.classes_],
        "history": clf.history_,
        "phases": clf.phases_,
        "weights_dtype": weights_dtype,
    }

    card = {**complete_card(model, description["versions"], name=Path(folder).name), "weights_dtype": weights_dtype}

    def write(tmp):
        (tmp / PIPELINE_FILE).write_text(json.dumps(description, indent=2) + "\n")
        for name, text in card_files(card).items():
            (tmp / name).write_text(text, encoding="utf-8")
        _without_optimizer(clf.model_).save(tmp / NETWORK_FILE)
        if weights_dtype != "float32":
            _store_weights_as(tmp / NETWORK_FILE, weights_dtype)

    write_folder_atomically(folder, write)


def _read_description(folder):
    description = read_model_description(folder)
    unknown = sorted({p.name for p in folder.iterdir()} - {PIPELINE_FILE, NETWORK_FILE, CARD_JSON, CARD_MARKDOWN})
    if unknown:
        raise ModelFileError(f"model folder '{folder}' holds unknown files: {', '.join(unknown)}.")
    return description


def _build_step(entry, where):
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ModelFileError(f"{where}: each step needs a name and a class.")
    if entry.get("class") == "passthrough":
        return entry["name"], "passthrough"
    cls = STEP_CLASSES.get(entry.get("class"))
    if cls is None:
        raise ModelFileError(f"{where}: unknown step class {entry.get('class')!r} in step {entry['name']!r} "
                             f"(known: {', '.join(STEP_CLASSES)}).")
    # JSON has no tuples: sizes and layer widths come back as the tuples they were.
    params = {key: tuple(value) if isinstance(value, list) else value
              for key, value in entry.get("params", {}).items()}
    try:
        return entry["name"], cls(**params)
    except TypeError as exc:
        raise ModelFileError(f"{where}: step {entry['name']!r}: {exc}.") from exc


def load_model_folder(folder):
    """Load a model folder written by :func:`save_model_folder`, without pickle.

    Parameters
    ----------
    folder : path-like
        The folder.

    Returns
    -------
    PneumoniaPipeline
        Fitted; it predicts exactly as the pipeline that was saved.

    Raises
    ------
    ModelFileError
        Naming what is missing, unknown or damaged.

    Warns
    -----
    UserWarning
        When the versions that saved the model differ from the running ones.
    """
    folder = Path(folder)
    description = _read_description(folder)
    where = str(folder / PIPELINE_FILE)
    entries = description.get("steps")
    if not isinstance(entries, list) or not entries or entries[-1].get("class") != "PneumoniaClassifier":
        raise ModelFileError(f"{where}: the steps must end with a PneumoniaClassifier.")
    steps = [_build_step(entry, where) for entry in entries[:-1]]
    try:
        network = keras.saving.load_model(folder / NETWORK_FILE, compile=False, safe_mode=True)
    except Exception as exc:
        raise ModelFileError(f"'{folder / NETWORK_FILE}' is damaged or not a Keras model "
                             f"({type(exc).__name__}: {exc}).") from exc
    name, template = _build_step(entries[-1], where)
    try:
        clf = PneumoniaClassifier.from_network(network, description.get("classes", []), **template.get_params())
    except ValueError as exc:
        raise ModelFileError(f"{where}: {exc}") from exc
    clf.history_, clf.phases_ = description.get("history", {}), description.get("phases", [])
    saved, running = description.get("versions", {}), _versions()
    changed = [f"{package} {saved.get(package)} (running {running[package]})" for package in _VERSIONED
               if saved.get(package) != running[package]]
    if changed:
        warnings.warn(f"model folder '{folder}' was saved with other versions: {', '.join(changed)}. "
                      "Check its predictions on a few known films.", UserWarning, stacklevel=2)
    pipe = PneumoniaPipeline([*steps, (name, clf)], chunk_size=description.get("chunk_size", DEFAULT_CHUNK_SIZE))
    if (folder / CARD_JSON).is_file():
        try:
            pipe.model_card_ = json.loads((folder / CARD_JSON).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"'{folder / CARD_JSON}' is not valid JSON ({exc}).") from exc
    return pipe

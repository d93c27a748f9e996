"""The models shipped inside the package, by name, and the format check of a model folder.

Each shipped model is a model folder (``skpneumo/pretrained/NAME/``: the portable
format of :func:`skpneumo.save_model`, with its model card) that works offline.
:func:`skpneumo.pretrained` loads one; ``make_pipeline(init=NAME)`` starts a new
model from its backbone (:func:`read_model_description` checks the folder first).
"""

import json
import os
from pathlib import Path

from ..exceptions import ModelFileError

SHIPPED_FOLDER = Path(__file__).resolve().parents[1] / "pretrained"
#: The default shipped model; names of the others are the folders under ``skpneumo/pretrained``.
DEFAULT_MODEL = "kermany-v2"
# The model folder's format (written by workflows.model_folder, read here too by make_pipeline(init=...)).
FORMAT = "skpneumo-model"
FORMAT_VERSION = 1
PIPELINE_FILE = "pipeline.json"
NETWORK_FILE = "model.keras"


def shipped_models():
    """Names of the models shipped with this version, sorted.

    Returns
    -------
    list of str
    """
    if not SHIPPED_FOLDER.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_FOLDER.iterdir() if (p / "pipeline.json").is_file())


def is_shipped_name(name):
    """Whether ``name`` names a shipped model (a plain name, not a path)."""
    return isinstance(name, str) and os.sep not in name and name in shipped_models()


def shipped_model_path(name=None):
    """The folder of a shipped model.

    Parameters
    ----------
    name : str or None, default=None
        A name of :func:`shipped_models`; None is :data:`DEFAULT_MODEL`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If no shipped model has that name; the message lists those that exist.
    """
    name = DEFAULT_MODEL if name is None else name
    if not is_shipped_name(name):
        raise ValueError(f"no shipped model is named {name!r}; shipped models: "
                         f"{', '.join(shipped_models()) or 'none (an incomplete installation)'}.")
    return SHIPPED_FOLDER / name


def keras_weights_cache():
    """Folder where Keras looks for downloaded application weights.

    Returns
    -------
    str
        ``$KERAS_HOME/models``, or ``~/.keras/models`` when ``KERAS_HOME`` is unset.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def read_model_description(folder):
    """The ``pipeline.json`` of a model folder, checked for format and version.

    Parameters
    ----------
    folder : pathlib.Path
        A folder written by :func:`skpneumo.save_model`.

    Returns
    -------
    dict
        The description: ``steps``, ``classes``, the versions that saved it, ...

    Raises
    ------
    ModelFileError
        If the folder lacks ``pipeline.json`` or ``model.keras``, or its description is
        not JSON, not a skpneumo model's, or of another format version.
    """
    missing = [name for name in (PIPELINE_FILE, NETWORK_FILE) if not (folder / name).is_file()]
    if missing:
        raise ModelFileError(f"model folder '{folder}' lacks {' and '.join(missing)}: incomplete, or not a "
                             "skpneumo model folder.")
    try:
        description = json.loads((folder / PIPELINE_FILE).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"'{folder / PIPELINE_FILE}' is not valid JSON ({exc}).") from exc
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise ModelFileError(f"'{folder / PIPELINE_FILE}' does not describe a skpneumo model.")
    if description.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"model folder '{folder}' has format version {description.get('format_version')!r}; "
                             f"this skpneumo reads version {FORMAT_VERSION}: use the skpneumo that saved it.")
    return description

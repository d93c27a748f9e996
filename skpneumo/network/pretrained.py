"""The models shipped inside the package, by name, and their backbones as weights files.

Each shipped model is a model folder (``skpneumo/pretrained/NAME/``: the portable
format of :func:`skpneumo.save_model`, with its model card) that works offline.
:func:`skpneumo.pretrained` loads one; ``make_pipeline(init=NAME)`` starts a new
model from its backbone (:func:`shipped_backbone_weights`).
"""

import hashlib
import os
from pathlib import Path

from ..utils.files import write_file_atomically

SHIPPED_FOLDER = Path(__file__).resolve().parents[1] / "pretrained"
#: The default shipped model; names of the others are the folders under ``skpneumo/pretrained``.
DEFAULT_MODEL = "kermany-v2"


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


def backbone_weights_file(network_file):
    """Write the ``backbone`` of a saved network as a Keras weights file, once per network.

    Parameters
    ----------
    network_file : path-like
        A ``.keras`` network built by :class:`~skpneumo.PneumoniaClassifier`, read
        with ``safe_mode``.

    Returns
    -------
    pathlib.Path
        ``<SHA-256 of the network file>.backbone.weights.h5`` in the ``skpneumo``
        folder of :func:`keras_weights_cache`: named by content, so a retrained
        network never reuses another's backbone.
    """
    import keras

    from .layers import ImageNetPreprocessing  # noqa: F401  (registers the custom layers for loading)

    digest = hashlib.sha256(Path(network_file).read_bytes()).hexdigest()
    # Beside Keras' downloaded weights, so air-gapped sites manage one folder.
    target = Path(keras_weights_cache()) / "skpneumo" / f"{digest}.backbone.weights.h5"
    if target.is_file():
        return target
    network = keras.saving.load_model(network_file, compile=False, safe_mode=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keras wants the suffix itself: the temporary file keeps it.
    write_file_atomically(target, lambda tmp: network.get_layer("backbone").save_weights(tmp),
                          suffix=".weights.h5")
    return target

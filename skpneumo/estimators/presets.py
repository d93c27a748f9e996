"""Named training recipes for :func:`skpneumo.make_pipeline`.

A preset is a set of pipeline parameters chosen for a kind of machine. Each has
a variant for pre-trained ImageNet weights and one for training from scratch
(``weights=None``), picked by the ``weights`` the pipeline ends up with. Only the
``cpu`` preset from scratch has been measured (``docs/benchmarks.md``); the others
are designs that await a measurement.
"""

from pathlib import Path

from ..exceptions import ModelFileError
from ..network.pretrained import (
    NETWORK_FILE,
    PIPELINE_FILE,
    is_shipped_name,
    read_model_description,
    shipped_model_path,
    shipped_models,
)

PRESETS = {
    # Transfer learning as designed: augmentation, frozen backbone, then fine-tuning;
    # SMOTE (the pipeline's default) balances the classes, as validation favoured.
    "gpu": {
        "imagenet": {
            "size": 224, "backbone": "resnet50", "weights": "imagenet",
            "augment": True, "epochs": 10, "learning_rate": 1e-3,
            "fine_tune_layers": 30, "fine_tune_epochs": 10, "fine_tune_learning_rate": 1e-5,
            "class_weight": None, "early_stopping_patience": 3,
        },
        "scratch": {
            "size": 224, "backbone": "resnet50", "weights": None,
            "augment": True, "epochs": 0, "fine_tune_layers": "all",
            "fine_tune_epochs": 30, "fine_tune_learning_rate": 1e-3,
            "class_weight": None, "early_stopping_patience": 5,
        },
    },
    # Within 30 minutes on 2 CPU cores for the 5,216 training images.
    "cpu": {
        # The frozen backbone runs once per image (cached features); only the head trains.
        "imagenet": {
            "size": 224, "backbone": "resnet50", "weights": "imagenet",
            "augment": False, "cache_features": True, "epochs": 30, "learning_rate": 1e-3,
            "fine_tune_epochs": 0, "smote": None, "class_weight": "balanced",
            "early_stopping_patience": 5,
        },
        # Chosen on new patients (test-dev, docs/benchmarks.md, 0.4): a small ResNet,
        # per-image intensity standardisation and 12 epochs of AdamW with cosine decay
        # raised test-dev ROC AUC from 0.958 to 0.981 (mean of three seeds). SMOTE beat
        # balanced class weights; random sharpness and exposure stay from 0.3.
        "scratch": {
            "size": 128, "backbone": "smallresnet", "weights": None, "standardize": True,
            "augment": True, "sharpness": 0.5, "gamma": 0.5, "contrast": 0.3,
            "epochs": 0, "fine_tune_layers": "all", "fine_tune_epochs": 12, "fine_tune_learning_rate": 1e-3,
            "lr_schedule": "cosine", "weight_decay": 1e-4, "dense_units": (128,),
            "class_weight": None, "early_stopping_patience": 6,
        },
    },
}


# How a preset validates and stores its decision threshold when trained through
# skpneumo.fit_model or `skpneumo fit`: a fraction of the patients held out (early
# stopping, the threshold, the model card's metrics) and the rule that picks the
# threshold on them. A preset never ships a threshold that nothing chose. New
# patients score higher than validation patients of the same collection: a target
# sensitivity of 0.90 on validation gave 0.95-0.97 on test-dev, with far better
# specificity than a target of 0.95 (docs/benchmarks.md, 0.4). The gpu preset,
# unmeasured, keeps 0.95.
PRESET_VALIDATION = {
    "gpu": {"val_size": 0.2, "threshold_rule": 0.95},
    "cpu": {"val_size": 0.2, "threshold_rule": 0.90},
}


def preset_validation(name):
    """How a preset validates: the held-out fraction of patients and the threshold rule.

    Parameters
    ----------
    name : {"cpu", "gpu"} or None
        The preset; None (no preset) gives no validation and keeps the
        classifier's threshold.

    Returns
    -------
    dict
        ``val_size`` (float or None) and ``threshold_rule`` (see
        :func:`skpneumo.fit_model`).
    """
    if name is None:
        return {"val_size": None, "threshold_rule": "keep"}
    if name not in PRESET_VALIDATION:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}.")
    return dict(PRESET_VALIDATION[name])


# Adapting a trained model to a few hundred local films: a new head on its frozen
# backbone, then its top layers at a tenth of the learning rate, with early stopping.
ADAPTATION = {
    "augment": True, "epochs": 10, "learning_rate": 1e-3,
    "fine_tune_layers": 6, "fine_tune_epochs": 10, "fine_tune_learning_rate": 1e-4,
    "class_weight": None, "early_stopping_patience": 3,
}


def init_params(init):
    """Pipeline parameters that start a new model from a trained one's backbone.

    The new pipeline keeps the trained one's image size, CLAHE step and network
    (backbone, head widths, dropout), initialises the backbone from it and adapts
    with :data:`ADAPTATION`.

    Parameters
    ----------
    init : str or path-like
        A shipped model's name (``"kermany-v2"``, see
        :func:`skpneumo.network.pretrained.shipped_models`) or a model folder
        written by :func:`skpneumo.save_model`.

    Returns
    -------
    dict
        Parameters for :func:`skpneumo.make_pipeline`.

    Raises
    ------
    ValueError
        If ``init`` is neither a shipped name nor a model folder.
    ModelFileError
        If the folder's ``pipeline.json`` does not describe a skpneumo pipeline.
    """
    from ..preprocessing import CLAHE

    folder = shipped_model_path(init) if is_shipped_name(init) else Path(init)
    if not (folder / PIPELINE_FILE).is_file():
        raise ValueError(f"init must name a shipped model ({', '.join(shipped_models()) or 'none'}) "
                         f"or a model folder saved by skpneumo.save_model; got {init!r}.")
    description = read_model_description(folder)
    try:
        steps = {entry["name"]: entry for entry in description["steps"]}
        clf, size = steps["clf"]["params"], steps["resize"]["params"]["size"]
        clahe = steps["clahe"]
        architecture = {key: clf[key] for key in ("backbone", "dense_units", "dropout")}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"'{folder / PIPELINE_FILE}' does not describe a skpneumo pipeline "
                             f"({type(exc).__name__}: {exc}).") from exc
    return {
        **ADAPTATION,
        "size": tuple(size) if isinstance(size, list) else size,  # JSON has no tuples
        "clahe": CLAHE(**clahe["params"]) if clahe.get("class") == "CLAHE" else None,
        **architecture, "dense_units": tuple(architecture["dense_units"]),
        # The whole saved network: the classifier takes its backbone's weights when it builds
        # (network.backbones.make_backbone), so building this pipeline reads and writes nothing.
        "weights": str(folder / NETWORK_FILE),
    }


def preset_params(name, weights="imagenet"):
    """The pipeline parameters of a preset.

    Parameters
    ----------
    name : {"cpu", "gpu"}
        The preset.
    weights : "imagenet", None or path-like, default="imagenet"
        The backbone weights the pipeline will use: ``None`` selects the
        from-scratch variant, anything else the pre-trained one (a weights file
        is used in place of ``"imagenet"``).

    Returns
    -------
    dict
        Parameters for :func:`skpneumo.make_pipeline`, ``weights`` included.
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}.")
    params = dict(PRESETS[name]["scratch" if weights is None else "imagenet"])
    if weights is not None:
        params["weights"] = weights
    return params

"""The default skpneumo pipeline: file paths in, pneumonia probabilities out."""

from imblearn.pipeline import Pipeline

from ._images import is_path
from .classifier import PneumoniaClassifier, check_binary_labels
from .loading import ImageLoader
from .preprocessing import GrayscaleToRGB, Normalizer, Resizer
from .presets import preset_params
from .sampling import ImageSMOTE


class PneumoniaPipeline(Pipeline):
    """imbalanced-learn :class:`~imblearn.pipeline.Pipeline` that checks before it works.

    ``fit`` validates every step's parameters and the labels before the first image
    is loaded, so a typo fails in a second rather than after minutes of decoding.
    Everything else is the imbalanced-learn pipeline: samplers run in ``fit`` only.
    """

    def _check_before_fit(self, X, y):
        for _, step in self.steps:
            if hasattr(step, "_check_params"):
                step._check_params()
            elif hasattr(step, "_validate_params"):
                step._validate_params()
        if is_path(X):
            raise TypeError(
                f"X must be a sequence of image paths or arrays, got a single "
                f"{type(X).__name__}; wrap it in a list."
            )
        if len(X) == 0:
            raise ValueError("X holds no images.")
        if y is None:
            raise ValueError("y is required: one label per image.")
        check_binary_labels(y, len(X))

    def fit(self, X, y=None, **params):
        """Check the parameters and labels, then fit every step.

        Parameters
        ----------
        X : sequence of path-like or image arrays
            Training images.
        y : array-like of shape (n,)
            Two classes, e.g. ``"NORMAL"``/``"PNEUMONIA"`` or 0/1.
        **params : dict
            Fit parameters routed to steps, e.g. ``clf__validation_data``.

        Returns
        -------
        self : PneumoniaPipeline
        """
        self._check_before_fit(X, y)
        return super().fit(X, y, **params)


def make_pipeline(preset=None, **params):
    """Build the default pipeline: load, resize, RGB, normalize, SMOTE, classifier.

    Steps are named ``load``, ``resize``, ``clahe`` (off unless given a
    :class:`~skpneumo.preprocessing.CLAHE`), ``rgb``, ``normalize``, ``smote``
    and ``clf``, so searches can address ``resize__size``,
    ``smote__k_neighbors`` or ``clf__epochs``.

    Parameters
    ----------
    preset : {"cpu", "gpu"} or None, default=None
        A tested training recipe (see :mod:`skpneumo.presets`); its from-scratch
        variant when ``weights=None``. ``params`` override the preset's values.
    **params : dict
        Parameters of the steps: ``step__param=value`` (as in ``set_params``), a
        step name to replace or disable a step (``smote=None``), or a bare parameter
        name that belongs to exactly one step (``epochs=3``, ``size=128``,
        ``weights=None``). ``random_state`` seeds every step that has one.

    Returns
    -------
    PneumoniaPipeline
        An imbalanced-learn ``Pipeline``.

    Examples
    --------
    >>> from skpneumo import make_pipeline
    >>> pipe = make_pipeline(weights=None, size=64, epochs=2, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['load', 'resize', 'clahe', 'rgb', 'normalize', 'smote', 'clf']
    >>> make_pipeline(preset="cpu", weights=None).named_steps["clf"].backbone
    'smallcnn'
    """
    if preset is not None:
        weights = params.get("clf__weights", params.get("weights", "imagenet"))
        # Explicit parameters come later, so they win, whatever form they use.
        params = {**preset_params(preset, weights), **params}
    pipe = PneumoniaPipeline([
        ("load", ImageLoader()),
        ("resize", Resizer()),
        ("clahe", "passthrough"),
        ("rgb", GrayscaleToRGB()),
        ("normalize", Normalizer()),
        ("smote", ImageSMOTE()),
        ("clf", PneumoniaClassifier()),
    ])
    step_names = [name for name, _ in pipe.steps]
    # Replace or disable steps first, so bare names route to the steps that remain.
    pipe.set_params(**{
        key: "passthrough" if value is None else value
        for key, value in params.items() if key in step_names
    })
    steps = [(name, step) for name, step in pipe.steps if hasattr(step, "get_params")]
    resolved = {}
    for key, value in params.items():
        if key in step_names:
            continue
        if "__" in key:
            step = key.split("__", 1)[0]
            if step in step_names and not hasattr(pipe.named_steps[step], "get_params"):
                raise ValueError(f"Cannot set {key!r}: step {step!r} is disabled.")
            resolved[key] = value
            continue
        owners = [name for name, step in steps if key in step.get_params(deep=False)]
        if key == "random_state" and owners:
            resolved.update({f"{name}__{key}": value for name in owners})
        elif len(owners) == 1:
            resolved[f"{owners[0]}__{key}"] = value
        elif owners:
            raise ValueError(
                f"Parameter {key!r} belongs to several steps ({', '.join(owners)}); "
                f"prefix it, e.g. {owners[0]}__{key}."
            )
        else:
            valid = sorted({p for _, s in steps for p in s.get_params(deep=False)})
            raise ValueError(
                f"Unknown parameter {key!r} for make_pipeline; step parameters are "
                f"{', '.join(valid)} (or step__param, or a step name: {', '.join(step_names)})."
            )
    return pipe.set_params(**resolved)

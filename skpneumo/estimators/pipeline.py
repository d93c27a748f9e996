"""The default skpneumo pipeline: file paths in, pneumonia probabilities out."""

import inspect
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from scipy import sparse
from sklearn.base import clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..io import check_image_file, check_image_header
from ..network.training import FileStream
from ..preprocessing import GrayscaleToRGB, ImageLoader, ImageSMOTE, ImageTransformer, Normalizer, Resizer
from ..preprocessing.base import StatelessTransformer
from ..utils.images import check_not_one_path, chunks, is_path
from ..utils.pipelines import final_step
from ..utils.validation import check_binary_labels, is_int
from .classifier import PneumoniaClassifier
from .presets import init_params, preset_params

# Images per chunk of the pipeline's predict and predict_proba, and of the workflows' files
# for models without a chunk_size of their own.
DEFAULT_CHUNK_SIZE = 1024

# The samplers of a streamed fit's balanced batches (``stream_balance``).
STREAM_SAMPLERS = {"oversample": RandomOverSampler, "undersample": RandomUnderSampler}
# Threads checking file headers before a streamed fit: the work is file opens, not CPU.
_HEADER_THREADS = 16


def balanced_order(y, rng, sampler="oversample"):
    """One epoch of a streamed fit: file indices resampled to balance the classes, shuffled.

    imbalanced-learn's ``imblearn.keras.BalancedBatchGenerator`` does this once, when
    it is built, and under Keras 3 it skips ``PyDataset.__init__`` (so no background
    workers) and drops the last partial batch; its sampler run on the file indices
    every epoch gives the same balanced batches, drawn anew each epoch.

    Parameters
    ----------
    y : ndarray of shape (n,) or (n, 1)
        The files' targets.
    rng : numpy.random.Generator
        Seeds the sampler and the shuffle.
    sampler : {"oversample", "undersample"}, default="oversample"
        ``RandomOverSampler`` (every file once, the smaller class's repeated) or
        ``RandomUnderSampler`` (the larger class's thinned).

    Returns
    -------
    ndarray of int
        Equal counts of each class.
    """
    y = np.asarray(y).ravel()
    resampler = STREAM_SAMPLERS[sampler](random_state=int(rng.integers(2**31)))
    resampler.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
    return rng.permutation(resampler.sample_indices_)


def check_headers(paths):
    """Check every file's header in parallel threads (:func:`~skpneumo.io.check_image_header`).

    Parameters
    ----------
    paths : sequence of path-like
        The files.

    Raises
    ------
    ImageReadError
        Naming the first bad file in the order of ``paths``.
    """
    with ThreadPoolExecutor(min(_HEADER_THREADS, max(1, len(paths)))) as pool:
        list(pool.map(check_image_header, paths))


class Preprocessed:
    """Validation images already through a pipeline's steps, to pass on to its classifier as they are.

    ``pipe.fit(X, y, clf__validation_data=(Preprocessed(pipe[:-1].transform(paths)), y_val))``:
    a caller that needs the preprocessed validation images itself (to predict them after
    training, as :func:`skpneumo.fit_model` does) decodes them once. Only for steps that
    learn nothing, so that transforming before ``fit`` gives what ``fit`` would.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, 3)
        What the classifier takes: the output of every step but the last.
    """

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)


def _is_loaded(X):
    """Whether ``X`` is one array of images already (nothing for the loader to read)."""
    return isinstance(X, np.ndarray) and X.dtype.kind not in "OUS"


def _final_step_has(method):
    """For ``available_if``: whether the final step has ``method`` (a disabled one transforms)."""
    def check(pipeline):
        name, final = final_step(pipeline)
        if name is None:  # no steps: nothing to delegate to
            return False
        return hasattr(final, method) or (method == "transform" and final in (None, "passthrough"))
    return check


def _skipped(step, fitting):
    """Whether ``step`` does nothing to the images: disabled, or a sampler outside fit."""
    return step is None or step == "passthrough" or (not fitting and hasattr(step, "fit_resample"))


class _FusedSteps:
    """The fused leading steps of a pipeline, as one stateless step."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def fit(self, X, y=None, **params):
        return self

    def transform(self, X, **params):
        return self.pipeline._transform_head(X, fitting=True)[0]

    def fit_transform(self, X, y=None, **params):
        return self.transform(X)


class PneumoniaPipeline(Pipeline):
    """imbalanced-learn :class:`~imblearn.pipeline.Pipeline` that checks before it works.

    ``fit`` validates every step's parameters and the labels before the first image
    is loaded, so a typo fails in a second rather than after minutes of decoding.
    Samplers run in ``fit`` only, as in any imbalanced-learn pipeline.

    Two things make it fast and memory-bounded on many files:

    - the loader and the per-image steps right after it (``resize``, ``rgb``, and at
      prediction ``normalize``) run as one pass in the loader's threads, each image
      decoded, transformed and written to its row of one output array; the result
      is the same as running the steps one by one;
    - ``predict`` and ``predict_proba`` work through ``X`` in chunks of
      ``chunk_size`` images (rounded down to a multiple of the classifier's
      ``batch_size``, so that results are bitwise equal to one pass over all of
      ``X``): memory stays bounded whatever the number of paths.

    ``clf__validation_data`` holds paths or raw images, like ``X``: its images go
    through the same steps as at prediction before they reach the classifier; or
    images already through them, wrapped in :class:`Preprocessed`.

    A loader with ``reduce_to="auto"`` decodes large JPEGs at reduced scale for the
    size of the first :class:`Resizer` after it, whatever that size is when the
    pipeline runs (so a search over ``resize__size`` needs nothing else).

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        As for :class:`imblearn.pipeline.Pipeline`.
    transform_input, memory, verbose
        As for :class:`imblearn.pipeline.Pipeline`.
    chunk_size : int, default=1024
        Images per chunk in ``predict`` and ``predict_proba``.
    streaming : bool, default=False
        ``fit`` reads the training and validation files batch by batch in
        background workers while the network trains, instead of decoding them
        all first: memory no longer grows with the number of files. Each batch
        goes through the same steps as at prediction (the same pixels as an
        in-memory fit). No step may resample (SMOTE needs every decoded image at
        once): the classes are balanced by resampling the files every epoch
        (``stream_balance``). Before the first epoch every file's header is
        checked, in parallel. Prediction is unchanged.
    stream_balance : {"oversample", "undersample"} or None, default="oversample"
        How a streamed fit balances the classes (:func:`balanced_order`):
        imbalanced-learn's ``RandomOverSampler`` or ``RandomUnderSampler`` over the
        files, drawn anew each epoch; None shuffles the files as they are.
    stream_workers : int, default=2
        Batches read ahead in parallel during a streamed fit (the ``workers`` of
        ``keras.utils.PyDataset``).
    stream_processes : bool, default=False
        The workers are processes instead of threads (OpenCV decodes without
        holding the GIL, so threads usually keep up).
    """

    def __init__(self, steps, *, transform_input=None, memory=None, verbose=False, chunk_size=DEFAULT_CHUNK_SIZE,
                 streaming=False, stream_balance="oversample", stream_workers=2, stream_processes=False):
        super().__init__(steps, transform_input=transform_input, memory=memory, verbose=verbose)
        self.chunk_size = chunk_size
        self.streaming = streaming
        self.stream_balance = stream_balance
        self.stream_workers = stream_workers
        self.stream_processes = stream_processes

    def __getitem__(self, ind):
        # scikit-learn's slicing rebuilds the pipeline from steps, memory and verbose only.
        sliced = super().__getitem__(ind)
        if isinstance(sliced, PneumoniaPipeline):
            sliced.set_params(chunk_size=self.chunk_size)
        return sliced

    def __setstate__(self, state):
        # Pipelines saved before chunk_size (0.1.0) or the streaming parameters existed: their defaults.
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.kind is param.KEYWORD_ONLY and name not in state:
                state[name] = param.default
        super().__setstate__(state)

    def _checked_chunk_size(self):
        # Checked in fit and again at prediction: it may be set on a fitted pipeline.
        if not is_int(self.chunk_size, 1):
            raise ValueError(f"chunk_size must be an integer >= 1, got {self.chunk_size!r}.")
        return self.chunk_size

    def _fused_head(self, fitting, with_final=False):
        """Leading steps that work image by image: ``(n_steps, [loader, *per_image])``.

        ``n_steps`` counts the steps the fused pass replaces, disabled ones (and
        samplers, outside ``fit``) included.
        """
        steps = [step for _, step in (self.steps if with_final else self.steps[:-1])]
        if not steps or not isinstance(steps[0], ImageLoader):
            return 0, []
        fused = [steps[0]]
        n = 1
        for step in steps[1:]:
            if isinstance(step, ImageTransformer):
                fused.append(step)
            elif not _skipped(step, fitting):
                break
            n += 1
        return n, fused

    def _transform_head(self, X, fitting, with_final=False):
        """Run the fused leading steps on ``X``: the images and the steps still to run."""
        n, fused = self._fused_head(fitting, with_final)
        if not n or _is_loaded(X):
            # Loaded images pass the loader as they are: nothing to fuse.
            return X, self.steps
        for step in fused:
            step.check_params()
        loader, *per_image = fused
        resizers = [step for step in per_image if isinstance(step, Resizer)]
        size = resizers[0].output_size() if resizers else None
        Xt = loader.load(X, [step.transform_image for step in per_image], size)
        if Xt.dtype == object and per_image:
            # Images of several shapes: the steps one by one raise the error or
            # build the batch exactly as they would on their own.
            Xt = loader.load(X, (), size)
            for step in per_image:
                Xt = step.transform(Xt)
        return Xt, self.steps[n:]

    def _transform_for_final(self, X):
        """``X`` through every step but the final one, as at prediction."""
        Xt, steps = self._transform_head(X, fitting=False)
        for _, step in steps[:-1]:
            if not _skipped(step, fitting=False):
                Xt = step.transform(Xt)
        return Xt

    # imbalanced-learn's private fit loop, overridden and called: no public hook runs between
    # fitting the transformers and fitting the final step, where the fused pass and validation_data go.
    def _fit(self, X, y=None, routed_params=None, raw_params=None):
        n, _ = self._fused_head(fitting=True)
        if n and self.memory is None and not _is_loaded(X):
            # The fused steps become one step of a temporary pipeline, under the
            # loader's name: their output is then freed as soon as the next step
            # (SMOTE) has consumed it, instead of living on in this frame.
            name = self.steps[0][0]
            rest = Pipeline([(name, _FusedSteps(self))] + self.steps[n:], memory=self.memory,
                            transform_input=self.transform_input, verbose=self.verbose)
            # imbalanced-learn's fit loop (its private _fit, which fit and fit_predict
            # share) on the temporary pipeline: the same caching, routing and resampling.
            Xt, yt = Pipeline._fit(rest, X, y, routed_params, raw_params)
            self.steps = list(self.steps[:n]) + rest.steps[1:]
        else:
            Xt, yt = super()._fit(X, y, routed_params, raw_params)
        name = final_step(self)[0]
        fit_params = routed_params[name]["fit"] if name in routed_params else {}
        if fit_params.get("validation_data") is not None:
            # After the transformers are fitted, before the final estimator is.
            X_val, y_val = fit_params["validation_data"]
            X_val = X_val.images if isinstance(X_val, Preprocessed) else self._transform_for_final(X_val)
            fit_params["validation_data"] = (X_val, y_val)
        return Xt, yt

    def check_before_fit(self, X, y):
        """Check every step's parameters and the labels, without reading any image.

        ``fit`` starts with this; call it to fail fast before other long work.

        Parameters
        ----------
        X : sequence of path-like or image arrays
            Training images.
        y : array-like of shape (n,)
            Their labels.

        Raises
        ------
        ValueError, TypeError
            Naming the first bad parameter or input.
        """
        if self.streaming:
            self._check_streaming(X)
        for _, step in self.steps:
            if hasattr(step, "check_params"):
                step.check_params()
            elif hasattr(step, "_validate_params"):
                # scikit-learn's one entry point to an estimator's parameter
                # constraints (SMOTE's, say), which it otherwise checks only in fit.
                step._validate_params()
        check_not_one_path(X)
        if sparse.issparse(X):
            raise TypeError("X: sparse input is not supported; pass image paths or a dense array of images.")
        if not hasattr(X, "__len__"):
            raise TypeError(f"X must be a sequence of image paths or arrays, got {type(X).__name__}.")
        if len(X) == 0:
            raise ValueError("X holds no images.")
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "one label per image."
            )
        check_binary_labels(y, len(X))
        self._checked_chunk_size()
        load, resize = self.named_steps.get("load"), self.named_steps.get("resize")
        if isinstance(load, ImageLoader) and isinstance(resize, Resizer):
            resize_hw = resize.output_size()
            reduce_hw = load.decode_size(resize_hw)
            if reduce_hw is not None and (reduce_hw[0] < resize_hw[0] or reduce_hw[1] < resize_hw[1]):
                raise ValueError(
                    f"load__reduce_to={load.reduce_to!r} is smaller than resize__size="
                    f"{resize.size!r}: images would be decoded too small. Set load__reduce_to "
                    "to the resize size (or None to decode in full)."
                )

    def check_stateless_steps(self, purpose):
        """Raise unless every step before the classifier learns nothing from the images.

        Such steps transform the same before ``fit`` as after it, which a streamed fit
        (each batch transformed as it is read) and :class:`Preprocessed` validation
        images rely on. Samplers are skipped: they do not run at prediction.

        Parameters
        ----------
        purpose : str
            What needs it, for the message (``"a streamed fit"``, ...).

        Raises
        ------
        ValueError
            Naming the first step that learns in ``fit``.
        """
        for name, step in self.steps[:-1]:
            if not _skipped(step, fitting=False) and not isinstance(step, StatelessTransformer):
                raise ValueError(f"Step {name!r} ({type(step).__name__}) learns from the images in fit; "
                                 f"{purpose} takes only steps that learn nothing (skpneumo's transformers).")

    def _check_streaming(self, X):
        """Raise unless a streamed fit can run: its parameters, its steps, and files in ``X``."""
        checks = [("streaming", isinstance(self.streaming, bool), "True or False"),
                  ("stream_balance", self.stream_balance is None or self.stream_balance in STREAM_SAMPLERS,
                   f"None or one of {sorted(STREAM_SAMPLERS)}"),
                  ("stream_workers", is_int(self.stream_workers, 1), "an integer >= 1"),
                  ("stream_processes", isinstance(self.stream_processes, bool), "True or False")]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}.")
        for name, step in self.steps[:-1]:
            if _skipped(step, fitting=False) and step is not None and step != "passthrough":
                raise ValueError(
                    f"Step {name!r} ({type(step).__name__}) resamples decoded images, which a streamed "
                    f"fit never holds all at once; remove it ({name}=None): streaming balances the classes "
                    "by resampling the files instead (stream_balance)."
                )
        self.check_stateless_steps("a streamed fit")
        if not isinstance(final_step(self)[1], PneumoniaClassifier):
            raise ValueError("A streamed fit needs a PneumoniaClassifier as the final step.")
        final_step(self)[1].check_stream_params()
        if is_path(X) or _is_loaded(X) or not all(is_path(item) for item in X):
            raise ValueError("streaming=True trains from files: X must hold image paths, not arrays.")

    def _fit_streamed(self, X, y, params):
        """``fit`` with ``streaming=True``: the classifier reads the files batch by batch."""
        name, clf = final_step(self)
        validation = params.pop(f"{name}__validation_data", None)
        if params:
            raise ValueError(f"A streamed fit takes no fit parameters but {name}__validation_data; "
                             f"got {', '.join(sorted(params))}.")
        items = list(X)
        val_items = []
        if validation is not None:
            preprocessed = isinstance(validation[0], Preprocessed)
            val_items = [] if preprocessed else list(validation[0])
            if preprocessed or _is_loaded(validation[0]) or not all(is_path(item) for item in val_items):
                raise ValueError(f"{name}__validation_data: a streamed fit validates on image paths, not arrays.")
        # Every header before the first epoch: a bad file fails now, not hours in.
        check_headers(items + val_items)
        # Each batch goes through the steps before the classifier as at prediction (one fused pass).
        steps = clone(self[:-1])
        if self.stream_processes:
            # The worker processes are the parallelism: each decodes its batch alone (joblib warns otherwise).
            for _, step in steps.steps:
                if isinstance(step, ImageLoader):
                    step.set_params(n_jobs=1)
        workers = {"workers": self.stream_workers, "use_multiprocessing": self.stream_processes}
        draw = None if self.stream_balance is None else partial(balanced_order, sampler=self.stream_balance)
        stream = FileStream(items, steps.transform, draw=draw, **workers)
        if validation is not None:
            validation = (FileStream(val_items, steps.transform, **workers), validation[1])
        clf.fit_stream(stream, y, validation_data=validation)
        return self

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
        self.check_before_fit(X, y)
        # A model card describes the run that recorded it (skpneumo.fit_model): not this one.
        self.__dict__.pop("model_card_", None)
        validation = params.get(f"{final_step(self)[0]}__validation_data")
        if validation is not None and not isinstance(validation[0], (np.ndarray, Preprocessed)):
            for item in validation[0]:
                if is_path(item):
                    check_image_file(item)
        if validation is not None and isinstance(validation[0], Preprocessed):
            self.check_stateless_steps("validation images preprocessed before fit (Preprocessed)")
        if self.streaming:
            return self._fit_streamed(X, y, dict(params))
        return super().fit(X, y, **params)

    def _in_chunks(self, method, X, params):
        """``method`` of the final estimator on ``X``, chunk after chunk."""
        check_is_fitted(self)
        if is_path(X):
            return getattr(super(), method)(X, **params)
        items = X if isinstance(X, np.ndarray) else list(X)
        size = self._checked_chunk_size()
        final = final_step(self)[1]
        batch_size = getattr(final, "batch_size", None)
        if is_int(batch_size, 1):
            size = max(1, size // batch_size) * batch_size
        # An empty X goes through once, for the steps' own error or empty result.
        parts = [getattr(final, method)(self._transform_for_final(part), **params)
                 for part in (chunks(items, size) if len(items) else [items])]
        return np.concatenate(parts)

    @available_if(_final_step_has("transform"))
    def transform(self, X, **params):
        """Transform ``X`` through every step, fusing the per-image steps after the loader.

        Parameters
        ----------
        X : sequence of path-like or image arrays
            The images.
        **params : dict
            Passed to the steps' ``transform`` as in imbalanced-learn's pipeline.

        Returns
        -------
        Xt : ndarray
            The transformed images.
        """
        Xt, steps = self._transform_head(X, fitting=False, with_final=True)
        if not steps:
            return Xt
        return Pipeline(steps, memory=self.memory, verbose=self.verbose).transform(Xt, **params)

    @available_if(_final_step_has("predict_proba"))
    def predict_proba(self, X, **params):
        """Class probabilities, computed chunk by chunk.

        Parameters
        ----------
        X : sequence of path-like or image arrays
            The images.
        **params : dict
            Passed to the final estimator's ``predict_proba``.

        Returns
        -------
        proba : ndarray of shape (n, n_classes)
        """
        return self._in_chunks("predict_proba", X, params)

    @available_if(_final_step_has("predict"))
    def predict(self, X, **params):
        """Predicted labels, computed chunk by chunk.

        Parameters
        ----------
        X : sequence of path-like or image arrays
            The images.
        **params : dict
            Passed to the final estimator's ``predict``.

        Returns
        -------
        labels : ndarray of shape (n,)
        """
        return self._in_chunks("predict", X, params)


# What a streamed pipeline changes in a preset: no SMOTE (it needs every decoded image),
# no cached backbone features (the same), no class weights (the batches are balanced).
STREAMED = {"smote": None, "cache_features": False, "class_weight": None}


def make_pipeline(preset=None, *, init=None, streaming=False, stream_balance="oversample", **params):
    """Build the default pipeline: load, resize, RGB, SMOTE, normalize, classifier.

    Steps are named ``load``, ``resize``, ``clahe`` (off unless given a
    :class:`~skpneumo.preprocessing.CLAHE`), ``rgb``, ``smote``, ``normalize``
    and ``clf``, so searches can address ``resize__size``,
    ``smote__k_neighbors`` or ``clf__epochs``. SMOTE comes before ``normalize``
    so that it resamples integer images: a quarter of the memory of ``float32``
    ones (8- and 16-bit files together are resampled as 16-bit). The loader
    decodes with all cores (``load__n_jobs=-1``) and decodes large JPEGs at
    reduced scale for the size ``resize__size`` has when the pipeline runs
    (``load__reduce_to="auto"``, see :class:`ImageLoader`).

    Parameters
    ----------
    preset : {"cpu", "gpu"} or None, default=None
        A named training recipe (see :mod:`skpneumo.estimators.presets`); its from-scratch
        variant when ``weights=None``. ``params`` override the preset's values.
    init : str, path-like or None, default=None
        Start from a trained model instead: a shipped model's name
        (``"kermany-v2"``) or a model folder. The pipeline takes its image size,
        CLAHE step and network, initialises the backbone from its weights, and
        adapts (a new head on the frozen backbone, then its top layers; see
        :func:`~skpneumo.estimators.presets.init_params`). ``params`` override.
        Not with ``preset``.
    streaming : bool, default=False
        Train from the files batch by batch (:class:`PneumoniaPipeline`'s
        ``streaming``): without SMOTE, and without the cached features and class
        weights a preset may set (:data:`STREAMED`), unless ``params`` set them;
        the classes are balanced by resampling the files (``stream_balance``).
    stream_balance : {"oversample", "undersample"} or None, default="oversample"
        How a streamed fit balances the classes (:func:`balanced_order`).
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
    ['load', 'resize', 'clahe', 'rgb', 'smote', 'normalize', 'clf']
    >>> make_pipeline(preset="cpu", weights=None).named_steps["clf"].backbone
    'smallcnn'
    """
    base = {}
    if init is not None:
        if preset is not None:
            raise ValueError("make_pipeline takes a preset or init (a trained model to start from), not both.")
        base = init_params(init)
    elif preset is not None:
        weights = params.get("clf__weights", params.get("weights", "imagenet"))
        base = preset_params(preset, weights)
    if streaming:
        base = {**base, **STREAMED}
    # Explicit parameters come later, so they win, whatever form they use.
    params = {**base, **params}
    pipe = PneumoniaPipeline([
        ("load", ImageLoader(n_jobs=-1, reduce_to="auto")),
        ("resize", Resizer()),
        ("clahe", "passthrough"),
        ("rgb", GrayscaleToRGB()),
        ("smote", ImageSMOTE()),
        ("normalize", Normalizer()),
        ("clf", PneumoniaClassifier()),
    ], streaming=streaming, stream_balance=stream_balance)
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
    pipe.set_params(**resolved)
    return pipe

"""Training and prediction of the pneumonia network, in plain Keras 3.

:func:`train_phases` runs the two-phase transfer learning (the head on a frozen
backbone, or the whole network from scratch, then fine-tuning), optionally on
cached backbone features (:func:`head_on_features`) and with early stopping on
validation ROC AUC. Batches come straight from the arrays (:class:`ArrayBatches`)
or, for a :class:`FileStream`, are read from the files batch by batch in background
workers (:class:`StreamedBatches`); :func:`seeded` makes a run repeatable; :func:`split_evenly` and
:func:`pad_for_devices` keep data-parallel devices evenly loaded.
"""

import contextlib
import random
from collections import defaultdict

import keras
import numpy as np

from ..exceptions import ImageReadError
from .distributed import check_same_length, process_batch_size
from .hardware import precision_scope
from .model import set_trainable_layers


class ArrayBatches(keras.utils.PyDataset):
    """Shuffled training batches read straight from the arrays, one at a time.

    Given arrays, ``keras.Model.fit`` first copies all of ``X`` into one backend
    tensor: a second copy of the whole training set. This hands Keras one batch
    at a time instead, in a new order every epoch, drawn from ``rng``.

    Parameters
    ----------
    X : ndarray of shape (n, ...)
        Inputs.
    y : ndarray of shape (n, ...)
        Targets.
    sample_weight : ndarray of shape (n,) or None
        Per-sample loss weights; None for none.
    batch_size : int
        Samples per batch; the last batch of an epoch holds the rest.
    rng : numpy.random.Generator
        Draws the order of the samples, anew for every epoch, and the mixup pairs.
    mixup : float, default=0.0
        Mixup's ``alpha``: each image of a batch and its target are blended with
        those of another image of the batch, with a weight drawn from
        ``Beta(alpha, alpha)`` (Zhang et al., 2018); 0 blends nothing.
    """

    def __init__(self, X, y, sample_weight, batch_size, rng, mixup=0.0):
        super().__init__()
        self.arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
        self.batch_size = batch_size
        self.rng = rng
        self.mixup = mixup
        self.order = self.rng.permutation(len(X))

    def __len__(self):
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        batch = tuple(array[rows] for array in self.arrays)
        return mix_batch(batch, self.rng, self.mixup) if self.mixup else batch

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.order))


def mix_batch(batch, rng, alpha):
    """Mixup of one batch: each image and its target blended with another of the batch.

    Parameters
    ----------
    batch : tuple (X, y) or (X, y, sample_weight)
        One batch.
    rng : numpy.random.Generator
        Draws the partners and the weights, from ``Beta(alpha, alpha)``.
    alpha : float
        Mixup's ``alpha`` (Zhang et al., 2018).

    Returns
    -------
    tuple
        The blended images and targets, and the sample weights unchanged.
    """
    X, y, *weight = batch
    partner = rng.permutation(len(X))
    lam = rng.beta(alpha, alpha, size=len(X)).astype(np.float32)
    # The larger share stays with the image itself, so that no pair appears twice.
    lam = np.maximum(lam, 1.0 - lam)

    def blend(a):
        share = lam.reshape((-1,) + (1,) * (a.ndim - 1))
        return (share * a + (1.0 - share) * a[partner]).astype(np.float32)

    return (blend(X), blend(y), *weight)


class FileStream:
    """Images read from their files batch by batch instead of held in memory.

    What :func:`train_phases` takes in place of an array of images. A process
    can be handed any subset of the files (its shard): a list of items in,
    batches out.

    Parameters
    ----------
    items : sequence
        The files (paths), one per image.
    load : callable
        ``load(list of items)`` returns their images as one float32 array
        ``(n, H, W, 3)``, or raises :class:`~skpneumo.exceptions.ImageReadError`
        naming the file. Picklable when ``use_multiprocessing``.
    draw : callable or None, default=None
        ``draw(y, rng)`` returns the item indices of one training epoch, in
        order (e.g. resampled to balance the classes); None shuffles all items.
    workers : int, default=1
        Batches prepared in parallel, ahead of training (``keras.utils.PyDataset``).
    use_multiprocessing : bool, default=False
        Workers are processes instead of threads.
    """

    def __init__(self, items, load, *, draw=None, workers=1, use_multiprocessing=False):
        self.items = list(items)
        self.load = load
        self.draw = draw
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing

    def __len__(self):
        return len(self.items)


class StreamedBatches(keras.utils.PyDataset):
    """Batches of a :class:`FileStream`, decoded by background workers while the model trains.

    Parameters
    ----------
    stream : FileStream
        The files and how to read them.
    y : ndarray of shape (n,) or (n, 1)
        Targets of the files.
    batch_size : int
        Images per batch; the last batch of an epoch holds the rest.
    rng : numpy.random.Generator or None, default=None
        Draws each epoch's order (``stream.draw``, or a shuffle) and the mixup
        pairs; None keeps the files in their order (validation).
    mixup : float, default=0.0
        Mixup's ``alpha`` (:func:`mix_batch`); 0 for none.
    n_devices : int, default=1
        Devices each batch is split between (:func:`split_evenly`).
    """

    def __init__(self, stream, y, batch_size, rng=None, mixup=0.0, n_devices=1):
        super().__init__(workers=stream.workers, use_multiprocessing=stream.use_multiprocessing)
        self.stream = stream
        self.y = np.asarray(y)
        self.batch_size = batch_size
        self.rng = rng
        self.mixup = mixup
        self.n_devices = n_devices
        self.failure = None
        self.order, self.epoch_seed = self._draw()

    def _draw(self):
        if self.rng is None:
            order, seed = np.arange(len(self.y)), 0
        else:
            order = (self.rng.permutation(len(self.y)) if self.stream.draw is None
                     else np.asarray(self.stream.draw(self.y, self.rng)))
            seed = int(self.rng.integers(2**31))
        order = split_evenly(order, order, batch_size=self.batch_size, n_devices=self.n_devices, seed=seed)[0]
        return order, seed

    def __len__(self):
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        try:
            batch = (self.stream.load([self.stream.items[i] for i in rows]), self.y[rows])
        except ImageReadError as exc:
            # TensorFlow's input pipeline re-raises a worker's error as one of its own:
            # the original is kept here (when workers are threads) for train_phases.
            self.failure = exc
            raise
        if not self.mixup:
            return batch
        # A generator per batch: workers prepare batches in any order, the draws stay repeatable.
        return mix_batch(batch, np.random.default_rng((self.epoch_seed, index)), self.mixup)

    def on_epoch_end(self):
        if self.rng is not None:
            self.order, self.epoch_seed = self._draw()


class BestSoFar(keras.callbacks.Callback):
    """Keeps the weights of the best epoch so far, to restore when a streamed fit fails.

    The best epoch has the highest validation AUC; without validation, it is the last.
    """

    def __init__(self):
        super().__init__()
        self.weights, self.epoch, self.score = None, None, -np.inf

    def on_epoch_end(self, epoch, logs=None):
        score = (logs or {}).get("val_auc", np.inf)
        if score >= self.score:
            self.weights, self.epoch, self.score = self.model.get_weights(), epoch + 1, score

    def restore(self, model):
        """Set the kept weights on ``model``; return a sentence saying which epoch it holds."""
        if self.weights is None:
            return "no epoch finished, so the model holds its initial weights"
        model.set_weights(self.weights)
        best = "" if np.isinf(self.score) else f" (validation AUC {self.score:.4f}, the best so far)"
        return f"the model is kept at epoch {self.epoch}{best}"


@contextlib.contextmanager
def seeded(seed):
    """Seed Python, NumPy and the Keras backend, then restore Python's and NumPy's generators.

    Weight initialisation, augmentation, dropout and shuffling inside the block
    then repeat from run to run (on CPUs).

    Parameters
    ----------
    seed : int or None
        None seeds nothing.
    """
    if seed is None:
        yield
        return
    py_state, np_state = random.getstate(), np.random.get_state()
    # Keras' seeding leaves TensorFlow's op determinism off: once on, it holds for
    # the whole process and makes later unseeded runs fail.
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def split_evenly(X, y, sample_weight=None, *, batch_size, n_devices, seed=None):
    """Leave out the few samples that would split the last batch unevenly between devices.

    Keras' data-parallel steps fail when one device gets fewer samples than
    another, so the last, partial batch must divide by the number of devices.

    Parameters
    ----------
    X, y : ndarray of shape (n, ...)
        Inputs and targets.
    sample_weight : ndarray of shape (n,) or None, default=None
        Per-sample loss weights.
    batch_size : int
        The global batch size, split between the devices.
    n_devices : int
        Number of devices.
    seed : int or None, default=None
        Seed of the choice of the samples left out.

    Returns
    -------
    X, y, sample_weight
        The kept samples, in their order (the arrays themselves when all are kept).

    Raises
    ------
    ValueError
        If ``batch_size`` is not a multiple of ``n_devices``.
    """
    if batch_size % n_devices:
        raise ValueError(
            f"batch_size={batch_size} cannot be split evenly between "
            f"{n_devices} devices; use a multiple of {n_devices}."
        )
    extra = len(X) % batch_size % n_devices
    if not extra:
        return X, y, sample_weight
    keep = np.sort(np.random.RandomState(seed).permutation(len(X))[extra:])
    return X[keep], y[keep], None if sample_weight is None else sample_weight[keep]


def pad_for_devices(X, batch_size, n_devices):
    """Repeat the last image so that no device gets an empty last batch.

    A model trained data-parallel on TensorFlow also predicts data-parallel, and
    BatchNormalization fails on a device that gets no image.

    Parameters
    ----------
    X : ndarray of shape (n, ...)
        Images to predict on.
    batch_size : int
        Prediction batch size.
    n_devices : int
        Number of devices the model was trained on.

    Returns
    -------
    ndarray
        ``X`` itself when its last batch is full or holds an image for every
        device; otherwise ``X`` followed by copies of its last image.
    """
    short = n_devices - len(X) % batch_size
    if len(X) % batch_size == 0 or short <= 0:
        return X
    return np.concatenate([X, np.repeat(X[-1:], short, axis=0)])


def head_on_features(model, X, validation=None, *, batch_size):
    """The head of ``model`` as a model of its own, and the backbone's features of the images.

    The head shares its layers with ``model``, so training it trains the full
    network; the frozen backbone then runs once per image instead of once per
    image and epoch.

    Parameters
    ----------
    model : keras.Model
        From :func:`~skpneumo.network.build_model`.
    X : ndarray of shape (n, H, W, 3)
        Training images.
    validation : tuple (X_val, y_val) or None, default=None
        Validation images and targets.
    batch_size : int
        Batch size of the feature extraction.

    Returns
    -------
    head : keras.Model
        From the pooled features to the sigmoid output.
    features : ndarray of shape (n, n_features)
        The pooled backbone features of ``X``.
    validation : tuple (features_val, y_val) or None
        ``validation`` with features instead of images.
    """
    pool = model.get_layer("pool")
    extractor = keras.Model(model.inputs, pool.output)
    features = keras.Input(shape=pool.output.shape[1:], name="features")
    x = features
    for layer in model.layers[model.layers.index(pool) + 1:]:
        x = layer(x)
    # Under mixed precision the head model must carry the policy too, so that
    # compile adds loss scaling for its float16 layers.
    with precision_scope(model.dtype_policy.name == "mixed_float16"):
        head = keras.Model(features, x, name="head")

    def extract(images):
        return extractor.predict(images, batch_size=batch_size, verbose=0)

    val = None if validation is None else (extract(validation[0]), validation[1])
    return head, extract(X), val


def train_phases(model, X, y, sample_weight=None, *, phases, fine_tune_layers, pretrained, batch_size,
                 validation=None, cache_features=False, early_stopping_patience=None, label_smoothing=0.0,
                 mixup=0.0, weight_decay=0.0, lr_schedule="constant", callbacks=None, n_devices=1, seed=None,
                 verbose=0):
    """Train the pneumonia network phase after phase.

    Phase 1 trains the head alone on a backbone with pre-trained weights, frozen
    BatchNormalization included; from scratch, every layer, since a random
    backbone holds nothing to keep. Phase 2 trains the head and the top
    ``fine_tune_layers`` backbone layers (BatchNormalization stays frozen with
    pre-trained weights). Each phase compiles Adam at its learning rate with binary
    cross-entropy and a ROC AUC metric named ``auc``, and carries on the epoch
    count of the one before. With validation data and ``early_stopping_patience``,
    a phase stops after that many epochs without a better validation AUC and
    restores its best weights.

    Parameters
    ----------
    model : keras.Model
        From :func:`~skpneumo.network.build_model`, trained in place.
    X : ndarray of shape (n, H, W, 3) or FileStream
        Training images, or their files read batch by batch (:class:`StreamedBatches`).
        A file that fails to decode mid-training stops the fit with an
        :class:`~skpneumo.exceptions.ImageReadError` naming it, after the model
        is given back the weights of its best epoch so far (:class:`BestSoFar`).
    y : ndarray of shape (n,) or (n, 1)
        0/1 targets.
    sample_weight : ndarray of shape (n,) or None, default=None
        Per-image loss weights; not for a stream.
    phases : list of dict
        The phases to run, in order: ``phase`` (1 or 2), ``epochs`` and
        ``learning_rate``.
    fine_tune_layers : int or "all"
        Backbone layers, from the top, trained in phase 2.
    pretrained : bool
        Whether the backbone holds pre-trained weights.
    batch_size : int
        Images per gradient step, split between the devices; across processes
        (:mod:`~skpneumo.network.distributed`), the global batch, of which each
        process feeds an equal share.
    validation : tuple (X_val, y_val) or None, default=None
        Validation images (a :class:`FileStream` when ``X`` is one) and targets,
        monitored every epoch.
    cache_features : bool, default=False
        Train phase 1 on the frozen backbone's features, computed once
        (:func:`head_on_features`); for pre-trained weights without augmentation,
        and not for a stream.
    early_stopping_patience : int or None, default=None
        Epochs without improvement of the validation AUC before a phase stops.
    label_smoothing : float, default=0.0
        Label smoothing of the binary cross-entropy.
    mixup : float, default=0.0
        Mixup's ``alpha`` (:class:`ArrayBatches`); 0 for none.
    weight_decay : float, default=0.0
        Decoupled weight decay of Adam (AdamW, Loshchilov and Hutter, 2019).
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` decays each phase's learning rate to 0 over its planned
        epochs (cosine annealing without restarts).
    callbacks : list of keras.callbacks.Callback or None, default=None
        More callbacks for every phase.
    n_devices : int, default=1
        Devices each of this process's batches is split between (:func:`split_evenly`).
    seed : int or None, default=None
        Seed of the shuffling and of :func:`split_evenly`.
    verbose : int, default=0
        Keras progress output.

    Returns
    -------
    history : dict of list
        Per-epoch metrics of all phases, under Keras' names (``loss``, ``auc``,
        ``val_loss``, ``val_auc``), and ``phase``: the phase of each epoch.
    records : list of dict
        One per phase: ``phase``, ``trained`` (``"head"``, ``"head and top N
        backbone layers"`` or ``"all layers"``), ``learning_rate`` and ``epochs``
        (run, after early stopping).
    """
    # Across processes, each feeds its share of every global batch (the weights start equal: one seed, shared_seed).
    batch_size = process_batch_size(batch_size)
    streamed = isinstance(X, FileStream)
    if streamed and (cache_features or sample_weight is not None):
        raise ValueError("A streamed fit takes no sample weights and cannot cache features: "
                         "both need every image in memory.")
    rng = np.random.default_rng(seed)
    if streamed:
        streamed_batches = StreamedBatches(X, y, batch_size, rng, mixup=mixup, n_devices=n_devices)
        if validation is not None:
            validation = StreamedBatches(*validation, batch_size, n_devices=n_devices)
        kept = BestSoFar()
        check_same_length(len(streamed_batches), "training batches")
    else:
        X, y, sample_weight = split_evenly(X, y, sample_weight, batch_size=batch_size, n_devices=n_devices,
                                           seed=seed)
        check_same_length(len(X))
        if validation is not None:
            validation = split_evenly(*validation, batch_size=batch_size, n_devices=n_devices, seed=seed)[:2]
            check_same_length(len(validation[0]), "validation samples")
    history = defaultdict(list)
    records = []
    done = 0
    for planned in phases:
        phase, n_epochs, lr = planned["phase"], planned["epochs"], planned["learning_rate"]
        layers_trained = fine_tune_layers if phase == 2 else 0 if pretrained else "all"
        set_trainable_layers(model, layers_trained, freeze_batchnorm=pretrained)
        fitted, X_fit, val_fit = model, X, validation
        if phase == 1 and cache_features:
            fitted, X_fit, val_fit = head_on_features(model, X, validation, batch_size=batch_size)
        batches = (streamed_batches if streamed
                   else ArrayBatches(X_fit, y, sample_weight, batch_size, rng, mixup=mixup))
        schedule = lr
        if lr_schedule == "cosine":
            schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=n_epochs * len(batches))
        fitted.compile(
            optimizer=keras.optimizers.Adam(learning_rate=schedule, weight_decay=weight_decay or None),
            loss=keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing),
            metrics=[keras.metrics.AUC(name="auc")],
        )
        phase_callbacks = list(callbacks or [])
        if validation is not None and early_stopping_patience is not None:
            phase_callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_auc", mode="max", patience=early_stopping_patience, restore_best_weights=True,
            ))
        if streamed:
            phase_callbacks.append(kept)
        try:
            hist = fitted.fit(
                batches,
                epochs=done + n_epochs, initial_epoch=done, validation_data=val_fit,
                verbose=verbose, callbacks=phase_callbacks,
            )
        except Exception as exc:
            if not streamed:
                raise
            # Whatever stops a stream (a file that passed the header check but fails to
            # decode, most likely), what was trained is kept.
            where = kept.restore(model)
            failed = [b.failure for b in (batches, val_fit) if getattr(b, "failure", None) is not None]
            if isinstance(exc, ImageReadError) or failed:
                raise ImageReadError(f"{failed[0] if failed else exc} Training stopped; {where}.") from exc
            raise RuntimeError(f"Streamed training failed; {where}. {type(exc).__name__}: {exc}") from exc
        n_run = len(hist.history.get("loss", []))
        for key, values in hist.history.items():
            history[key].extend(float(v) for v in values)
        history["phase"].extend([phase] * n_run)
        records.append({
            "phase": phase,
            "trained": "all layers" if layers_trained == "all" else "head" if not layers_trained
            else f"head and top {layers_trained} backbone layers",
            "learning_rate": float(lr), "epochs": n_run,
        })
        done += n_run
    return dict(history), records


#: Keywords of :func:`train_phases` that are :class:`~skpneumo.PneumoniaClassifier`
#: parameters of the same names, passed on by name.
TRAINING_PARAMS = ("batch_size", "early_stopping_patience", "label_smoothing", "mixup", "weight_decay",
                   "lr_schedule", "fine_tune_layers", "callbacks", "verbose")


def predict_probability(model, X, batch_size, *, n_devices=1, verbose=0, callbacks=None, **predict_kwargs):
    """The network's sigmoid output: the probability of the positive class for each image.

    Parameters
    ----------
    model : keras.Model
        A network with one sigmoid output, from :func:`~skpneumo.network.build_model`.
    X : ndarray of shape (n, H, W, 3)
        Images.
    batch_size : int
        Images per prediction batch.
    n_devices : int, default=1
        Devices the model was trained on (:func:`pad_for_devices`).
    verbose : int, default=0
        Keras progress output.
    callbacks : list of keras.callbacks.Callback or None, default=None
        Prediction callbacks.
    **predict_kwargs : dict
        More arguments of ``keras.Model.predict``.

    Returns
    -------
    p : ndarray of shape (n,)
        float64 probabilities.
    """
    if n_devices == 1 and not verbose and not callbacks and not predict_kwargs:
        # keras.Model.predict builds a data pipeline on every call (about 0.1 s on 2 cores, measured for
        # skpneumo serve): batch by batch, predict_on_batch gives the same outputs without that cost.
        batches = [np.asarray(model.predict_on_batch(X[i:i + batch_size])) for i in range(0, len(X), batch_size)]
        p = np.concatenate(batches) if batches else np.empty((0, 1))
    else:
        p = model.predict(pad_for_devices(X, batch_size, n_devices), batch_size=batch_size, verbose=verbose,
                          callbacks=callbacks, **predict_kwargs)
    return p[:len(X)].reshape(-1).astype(np.float64)

"""The pneumonia classifier: a scikeras ``KerasClassifier`` around the network.

The estimator holds the parameters and checks them and the data; building and
training the network is :mod:`skpneumo.network`'s.
"""

import inspect
import warnings

import keras
import numpy as np
from scikeras.wrappers import KerasClassifier
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import ClassifierTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..network.backbones import BACKBONES, check_weights
from ..network.distributed import local_copy
from ..network.hardware import check_distribution, distribution_scope, precision_scope
from ..network.layers import AUGMENTATION_PARAMS, build_augmentation
from ..network.model import build_model, check_input_images
from ..network.training import TRAINING_PARAMS, predict_probability, seeded, train_phases
from ..utils.labels import positive_index
from ..utils.pipelines import final_step
from ..utils.validation import check_binary_labels, is_int, is_real
from .tta import resolve_tta, tta_transform


def _validation_labels(y_val, n_images, y):
    """``y_val`` as an array, after checking it against the images and the training labels."""
    y_val = np.asarray(y_val)
    unknown = set(np.unique(y_val).tolist()) - set(np.unique(y).tolist())
    if unknown or n_images != len(y_val):
        raise ValueError(
            "validation_data: labels must be among the training classes and match "
            f"the images in number (unknown labels: {sorted(unknown)})."
        )
    return y_val


class PneumoniaClassifier(KerasClassifier):
    """Binary pneumonia classifier: ImageNet CNN backbone with a custom dense head.

    A scikit-learn classifier (scikeras :class:`~scikeras.wrappers.KerasClassifier`)
    taking float RGB images in [0, 1] of shape ``(n, H, W, 3)``; the input size
    follows the training images. Integer images (0-255) and floats outside [0, 1]
    are refused, in ``fit`` and at prediction alike: put a :class:`Normalizer`
    first. ``fit`` trains in two phases:

    1. for ``epochs`` epochs at ``learning_rate``: the head alone, on a frozen
       backbone, with pre-trained weights; the whole network from scratch
       (``weights=None``), since a random backbone holds nothing to keep;
    2. the top ``fine_tune_layers`` backbone layers and the head, for
       ``fine_tune_epochs`` epochs at ``fine_tune_learning_rate``. With pre-trained
       weights, BatchNormalization stays frozen in inference mode; from scratch it
       learns like any layer.

    ``phases_`` records what each phase trained.

    Both use Adam and binary cross-entropy. The ImageNet preprocessing the backbone
    expects is part of the network, as is the training-only augmentation.

    Parameters
    ----------
    backbone : {"resnet50", "densenet121", "efficientnetb0", "mobilenetv3small", \
"smallcnn", "smallresnet"}, default="resnet50"
        The feature extractor: a ``keras.applications`` network (DenseNet-121 is
        CheXNet's; EfficientNet-B0 and MobileNetV3-Small are cheaper on CPUs) or
        ``"smallcnn"`` or ``"smallresnet"``, compact networks without ImageNet
        weights for training from scratch on CPUs (see
        :func:`skpneumo.network.SmallCNN` and :func:`skpneumo.network.SmallResNet`).
    weights : "imagenet", None or path-like, default="imagenet"
        Backbone initialisation: ImageNet weights (downloaded by Keras and cached in
        ``~/.keras/models``), random (``None``), or a Keras weights file of the
        backbone without its top (for offline machines).
    dense_units : tuple of int, default=(256,)
        Hidden dense layers of the head.
    dropout : float, default=0.5
        Dropout after each hidden dense layer.
    augment : bool, default=True
        Random augmentation of training images (never at prediction).
    rotation : float, default=10.0
        Maximum augmentation rotation, in degrees.
    zoom : float, default=0.1
        Maximum augmentation zoom, as a fraction.
    shift : float, default=0.1
        Maximum augmentation translation, as a fraction of the image size.
    contrast : float, default=0.1
        Maximum augmentation contrast change.
    sharpness : float in [0, 0.5], default=0.0
        Maximum augmentation change of sharpness: each training image is
        smoothed or sharpened by a random amount (0.5: from a 3x3 smoothing to
        twice as sharp). Against a shortcut of the Kermany films: NORMAL films are
        sharper than PNEUMONIA films, and blurrier films from another machine would
        then look like pneumonia.
    gamma : float in [0, 10], default=0.0
        Maximum augmentation change of exposure: each training image is raised to a
        random power log-uniform in ``[1 / (1 + gamma), 1 + gamma]`` (0.5: 0.67 to
        1.5), which darkens or lightens the mid-tones as another console would.
    horizontal_flip : bool, default=False
        Random left-right flips; off because the heart is on the left.
    standardize : bool, default=False
        Per-image intensity standardisation inside the network, in training and
        at prediction: each image is given mean 0.5 and standard deviation 0.25
        over its pixels, so exposure and contrast of the film no longer matter.
    mixup : float, default=0.0
        Mixup's ``alpha``: training images and their targets are blended in pairs
        with weights from ``Beta(alpha, alpha)``; 0 turns it off.
    epochs : int, default=10
        Phase 1 epochs (frozen backbone with pre-trained weights, every layer from
        scratch); 0 skips phase 1.
    learning_rate : float, default=1e-3
        Adam learning rate of phase 1.
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` decays each phase's learning rate to 0 over its epochs.
    weight_decay : float, default=0.0
        Decoupled weight decay of Adam (AdamW); 0 turns it off.
    fine_tune_layers : int or "all", default=30
        Number of backbone layers, from the top, trained in phase 2; 0 skips it.
    fine_tune_epochs : int, default=5
        Phase 2 epochs; 0 skips phase 2.
    fine_tune_learning_rate : float, default=1e-5
        Adam learning rate of phase 2.
    batch_size : int, default=32
        Images per gradient step (and per prediction batch).
    class_weight : None, "balanced" or dict, default=None
        Per-class loss weights; ``"balanced"`` is the cheap alternative to SMOTE.
    validation_split : float, default=0.0
        Fraction of the training images held out (stratified) to monitor validation
        ROC AUC for early stopping. Ignored when ``fit`` receives
        ``validation_data``.

        .. deprecated:: 0.4
           Removed in 0.5. It holds out images, not patients (and in a pipeline with
           SMOTE, synthetic ones): give held-out patients as ``fit``'s
           ``validation_data`` (``clf__validation_data`` in a pipeline), the one way,
           or let :func:`skpneumo.fit_model` choose them (``val_size``).
    early_stopping_patience : int or None, default=3
        With validation data, stop a phase after this many epochs without
        improvement of validation ROC AUC and restore the best weights.
        ``None`` disables early stopping.
    label_smoothing : float, default=0.0
        Binary cross-entropy label smoothing: targets become
        ``y * (1 - label_smoothing) + label_smoothing / 2``.
    cache_features : {"auto", True, False}, default="auto"
        In phase 1 a pre-trained backbone is frozen: compute its pooled features
        once and train the head on them instead of running the backbone every
        epoch. The result is the same up to float rounding. ``"auto"`` caches when
        ``augment=False`` (augmented images change every epoch) and the weights
        are pre-trained; ``True`` requires both.
    threshold : float, default=0.5
        Decision threshold used by ``predict``: an image is labelled ``pos_label_``
        when its probability of ``pos_label_`` is at least ``threshold``.
    tta : None, "default" or sequence of str, default=None
        Test-time augmentation: ``predict_proba`` (and so ``predict``) returns the
        mean probability over deterministic transforms of each image, named from
        :data:`skpneumo.estimators.TTA_TRANSFORMS` (small shifts, zooms, rotations, and a
        left-right ``"flip"``); ``"default"`` is :data:`skpneumo.estimators.DEFAULT_TTA`
        (identity, zoom in and out, rotations of 5 degrees). Costs one prediction
        pass per transform; only affects prediction.
    random_state : int, RandomState or None, default=None
        Seed for weight initialisation, augmentation, dropout, shuffling and the
        validation split. An int makes a CPU fit repeatable.
    verbose : int, default=0
        Keras progress output (0 = silent).
    callbacks : list of keras.callbacks.Callback or None, default=None
        Extra Keras callbacks for training and prediction.
    mixed_precision : bool, default=False
        Build the network under Keras' ``"mixed_float16"`` dtype policy: float16
        computation with float32 weights, a float32 sigmoid output and dynamic loss
        scaling. For GPUs with tensor cores; on CPUs it is slower than float32.
        The caller's global dtype policy is left unchanged.
    distribution : None or "data_parallel", default=None
        ``"data_parallel"`` trains on every GPU of the machine (every CPU device when
        there is none), splitting each batch between them: Keras'
        ``keras.distribution.DataParallel`` on the JAX backend, TensorFlow's
        ``MirroredStrategy`` on TensorFlow. ``batch_size`` is the global batch. On
        JAX, after :func:`skpneumo.network.distributed.join`, the devices of every
        joined process (on one host or several): each process fits on its own
        share of the data, and every process ends with the same network.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The labels seen in ``fit``, sorted; ``predict_proba`` columns follow them.
    pos_label_ : label
        The positive class, whose probability ``threshold`` applies to:
        ``"PNEUMONIA"`` when it is a class, else ``1``, else ``classes_[1]`` (the
        rule :func:`skpneumo.evaluation.evaluate` follows too).
    model_ : keras.Model
        The trained network.
    history_ : dict of list
        Per-epoch training metrics of both phases; ``history_["phase"]`` says which
        phase each epoch belongs to.
    phases_ : list of dict
        One entry per phase that ran: ``phase``, ``trained`` (``"head"``,
        ``"head and top N backbone layers"`` or ``"all layers"``),
        ``learning_rate`` and ``epochs`` (run, after early stopping).
    n_devices_ : int
        Number of devices each training batch was split between (1 unless
        ``distribution="data_parallel"``).

    Examples
    --------
    >>> import numpy as np
    >>> from skpneumo import PneumoniaClassifier
    >>> X = np.random.rand(8, 32, 32, 3).astype("float32")
    >>> y = np.array(["NORMAL", "PNEUMONIA"] * 4)
    >>> clf = PneumoniaClassifier(weights=None, epochs=1, fine_tune_epochs=0)
    >>> clf.fit(X, y).predict_proba(X).shape
    (8, 2)
    """

    # Fixed by design rather than parameters: scikeras reads them (the loss to
    # encode the targets).
    loss = "binary_crossentropy"
    warm_start = False

    def __init__(
        self,
        *,
        backbone="resnet50",
        weights="imagenet",
        dense_units=(256,),
        dropout=0.5,
        augment=True,
        rotation=10.0,
        zoom=0.1,
        shift=0.1,
        contrast=0.1,
        sharpness=0.0,
        gamma=0.0,
        horizontal_flip=False,
        standardize=False,
        mixup=0.0,
        epochs=10,
        learning_rate=1e-3,
        lr_schedule="constant",
        weight_decay=0.0,
        fine_tune_layers=30,
        fine_tune_epochs=5,
        fine_tune_learning_rate=1e-5,
        batch_size=32,
        class_weight=None,
        validation_split=0.0,
        early_stopping_patience=3,
        label_smoothing=0.0,
        cache_features="auto",
        threshold=0.5,
        tta=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        mixed_precision=False,
        distribution=None,
    ):
        self.backbone = backbone
        self.weights = weights
        self.dense_units = dense_units
        self.dropout = dropout
        self.augment = augment
        self.rotation = rotation
        self.zoom = zoom
        self.shift = shift
        self.contrast = contrast
        self.sharpness = sharpness
        self.gamma = gamma
        self.horizontal_flip = horizontal_flip
        self.standardize = standardize
        self.mixup = mixup
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.fine_tune_layers = fine_tune_layers
        self.fine_tune_epochs = fine_tune_epochs
        self.fine_tune_learning_rate = fine_tune_learning_rate
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.validation_split = validation_split
        self.early_stopping_patience = early_stopping_patience
        self.label_smoothing = label_smoothing
        self.cache_features = cache_features
        self.threshold = threshold
        self.tta = tta
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.mixed_precision = mixed_precision
        self.distribution = distribution

    @classmethod
    def _get_param_names(cls):
        # scikeras lists every public attribute as a parameter; scikit-learn's rule
        # (the __init__ signature) keeps get_params, clone and repr exact.
        return BaseEstimator._get_param_names.__func__(cls)

    def __sklearn_tags__(self):
        # scikeras' base order lets BaseEstimator's tags win, hiding that this is a
        # classifier (NaN scores, unstratified CV folds in scikit-learn >= 1.6).
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=False)
        tags.target_tags.required = True
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.random_state is None
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    def __repr__(self):
        return BaseEstimator.__repr__(self)

    # ------------------------------------------------------------------ checks
    def check_params(self):
        """Raise ValueError naming the first invalid parameter."""
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {self.backbone!r}.")
        if self.weights is not None and not (
            isinstance(self.weights, str) or hasattr(self.weights, "__fspath__")
        ):
            raise ValueError(
                f"weights must be 'imagenet', None or a file path, got {self.weights!r}."
            )
        units = self.dense_units
        if not isinstance(units, (tuple, list)) or not all(is_int(u, 1) for u in units):
            raise ValueError(f"dense_units must be a tuple of positive ints, got {units!r}.")
        checks = [
            ("dropout", is_real(self.dropout, 0, 1), "a float in [0, 1)"),
            ("augment", isinstance(self.augment, bool), "True or False"),
            ("rotation", is_real(self.rotation, 0, 180, True), "degrees in [0, 180]"),
            ("zoom", is_real(self.zoom, 0, 1), "a float in [0, 1)"),
            ("shift", is_real(self.shift, 0, 1), "a float in [0, 1)"),
            ("contrast", is_real(self.contrast, 0, 1), "a float in [0, 1)"),
            ("sharpness", is_real(self.sharpness, 0, 0.5, True), "a float in [0, 0.5]"),
            ("gamma", is_real(self.gamma, 0, 10, True), "a float in [0, 10]"),
            ("horizontal_flip", isinstance(self.horizontal_flip, bool), "True or False"),
            ("standardize", isinstance(self.standardize, bool), "True or False"),
            ("mixup", is_real(self.mixup, 0, np.inf), "a float >= 0"),
            ("lr_schedule", self.lr_schedule in ("constant", "cosine"), "'constant' or 'cosine'"),
            ("weight_decay", is_real(self.weight_decay, 0, 1), "a float in [0, 1)"),
            ("epochs", is_int(self.epochs, 0), "an integer >= 0"),
            ("learning_rate", is_real(self.learning_rate, 0, np.inf) and self.learning_rate > 0,
             "a positive float"),
            ("fine_tune_layers", self.fine_tune_layers == "all" or is_int(self.fine_tune_layers, 0),
             "an integer >= 0 or 'all'"),
            ("fine_tune_epochs", is_int(self.fine_tune_epochs, 0), "an integer >= 0"),
            ("fine_tune_learning_rate",
             is_real(self.fine_tune_learning_rate, 0, np.inf) and self.fine_tune_learning_rate > 0,
             "a positive float"),
            ("batch_size", is_int(self.batch_size, 1), "an integer >= 1"),
            ("class_weight", self.class_weight is None or self.class_weight == "balanced"
             or isinstance(self.class_weight, dict), "None, 'balanced' or a dict"),
            ("validation_split", is_real(self.validation_split, 0, 1), "a float in [0, 1)"),
            ("early_stopping_patience",
             self.early_stopping_patience is None or is_int(self.early_stopping_patience, 1),
             "None or an integer >= 1"),
            ("label_smoothing", is_real(self.label_smoothing, 0, 1), "a float in [0, 1)"),
            ("cache_features", self.cache_features in ("auto", True, False), "'auto', True or False"),
            ("random_state", self.random_state is None or is_int(self.random_state, 0)
             or isinstance(self.random_state, np.random.RandomState),
             "None, an integer >= 0 or a numpy RandomState"),
            ("verbose", self.verbose in (0, 1, 2), "0, 1 or 2"),
            ("callbacks", self.callbacks is None or (
                isinstance(self.callbacks, (list, tuple))
                and all(isinstance(c, keras.callbacks.Callback) for c in self.callbacks)),
             "None or a list of keras.callbacks.Callback"),
            ("mixed_precision", isinstance(self.mixed_precision, bool), "True or False"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}.")
        self._check_threshold()
        if self.cache_features is True and self.augment:
            raise ValueError(
                "cache_features=True needs augment=False: augmentation changes the images, "
                "and so the backbone features, in every epoch."
            )
        if self.cache_features is True and self.weights is None:
            raise ValueError(
                "cache_features=True needs pre-trained weights: with weights=None phase 1 "
                "trains the whole network, so the backbone features change every step."
            )
        if not self.planned_phases():
            raise ValueError(
                "Nothing to train: epochs=0 and fine-tuning is off "
                f"(fine_tune_epochs={self.fine_tune_epochs}, "
                f"fine_tune_layers={self.fine_tune_layers!r})."
            )
        check_distribution(self.distribution)
        resolve_tta(self.tta)
        check_weights(self.weights, self.backbone)

    def _check_threshold(self):
        # Checked again at prediction: the threshold may be set on a fitted model.
        if not is_real(self.threshold, 0, 1, True):
            raise ValueError(f"threshold must be a float in [0, 1], got {self.threshold!r}.")

    def planned_phases(self):
        """The training phases ``fit`` will run, from the parameters.

        Returns
        -------
        phases : list of dict
            ``phase`` (1 or 2), ``epochs`` (at most: early stopping may end a phase
            sooner) and ``learning_rate``; empty when nothing would be trained.
        """
        phases = []
        if self.epochs > 0:
            phases.append({"phase": 1, "epochs": self.epochs, "learning_rate": self.learning_rate})
        if self.fine_tune_epochs > 0 and self.fine_tune_layers != 0:
            phases.append({"phase": 2, "epochs": self.fine_tune_epochs,
                           "learning_rate": self.fine_tune_learning_rate})
        return phases

    # ------------------------------------------------------------------ fitting
    def _seed(self):
        if isinstance(self.random_state, np.random.RandomState):
            # Draw from a copy: fitting twice must not depend on earlier fits.
            rng = np.random.RandomState()
            rng.set_state(self.random_state.get_state())
            return int(rng.randint(2**31 - 1))
        return self.random_state

    def fit(self, X, y, sample_weight=None, *, validation_data=None):
        """Train the network on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : ndarray of shape (n, H, W, 3)
            Float RGB images in [0, 1] (the output of the preprocessing steps).
        y : array-like of shape (n,)
            Two classes, e.g. ``"NORMAL"``/``"PNEUMONIA"`` or 0/1.
        sample_weight : array-like of shape (n,), default=None
            Per-image loss weights.
        validation_data : tuple (X_val, y_val), default=None
            Preprocessed validation images and labels (e.g. held-out patients), used
            to monitor ROC AUC and for early stopping.

        Returns
        -------
        self : PneumoniaClassifier
        """
        self.check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        check_input_images(X)
        y = check_binary_labels(y, len(X))
        if sample_weight is not None:
            # A copy: scikeras multiplies it by the class weights in place.
            sample_weight = np.array(sample_weight, dtype=np.float64)
            if sample_weight.shape != (len(X),):
                raise ValueError(
                    f"sample_weight must hold one weight per image ({len(X)}), "
                    f"got shape {sample_weight.shape}."
                )
        if validation_data is not None:
            X_val, y_val = validation_data
            check_input_images(X_val, "validation_data X")
            validation_data = (X_val, _validation_labels(y_val, len(X_val), y))
        if self.validation_split and validation_data is None:
            warnings.warn("validation_split is deprecated since skpneumo 0.4 and goes in 0.5: it holds out images, "
                          "not patients. Pass held-out patients as validation_data (clf__validation_data in a "
                          "pipeline), or use skpneumo.fit_model(val_size=...).", FutureWarning, stacklevel=2)
        with seeded(self._seed()), distribution_scope(self.distribution) as n_devices:
            self.n_devices_ = n_devices
            # scikeras passes validation_data on to _fit_keras_model.
            super().fit(X, y, sample_weight=sample_weight, validation_data=validation_data)
        # Trained across processes, the network needs them all to run: a copy lets each predict alone.
        self.model_ = local_copy(self.model_)
        self.pos_label_ = self.classes_[positive_index(self.classes_)]
        return self

    def check_stream_params(self):
        """Raise ValueError naming a parameter a streamed fit cannot honour.

        ``cache_features=True``, ``class_weight`` and ``validation_split``, which
        need all images (or all labels) at once; checked before anything is read.
        """
        refused = [("cache_features=True", self.cache_features is True,
                    "the backbone's features of every image would be held in memory"),
                   ("class_weight", self.class_weight is not None,
                    "the stream's draw balances the classes"),
                   ("validation_split", bool(self.validation_split),
                    "it would hold out images of the stream; pass validation_data")]
        for name, bad, why in refused:
            if bad:
                raise ValueError(f"{name} cannot be used with a streamed fit: {why}.")

    def fit_stream(self, stream, y, *, validation_data=None):
        """Train the network on images read from their files batch by batch.

        The images are never all in memory: background workers read each batch
        while the model trains on the one before (see
        :class:`~skpneumo.network.StreamedBatches`). :class:`~skpneumo.PneumoniaPipeline`
        calls this when ``streaming=True``.

        Parameters
        ----------
        stream : FileStream
            The training files and how to read a batch of them as float RGB images
            in [0, 1] (:class:`~skpneumo.network.FileStream`); its ``draw`` may
            resample them each epoch, e.g. to balance the classes.
        y : array-like of shape (n,)
            Labels of the files, two classes.
        validation_data : tuple (FileStream, y_val), default=None
            Validation files, read the same way, and their labels: ROC AUC monitored
            every epoch and early stopping, as in :meth:`fit`.

        Returns
        -------
        self : PneumoniaClassifier

        Raises
        ------
        ValueError
            For bad parameters, labels, or a parameter a stream cannot honour
            (``cache_features=True``, ``class_weight``, ``validation_split``), before
            anything is read but the first image (for the input shape).
        ImageReadError
            If a file fails to decode during training, naming it; the network then
            holds the weights of the best epoch so far, which the message names, and
            predicts with them (``history_`` and ``phases_`` are not set).
        """
        self.check_stream_params()
        self.check_params()
        y = check_binary_labels(y, len(stream))
        if validation_data is not None:
            val_stream, y_val = validation_data
            y_val = _validation_labels(y_val, len(val_stream), y)
        first = stream.load(stream.items[:1])
        check_input_images(first, "the first streamed image")
        seed = self._seed()
        with seeded(seed), distribution_scope(self.distribution) as n_devices:
            self.n_devices_ = n_devices
            # scikeras' own set-up of a fit (encoders, input shape and dtype, the network),
            # from two blank images of the stream's shape: its public fit takes all images.
            self.classes_ = None  # as KerasClassifier.fit starts
            self._initialize(np.zeros((2, *first.shape[1:]), first.dtype), np.unique(y))
            # Set before training: after a file fails mid-stream the kept network still predicts.
            self.pos_label_ = self.classes_[positive_index(self.classes_)]
            validation = None
            if validation_data is not None:
                validation = (val_stream, self.target_encoder_.transform(y_val))
            self.history_, self.phases_ = train_phases(
                self.model_, stream, self.target_encoder_.transform(y),
                phases=self.planned_phases(),
                pretrained=self.weights is not None,
                validation=validation,
                n_devices=self.n_devices_,
                seed=seed,
                **self._params(TRAINING_PARAMS),
            )
        return self

    @classmethod
    def from_network(cls, network, classes, **params):
        """A fitted classifier around a trained network, without training.

        For a network saved with ``keras.Model.save`` (:func:`skpneumo.save_model`
        writes one) and loaded back: the result predicts exactly as the classifier
        that trained it.

        Parameters
        ----------
        network : keras.Model
            Takes ``(n, H, W, 3)`` float images in [0, 1] and returns the probability
            of ``classes[1]`` as one sigmoid output.
        classes : array-like of shape (2,)
            The sorted classes, as ``classes_`` was.
        **params : dict
            The classifier's parameters (``threshold``, ``batch_size``, ``tta``, ...).

        Returns
        -------
        PneumoniaClassifier
            Fitted: ``model_`` is ``network``.
        """
        clf = cls(**params)
        shape = tuple(network.input_shape[1:])
        classes = np.asarray(classes)
        if len(shape) != 3 or shape[-1] != 3 or len(classes) != 2 or not np.array_equal(classes, np.unique(classes)):
            raise ValueError(f"from_network needs a network of (H, W, 3) images and two sorted classes, got "
                             f"input shape {shape} and classes {classes.tolist()}.")
        # What scikeras' fit records before training, from two blank images of the
        # network's input shape.
        clf.classes_ = None  # as KerasClassifier.fit starts
        X, y = clf._validate_data(np.zeros((2, *shape), np.float32), classes, reset=True)
        clf.target_encoder_ = clf.target_encoder.fit(y)
        vars(clf).update(clf.target_encoder_.get_metadata())
        clf.feature_encoder_ = clf.feature_encoder.fit(X)
        clf.model_, clf.n_devices_ = network, 1
        clf.history_, clf.phases_ = {}, []  # trained elsewhere: no record of its training here
        clf.pos_label_ = clf.classes_[positive_index(clf.classes_)]
        return clf

    def _never(self):
        return False

    @available_if(_never)
    def partial_fit(self, X, y, sample_weight=None):
        """Not supported: training is a two-phase schedule, not a stream of batches.

        scikeras' inherited ``partial_fit`` would train one more epoch of whatever
        layers the last phase left trainable, without validation or early stopping;
        hidden (``hasattr(clf, "partial_fit")`` is False) so that no caller mistakes
        it for incremental learning. Refit, or set ``epochs`` and fit again.
        """

    def _build_keras_model(self):
        # Not scikeras' _keras_build_fn hook: scikeras wraps it in seeding of its own
        # (seed 0 for any RandomState), which would change what a random_state trains.
        augmentation = None
        if self.augment:
            augmentation = build_augmentation(**self._params(AUGMENTATION_PARAMS))
        with precision_scope(self.mixed_precision):
            return build_model(
                tuple(self.X_shape_[1:]),
                backbone=self.backbone,
                weights=self.weights,
                dense_units=tuple(self.dense_units),
                dropout=self.dropout,
                augmentation=augmentation,
                standardize=self.standardize,
            )

    def _ensure_compiled_model(self):
        # scikeras would compile with its optimizer and loss parameters, which this
        # class has not; train_phases compiles each phase.
        pass

    def _initialize_callbacks(self):
        # scikeras would keep copies of callbacks (refusing a tuple) for its own fit and
        # predict loops, which this class does not run: both read the parameter.
        pass

    def __setstate__(self, state):
        # Models pickled by earlier versions may hold scikeras' callback copies, unused now.
        state = {k: v for k, v in state.items() if k not in ("_fit_callbacks", "_predict_callbacks")}
        # Parameters added since: their defaults, which is what those models trained with.
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
                    if p.default is not inspect.Parameter.empty}
        state = {**defaults, **state}
        super().__setstate__(state)

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, validation_data=None):
        # scikeras has no public hook for a custom training loop; it calls this with
        # the targets encoded, and with fit's validation_data.
        seed = self._seed()
        validation = None
        if validation_data is not None:
            X_val, y_val = validation_data
            validation = (X_val, self.target_encoder_.transform(y_val))
        elif self.validation_split:
            train_idx, val_idx = train_test_split(
                np.arange(len(X)), test_size=self.validation_split, stratify=y.ravel(), random_state=seed
            )
            validation = (X[val_idx], y[val_idx])
            X, y = X[train_idx], y[train_idx]
            sample_weight = None if sample_weight is None else sample_weight[train_idx]
        self.history_, self.phases_ = train_phases(
            self.model_, X, y, sample_weight,
            phases=self.planned_phases(),
            pretrained=self.weights is not None,
            validation=validation,
            cache_features=self._caches_features(),
            n_devices=self.n_devices_,
            seed=seed,
            **self._params(TRAINING_PARAMS),
        )

    def _params(self, names):
        # The parameters a lower layer takes under the same names.
        return {name: getattr(self, name) for name in names}

    def _caches_features(self):
        if self.weights is None:
            return False
        return self.cache_features is True or (self.cache_features == "auto" and not self.augment)

    # --------------------------------------------------------------- prediction
    def predict_proba(self, X, **kwargs):
        """Class probabilities.

        Parameters
        ----------
        X : ndarray of shape (n, H, W, 3)
            Float RGB images in [0, 1], of the size seen in ``fit``.
        **kwargs : dict
            Passed to ``keras.Model.predict``.

        Returns
        -------
        proba : ndarray of shape (n, 2)
            Columns follow ``classes_``; rows sum to 1. With ``tta``, the mean over
            the transformed batches.
        """
        check_is_fitted(self)
        check_input_images(X)
        views = resolve_tta(self.tta) or ("identity",)
        kwargs = {"verbose": self.verbose, "callbacks": self.callbacks, **kwargs}
        batch_size = kwargs.pop("batch_size", self.batch_size)

        def probability(images):
            # scikeras' check of the image shape and dtype against those seen in fit.
            images, _ = self._validate_data(images)
            return predict_probability(self.model_, images, batch_size, n_devices=self.n_devices_, **kwargs)

        # The sigmoid output, not scikeras' decoder, which squeezes a single image's
        # (1, 1) output to the wrong shape.
        p = np.mean([probability(tta_transform(X, view)) for view in views], axis=0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X, **kwargs):
        """Predicted labels, positive when the probability reaches ``threshold``.

        Parameters
        ----------
        X : ndarray of shape (n, H, W, 3)
            Float RGB images in [0, 1].
        **kwargs : dict
            Passed to ``keras.Model.predict``.

        Returns
        -------
        labels : ndarray of shape (n,)
            Values from ``classes_``.

        Raises
        ------
        ValueError
            If ``threshold`` (which may be set on the fitted model) is not in [0, 1].
        """
        check_is_fitted(self)
        self._check_threshold()  # before the network runs
        proba = self.predict_proba(X, **kwargs)
        return self.labels_for(proba[:, positive_index(self.classes_)])

    def labels_for(self, p_positive):
        """Labels for probabilities of ``pos_label_``, by ``threshold``.

        Parameters
        ----------
        p_positive : float or array-like of float
            Probabilities of the positive class ``pos_label_``.

        Returns
        -------
        labels : label or ndarray
            ``pos_label_`` where the probability is at least ``threshold``, the
            other class elsewhere.
        """
        check_is_fitted(self)
        self._check_threshold()
        pos = positive_index(self.classes_)
        positive = np.asarray(p_positive) >= self.threshold
        return self.classes_[np.where(positive, pos, 1 - pos)]


def skpneumo_classifier(model):
    """The :class:`PneumoniaClassifier` that decides for ``model``, or None.

    Parameters
    ----------
    model : estimator
        A skpneumo pipeline, the classifier itself, or another model (such as a
        scikit-learn wrapper of a pipeline, which decides by its own rule).

    Returns
    -------
    PneumoniaClassifier or None
    """
    final = final_step(model)[1]
    return final if isinstance(final, PneumoniaClassifier) else None

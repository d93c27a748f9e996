import contextlib
import io
import pickle
import urllib.error

import keras
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags

from conftest import make_tiny_arrays
from skpneumo import PneumoniaClassifier, WeightsUnavailableError
from skpneumo.evaluation import evaluate
from skpneumo.network import BACKBONES, SmallCNN, backbones

FAST = dict(weights=None, epochs=1, fine_tune_epochs=0, batch_size=4)  # the default ResNet-50
SMALL = dict(FAST, backbone="smallcnn")  # where the backbone does not matter


def test_is_a_scikit_learn_classifier():
    clf = PneumoniaClassifier()
    assert is_classifier(clf)
    tags = get_tags(clf)
    assert tags.estimator_type == "classifier"
    assert tags.target_tags.required
    params = clf.get_params()
    for name in ("weights", "epochs", "learning_rate", "fine_tune_layers", "fine_tune_epochs",
                 "fine_tune_learning_rate", "batch_size", "random_state"):
        assert name in params
    assert params["epochs"] == 10 and params["batch_size"] == 32 and params["weights"] == "imagenet"
    assert clone(PneumoniaClassifier(epochs=3)).get_params() == PneumoniaClassifier(epochs=3).get_params()


@pytest.fixture(scope="module")
def resnet50_fit():
    """A ResNet-50 classifier (the default backbone) fitted once for the tests that need it."""
    rng = np.random.default_rng(1)
    X = rng.random((12, 32, 32, 3), dtype=np.float32)
    y = np.array(["NORMAL", "PNEUMONIA"] * 6)
    # One cheap epoch: ResNet-50's top layer and the head, not the whole network.
    params = dict(FAST, epochs=0, fine_tune_epochs=1, fine_tune_layers=1)
    return PneumoniaClassifier(**params, random_state=0).fit(X, y), X


@pytest.fixture(scope="module")
def small_fit():
    """The compact classifier fitted once on ``tiny_arrays``, and what its fit printed.

    For the tests that only read a fitted classifier; a test that changes it fits its own.
    """
    X, y = make_tiny_arrays()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        clf = PneumoniaClassifier(**SMALL, random_state=0).fit(X, y)
    return clf, out.getvalue()


def test_fit_predict_proba_and_labels(resnet50_fit):
    clf, X = resnet50_fit
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(clf.classes_) == ["NORMAL", "PNEUMONIA"]
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.history_["phase"] == [2]
    np.testing.assert_allclose(clf.predict_proba(X[:1]), proba[:1], rtol=1e-5, atol=1e-7)
    # What test_every_backbone_trains_and_predicts checks of each backbone, for the default one.
    assert clf.model_.get_layer("imagenet_preprocessing").mode == BACKBONES["resnet50"].preprocessing == "caffe"
    assert isinstance(clf.model_.get_layer("backbone"), keras.Model)


def test_integer_labels_and_threshold(tiny_arrays):
    X, _ = tiny_arrays
    y = np.array([0, 1] * 6)
    clf = PneumoniaClassifier(**SMALL, random_state=0).fit(X, y)
    assert list(clf.classes_) == [0, 1]
    p = clf.predict_proba(X)[:, 1]
    clf.set_params(threshold=0.0)
    assert (clf.predict(X) == 1).all()
    clf.set_params(threshold=1.0)
    np.testing.assert_array_equal(clf.predict(X), (p >= 1.0).astype(int))
    for bad in (1.5, -0.1, np.nan, "0.5", None):
        clf.set_params(threshold=bad)
        with pytest.raises(ValueError, match=r"threshold must be a float in \[0, 1\]"):
            clf.predict(X)


@pytest.mark.slow  # four fits; test_training.py checks seeded repeats of the network in the quick loop
def test_seeded_fits_repeat_and_unseeded_fits_still_work(tiny_arrays):
    X, y = tiny_arrays
    unseeded = PneumoniaClassifier(**SMALL).fit(X, y).predict_proba(X)
    a = PneumoniaClassifier(**SMALL, random_state=7).fit(X, y).predict_proba(X)
    again = PneumoniaClassifier(**SMALL).fit(X, y).predict_proba(X)
    b = PneumoniaClassifier(**SMALL, random_state=7).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(unseeded).all() and np.isfinite(again).all()


def test_two_phases_history_and_frozen_batchnorm(tiny_arrays, tmp_path):
    X, y = tiny_arrays
    # A weights file stands in for ImageNet weights, which cannot be downloaded here.
    clf = PneumoniaClassifier(weights=smallcnn_weights_file(tmp_path), backbone="smallcnn", epochs=1,
                              fine_tune_epochs=1, fine_tune_layers=12, batch_size=4, random_state=0).fit(X, y)
    assert clf.history_["phase"] == [1, 2]
    assert len(clf.history_["loss"]) == 2
    assert [p["trained"] for p in clf.phases_] == ["head", "head and top 12 backbone layers"]
    assert clf.phases_[1]["learning_rate"] == 1e-5
    base = clf.model_.get_layer("backbone")
    trainable = [layer for layer in base.layers if layer.trainable and layer.weights]
    assert trainable and all(not isinstance(lyr, keras.layers.BatchNormalization) for lyr in trainable)
    assert all(base.layers.index(lyr) >= len(base.layers) - 12 for lyr in trainable)


@pytest.mark.slow  # early stopping is checked quickly in test_training.py, validation in the next test
def test_validation_split_early_stopping(tiny_arrays):
    X, y = tiny_arrays
    clf = PneumoniaClassifier(**{**SMALL, "epochs": 3}, validation_split=0.34, early_stopping_patience=1,
                              random_state=0)
    with pytest.warns(FutureWarning, match="validation_split is deprecated.*not patients"):
        clf.fit(X, y)
    assert "val_auc" in clf.history_ and 1 <= len(clf.history_["val_auc"]) <= 3


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_validation_data_fit_param(tiny_arrays):
    X, y = tiny_arrays
    clf = PneumoniaClassifier(**SMALL, random_state=0).fit(X[:8], y[:8], validation_data=(X[8:], y[8:]))
    assert len(clf.history_["val_auc"]) == 1
    with pytest.raises(ValueError, match="validation_data"):
        PneumoniaClassifier(**SMALL).fit(X, y, validation_data=(X[:2], np.array(["NORMAL", "OTHER"])))


@pytest.mark.slow  # test_caller_sample_weight_is_not_modified fits with class_weight="balanced" quickly
def test_class_weight_balanced(tiny_arrays):
    X, y = tiny_arrays
    y = np.array(["NORMAL"] * 3 + ["PNEUMONIA"] * 9)
    clf = PneumoniaClassifier(**SMALL, class_weight="balanced", random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (12, 2)


def test_quiet_by_default(tiny_arrays, small_fit):
    X, _ = tiny_arrays
    clf, printed_by_fit = small_fit
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        clf.predict_proba(X)
    assert printed_by_fit == "" and out.getvalue() == ""


class Calls(keras.callbacks.Callback):
    """What the network ran with this callback."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train")

    def on_predict_begin(self, logs=None):
        self.calls.append("predict")


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_callbacks_follow_the_parameter_and_old_pickles_load(tiny_arrays):
    X, y = tiny_arrays
    calls = Calls()
    clf = PneumoniaClassifier(**SMALL, random_state=0, callbacks=(calls,)).fit(X, y)  # a tuple will do
    proba = clf.predict_proba(X)
    assert calls.calls == ["train", "predict"]
    clf.set_params(callbacks=None)  # as fit_model does, so that the model pickles without them
    clf.predict_proba(X)
    assert calls.calls == ["train", "predict"]
    # Models pickled by skpneumo 0.2 may carry scikeras' copies of the callbacks.
    state = {**pickle.loads(pickle.dumps(clf)).__getstate__(), "_fit_callbacks": [Calls()], "_predict_callbacks": []}
    loaded = PneumoniaClassifier.__new__(PneumoniaClassifier)
    loaded.__setstate__(state)
    assert not hasattr(loaded, "_fit_callbacks") and not hasattr(loaded, "_predict_callbacks")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_saved_model_loads_in_safe_mode_without_lambda(resnet50_fit, tmp_path):
    clf, X = resnet50_fit

    def all_layers(layer):
        yield layer
        for sub in getattr(layer, "layers", []):
            yield from all_layers(sub)

    assert not any(isinstance(lyr, keras.layers.Lambda) for lyr in all_layers(clf.model_))
    path = tmp_path / "model.keras"
    clf.model_.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), clf.model_.predict(X, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("param, value", [
    ("epochs", -1), ("epochs", 1.5), ("learning_rate", 0), ("fine_tune_layers", -3),
    ("fine_tune_layers", "most"), ("fine_tune_epochs", -1), ("batch_size", 0),
    ("dropout", 1.0), ("backbone", "vgg99"), ("weights", 3), ("threshold", 1.5),
    ("class_weight", "auto"), ("validation_split", 1.0), ("dense_units", (0,)),
    ("augment", "yes"), ("verbose", 5), ("random_state", -1), ("label_smoothing", 1.0),
    ("cache_features", "always"), ("standardize", 1), ("mixup", -0.1), ("lr_schedule", "step"),
    ("weight_decay", 1.0),
    # Refused, although sklearn's check_scalar and Interval would accept them.
    ("epochs", True), ("rotation", True), ("zoom", float("nan")),
])
def test_bad_parameters_fail_before_training(tiny_arrays, param, value):
    X, y = tiny_arrays
    with pytest.raises(ValueError, match=param):
        PneumoniaClassifier(**{**SMALL, param: value}).fit(X, y)


def test_nothing_to_train_is_an_error(tiny_arrays):
    with pytest.raises(ValueError, match="Nothing to train"):
        PneumoniaClassifier(weights=None, epochs=0, fine_tune_epochs=0).fit(*tiny_arrays)


def test_missing_weights_file(tiny_arrays, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        PneumoniaClassifier(weights=tmp_path / "nope.h5").fit(*tiny_arrays)


def test_imagenet_offline_fails_fast_with_instructions(tiny_arrays, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "_weights_cache_dirs", lambda: [str(tmp_path / "models")])

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(backbones.urllib.request, "urlopen", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        PneumoniaClassifier(weights="imagenet").fit(*tiny_arrays)
    message = str(err.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "weights=" in message and str(tmp_path) in message


@pytest.mark.parametrize("X_bad, match", [
    (np.full((4, 32, 32, 3), np.nan, dtype="float32"), "NaN"),
    (np.zeros((4, 32, 32), dtype="float32"), "shape"),
    (np.zeros((4, 32, 32, 1), dtype="float32"), "GrayscaleToRGB"),
    (np.zeros((4, 16, 16, 3), dtype="float32"), "at least 32"),
])
def test_bad_images(X_bad, match):
    y = np.array(["NORMAL", "PNEUMONIA"] * 2)
    with pytest.raises(ValueError, match=match):
        PneumoniaClassifier(**SMALL).fit(X_bad, y)


@pytest.mark.parametrize("y_bad, match", [
    (["NORMAL"] * 12, "exactly two classes"),
    (["NORMAL", "PNEUMONIA", "COVID"] * 4, "exactly two classes"),
    (["NORMAL", "PNEUMONIA"] * 5, "labels"),
])
def test_bad_labels(tiny_arrays, y_bad, match):
    X, _ = tiny_arrays
    with pytest.raises(ValueError, match=match):
        PneumoniaClassifier(**SMALL).fit(X, np.array(y_bad))


def test_predict_rejects_other_image_size(small_fit):
    clf = small_fit[0]
    with pytest.raises(ValueError, match=r"X has shape \(40, 40, 3\), but this PneumoniaClassifier is "
                                         r"expecting X of shape \(32, 32, 3\)"):
        clf.predict_proba(np.zeros((2, 40, 40, 3), dtype="float32"))


def smallcnn_weights_file(tmp_path):
    """Random SmallCNN weights standing in for a pre-trained backbone."""
    path = tmp_path / "smallcnn.weights.h5"
    SmallCNN(input_shape=(32, 32, 3)).save_weights(path)
    return path


@pytest.mark.parametrize("dropout", [pytest.param(0.0, marks=pytest.mark.slow), 0.5])  # 0.5: the harder case
@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_cached_features_train_exactly_like_the_full_network(dropout, tmp_path):
    rng = np.random.default_rng(3)
    X = rng.random((16, 32, 32, 3), dtype=np.float32)
    y = np.array([0, 1] * 8)
    X[y == 1, 8:16, 8:16] = 1.0
    params = dict(weights=smallcnn_weights_file(tmp_path), backbone="smallcnn", augment=False, epochs=3,
                  fine_tune_epochs=1, fine_tune_layers=2, dropout=dropout, batch_size=4, random_state=0)
    fits = {cache: PneumoniaClassifier(**params, cache_features=cache).fit(X, y, validation_data=(X, y))
            for cache in (False, True)}
    np.testing.assert_allclose(fits[True].history_["loss"], fits[False].history_["loss"], rtol=1e-5)
    np.testing.assert_allclose(fits[True].predict_proba(X), fits[False].predict_proba(X), atol=1e-6)
    assert fits[True].history_["phase"] == [1, 1, 1, 2]
    assert "val_auc" in fits[True].history_


def test_cache_features_needs_augmentation_off_and_pretrained_weights(tiny_arrays):
    X, y = tiny_arrays
    with pytest.raises(ValueError, match="cache_features=True needs augment=False"):
        PneumoniaClassifier(**SMALL, cache_features=True).fit(X, y)
    with pytest.raises(ValueError, match="cache_features=True needs pre-trained weights"):
        PneumoniaClassifier(**SMALL, cache_features=True, augment=False).fit(X, y)
    # "auto" with augmentation on simply trains the full network.
    clf = PneumoniaClassifier(**SMALL, cache_features="auto", augment=True).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_label_smoothing_changes_the_loss(tiny_arrays, small_fit):
    X, y = tiny_arrays
    plain = small_fit[0]
    smooth = PneumoniaClassifier(**SMALL, random_state=0, label_smoothing=0.2).fit(X, y)
    assert smooth.history_["loss"] != plain.history_["loss"]
    assert smooth.model_.loss.label_smoothing == 0.2


# The scikit-learn contract ------------------------------------------------------------


def test_unfitted_predictions_raise_not_fitted_error(tiny_arrays):
    X, _ = tiny_arrays
    clf = PneumoniaClassifier()
    for method in (clf.predict_proba, clf.predict, clf.labels_for):
        with pytest.raises(NotFittedError):
            method(X if method is not clf.labels_for else [0.5])


def test_partial_fit_is_not_offered():
    assert not hasattr(PneumoniaClassifier(), "partial_fit")


@pytest.mark.parametrize("as_list", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_caller_sample_weight_is_not_modified(tiny_arrays, as_list):
    X, y = tiny_arrays
    weights = np.linspace(0.5, 2.0, len(X))
    given = list(weights) if as_list else weights.copy()
    y = np.array(["NORMAL"] * 9 + ["PNEUMONIA"] * 3)  # unbalanced, so class weights differ from 1
    PneumoniaClassifier(**SMALL, class_weight="balanced").fit(X, y, sample_weight=given)
    np.testing.assert_array_equal(np.asarray(given), weights)
    with pytest.raises(ValueError, match="sample_weight"):
        PneumoniaClassifier(**SMALL).fit(X, y, sample_weight=weights[:3])


@pytest.mark.parametrize("labels, positive", [
    (["PNEUMONIA", "healthy"], "PNEUMONIA"),  # sorted, PNEUMONIA comes first
    (["NORMAL", "PNEUMONIA"], "PNEUMONIA"),
    # Integer labels are checked quickly in test_integer_labels_and_threshold.
    pytest.param([1, 0], 1, marks=pytest.mark.slow),
    pytest.param(["a", "b"], "b", marks=pytest.mark.slow),
])
def test_threshold_applies_to_the_positive_class_as_evaluate_does(tiny_arrays, small_fit, labels, positive):
    X, shared_labels = tiny_arrays
    y = np.array(labels * 6)
    if np.array_equal(y, shared_labels):  # a copy of the shared fit: this test sets its threshold
        clf = pickle.loads(pickle.dumps(small_fit[0]))
    else:
        clf = PneumoniaClassifier(**SMALL, random_state=0).fit(X, y)
    assert clf.pos_label_ == positive
    p_pos = clf.predict_proba(X)[:, list(clf.classes_).index(positive)]
    negative = [c for c in clf.classes_ if c != positive][0]
    for threshold in (np.median(p_pos), p_pos.min(), 1.0):
        clf.set_params(threshold=float(threshold))
        expected = np.where(p_pos >= threshold, positive, negative)
        np.testing.assert_array_equal(clf.predict(X), expected)
        report = evaluate(clf, X, y)
        assert report.pos_label == positive
        assert report.confusion_matrix[1][1] + report.confusion_matrix[0][1] == np.sum(expected == positive)


@pytest.mark.parametrize("X_bad, match", [
    ((np.random.default_rng(0).random((12, 32, 32, 3)) * 255).astype(np.uint8), "uint8 pixels"),
    (np.random.default_rng(0).random((12, 32, 32, 3), dtype=np.float32) * 255, r"values in \[.*, 25\d"),
    (np.random.default_rng(0).random((12, 32, 32, 3), dtype=np.float32) - 0.5, "values in"),
])
def test_images_outside_0_1_are_refused_in_fit_and_predict(resnet50_fit, X_bad, match):
    clf, X = resnet50_fit
    with pytest.raises(ValueError, match=match):
        PneumoniaClassifier(**SMALL).fit(X_bad, np.array(["NORMAL", "PNEUMONIA"] * 6))
    with pytest.raises(ValueError, match="Normalizer"):
        clf.predict_proba(X_bad)


class BackboneSnapshot(keras.callbacks.Callback):
    """The backbone's weights when training starts, before the first phase."""

    def on_train_begin(self, logs=None):
        if not hasattr(self, "before"):
            self.before = [w.numpy().copy() for w in self.model.get_layer("backbone").weights]


@pytest.mark.parametrize("pretrained", [False, True])
def test_phase_1_trains_every_layer_from_scratch_and_the_head_alone_otherwise(tiny_arrays, tmp_path,
                                                                              pretrained):
    X, y = tiny_arrays
    snapshot = BackboneSnapshot()
    weights = smallcnn_weights_file(tmp_path) if pretrained else None
    clf = PneumoniaClassifier(weights=weights, backbone="smallcnn", epochs=1, fine_tune_epochs=0,
                              augment=True, batch_size=4, random_state=0, callbacks=[snapshot]).fit(X, y)
    after = [w.numpy() for w in clf.model_.get_layer("backbone").weights]
    changed = [not np.array_equal(b, a) for b, a in zip(snapshot.before, after)]
    if pretrained:
        assert not any(changed)  # frozen, BatchNormalization statistics included
        assert clf.phases_ == [{"phase": 1, "trained": "head", "learning_rate": 1e-3, "epochs": 1}]
    else:
        assert all(changed)  # kernels, and BatchNormalization's scales and statistics
        assert clf.phases_ == [{"phase": 1, "trained": "all layers", "learning_rate": 1e-3, "epochs": 1}]


@pytest.mark.slow  # test_two_phases_history_and_frozen_batchnorm and test_phase_1_... check phases_ quickly
def test_phases_say_what_the_fine_tuning_phase_trained(tiny_arrays):
    X, y = tiny_arrays
    clf = PneumoniaClassifier(**{**SMALL, "fine_tune_epochs": 1, "fine_tune_layers": 4}).fit(X, y)
    assert [p["trained"] for p in clf.phases_] == ["all layers", "head and top 4 backbone layers"]
    assert clf.phases_[1]["learning_rate"] == 1e-5


def test_the_network_layer_takes_the_classifier_parameters_by_name():
    import inspect

    from skpneumo.network.layers import AUGMENTATION_PARAMS
    from skpneumo.network.training import TRAINING_PARAMS, train_phases

    params = PneumoniaClassifier().get_params()
    assert set(AUGMENTATION_PARAMS) == {"rotation", "zoom", "shift", "contrast", "horizontal_flip", "sharpness",
                                        "gamma"}
    assert set(AUGMENTATION_PARAMS) <= set(params) and set(TRAINING_PARAMS) <= set(params)
    assert set(TRAINING_PARAMS) <= set(inspect.signature(train_phases).parameters)

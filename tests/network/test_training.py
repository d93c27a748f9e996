import random

import keras
import numpy as np
import pytest

from skpneumo.network import (
    ArrayBatches,
    build_model,
    head_on_features,
    pad_for_devices,
    predict_probability,
    seeded,
    split_evenly,
    train_phases,
)
from skpneumo.network.backbones import BACKBONES, Backbone
from skpneumo.network.hardware import precision_scope


def test_array_batches_hold_every_row_once_per_epoch_in_a_new_order():
    X = np.arange(10)[:, None] * 10
    y, weights = np.arange(10), np.linspace(0, 1, 10)
    batches = ArrayBatches(X, y, weights, 4, np.random.default_rng(0))
    orders = []
    for _ in range(3):
        assert len(batches) == 3
        epoch = [batches[i] for i in range(len(batches))]
        assert [len(b[1]) for b in epoch] == [4, 4, 2]
        rows = np.concatenate([b[1] for b in epoch])
        np.testing.assert_array_equal(np.sort(rows), np.arange(10))
        for xb, yb, wb in epoch:  # the arrays stay aligned
            np.testing.assert_array_equal(xb[:, 0], yb * 10)
            np.testing.assert_array_equal(wb, weights[yb])
        orders.append(rows)
        batches.on_epoch_end()
    assert not np.array_equal(orders[0], orders[1])
    assert len(ArrayBatches(X, y, None, 4, np.random.default_rng(0))[0]) == 2  # no weights, no third array


@pytest.mark.parametrize("n, batch_size, n_devices, dropped", [
    (15, 4, 2, 1), (14, 4, 2, 0), (10, 6, 3, 1), (11, 6, 3, 2), (12, 6, 3, 0), (7, 8, 1, 0),
])
def test_split_evenly_drops_exactly_the_uneven_rest(n, batch_size, n_devices, dropped):
    X, y, weights = np.arange(n) * 10, np.arange(n), np.arange(n) / 2
    Xs, ys, ws = split_evenly(X, y, weights, batch_size=batch_size, n_devices=n_devices, seed=0)
    assert len(Xs) == n - dropped
    assert len(Xs) % batch_size % n_devices == 0
    assert np.all(np.diff(ys) > 0)  # kept in order, without repeats
    np.testing.assert_array_equal(Xs, ys * 10)
    np.testing.assert_array_equal(ws, ys / 2)
    again = split_evenly(X, y, weights, batch_size=batch_size, n_devices=n_devices, seed=0)
    np.testing.assert_array_equal(again[1], ys)
    if not dropped:
        assert Xs is X and ys is y and ws is weights


def test_split_evenly_keeps_no_weights_and_refuses_an_unsplittable_batch():
    X = np.arange(5)
    assert split_evenly(X, X, batch_size=4, n_devices=2, seed=0)[2] is None
    with pytest.raises(ValueError, match="batch_size=6 cannot be split evenly between 4 devices"):
        split_evenly(X, X, batch_size=6, n_devices=4)


@pytest.mark.parametrize("n, batch_size, n_devices, padded", [
    (9, 4, 2, 10), (9, 4, 3, 11), (10, 4, 2, 10), (8, 4, 2, 8), (9, 4, 1, 9), (1, 32, 2, 2),
])
def test_pad_for_devices_repeats_the_last_image(n, batch_size, n_devices, padded):
    X = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    out = pad_for_devices(X, batch_size, n_devices)
    assert len(out) == padded
    np.testing.assert_array_equal(out[:n], X)
    assert (out[n:] == X[-1]).all()
    last = padded % batch_size or batch_size
    assert last >= n_devices or padded == n


def test_seeded_repeats_draws_and_restores_the_global_generators():
    random.seed(123)
    np.random.seed(123)
    before = random.getstate(), np.random.get_state()
    draws = []
    for _ in range(2):
        with seeded(5):
            draws.append((random.random(), np.random.rand(), float(keras.random.uniform(()))))
        assert random.getstate() == before[0]
        np.testing.assert_array_equal(np.random.get_state()[1], before[1][1])
        assert np.random.get_state()[2] == before[1][2]
    assert draws[0] == draws[1]
    with seeded(None):
        unseeded = random.random()
    random.setstate(before[0])
    assert unseeded == random.random()  # None seeds nothing: the draw came from the caller's state


def _tiny_model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))


@pytest.mark.parametrize("n_devices", [1, 2])
def test_predict_probability_is_the_sigmoid_output_of_every_image(n_devices):
    model = _tiny_model()
    X = np.random.default_rng(0).random((5, 3), dtype=np.float32)
    p = predict_probability(model, X, 4, n_devices=n_devices)
    assert p.shape == (5,) and p.dtype == np.float64
    np.testing.assert_allclose(p, model.predict(X, verbose=0).ravel(), rtol=1e-6)
    np.testing.assert_allclose(predict_probability(model, X[:1], 4, n_devices=n_devices), p[:1], rtol=1e-6)


def test_predict_probability_uses_keras_predict_loop_only_for_what_needs_it(monkeypatch):
    model = _tiny_model()
    X = np.random.default_rng(0).random((5, 3), dtype=np.float32)
    expected = model.predict(X, verbose=0).ravel()

    def loop(*args, **kwargs):
        raise AssertionError("keras.Model.predict called")

    monkeypatch.setattr(model, "predict", loop)
    # Batch by batch: no per-call data pipeline (the cost skpneumo serve pays per request).
    np.testing.assert_allclose(predict_probability(model, X, 4), expected, rtol=1e-6)
    assert predict_probability(model, X[:0], 4).shape == (0,)
    with pytest.raises(AssertionError, match="predict called"):
        predict_probability(model, X, 4, callbacks=[keras.callbacks.Callback()])


def _tiny_backbone(include_top=False, weights=None, input_shape=None, name="tiny"):
    # Two conv blocks: enough layers to freeze some, a tenth of SmallCNN's compile time.
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for strides in (4, 2):
        x = keras.layers.Conv2D(8, 3, strides=strides, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    return keras.Model(inputs, x, name=name)


def _network(X):
    return build_model(X.shape[1:], backbone="tiny", weights=None, dense_units=(4,), dropout=0.0,
                       augmentation=None)


@pytest.fixture(autouse=True)
def tiny_backbone(monkeypatch):
    monkeypatch.setitem(BACKBONES, "tiny", Backbone(_tiny_backbone, "tf"))


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    X = rng.random((8, 32, 32, 3), dtype=np.float32)
    y = np.array([0, 1] * 4, dtype=np.float32)[:, None]
    return X, y


def test_head_on_features_computes_what_the_network_does(images):
    X, y = images
    model = _network(X)
    y_val = y[:3]
    head, features, (val_features, val_targets) = head_on_features(model, X, (X[:3], y_val), batch_size=4)
    assert features.shape == (8, 8) and val_targets is y_val
    np.testing.assert_allclose(head.predict(features, verbose=0), model.predict(X, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(val_features, features[:3], rtol=1e-5)
    assert set(map(id, head.weights)) <= set(map(id, model.weights))  # shared layers


def test_the_head_keeps_the_mixed_precision_of_the_network(images):
    X, _ = images
    with precision_scope(True):
        model = _network(X)
    assert keras.config.dtype_policy().name == "float32"
    head = head_on_features(model, X, batch_size=4)[0]
    assert head.dtype_policy.name == "mixed_float16"  # so that compile adds loss scaling
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_train_phases_records_each_phase_and_repeats_with_a_seed(images):
    X, y = images
    phases = [{"phase": 1, "epochs": 2, "learning_rate": 1e-3}, {"phase": 2, "epochs": 1, "learning_rate": 1e-5}]
    runs = []
    for _ in range(2):
        with seeded(0):
            model = _network(X)
            history, records = train_phases(model, X, y, phases=phases, fine_tune_layers=3, pretrained=False,
                                            batch_size=4, validation=(X[:4], y[:4]), seed=0)
        runs.append((history, model.get_weights()))
    assert history["phase"] == [1, 1, 2]
    assert set(history) == {"loss", "auc", "val_loss", "val_auc", "phase"}
    assert all(len(values) == 3 for values in history.values())
    assert records == [
        {"phase": 1, "trained": "all layers", "learning_rate": 1e-3, "epochs": 2},
        {"phase": 2, "trained": "head and top 3 backbone layers", "learning_rate": 1e-5, "epochs": 1},
    ]
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_train_phases_freezes_a_pretrained_backbone_in_phase_1(images):
    X, y = images
    model = _network(X)
    before = [w.copy() for w in model.get_layer("backbone").get_weights()]
    _, records = train_phases(model, X, y, phases=[{"phase": 1, "epochs": 1, "learning_rate": 1e-2}],
                              fine_tune_layers=3, pretrained=True, cache_features=True, batch_size=4, seed=0)
    assert records[0]["trained"] == "head"
    after = model.get_layer("backbone").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert not model.get_layer("backbone").trainable


def test_early_stopping_ends_each_phase_and_the_records_say_so(images):
    X, y = images
    # No positive validation image: the validation AUC stays 0, so each phase stops
    # after its second epoch.
    phases = [{"phase": 1, "epochs": 4, "learning_rate": 1e-3}, {"phase": 2, "epochs": 3, "learning_rate": 1e-5}]
    history, records = train_phases(_network(X), X, y, phases=phases, fine_tune_layers="all", pretrained=False,
                                    batch_size=4, validation=(X[:4], np.zeros((4, 1), np.float32)),
                                    early_stopping_patience=1, seed=0)
    assert history["phase"] == [1, 1, 2, 2]
    assert [r["epochs"] for r in records] == [2, 2]
    assert records[1]["trained"] == "all layers"


def test_mixup_blends_images_and_targets_with_the_same_weights():
    # One-hot "images": a blend shows which two rows were mixed, and how much of each.
    X = np.eye(8, dtype=np.float32)
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1], np.float32)[:, None]
    weights = np.arange(8, dtype=np.float64)
    mixed_X, mixed_y, mixed_w = ArrayBatches(X, y, weights, 8, np.random.default_rng(1), mixup=0.4)[0]
    plain_X, _, plain_w = ArrayBatches(X, y, weights, 8, np.random.default_rng(1))[0]
    np.testing.assert_array_equal(mixed_w, plain_w)  # weights follow the image, unmixed
    assert mixed_X.dtype == np.float32 and mixed_y.dtype == np.float32
    np.testing.assert_allclose(mixed_X.sum(axis=1), 1.0, rtol=1e-6)
    n_mixed = 0
    for image, target, own in zip(mixed_X, mixed_y, plain_X.argmax(axis=1)):
        assert image.argmax() == own and image[own] >= 0.5  # the image keeps the larger share
        partners = [j for j in np.flatnonzero(image > 1e-6) if j != own]
        partner = partners[0] if partners else own
        n_mixed += bool(partners)
        expected = image[own] * y[own] + (1 - image[own]) * y[partner]
        np.testing.assert_allclose(target, expected, atol=1e-6)
    assert n_mixed >= 6
    assert np.array_equal(ArrayBatches(X, y, None, 8, np.random.default_rng(1))[0][0], plain_X)  # off: untouched


def test_cosine_schedule_and_weight_decay_reach_the_optimizer(images):
    X, y = images
    model = _network(X)
    train_phases(model, X, y, phases=[{"phase": 1, "epochs": 2, "learning_rate": 1e-2}], fine_tune_layers=0,
                 pretrained=False, batch_size=4, lr_schedule="cosine", weight_decay=1e-3, seed=0)
    optimizer = model.optimizer
    assert optimizer.weight_decay == pytest.approx(1e-3)
    # Decayed to 0 over the phase's 2 epochs of len(X) / 4 steps each.
    steps = 2 * -(-len(X) // 4)
    assert int(optimizer.iterations) == steps
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    half = optimizer._learning_rate(steps // 2)  # the schedule itself, halfway: half the rate
    assert float(half) == pytest.approx(5e-3, rel=0.05)

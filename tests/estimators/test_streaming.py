"""Streamed training: make_pipeline(streaming=True) reads the films batch by batch."""

import json

import cv2
import keras
import numpy as np
import pytest
from conftest import TINY, write_dicom, write_xray_like

from skpneumo import PneumoniaClassifier, cli, make_pipeline
from skpneumo.datasets import make_synthetic_xrays
from skpneumo.exceptions import ImageReadError
from skpneumo.network import StreamedBatches
from skpneumo.preprocessing import ImageSMOTE
from skpneumo.workflows import fit_model, load_model, save_model

FAST = {"backbone": "smallcnn", "weights": None, "size": TINY, "epochs": 1, "fine_tune_epochs": 0,
        "batch_size": 4, "random_state": 0}


class Captured(Exception):
    """Raised by the spies: what the classifier was given is all a test needs."""


@pytest.fixture
def mixed_files(tmp_path):
    """20 films of every kind a stream reads: 8-bit PNG and JPEG, 16-bit PNG, 16-bit DICOM."""
    rng = np.random.default_rng(3)
    paths, labels = [], []
    for i in range(20):
        label = "PNEUMONIA" if i % 4 else "NORMAL"
        kind = i % 4
        path = tmp_path / f"f{i}.{['png', 'jpeg', 'png', 'dcm'][kind]}"
        if kind < 2:
            write_xray_like(path, label == "PNEUMONIA", rng)
        elif kind == 2:
            cv2.imwrite(str(path), rng.integers(0, 65536, size=(40, 44), dtype=np.uint16))
        else:
            write_dicom(path, rng.integers(0, 4096, size=(36, 40), dtype=np.uint16), bits_stored=12)
        paths.append(str(path))
        labels.append(label)
    return np.array(paths), np.array(labels)


def _spy(monkeypatch, method):
    seen = {}

    def spy(self, X, y, **kwargs):
        seen["X"], seen["y"] = X, y
        raise Captured

    monkeypatch.setattr(PneumoniaClassifier, method, spy)
    return seen


def test_streamed_batches_hold_the_pixels_of_an_in_memory_fit(mixed_files, monkeypatch):
    paths, labels = mixed_files
    in_memory = _spy(monkeypatch, "fit")
    with pytest.raises(Captured):
        make_pipeline(**FAST, smote=None).fit(paths, labels)
    streamed = _spy(monkeypatch, "fit_stream")
    with pytest.raises(Captured):
        make_pipeline(**FAST, streaming=True).fit(paths, labels)
    X = in_memory["X"]
    assert X.dtype == np.float32 and X.std() > 0
    batches = StreamedBatches(streamed["X"], np.zeros(len(paths)), batch_size=4)
    assert len(batches) == 5
    for i in range(len(batches)):
        np.testing.assert_array_equal(batches[i][0], X[4 * i:4 * i + 4])


def test_streamed_epochs_are_balanced(image_set, monkeypatch):
    paths, labels, _ = image_set
    keep = np.r_[0:4, 12:24]  # 4 NORMAL, 12 PNEUMONIA
    seen = _spy(monkeypatch, "fit_stream")
    with pytest.raises(Captured):
        make_pipeline(**FAST, streaming=True).fit(paths[keep], labels[keep])
    y = (seen["y"] == "PNEUMONIA").astype(np.float32)
    batches = StreamedBatches(seen["X"], y, batch_size=4, rng=np.random.default_rng(0))
    for _ in range(2):  # drawn anew each epoch
        counts = np.bincount(np.concatenate([batches[i][1] for i in range(len(batches))]).astype(int))
        assert counts.tolist() == [12, 12]
        batches.on_epoch_end()


class Epochs(keras.callbacks.Callback):
    def __init__(self, on_end=None):
        super().__init__()
        self.begun, self.weights, self.on_end = 0, [], on_end

    def on_epoch_begin(self, epoch, logs=None):
        self.begun += 1

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        if self.on_end:
            self.on_end(epoch)


def test_a_bad_file_is_refused_before_the_first_epoch(image_set, tmp_path):
    paths, labels, _ = image_set
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    epochs = Epochs()
    pipe = make_pipeline(**FAST, streaming=True, callbacks=[epochs])
    with pytest.raises(ImageReadError, match="bad.png"):
        pipe.fit([*paths, str(bad)], [*labels, "NORMAL"])
    assert epochs.begun == 0 and not hasattr(pipe.named_steps["clf"], "model_")


@pytest.mark.parametrize("params, match", [
    ({"smote": ImageSMOTE()}, "'smote' .ImageSMOTE. resamples decoded images"),
    ({"class_weight": "balanced"}, "class_weight cannot be used with a streamed fit"),
    ({"cache_features": True, "augment": False, "weights": "imagenet", "backbone": "mobilenetv3small"},
     "cache_features=True cannot be used with a streamed fit"),
    ({"clf__epochs": -1}, "epochs must be"),
])
def test_what_cannot_stream_is_refused_before_a_network_is_built(image_set, params, match, monkeypatch):
    paths, labels, _ = image_set
    monkeypatch.setattr(PneumoniaClassifier, "_build_keras_model", lambda self: pytest.fail("built a network"))
    with pytest.raises(ValueError, match=match):
        make_pipeline(**{**FAST, **params}, streaming=True).fit(paths, labels)


def test_stream_parameters_are_checked(image_set):
    paths, labels, _ = image_set
    pipe = make_pipeline(**FAST, streaming=True).set_params(stream_workers=0)
    with pytest.raises(ValueError, match="stream_workers must be an integer >= 1, got 0"):
        pipe.fit(paths, labels)


@pytest.mark.slow
def test_a_file_failing_mid_stream_is_named_and_the_best_epoch_kept(image_set, tmp_path):
    paths, labels, _ = image_set
    files = []
    for i, source in enumerate(paths):
        copy = tmp_path / f"{i}-{source.rsplit('/', 1)[-1]}"
        copy.write_bytes(open(source, "rb").read())
        files.append(str(copy))
    val = [0, 1, 2, 12, 13, 14]
    train = [i for i in range(len(files)) if i not in val]
    victim = files[val[-1]]

    def damage(epoch):
        if epoch == 0:  # after the header check: only decoding finds it
            with open(victim, "r+b") as file:
                file.write(b"\0" * 64)

    epochs = Epochs(damage)
    pipe = make_pipeline(**{**FAST, "epochs": 3}, streaming=True, early_stopping_patience=None,
                         callbacks=[epochs])
    files, labels = np.array(files), np.array(labels)
    with pytest.raises(ImageReadError, match=f"{victim}.*the model is kept at epoch 1"):
        pipe.fit(files[train], labels[train], clf__validation_data=(files[val], labels[val]))
    kept = pipe.named_steps["clf"].model_.get_weights()
    assert epochs.begun == 2
    # Epoch 2 trained every batch before validation failed: the weights went back to epoch 1's.
    for now, then in zip(kept, epochs.weights[0]):
        np.testing.assert_array_equal(now, then)
    p = pipe.predict_proba(files[train][:3])  # what was kept still predicts
    assert p.shape == (3, 2) and np.allclose(p.sum(axis=1), 1.0)


@pytest.mark.slow
def test_cli_streaming_flag_trains_streamed_and_saves_a_model_folder(tmp_path):
    make_synthetic_xrays(tmp_path / "data", n_per_class=10, size=40, random_state=0)
    out = tmp_path / "model"
    argv = ["fit", str(tmp_path / "data"), "--out", str(out), "--streaming", "--val-size", "0.3", "--youden",
            "--backbone", "smallcnn", "--image-size", "32", "--epochs", "1", "--fine-tune-epochs", "0",
            "--weights", "none", "--batch-size", "4", "--random-state", "0", "--quiet"]
    assert cli.main(argv) == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["recipe"]["streaming"] is True and card["recipe"]["stream_balance"] == "oversample"
    assert card["threshold"]["rule"] == "youden on the validation patients"
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "model.keras", "model_card.json",
                                                     "pipeline.json"]


@pytest.mark.slow
def test_a_streamed_model_round_trips_through_a_model_folder(image_set, tmp_path):
    paths, labels, groups = image_set
    params = {**{k: v for k, v in FAST.items() if k != "random_state"}, "streaming": True}
    pipe, validation = fit_model(paths, labels, groups, params=params, val_size=0.3,
                                 threshold_rule="youden", random_state=0)
    assert validation[0].dtype.kind == "U"  # the validation paths, never all decoded
    save_model(pipe, tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    np.testing.assert_allclose(loaded.predict_proba(paths), pipe.predict_proba(paths), rtol=1e-6)
    assert loaded.named_steps["clf"].threshold == pytest.approx(pipe.named_steps["clf"].threshold)
    assert loaded.model_card_["recipe"]["streaming"] is True


def test_a_streamed_preset_drops_what_needs_every_film_unless_asked():
    pipe = make_pipeline(preset="cpu", streaming=True)  # the ImageNet variant: cached features, class weights
    clf = pipe.named_steps["clf"]
    assert pipe.named_steps["smote"] == "passthrough" and pipe.streaming
    assert clf.cache_features is False and clf.class_weight is None
    assert make_pipeline(preset="cpu").named_steps["clf"].cache_features is True
    assert make_pipeline(preset="cpu", streaming=True, clf__class_weight="balanced")[-1].class_weight == "balanced"

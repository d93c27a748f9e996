"""What the models learn, checked by value: AUC, class balance, restored epochs, patient splits."""

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import write_xray_like
from skpneumo import PneumoniaClassifier, cli, make_pipeline
from skpneumo.datasets import load_chest_xray

SMALL = dict(weights=None, backbone="smallcnn", size=32, batch_size=8, random_state=0)


@pytest.fixture(scope="module")
def imbalanced_task(tmp_path_factory):
    """A learnable task, 3 PNEUMONIA films per NORMAL one, two films per patient.

    Returns training and held-out paths and labels; no patient is on both sides.
    """
    root = tmp_path_factory.mktemp("task")
    rng = np.random.default_rng(7)
    sets = {"train": ([], []), "test": ([], [])}
    for i in range(96):
        part = "train" if i < 64 else "test"
        pneumonia = i % 4 != 0
        path = root / f"person{i // 2}_{'virus' if pneumonia else 'normal'}_{i}.png"
        write_xray_like(path, pneumonia, rng)
        sets[part][0].append(str(path))
        sets[part][1].append("PNEUMONIA" if pneumonia else "NORMAL")
    return {part: (np.array(p), np.array(y)) for part, (p, y) in sets.items()}


@pytest.mark.slow
def test_default_pipeline_learns_a_synthetic_task(imbalanced_task):
    (X, y), (X_test, y_test) = imbalanced_task["train"], imbalanced_task["test"]
    pipe = make_pipeline(**SMALL, epochs=10, fine_tune_epochs=0).fit(X, y)
    auc = roc_auc_score(y_test == "PNEUMONIA", pipe.predict_proba(X_test)[:, 1])
    assert auc >= 0.9, auc


def test_the_classifier_sees_balanced_classes_after_smote(imbalanced_task, monkeypatch):
    X, y = imbalanced_task["train"]
    seen = {}
    fit = PneumoniaClassifier.fit

    def spy(self, X, y, *args, **kwargs):
        seen["X"], seen["y"] = X, np.asarray(y)
        return fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(PneumoniaClassifier, "fit", spy)
    pipe = make_pipeline(**SMALL, epochs=1, fine_tune_epochs=0).fit(X, y)
    labels, counts = np.unique(seen["y"], return_counts=True)
    assert dict(zip(labels, counts)) == {"NORMAL": 48, "PNEUMONIA": 48}
    originals = pipe[:-1].transform(X)
    synthetic = seen["X"][64:]
    assert (seen["y"][64:] == "NORMAL").all()
    np.testing.assert_array_equal(seen["X"][:64], originals)
    # New images between two NORMAL films: a copy only where SMOTE's random step
    # was too small to change an 8-bit pixel.
    distances = ((synthetic[:, None] - originals[None]) ** 2).sum(axis=(2, 3, 4))
    assert (distances.min(axis=1) > 0).mean() >= 0.9


class ValidationPredictions(keras.callbacks.Callback):
    """The network's validation predictions at the end of every epoch."""

    def __init__(self, X_val):
        super().__init__()
        self.X_val, self.epochs = X_val, []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self.model.predict(self.X_val, verbose=0).ravel())


@pytest.mark.slow
def test_early_stopping_restores_the_best_epoch(imbalanced_task):
    (X, y), (X_val, y_val) = imbalanced_task["train"], imbalanced_task["test"]
    params = dict(SMALL, epochs=12, fine_tune_epochs=0, augment=False, early_stopping_patience=2)
    recorder = ValidationPredictions(make_pipeline(**params)[:-1].transform(X_val))
    pipe = make_pipeline(**params, callbacks=[recorder])
    pipe.fit(X, y, clf__validation_data=(X_val, y_val))
    history = pipe.named_steps["clf"].history_
    best = int(np.argmax(history["val_auc"]))  # the first epoch reaching the best AUC
    assert len(history["val_auc"]) == best + 3  # stopped two epochs after it
    final = pipe.predict_proba(X_val)[:, 1]
    assert np.abs(recorder.epochs[-1] - recorder.epochs[best]).max() > 1e-4  # the weights moved on
    np.testing.assert_allclose(final, recorder.epochs[best], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_cli_validation_split_keeps_each_patient_on_one_side(imbalanced_task, tmp_path, validation_split_spy):
    paths, _ = imbalanced_task["train"]
    data = tmp_path / "train"
    for path, label in zip(*imbalanced_task["train"]):
        (data / label).mkdir(parents=True, exist_ok=True)
        (data / label / path.rsplit("/", 1)[1]).symlink_to(path)
    seen = validation_split_spy
    # The cpu preset from scratch: the compact network, SMOTE, early stopping on the validation side.
    args = ["fit", str(data), "--out", str(tmp_path / "m.joblib"), "--val-size", "0.25", "--preset", "cpu",
            "--weights", "none", "--image-size", "32", "--fine-tune-epochs", "1", "--quiet"]
    for seed in ("0", "1"):
        assert cli.main([*args, "--random-state", seed]) == 0
        groups = dict(zip(*[load_chest_xray(data).paths, load_chest_xray(data).groups]))
        train = {groups[p] for p in seen["train"]}
        val = {groups[p] for p in seen["val"]}
        assert train and val and not train & val
        assert len(seen["train"]) + len(seen["val"]) == 64
        assert 12 <= len(seen["val"]) <= 20  # about a quarter, whole patients

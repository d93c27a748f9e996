"""Predicting and explaining files: one row per file, in order, an unreadable file isolated."""

import csv
import io
import json
from pathlib import Path

import joblib
import keras
import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier

from conftest import LEGACY_MODEL
import skpneumo.workflows.explanation
import skpneumo.workflows.training
from skpneumo import ImageReadError, cli, explain_paths, fit_model, load_model, predict_paths
from skpneumo.estimators.presets import PRESET_VALIDATION
from skpneumo.evaluation import choose_threshold, thresholds
from skpneumo.workflows import patient_validation_split
from skpneumo.datasets import make_synthetic_xrays
from skpneumo.workflows.prediction import file_rows



@pytest.fixture(scope="module")
def films(tmp_path_factory):
    folder = tmp_path_factory.mktemp("films")
    data = make_synthetic_xrays(folder / "data", n_per_class=3, size=40, random_state=1)
    bad = folder / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    paths = [str(p) for p in data.paths]
    return paths[:2] + [str(bad)] + paths[2:], str(bad)


def test_predict_paths_isolates_an_unreadable_file_and_keeps_the_order(films):
    paths, bad = films
    model = load_model(LEGACY_MODEL)
    model.set_params(chunk_size=4)  # the bad file sits in the first of two chunks
    rows = predict_paths(model, paths)
    assert [row["path"] for row in rows] == paths
    broken = rows[2]
    assert broken["probability"] is None and broken["label"] is None and bad in broken["error"]
    good = [p for p in paths if p != bad]
    expected = model.predict_proba(good)[:, 1]
    np.testing.assert_allclose([r["probability"] for r in rows if not r["error"]], expected, atol=1e-6)
    # The model's own threshold (0.4) decides.
    assert [r["label"] for r in rows if not r["error"]] == np.where(expected >= 0.4, "PNEUMONIA", "NORMAL").tolist()


def test_a_wrapper_decides_by_its_own_rule(films):
    paths, bad = films
    pipe = load_model(LEGACY_MODEL)
    wrapper = FixedThresholdClassifier(FrozenEstimator(pipe), threshold=0.0, pos_label="PNEUMONIA").fit(
        paths[:2], ["NORMAL", "PNEUMONIA"])
    rows = predict_paths(wrapper, paths)
    assert {r["label"] for r in rows if not r["error"]} == {"PNEUMONIA"} and rows[2]["error"]


def test_explain_paths_writes_an_overlay_per_readable_file(films, tmp_path):
    paths, bad = films
    model = load_model(LEGACY_MODEL)
    rows = explain_paths(model, paths[:4], tmp_path / "gradcam")
    assert [r["path"] for r in rows] == paths[:4] and rows[2]["overlay"] is None and rows[2]["error"]
    written = sorted(p.name for p in (tmp_path / "gradcam").iterdir())
    assert written == sorted(Path(r["overlay"]).name for r in rows if not r["error"])
    np.testing.assert_allclose([r["probability"] for r in rows if not r["error"]],
                               model.predict_proba([p for p in paths[:4] if p != bad])[:, 1], atol=1e-5)
    wrapper = FixedThresholdClassifier(FrozenEstimator(model), threshold=0.3).fit(paths[:2], ["NORMAL", "PNEUMONIA"])
    with pytest.raises(TypeError, match="explain needs a skpneumo pipeline"):
        explain_paths(wrapper, paths[:1], tmp_path / "g")


def test_file_rows_fill_the_fields_of_unreadable_files_with_none():
    def halve(chunk):
        if "bad" in chunk:
            raise ImageReadError("cannot read bad")
        return [{"half": len(p) / 2} for p in chunk]

    rows = file_rows(["aa", "bad", "abcd"], halve, ("half",), chunk_size=2, quiet=True, desc="")
    assert rows == [{"path": "aa", "half": 1.0, "error": None},
                    {"path": "bad", "half": None, "error": "cannot read bad"},
                    {"path": "abcd", "half": 2.0, "error": None}]


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_fit_model_keeps_the_callers_callbacks(tmp_path):
    data = make_synthetic_xrays(tmp_path, n_per_class=6, size=32, random_state=0)

    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            Count.epochs += 1

    mine = [Count()]
    params = dict(weights=None, backbone="smallcnn", size=32, epochs=1, fine_tune_epochs=0, batch_size=8,
                  dense_units=(4,), smote=None, callbacks=mine)
    pipe, validation = fit_model(data.paths, data.labels, data.groups, params=params, val_size=0.3, random_state=0)
    assert Count.epochs == 1 and pipe.named_steps["clf"].callbacks is mine
    X_val, y_val = validation
    assert X_val.dtype == np.float32 and X_val.shape[1:] == (32, 32, 3) and len(X_val) == len(y_val) > 0


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_a_preset_holds_out_patients_and_stores_a_chosen_threshold(tmp_path, monkeypatch):
    data = make_synthetic_xrays(tmp_path, n_per_class=10, size=32, random_state=0)
    # The preset's own target (0.95) needs a model that learned; one epoch on 16 films has not.
    monkeypatch.setitem(PRESET_VALIDATION, "cpu", {"val_size": 0.2, "threshold_rule": 0.5})
    # The compact network instead of the preset's: the holding out and the threshold do not depend on it.
    params = dict(preset="cpu", weights=None, backbone="smallcnn", size=32, fine_tune_epochs=1, dense_units=(4,),
                  batch_size=8)
    # No val_size, no groups: the preset's 20% of the patients, read from the file names.
    pipe, (X_val, y_val) = fit_model(data.paths, data.labels, params=params, random_state=0)
    _, val = patient_validation_split(data.groups, data.labels, 0.2, 0)
    assert sorted(y_val) == sorted(data.labels[val])
    clf = pipe.named_steps["clf"]
    expected = choose_threshold(y_val, clf.predict_proba(X_val)[:, 1], target_sensitivity=0.5)
    assert clf.threshold == expected.threshold != 0.5
    assert pipe.model_card_["threshold"]["rule"] == "target_sensitivity=0.5 on the validation patients"
    assert pipe.model_card_["training_data"]["n_images"] == len(data.paths) - len(val)
    with pytest.raises(ValueError, match="hold out some"):
        fit_model(data.paths, data.labels, params=params, val_size=0, threshold_rule="youden")


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_fit_model_predicts_the_validation_patients_once_after_training(tmp_path, monkeypatch):
    from skpneumo import PneumoniaClassifier
    from skpneumo.preprocessing import ImageLoader

    data = make_synthetic_xrays(tmp_path, n_per_class=8, size=32, random_state=0)
    calls = []
    real = PneumoniaClassifier.predict_proba

    def counted(self, X, **kwargs):
        calls.append(len(X))
        return real(self, X, **kwargs)

    monkeypatch.setattr(PneumoniaClassifier, "predict_proba", counted)
    decoded = []
    real_load = ImageLoader.load

    def load(self, X, *args, **kwargs):
        decoded.extend(str(x) for x in X)
        return real_load(self, X, *args, **kwargs)

    monkeypatch.setattr(ImageLoader, "load", load)
    params = dict(preset="cpu", weights=None, size=32, epochs=1, fine_tune_epochs=0, dense_units=(4,), batch_size=8,
                  smote=None)
    pipe, (X_val, y_val) = fit_model(data.paths, data.labels, data.groups, params=params, val_size=0.3,
                                     random_state=0)
    # One prediction of the validation films: the threshold and the card's report share it.
    assert calls == [len(y_val)]
    # Every film decoded once: early stopping and the prediction after training share the validation images.
    assert sorted(decoded) == sorted(map(str, data.paths))
    card = pipe.model_card_
    scores = real(pipe.named_steps["clf"], X_val)[:, 1]
    assert card["validation"]["report"]["metrics"]["roc_auc"]["value"] == pytest.approx(
        skpneumo.evaluate(pipe.named_steps["clf"], X_val, y_val, groups=None, n_bootstrap=0).roc_auc)
    assert card["threshold"]["value"] in scores


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_an_unreachable_target_falls_back_to_youden_with_a_warning(tmp_path, monkeypatch):
    # The fallback does not depend on the network: the compact one, with the cpu preset's rule
    # (the preset itself is trained in the test above).
    data = make_synthetic_xrays(tmp_path, n_per_class=8, size=32, random_state=0)
    real = thresholds.point_by_rule

    def reversed_scores(y, scores, rule, pos_label=None):
        # Every PNEUMONIA film below every NORMAL one: no target can be reached.
        return real(y, np.where(y == pos_label, 0.1, 0.9), rule, pos_label=pos_label)

    # Where fit_model looks the rule up: its validation step.
    monkeypatch.setattr(skpneumo.workflows.training, "point_by_rule", reversed_scores)
    params = dict(weights=None, backbone="smallcnn", size=32, epochs=1, fine_tune_epochs=0, dense_units=(4,),
                  batch_size=8)
    rule = PRESET_VALIDATION["cpu"]
    with pytest.warns(UserWarning, match=r"target_sensitivity=0.9 cannot be reached.*Youden's J chose instead"):
        pipe, _ = fit_model(data.paths, data.labels, params=params, val_size=rule["val_size"],
                            threshold_rule=rule["threshold_rule"], random_state=0)
    rule = pipe.model_card_["threshold"]["rule"]
    assert rule.startswith("youden on the validation patients (target_sensitivity=0.9 cannot be reached")
    assert pipe.named_steps["clf"].threshold == pytest.approx(0.1)  # Youden's J on those scores


def test_a_model_wide_error_propagates_once_not_as_a_row_per_file(films, tmp_path, monkeypatch):
    paths, _ = films
    good = paths[:2] + paths[3:]
    calls = []

    class Broken:
        classes_ = np.array(["NORMAL", "PNEUMONIA"])

        def predict_proba(self, X):
            calls.append(len(X))
            raise ValueError("the network expects 3 channels")

    with pytest.raises(ValueError, match="expects 3 channels"):
        predict_paths(Broken(), good)
    assert calls == [len(good)]

    def explain(model, chunk, **kwargs):
        calls.append(len(chunk))
        raise ValueError("no convolution layer")

    monkeypatch.setattr(skpneumo.workflows.explanation, "explain", explain)
    with pytest.raises(ValueError, match="no convolution layer"):
        explain_paths(load_model(LEGACY_MODEL), good, tmp_path / "gradcam")
    assert calls == [len(good), len(good)]


def test_explain_and_predict_agree_with_test_time_augmentation(films, tmp_path, capsys):
    paths, bad = films
    good = [p for p in paths if p != bad]
    # Test-time augmentation acts at prediction only: a stored tiny model (smallcnn at 32 px) will do.
    pipe = load_model(LEGACY_MODEL).set_params(clf__tta="default")
    with_tta = pipe.predict_proba(good)[:, 1]
    pipe.set_params(clf__tta=None)
    plain = pipe.predict_proba(good)[:, 1]
    pipe.set_params(clf__tta="default")
    i = int(np.argmax(np.abs(with_tta - plain)))
    assert abs(with_tta[i] - plain[i]) > 1e-5  # else the test could not tell the two apart
    # A threshold between the two probabilities of film i: they give it different labels.
    pipe.set_params(clf__threshold=float(with_tta[i] + plain[i]) / 2)
    expected = "PNEUMONIA" if with_tta[i] > plain[i] else "NORMAL"
    for tta in ("default", None):
        pipe.set_params(clf__tta=tta)
        predicted = predict_paths(pipe, good)
        explained = explain_paths(pipe, good, tmp_path / f"gradcam-{tta}")
        np.testing.assert_allclose([r["probability"] for r in explained], [r["probability"] for r in predicted],
                                   rtol=0, atol=1e-6)
        assert [r["label"] for r in explained] == [r["label"] for r in predicted]
        assert predicted[i]["label"] == (expected if tta else {"PNEUMONIA": "NORMAL", "NORMAL": "PNEUMONIA"}[expected])
    # The same film through both commands.
    pipe.set_params(clf__tta="default")
    joblib.dump(pipe, tmp_path / "model.joblib")
    assert cli.main(["predict", str(tmp_path / "model.joblib"), good[i], "--format", "json", "--quiet"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert cli.main(["explain", str(tmp_path / "model.joblib"), good[i], "--out", str(tmp_path / "cli"),
                     "--quiet"]) == 0
    explained = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["label"] == explained["label"] == expected
    assert float(explained["probability"]) == pytest.approx(row["probability"], abs=1e-6)
    assert row["probability"] == pytest.approx(with_tta[i], abs=1e-6)

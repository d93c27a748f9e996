"""The portable model folder: JSON and a .keras network, loaded without pickle."""

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier

from conftest import LEGACY_MODEL
from skpneumo import ModelFileError, PneumoniaPipeline, cli, load_model, save_model
from skpneumo.datasets import make_synthetic_xrays

ROOT = Path(__file__).resolve().parents[2]  # this checkout, whose skpneumo the fresh process must import


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("folder")
    data = make_synthetic_xrays(tmp / "data", n_per_class=4, size=40, random_state=0)
    pipe = load_model(LEGACY_MODEL)
    save_model(pipe, tmp / "model")
    return pipe, tmp / "model", sorted(map(str, data.paths))


def _copy(saved, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(saved[1], folder)
    return folder


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_a_folder_predicts_exactly_as_the_saved_pipeline_in_a_fresh_process(saved):
    pipe, folder, paths = saved
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL_CARD.md", "model.keras", "model_card.json",
                                                        "pipeline.json"]
    code = ("import sys, skpneumo; m = skpneumo.load_model(sys.argv[1]); "
            "print(type(m).__name__, m.named_steps['clf'].threshold, "
            "' '.join(repr(float(p)) for p in m.predict_proba(sys.argv[2:])[:, 1]))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(folder), *paths], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    assert out[:2] == ["PneumoniaPipeline", "0.4"]
    np.testing.assert_array_equal(np.array(out[2:], float), pipe.predict_proba(paths)[:, 1])
    loaded = load_model(folder)
    assert loaded.get_params()["clf__dense_units"] == (4,) and loaded.named_steps["resize"].size == 32
    assert loaded.named_steps["clf"].phases_ == pipe.named_steps["clf"].phases_
    # The network only: Adam's state would triple the file.
    with zipfile.ZipFile(folder / "model.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        assert "optimizer" not in weights and "layers" in weights


def test_the_card_says_what_is_not_known_and_when_the_threshold_was_changed(saved, tmp_path):
    pipe, folder, _ = saved
    card = load_model(folder).model_card_  # a 0.1 model: fitted before cards existed
    assert card["training_data"] is None and card["validation"] is None
    assert card["threshold"]["value"] == 0.4 and card["threshold"]["rule"].startswith("not recorded")
    assert card["trained"] is None and card["saved"]
    text = (folder / "MODEL_CARD.md").read_text()
    assert "## Validation\n\nNot recorded" in text and "Not a medical device" in text
    recorded = {"value": 0.61, "rule": "youden on the validation patients", "sensitivity": 0.9, "specificity": 0.8}
    pipe.model_card_ = {**card, "threshold": recorded}
    try:
        save_model(pipe, tmp_path / "moved")
    finally:
        del pipe.model_card_
    changed = load_model(tmp_path / "moved").model_card_["threshold"]
    assert changed["value"] == 0.4 and "set by hand" in changed["rule"] and "chose 0.61" in changed["rule"]


def test_the_cli_takes_a_folder(saved, capsys):
    _, folder, paths = saved
    assert cli.main(["predict", str(folder), paths[0], "--format", "json", "--quiet"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["path"] == paths[0] and row["label"] in ("NORMAL", "PNEUMONIA")


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "model.keras").unlink(), "lacks model.keras"),
    (lambda f: (f / "pipeline.json").unlink(), "lacks pipeline.json"),
    (lambda f: (f / "extra.pkl").write_bytes(b"x"), "unknown files: extra.pkl"),
    (lambda f: (f / "pipeline.json").write_text("{not json"), "is not valid JSON"),
    (lambda f: (f / "model.keras").write_bytes((f / "model.keras").read_bytes()[:200]), "damaged or not a Keras"),
    (lambda f: _edit(f, lambda d: d["steps"][1].update({"class": "os.system"})), "unknown step class 'os.system'"),
    (lambda f: _edit(f, lambda d: d.update(format_version=99)), "format version 99"),
    (lambda f: _edit(f, lambda d: d["steps"][1]["params"].update(sise=3)), "unexpected keyword argument 'sise'"),
])
def test_a_damaged_or_incomplete_folder_is_named_clearly(saved, tmp_path, damage, message):
    folder = _copy(saved, tmp_path)
    damage(folder)
    with pytest.raises(ModelFileError, match=message):
        load_model(folder)


def test_a_folder_error_keeps_its_cause_and_debug_shows_it(saved, tmp_path, capsys):
    folder = _copy(saved, tmp_path)
    (folder / "pipeline.json").write_text("{not json")
    with pytest.raises(ModelFileError) as exc:
        load_model(folder)
    assert isinstance(exc.value.__cause__, json.JSONDecodeError)
    _edit(_copy(saved, tmp_path / "b"), lambda d: d["steps"][1]["params"].update(sise=3))
    with pytest.raises(ModelFileError) as exc:
        load_model(tmp_path / "b" / "copy")
    assert isinstance(exc.value.__cause__, TypeError)
    assert cli.main(["--debug", "predict", str(folder), "x.png"]) == 1
    err = capsys.readouterr().err
    assert "json.decoder.JSONDecodeError: Expecting property name" in err
    assert "The above exception was the direct cause of the following exception" in err
    assert err.strip().splitlines()[-1].startswith("skpneumo: error: ") and "is not valid JSON" in err


def _edit(folder, change):
    description = json.loads((folder / "pipeline.json").read_text())
    change(description)
    (folder / "pipeline.json").write_text(json.dumps(description))


def test_other_versions_are_named_in_a_warning(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _edit(folder, lambda d: d["versions"].update(keras="2.0.0"))
    with pytest.warns(UserWarning, match=r"keras 2\.0\.0 \(running 3\."):
        load_model(folder)


def test_only_skpneumo_pipelines_go_into_a_folder_and_never_over_another(saved, tmp_path):
    pipe, folder, paths = saved
    wrapper = FixedThresholdClassifier(FrozenEstimator(pipe), threshold=0.3).fit(paths[:2], ["NORMAL", "PNEUMONIA"])
    with pytest.raises(ValueError, match="save other models with joblib"):
        save_model(wrapper, tmp_path / "wrapped")
    with pytest.raises(FileExistsError, match="already exists"):
        save_model(pipe, folder)
    pipe.named_steps["clf"].set_params(callbacks=[object()])
    try:
        save_model(pipe, tmp_path / "with_callbacks")  # training-only: saved as None
    finally:
        pipe.named_steps["clf"].set_params(callbacks=None)
    assert load_model(tmp_path / "with_callbacks").named_steps["clf"].callbacks is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["with_callbacks"]


def test_float16_weights_halve_the_file_and_predict_within_rounding(saved, tmp_path):
    from skpneumo import PneumoniaClassifier
    from skpneumo.network import build_model

    legacy, _, paths = saved
    # The saved fixture's network is too small for its weights to outweigh the file's
    # structure: the same pipeline around a SmallCNN (1.2 M weights).
    network = build_model((32, 32, 3), backbone="smallcnn", weights=None, dense_units=(8,), dropout=0.0,
                          augmentation=None)
    clf = PneumoniaClassifier.from_network(network, legacy.classes_, threshold=0.4)
    pipe = PneumoniaPipeline([*legacy.steps[:-1], ("clf", clf)])
    save_model(pipe, tmp_path / "full")
    save_model(pipe, tmp_path / "half", weights_dtype="float16")
    full, half = (os.path.getsize(tmp_path / f / "model.keras") for f in ("full", "half"))
    assert 0.45 < half / full < 0.55
    with zipfile.ZipFile(tmp_path / "half" / "model.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        stored = []
        weights.visititems(lambda name, item: stored.append(item.dtype) if isinstance(item, h5py.Dataset) else None)
        assert stored and set(stored) == {np.dtype("float16")}
    loaded = load_model(tmp_path / "half")
    assert {w.dtype for w in loaded.named_steps["clf"].model_.get_weights()} == {np.dtype("float32")}
    p_full, p_half = pipe.predict_proba(paths)[:, 1], loaded.predict_proba(paths)[:, 1]
    assert not np.array_equal(p_full, p_half)  # rounded...
    np.testing.assert_allclose(p_half, p_full, atol=2e-3)  # ...by little
    card = json.loads((tmp_path / "half" / "model_card.json").read_text())
    assert card["weights_dtype"] == "float16"
    assert "stored as float16" in (tmp_path / "half" / "MODEL_CARD.md").read_text()
    with pytest.raises(ValueError, match="weights_dtype"):
        save_model(pipe, tmp_path / "bad", weights_dtype="int8")
    with pytest.raises(ValueError, match="weights_dtype"):
        save_model(pipe, tmp_path / "m.joblib", weights_dtype="float16")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "m.joblib").exists()

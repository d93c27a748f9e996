"""Shipped models: loading by name, offline, and starting a new model from one."""

import json

import numpy as np
import pytest

from conftest import LEGACY_MODEL
import skpneumo
import skpneumo.network.pretrained as shipped
from skpneumo import cli, load_model, make_pipeline, pretrained, save_model
from skpneumo.datasets import make_synthetic_xrays



@pytest.fixture(scope="module")
def films(tmp_path_factory):
    return make_synthetic_xrays(tmp_path_factory.mktemp("films"), n_per_class=8, size=32, random_state=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model folder standing in for a shipped one (the real one is trained on real films)."""
    pipe = load_model(LEGACY_MODEL)  # smallcnn at 32 px, threshold 0.4: no training here
    root = tmp_path_factory.mktemp("shipped")
    save_model(pipe, root / "tiny-v1")
    return pipe, root


@pytest.fixture
def ship(trained, monkeypatch, tmp_path):
    monkeypatch.setattr(shipped, "SHIPPED_FOLDER", trained[1])
    monkeypatch.setattr(shipped, "DEFAULT_MODEL", "tiny-v1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return trained[0]


def test_a_shipped_model_loads_by_name_and_predicts_as_saved(ship, films, capsys, tmp_path, monkeypatch):
    expected = ship.predict_proba(films.paths)
    for model in (pretrained(), pretrained("tiny-v1"), load_model("tiny-v1")):
        np.testing.assert_allclose(model.predict_proba(films.paths), expected, atol=1e-6)
        assert model.model_card_["threshold"]["value"] == 0.4 and model.named_steps["clf"].threshold == 0.4
    assert cli.main(["predict", "tiny-v1", str(films.paths[0]), "--format", "json", "--quiet"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["probability"] == pytest.approx(expected[0, 1], abs=1e-6)
    # A file or folder of that name wins over the shipped model.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-v1").mkdir()
    with pytest.raises(skpneumo.ModelFileError, match="lacks"):
        load_model("tiny-v1")


def test_an_unknown_name_lists_the_shipped_models(ship):
    with pytest.raises(ValueError, match="no shipped model is named 'nope'; shipped models: tiny-v1"):
        pretrained("nope")
    with pytest.raises(skpneumo.ModelFileError, match="not found"):
        load_model("nope")


def test_init_starts_from_the_backbone_and_recipe_of_a_trained_model(films, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    source = pretrained("kermany-v1").named_steps["clf"].model_.get_layer("backbone").get_weights()
    recipe = make_pipeline(init="kermany-v1")
    # Building the pipeline has no side effect: nothing is written, the network is not loaded.
    assert not (tmp_path / "keras").exists() and not hasattr(recipe.named_steps["clf"], "model_")
    assert recipe.named_steps["resize"].size == 128 and recipe.named_steps["clf"].dense_units == (128,)
    assert recipe.named_steps["clf"].backbone == "smallcnn" and recipe.named_steps["clf"].augment
    # Convolutions do not care about the input size: 32 px keeps the test cheap.
    pipe = make_pipeline(init="kermany-v1", size=32, epochs=1, fine_tune_epochs=0, random_state=0)
    pipe.fit(films.paths, films.labels)
    assert not (tmp_path / "keras").exists()
    # Phase 1 trains a new head on the frozen backbone: the backbone is the source's, bit for bit.
    adapted = pipe.named_steps["clf"].model_.get_layer("backbone").get_weights()
    assert len(adapted) == len(source) and all(np.array_equal(a, b) for a, b in zip(adapted, source))
    assert pipe.named_steps["clf"].phases_[0]["trained"] == "head"
    with pytest.raises(ValueError, match="a preset or init"):
        make_pipeline(preset="cpu", init="kermany-v1")
    with pytest.raises(ValueError, match="init must name a shipped model"):
        make_pipeline(init="no-such-model")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "pipeline.json").write_text('{"format": "skpneumo-model", "format_version": 1, "steps": [{"name": "clf"}]}')
    (odd / "model.keras").write_bytes(b"")
    with pytest.raises(skpneumo.ModelFileError, match="odd/pipeline.json' does not describe a skpneumo pipeline") \
            as exc:
        make_pipeline(init=odd)
    assert isinstance(exc.value.__cause__, KeyError)  # the cause is kept, for --debug
    # The folder is checked as load_model checks it: another format version is refused by name.
    (odd / "pipeline.json").write_text('{"format": "skpneumo-model", "format_version": 99, "steps": []}')
    with pytest.raises(skpneumo.ModelFileError, match="format version 99"):
        make_pipeline(init=odd)


def test_init_with_another_backbone_says_the_saved_network_does_not_fit(films):
    pipe = make_pipeline(init="kermany-v2", backbone="smallcnn", size=32, epochs=1, fine_tune_epochs=0)
    with pytest.raises(ValueError, match=r"kermany-v2/model.keras' holds a different backbone than 'smallcnn'"):
        pipe.fit(films.paths, films.labels)

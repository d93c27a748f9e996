"""The model shipped inside the package: kermany-v1 loads offline, predicts as shipped, and its card holds."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import skpneumo
from skpneumo.datasets import load_chest_xray
from skpneumo.datasets.synthetic import render_xray
from skpneumo.network.pretrained import shipped_model_path, shipped_models
from skpneumo.workflows import patient_validation_split

REAL_TRAIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "chest_xray" / "train"
FOLDER = shipped_model_path("kermany-v1")
# P(PNEUMONIA) of two images away from saturation, written when the model was shipped: a
# changed file, a changed preprocessing step or a library that predicts differently shows here.
EXPECTED = [0.11031448841094971, 0.9909502863883972]


@pytest.fixture(scope="module")
def model():
    return skpneumo.pretrained()


def probe_images():
    """An inverted rendered film and a bright disk: odd inputs, but with unsaturated scores."""
    inverted = 255 - render_xray(np.random.default_rng(0), 224, False)
    yy, xx = np.mgrid[:224, :224]
    disk = (255 * ((yy - 112) ** 2 + (xx - 112) ** 2 < 80 ** 2)).astype(np.uint8)
    return [inverted, disk]


def test_the_default_model_is_kermany_v1_and_small(model):
    assert shipped_models() == ["kermany-v1"]
    assert model.model_card_["name"] == "kermany-v1"
    assert sum(p.stat().st_size for p in FOLDER.iterdir()) <= 6 * 2**20


def test_it_predicts_as_shipped(model):
    np.testing.assert_allclose(model.predict_proba(probe_images())[:, 1], EXPECTED, atol=1e-4)


def test_its_card_says_what_it_learned_from_and_what_it_is_not(model):
    card = json.loads((FOLDER / "model_card.json").read_text())
    assert card == model.model_card_
    training, validation = card["training_data"], card["validation"]
    assert training["n_images"] + validation["n_images"] == 5216
    assert {c: training["class_counts"][c] + validation["class_counts"][c] for c in ("NORMAL", "PNEUMONIA")} \
        == {"NORMAL": 1341, "PNEUMONIA": 3875}
    assert training["n_patients"] + validation["n_patients"] == 2846  # no patient on both sides
    assert card["threshold"]["value"] == model.named_steps["clf"].threshold
    assert card["threshold"]["rule"] == "target_sensitivity=0.95 on the validation patients"
    assert card["recipe"] == {"preset": "cpu", "weights": None, "random_state": 0, "val_size": 0.2,
                              "threshold_rule": 0.95, "split_random_state": None}
    text = (FOLDER / "MODEL_CARD.md").read_text()
    for needed in ("CC BY 4.0", "Cell 2018", "Not a medical device", "not validated on adults"):
        assert needed in text


@pytest.mark.skipif(not REAL_TRAIN.is_dir(), reason="the real training films are not here")
def test_the_card_names_the_real_training_films_and_the_model_separates_them(model):
    data = load_chest_xray(REAL_TRAIN)
    card = model.model_card_
    # fit_model's split, seeded as benchmarks/train_pretrained.py seeds it.
    fit, val = patient_validation_split(data.groups, data.labels, 0.2, 0)
    for part, idx in (("training_data", fit), ("validation", val)):
        names = "\n".join(sorted(Path(p).name for p in data.paths[idx]))
        assert card[part]["file_names_sha256"] == hashlib.sha256(names.encode()).hexdigest(), part
    # 30 films of each class from the validation patients: never trained on.
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(val[data.labels[val] == c], 30, replace=False)
                           for c in ("NORMAL", "PNEUMONIA")])
    scores = model.predict_proba(data.paths[pick])[:, 1]
    assert roc_auc_score(data.labels[pick] == "PNEUMONIA", scores) > 0.95

"""The models shipped inside the package: kermany-v2 (the default) and kermany-v1 load offline, predict as
shipped, and their cards hold."""

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

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "chest_xray"
REAL_TRAIN, TEST_DEV = REAL_DATA / "train", REAL_DATA / "test-dev"
FOLDER = shipped_model_path("kermany-v2")
# P(PNEUMONIA) of two images away from saturation, written when each model was shipped: a
# changed file, a changed preprocessing step or a library that predicts differently shows here.
EXPECTED = [0.9497025609016418, 0.8645963072776794]  # kermany-v2: the inverted film, the film
EXPECTED_V1 = [0.11031448841094971, 0.9909502863883972]  # kermany-v1: the inverted film, the disk


@pytest.fixture(scope="module")
def model():
    return skpneumo.pretrained()


def probe_images(second="film"):
    """An inverted rendered film, and the film itself or a bright disk: inputs with unsaturated scores."""
    film = render_xray(np.random.default_rng(0), 224, False)
    yy, xx = np.mgrid[:224, :224]
    disk = (255 * ((yy - 112) ** 2 + (xx - 112) ** 2 < 80 ** 2)).astype(np.uint8)
    return [255 - film, film if second == "film" else disk]


def test_the_default_model_is_kermany_v2_and_small(model):
    assert shipped_models() == ["kermany-v1", "kermany-v2"]
    assert model.model_card_["name"] == "kermany-v2"
    assert model.named_steps["clf"].backbone == "smallresnet"
    assert sum(p.stat().st_size for p in FOLDER.iterdir()) <= 6 * 2**20  # float16 weights
    assert model.model_card_["weights_dtype"] == "float16"


def test_it_predicts_as_shipped(model):
    np.testing.assert_allclose(model.predict_proba(probe_images())[:, 1], EXPECTED, atol=1e-4)


def test_kermany_v1_still_loads_and_predicts_as_shipped():
    v1 = skpneumo.pretrained("kermany-v1")
    assert v1.model_card_["name"] == "kermany-v1" and v1.named_steps["clf"].backbone == "smallcnn"
    np.testing.assert_allclose(v1.predict_proba(probe_images("disk"))[:, 1], EXPECTED_V1, atol=1e-4)


def test_its_card_says_what_it_learned_from_and_what_it_is_not(model):
    card = json.loads((FOLDER / "model_card.json").read_text())
    assert card == model.model_card_
    training, validation = card["training_data"], card["validation"]
    assert training["n_images"] + validation["n_images"] == 5216
    assert {c: training["class_counts"][c] + validation["class_counts"][c] for c in ("NORMAL", "PNEUMONIA")} \
        == {"NORMAL": 1341, "PNEUMONIA": 3875}
    assert training["n_patients"] + validation["n_patients"] == 2846  # no patient on both sides
    assert card["threshold"]["value"] == model.named_steps["clf"].threshold
    assert card["threshold"]["rule"] == "target_sensitivity=0.9 on the validation patients"
    assert card["recipe"] == {"preset": "cpu", "weights": None, "random_state": 0, "val_size": 0.2,
                              "threshold_rule": 0.9, "split_random_state": None}
    (test_dev,) = card["new_patients"]
    assert test_dev["name"] == "test-dev" and "Half of the official test split" in test_dev["description"]
    assert (test_dev["n_images"], test_dev["n_patients"]) == (313, 209)
    assert test_dev["class_counts"] == {"NORMAL": 117, "PNEUMONIA": 196}
    metrics = test_dev["report"]["metrics"]
    assert metrics["roc_auc"]["value"] >= 0.975 and metrics["recall"]["value"] >= 0.93
    assert metrics["specificity"]["value"] >= 0.88
    assert test_dev["report"]["threshold"] == card["threshold"]["value"]
    text = (FOLDER / "MODEL_CARD.md").read_text()
    for needed in ("CC BY 4.0", "Cell 2018", "Not a medical device", "not validated on adults",
                   "New patients: test-dev", "weights stored as float16"):
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


@pytest.mark.skipif(not TEST_DEV.is_dir(), reason="the test-dev films are not here")
def test_the_card_reports_what_the_model_scores_on_test_dev(model):
    from skpneumo import evaluate

    data = load_chest_xray(TEST_DEV)
    names = "\n".join(sorted(Path(p).name for p in data.paths))
    (entry,) = model.model_card_["new_patients"]
    assert entry["file_names_sha256"] == hashlib.sha256(names.encode()).hexdigest()
    report = evaluate(model, data.paths, data.labels, groups=data.groups, n_bootstrap=0)
    for metric in ("roc_auc", "recall", "specificity"):
        assert getattr(report, metric) == pytest.approx(entry["report"]["metrics"][metric]["value"], abs=1e-9)

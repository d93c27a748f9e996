import pytest

from skpneumo import CLAHE, make_pipeline, preset_params
from skpneumo.estimators import PRESETS, preset_validation


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_valid_pipelines(name, tmp_path):
    weights_file = tmp_path / "backbone.weights.h5"
    weights_file.write_bytes(b"\x89HDF\r\n\x1a\n")  # stands in for ImageNet weights, not downloadable here
    for weights in ("imagenet", None):
        pipe = make_pipeline(preset=name, weights=weights)
        clf = pipe.named_steps["clf"]
        expected = preset_params(name, weights)
        assert clf.weights == weights
        assert clf.backbone == expected["backbone"]
        assert pipe.named_steps["resize"].size == expected["size"]
        if weights is not None:
            clf.set_params(weights=weights_file)
        clf.check_params()  # every value the preset sets is a valid parameter


def test_cpu_preset_uses_cached_features_or_a_small_network():
    pretrained = make_pipeline(preset="cpu").named_steps["clf"]
    assert pretrained.cache_features is True and pretrained.augment is False
    assert pretrained.fine_tune_epochs == 0
    scratch = make_pipeline(preset="cpu", weights=None)
    clf = scratch.named_steps["clf"]
    assert (clf.backbone, clf.standardize, clf.lr_schedule, clf.fine_tune_epochs) == ("smallresnet", True, "cosine", 12)
    assert clf.weight_decay == 1e-4 and clf.mixup == 0
    assert scratch.named_steps["resize"].size == 128
    assert preset_validation("cpu") == {"val_size": 0.2, "threshold_rule": 0.90}


def test_explicit_parameters_override_the_preset_in_any_form():
    pipe = make_pipeline(preset="cpu", clf__weights=None, resize__size=96, fine_tune_epochs=2,
                         clahe=CLAHE(), random_state=3)
    clf = pipe.named_steps["clf"]
    assert clf.backbone == "smallresnet"  # clf__weights=None selects the from-scratch variant
    assert pipe.named_steps["resize"].size == 96
    assert clf.fine_tune_epochs == 2 and clf.random_state == 3
    assert isinstance(pipe.named_steps["clahe"], CLAHE)


def test_a_weights_file_keeps_the_pretrained_variant(tmp_path):
    params = preset_params("gpu", str(tmp_path / "w.h5"))
    assert params["weights"] == str(tmp_path / "w.h5") and params["epochs"] == 10


def test_unknown_preset():
    with pytest.raises(ValueError, match="preset must be one of"):
        make_pipeline(preset="tpu")

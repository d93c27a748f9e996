import keras
import numpy as np
import pytest

from skpneumo import PneumoniaClassifier
from skpneumo.network import BACKBONES, ImageNetPreprocessing, RandomAffine, SmallCNN, build_model, check_weights


def _bar_images(n=4, size=64):
    x = np.zeros((n, size, size, 1), "float32")
    x[:, 20:44, 28:36] = 1.0
    return x


def test_random_affine_is_identity_without_range_and_at_inference():
    x = _bar_images()
    np.testing.assert_array_equal(np.asarray(RandomAffine(0, 0, 0)(x, training=True)), x)
    np.testing.assert_array_equal(np.asarray(RandomAffine(30, 0.2, 0.2)(x, training=False)), x)


def test_random_affine_rotates_shifts_and_zooms_within_range():
    x = _bar_images(n=16)
    rotated = np.asarray(RandomAffine(90, 0, 0, seed=1)(x, training=True))
    # A pure rotation about the centre keeps the bar's mass and centre.
    np.testing.assert_allclose(rotated.sum((1, 2, 3)), x[0].sum(), rtol=0.02)
    assert not np.allclose(rotated, x)
    shifted = np.asarray(RandomAffine(0, 0, 0.2, seed=2)(x, training=True))
    centres = np.array([np.argwhere(im[..., 0] > 0.5).mean(0) for im in shifted])
    offsets = np.abs(centres - 31.5)
    assert offsets.max() <= 0.2 * 64 + 1 and offsets.max() > 2
    zoomed = np.asarray(RandomAffine(0, 0.5, 0, seed=3)(x, training=True))
    ratios = zoomed.sum((1, 2, 3)) / x[0].sum()  # area scales with the zoom factor squared
    assert 0.2 < ratios.min() < 0.95 and 1.05 < ratios.max() < 2.3


@pytest.mark.parametrize("mode", ["caffe", "torch", "tf", "raw"])
def test_imagenet_preprocessing_matches_keras(mode):
    x = np.random.default_rng(0).random((2, 4, 4, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(ImageNetPreprocessing(mode)(x))
    if mode == "raw":
        expected = x * 255
    else:
        expected = keras.applications.imagenet_utils.preprocess_input(x * 255, mode=mode)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


def test_random_affine_serializes():
    layer = RandomAffine(12.0, 0.1, 0.05, seed=4)
    again = RandomAffine.from_config(layer.get_config())
    assert (again.rotation, again.zoom, again.shift, again.seed) == (12.0, 0.1, 0.05, 4)


def test_small_cnn_feature_map_and_no_imagenet_weights():
    model = build_model((64, 64, 3), backbone="smallcnn", weights=None, dense_units=(8,),
                        dropout=0.0, augmentation=None)
    assert model.get_layer("backbone").output.shape[1:] == (4, 4, 256)
    with pytest.raises(ValueError, match="no ImageNet weights"):
        check_weights("imagenet", "smallcnn")
    with pytest.raises(ValueError, match="include_top"):
        SmallCNN(include_top=True, input_shape=(32, 32, 3))


def test_small_cnn_weights_file_round_trip(tmp_path):
    base = SmallCNN(input_shape=(32, 32, 3))
    path = tmp_path / "smallcnn.weights.h5"
    base.save_weights(path)
    loaded = SmallCNN(weights=str(path), input_shape=(32, 32, 3))
    for a, b in zip(base.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


# ResNet-50 in the quick loop: test_classifier.py's resnet50_fit, with these checks.
@pytest.mark.parametrize("backbone", [b if b == "smallcnn" else pytest.param(b, marks=pytest.mark.slow)
                                      for b in sorted(BACKBONES)])
def test_every_backbone_trains_and_predicts(backbone):
    rng = np.random.default_rng(0)
    X = rng.random((6, 32, 32, 3), dtype=np.float32)
    y = np.array([0, 1] * 3)
    # One cheap epoch: the backbone's top layer and the head (from scratch, phase 1
    # would train the whole network).
    clf = PneumoniaClassifier(backbone=backbone, weights=None, epochs=0, fine_tune_epochs=1, fine_tune_layers=1,
                              batch_size=3, dense_units=(8,), random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (6, 2) and np.isfinite(proba).all()
    assert clf.model_.get_layer("imagenet_preprocessing").mode == BACKBONES[backbone].preprocessing
    assert isinstance(clf.model_.get_layer("backbone"), keras.Model)


def test_per_image_standardization_gives_every_image_the_same_mean_and_spread():
    from skpneumo.network import PerImageStandardization

    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 16, 3)).astype("float32")
    x[1] = x[1] ** 2 * 0.3  # a darker, flatter film
    out = keras.ops.convert_to_numpy(PerImageStandardization()(x))
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0.5, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 0.25, atol=0.005)  # 1e-3 added to the spread
    # Exposure and contrast changes of one film no longer matter.
    again = keras.ops.convert_to_numpy(PerImageStandardization()(x * 0.5 + 0.2))
    np.testing.assert_allclose(again, out, atol=0.01)  # up to the 1e-3 added to the spread
    assert np.abs((x * 0.5 + 0.2) - x).max() > 0.1


def test_standardize_puts_the_layer_in_the_network():
    plain = build_model((32, 32, 3), backbone="smallcnn", weights=None, dense_units=(), dropout=0.0,
                        augmentation=None)
    model = build_model((32, 32, 3), backbone="smallcnn", weights=None, dense_units=(), dropout=0.0,
                        augmentation=None, standardize=True)
    assert "standardize" in [layer.name for layer in model.layers]
    assert "standardize" not in [layer.name for layer in plain.layers]


def test_small_resnet_feature_map_shortcuts_and_no_imagenet_weights():
    from skpneumo.network import SmallResNet

    base = SmallResNet(input_shape=(64, 64, 3))
    assert base.output.shape[1:] == (2, 2, 256)  # 1/32 of the input
    assert sum(isinstance(layer, keras.layers.Add) for layer in base.layers) == 8  # two blocks per stage
    assert 2.7e6 < base.count_params() < 2.9e6
    with pytest.raises(ValueError, match="no ImageNet weights"):
        check_weights("imagenet", "smallresnet")
    with pytest.raises(ValueError, match="include_top"):
        SmallResNet(include_top=True, input_shape=(32, 32, 3))

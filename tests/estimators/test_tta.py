import numpy as np
import pytest
from sklearn.base import clone

from conftest import LEGACY_MODEL
from skpneumo import PneumoniaClassifier, load_model, make_pipeline
from skpneumo.estimators import DEFAULT_TTA, TTA_TRANSFORMS, resolve_tta, tta_transform

FAST = dict(backbone="smallcnn", weights=None, epochs=1, fine_tune_epochs=0, batch_size=4)


@pytest.fixture(scope="module")
def fitted():
    # Test-time augmentation acts at prediction only: the classifier of a stored tiny model (smallcnn, 32 px).
    rng = np.random.default_rng(3)
    X = rng.random((12, 32, 32, 3), dtype=np.float32)
    return load_model(LEGACY_MODEL).named_steps["clf"], X


def dot_image(row, col, size=41):
    x = np.zeros((1, size, size, 3), np.float32)
    x[0, row, col] = 1.0
    return x


def brightest(images):
    return np.unravel_index(np.argmax(images[0, :, :, 0]), images.shape[1:3])


@pytest.mark.parametrize("name, expected", [
    ("shift_right", (10, 22)), ("shift_left", (10, 18)), ("shift_up", (8, 20)), ("shift_down", (12, 20)),
    # A point above the centre moves away from it when zooming in, towards it when zooming out.
    ("zoom_in", (9, 20)), ("zoom_out", (11, 20)),
    # Counter-clockwise: a point above the centre moves left.
    ("rotate_left", (10, 19)), ("rotate_right", (10, 21)),
])
def test_transforms_move_a_point_as_named(name, expected):
    assert brightest(tta_transform(dot_image(10, 20), name)) == expected


def test_flip_mirrors_and_identity_is_the_input():
    x = dot_image(5, 3)
    assert brightest(tta_transform(x, "flip")) == (5, 37)
    assert tta_transform(x, "identity") is x


def test_transforms_are_deterministic_and_keep_shape():
    x = np.random.default_rng(0).random((3, 32, 48, 3), dtype=np.float32)
    for name in TTA_TRANSFORMS:
        out = tta_transform(x, name)
        assert out.shape == x.shape and out.dtype == np.float32
        np.testing.assert_array_equal(out, tta_transform(x, name))


def test_resolve_tta():
    assert resolve_tta(None) == ()
    assert resolve_tta("default") == DEFAULT_TTA and "flip" not in DEFAULT_TTA
    assert resolve_tta(["zoom_in", "flip"]) == ("zoom_in", "flip")
    for bad in ("zoom_in", [], ["spin"], 3):
        with pytest.raises(ValueError, match="tta must be"):
            resolve_tta(bad)


def test_no_tta_is_the_network_output(fitted):
    clf, X = fitted
    assert clf.tta is None
    raw = clf.model_.predict(X, verbose=0).reshape(-1)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], raw, rtol=1e-6)


def test_identity_equals_plain_and_tta_is_the_mean_over_transforms(fitted):
    clf, X = fitted
    plain = clf.predict_proba(X)
    clf.set_params(tta=["identity"])
    try:
        np.testing.assert_allclose(clf.predict_proba(X), plain, rtol=1e-6)
        views = ["shift_left", "zoom_in", "rotate_right"]
        singles = []
        for view in views:
            clf.set_params(tta=[view])
            singles.append(clf.predict_proba(X)[:, 1])
            np.testing.assert_allclose(
                singles[-1], clf.model_.predict(tta_transform(X, view), verbose=0).reshape(-1), rtol=1e-6)
        clf.set_params(tta=views)
        proba = clf.predict_proba(X)
        np.testing.assert_allclose(proba[:, 1], np.mean(singles, axis=0), rtol=1e-6)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert ((proba >= 0) & (proba <= 1)).all()
        # The transforms really change the input the network sees.
        assert not np.allclose(proba, plain)
        assert (clf.predict(X) == clf.classes_[(proba[:, 1] >= clf.threshold).astype(int)]).all()
    finally:
        clf.set_params(tta=None)


def test_bad_tta_fails_in_fit_and_predict(fitted):
    clf, X = fitted
    y = np.array(["NORMAL", "PNEUMONIA"] * 6)
    with pytest.raises(ValueError, match="tta must be"):
        PneumoniaClassifier(**FAST, tta=["mirror"]).fit(X, y)
    with pytest.raises(ValueError, match="tta must be"):
        clone(clf).set_params(tta="all").fit(X, y)
    clf.set_params(tta="sideways")
    try:
        with pytest.raises(ValueError, match="tta must be"):
            clf.predict_proba(X)
    finally:
        clf.set_params(tta=None)


def test_tta_is_a_pipeline_parameter():
    pipe = make_pipeline(tta="default")
    assert pipe.get_params()["clf__tta"] == "default"
    assert clone(pipe).get_params()["clf__tta"] == "default"

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skpneumo import ImageReadError, make_pipeline
from skpneumo.evaluation import explain, grad_cam, overlay, overlay_names
from skpneumo.network import BACKBONES, build_model

# Original image size: the pipeline resizes to 64x64, heatmaps come back at this size.
H, W = 72, 88


def write_quadrant_xrays(folder, n_per_class, rng):
    """Noisy films; PNEUMONIA adds a bright opacity well inside a random quadrant.

    Returns paths, labels and the quadrant (0 top-left .. 3 bottom-right) of each
    opacity (random for NORMAL films, which have none).
    """
    paths, labels, quadrants = [], [], []
    yy, xx = np.mgrid[:H, :W]
    for label in ("NORMAL", "PNEUMONIA"):
        for i in range(n_per_class):
            img = rng.normal(70, 10, (H, W))
            quadrant = rng.integers(4)
            if label == "PNEUMONIA":
                cy = H * (rng.uniform(0.15, 0.35) + 0.5 * (quadrant // 2))
                cx = W * (rng.uniform(0.15, 0.35) + 0.5 * (quadrant % 2))
                img += 120 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 4.0**2))
            path = folder / f"{label}-{i:03d}.png"
            cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))
            paths.append(str(path))
            labels.append(label)
            quadrants.append(quadrant)
    return np.array(paths), np.array(labels), np.array(quadrants)


@pytest.fixture(scope="module")
def quadrant_model(tmp_path_factory):
    rng = np.random.default_rng(0)
    paths, labels, _ = write_quadrant_xrays(tmp_path_factory.mktemp("quadrant_train"), 40, rng)
    test = write_quadrant_xrays(tmp_path_factory.mktemp("quadrant_test"), 10, rng)
    pipe = make_pipeline(backbone="smallcnn", weights=None, size=64, smote=None, augment=False,
                         dense_units=(), epochs=0, fine_tune_layers="all", fine_tune_epochs=12,
                         fine_tune_learning_rate=3e-3, batch_size=16, random_state=0)
    return pipe.fit(paths, labels), test


def test_heatmap_mass_concentrates_on_the_opacity(quadrant_model):
    pipe, (paths, labels, quadrants) = quadrant_model
    sick = labels == "PNEUMONIA"
    heatmaps, proba = explain(pipe, paths[sick], return_proba=True)
    assert proba.min() > 0.5  # the model found every opacity, so its evidence is worth checking
    fractions = []
    for heat, quadrant in zip(heatmaps, quadrants[sick]):
        region = np.zeros((H, W), bool)
        top, left = (quadrant // 2) * H // 2, (quadrant % 2) * W // 2
        region[top:top + H // 2, left:left + W // 2] = True
        fractions.append(heat[region].sum() / heat.sum())
    # The quadrant is a quarter of the image: by chance it would hold 25% of the mass.
    assert min(fractions) > 0.4 and np.mean(fractions) > 0.5, fractions


def test_heatmaps_are_image_sized_in_unit_range_deterministic_and_match_predict(quadrant_model):
    pipe, (paths, *_) = quadrant_model
    heatmaps, proba = explain(pipe, paths[:6], return_proba=True)
    assert len(heatmaps) == 6
    for heat in heatmaps:
        assert heat.shape == (H, W) and heat.dtype == np.float32
        assert heat.min() >= 0 and heat.max() <= 1 and heat.max() in (0.0, 1.0)
    again = explain(pipe, list(paths[:6]))
    for a, b in zip(heatmaps, again):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(proba, pipe.predict_proba(paths[:6])[:, 1], rtol=1e-4, atol=1e-6)


def test_a_bare_classifier_explains_preprocessed_arrays(quadrant_model):
    pipe, (paths, *_) = quadrant_model
    clf, X = pipe.named_steps["clf"], pipe[:-1].transform(paths[-3:])  # PNEUMONIA films, as clf takes them
    maps, _ = grad_cam(clf.model_, X)
    for heat, cam in zip(explain(clf, X), maps):
        # Upsampled first, then scaled to a maximum of 1.
        upsampled = cv2.resize(cam, (64, 64), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(heat, upsampled / upsampled.max(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # the quick loop checks ResNet-50's Grad-CAM layer in test_grad_cam_for_every_backbone
def test_resnet50_pipeline_at_64px(image_set, tmp_path):
    paths, labels, _ = image_set
    # One cheap epoch: ResNet-50's top layer and the head (the maps only need a fitted network).
    pipe = make_pipeline(weights=None, size=64, epochs=0, fine_tune_epochs=1, fine_tune_layers=1, batch_size=8,
                         smote=None, random_state=0).fit(paths, labels)
    maps, _ = grad_cam(pipe.named_steps["clf"].model_, pipe[:-1].transform(paths[:3]))
    assert maps.shape == (3, 2, 2)  # ResNet-50 downsamples by 32
    out = tmp_path / "overlays"
    heatmaps = explain(pipe, paths[:3], out=out)
    for path, heat in zip(paths[:3], heatmaps):
        assert heat.shape == cv2.imread(path, cv2.IMREAD_UNCHANGED).shape[:2]
        assert 0 <= heat.min() and heat.max() <= 1
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(overlay_names(paths[:3]))
    png = cv2.imread(str(out / written[0]), cv2.IMREAD_UNCHANGED)
    assert png.shape == (40, 48, 3) and png.dtype == np.uint8


# The quick loop: the default backbone and smallresnet (smallcnn's maps are checked above on a trained
# network); the others in the full suite.
@pytest.mark.parametrize("backbone", [b if b in ("resnet50", "smallresnet")
                                      else pytest.param(b, marks=pytest.mark.slow) for b in sorted(BACKBONES)])
def test_grad_cam_for_every_backbone(backbone):
    model = build_model((64, 64, 3), backbone=backbone, weights=None, dense_units=(8,), dropout=0.5,
                        augmentation=None)
    images = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    maps, proba = grad_cam(model, images)
    feature_shape = model.get_layer("backbone").output.shape[1:3]
    assert maps.shape == (2, *feature_shape) and (maps >= 0).all() and np.isfinite(maps).all()
    # The Grad-CAM pass reproduces the network's own prediction.
    np.testing.assert_allclose(proba, model.predict(images, verbose=0).reshape(-1), rtol=1e-4, atol=1e-6)


def test_overlay_colours_only_where_there_is_heat():
    image = np.full((10, 12), 40, np.uint16)
    image[0, 0] = 1000
    heat = np.zeros((10, 12), np.float32)
    heat[5:, 6:] = 1.0
    rgb = overlay(image, heat, alpha=0.5)
    assert rgb.shape == (10, 12, 3) and rgb.dtype == np.uint8
    # Stretched to the image's own range: 40 is black, the one 1000 pixel white.
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert (rgb[1:5, 1:6] == 0).all()  # no heat: the image, untouched
    assert (rgb[5:, 6:, 0] > rgb[5:, 6:, 2]).all()  # full heat: the red end of jet
    np.testing.assert_array_equal(overlay(image, heat, alpha=0.0)[..., 0], overlay(image, heat * 0, 0.5)[..., 0])


def test_overlay_names_are_unique_and_derived_from_the_inputs():
    names = overlay_names(["a/IM-1.jpeg", "b/IM-1.jpeg", "a/IM-1.png", "c/im-1.PNG", "IM-1_2.jpeg",
                           np.zeros((4, 4))])
    assert names == ["IM-1_gradcam.png", "IM-1_2_gradcam.png", "IM-1_3_gradcam.png",
                     "im-1_4_gradcam.png", "IM-1_2_2_gradcam.png", "image-5_gradcam.png"]
    assert len({n.lower() for n in names}) == len(names)


def test_bad_input_fails_before_any_work(quadrant_model, tmp_path):
    pipe, (paths, *_) = quadrant_model
    missing = tmp_path / "missing.png"
    with pytest.raises(ImageReadError, match="missing.png"):
        explain(pipe, [*paths[:20], missing], out=tmp_path / "o")
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="alpha"):
        explain(pipe, paths[:1], alpha=2)
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(ValueError, match="is a file"):
        explain(pipe, paths[:1], out=file)
    with pytest.raises(ValueError, match="unique"):
        explain(pipe, paths[:2], out=tmp_path / "o", names=["x.png", "X.png"])
    with pytest.raises(TypeError, match="wrap it in a list"):
        explain(pipe, paths[0])
    with pytest.raises(TypeError, match="fitted skpneumo"):
        explain(object(), paths[:1])
    with pytest.raises(NotFittedError):
        explain(make_pipeline(), paths[:1])


def test_a_failed_write_leaves_no_partial_files(quadrant_model, tmp_path, monkeypatch):
    pipe, (paths, *_) = quadrant_model
    out = tmp_path / "overlays"

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="Grad-CAM overlays.*No space left"):
        explain(pipe, paths[:2], out=out)
    assert not out.exists() or list(out.iterdir()) == []


JAX_SCRIPT = """
import sys, numpy as np, keras
from skpneumo.evaluation import grad_cam
from skpneumo.network import build_model
keras.utils.set_random_seed(0)
model = build_model((48, 48, 3), backbone="smallcnn", weights=None, dense_units=(8,), dropout=0.5,
                    augmentation=None)
model.save_weights(sys.argv[1])
images = np.random.default_rng(0).random((2, 48, 48, 3), dtype=np.float32)
maps, proba = grad_cam(model, images)
np.savez(sys.argv[2], maps=maps, proba=proba, images=images)
"""


@pytest.mark.slow  # a fresh process importing JAX and Keras
def test_jax_backend_gives_the_same_maps(tmp_path):
    pytest.importorskip("jax")
    weights, result = tmp_path / "w.weights.h5", tmp_path / "jax.npz"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(weights), str(result)],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    jax_out = np.load(result)
    model = build_model((48, 48, 3), backbone="smallcnn", weights=None, dense_units=(8,), dropout=0.5,
                        augmentation=None)
    model.load_weights(weights)
    maps, proba = grad_cam(model, jax_out["images"])
    np.testing.assert_allclose(maps, jax_out["maps"], rtol=1e-3, atol=1e-5 * maps.max())
    np.testing.assert_allclose(proba, jax_out["proba"], rtol=1e-4)


def test_large_jpegs_are_overlaid_at_their_size_on_disk_and_scored_as_predict_does(quadrant_model, tmp_path,
                                                                                     monkeypatch):
    pipe, _ = quadrant_model
    import skpneumo.evaluation.gradcam as explain_module

    seen = []
    real_grad_cam = explain_module.grad_cam
    monkeypatch.setattr(explain_module, "grad_cam", lambda model, X, *a, **k: seen.append(X) or real_grad_cam(
        model, X, *a, **k))
    rng = np.random.default_rng(2)
    path = tmp_path / "large.jpeg"
    big = np.clip(rng.normal(70, 10, (600, 520)), 0, 255).astype(np.uint8)
    big[100:300, 80:260] = 190  # an opacity
    cv2.imwrite(str(path), big)
    heatmaps, proba = explain(pipe, [path], out=tmp_path / "cam", return_proba=True)
    assert heatmaps[0].shape == (600, 520)
    assert cv2.imread(str(tmp_path / "cam" / "large_gradcam.png")).shape[:2] == (600, 520)
    # The network saw exactly what predict_proba gives it: the reduced decode for 64 px.
    np.testing.assert_array_equal(seen[0], pipe[:-1].transform([path]))
    np.testing.assert_allclose(proba, pipe.predict_proba([path])[:, 1], rtol=1e-4, atol=1e-6)

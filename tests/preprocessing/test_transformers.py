"""Tests for skpneumo.preprocessing: Resizer, GrayscaleToRGB and Normalizer."""

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from skpneumo import CLAHE, GrayscaleToRGB, ImageLoader, Normalizer, Resizer

RNG = np.random.default_rng(0)


def _rand(shape, dtype=np.uint8):
    if np.issubdtype(dtype, np.floating):
        return RNG.random(shape).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)


def _write(path, image):
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix, image)
    assert ok
    buf.tofile(str(path))
    return path


# Resizer ---------------------------------------------------------------------------


def test_resizer_default_224():
    assert Resizer().size == 224
    out = Resizer().transform([_rand((100, 120, 3)), _rand((300, 250, 3))])
    assert out.shape == (2, 224, 224, 3)
    assert out.dtype == np.uint8


@pytest.mark.parametrize(
    ("size", "expected_hw"),
    [(32, (32, 32)), (1, (1, 1)), ((20, 30), (20, 30)), ([30, 20], (30, 20)),
     ((np.int64(16), np.int32(8)), (16, 8)), (np.int64(12), (12, 12))],
)
def test_resizer_int_and_tuple_sizes(size, expected_hw):
    out = Resizer(size=size).transform(_rand((3, 50, 40)))
    assert out.shape == (3, *expected_hw)


@pytest.mark.parametrize(
    "in_hw", [(300, 100), (100, 300), (224, 50), (10, 10), (1000, 1000), (1, 500), (500, 1)]
)
def test_resizer_any_aspect_ratio(in_hw):
    out = Resizer().transform([_rand((*in_hw, 3))])
    assert out.shape == (1, 224, 224, 3)


def test_resizer_shrinking_uses_area_exactly():
    for img in (_rand((100, 80)), _rand((64, 64, 3)), _rand((90, 70, 3), np.uint16),
                _rand((90, 70), np.float32)):
        out = Resizer(size=(20, 30)).transform([img])[0]
        expected = cv2.resize(img, (30, 20), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(out, expected)


def test_resizer_upscaling_uses_cubic_exactly():
    img = _rand((10, 12, 3))
    out = Resizer(size=(40, 50)).transform([img])[0]
    np.testing.assert_array_equal(out, cv2.resize(img, (50, 40), interpolation=cv2.INTER_CUBIC))


@pytest.mark.parametrize(
    ("name", "flag"),
    [("area", cv2.INTER_AREA), ("linear", cv2.INTER_LINEAR), ("cubic", cv2.INTER_CUBIC),
     ("nearest", cv2.INTER_NEAREST)],
)
@pytest.mark.parametrize("size", [(8, 9), (40, 50)])
def test_resizer_explicit_interpolation(name, flag, size):
    img = _rand((20, 24, 3))
    out = Resizer(size=size, interpolation=name).transform([img])[0]
    np.testing.assert_array_equal(out, cv2.resize(img, size[::-1], interpolation=flag))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("size", [16, 64])  # downscaling and upscaling
@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_resizer_keeps_dtype_and_channels(dtype, size, channels):
    shape = (32, 28) if channels is None else (32, 28, channels)
    X = np.stack([_rand(shape, dtype) for _ in range(2)])
    out = Resizer(size=size).transform(X)
    assert out.dtype == dtype
    assert out.shape == (2, size, size) + (() if channels is None else (channels,))


def test_resizer_single_channel_axis_kept():
    out = Resizer(size=8).transform([_rand((20, 20, 1))])
    assert out.shape == (1, 8, 8, 1)


def test_resizer_float_upscaling_stays_in_input_range():
    img = np.zeros((8, 8), np.float32)
    img[::2, ::2] = 1.0  # cubic interpolation overshoots on this checkerboard
    out = Resizer(size=40, interpolation="cubic").transform([img])[0]
    assert out.min() >= 0.0 and out.max() <= 1.0
    Normalizer().transform(out[np.newaxis])  # stays a valid normalised image


def test_resizer_passthrough_when_already_target_size():
    img = _rand((32, 32, 3))
    out = Resizer(size=32).transform([img])
    np.testing.assert_array_equal(out[0], img)
    X = _rand((3, 16, 20), np.uint16)
    np.testing.assert_array_equal(Resizer(size=(16, 20)).transform(X), X)


def test_resizer_mixed_size_list_becomes_stacked():
    imgs = [_rand((10, 10)), _rand((32, 32)), _rand((50, 20)), _rand((7, 90))]
    out = Resizer(size=32).transform(imgs)
    assert out.dtype == np.uint8
    assert out.shape == (4, 32, 32)
    np.testing.assert_array_equal(out[1], imgs[1])


def test_resizer_mixed_channels_stay_object_array():
    out = Resizer(size=8).transform([_rand((10, 10)), _rand((12, 12, 3))])
    assert out.dtype == object
    assert [img.shape for img in out] == [(8, 8), (8, 8, 3)]


def test_resizer_float64_mixed_list_is_stacked():
    out = Resizer(size=8).transform([RNG.random((8, 8)), RNG.random((10, 10))])
    assert out.dtype != object
    assert out.shape == (2, 8, 8)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16])
def test_resizer_unsupported_dtype_value_error(dtype):
    with pytest.raises(ValueError):
        Resizer(size=8).transform([np.zeros((10, 10), dtype)])


@pytest.mark.parametrize("size", [0, -1, (1, 2, 3), (0, 5), (5, -2), (5,), "a", True,
                                  (True, 4), 2.5, (2.0, 3.0), None])
def test_resizer_invalid_size(size):
    resizer = Resizer(size=size)  # __init__ does not validate
    assert resizer.size is size
    with pytest.raises(ValueError, match="size"):
        resizer.fit([_rand((4, 4))])
    with pytest.raises(ValueError, match="size"):
        resizer.transform([_rand((4, 4))])


@pytest.mark.parametrize("interpolation", ["bilinear", "AREA", "", None, cv2.INTER_AREA])
def test_resizer_invalid_interpolation(interpolation):
    resizer = Resizer(interpolation=interpolation)
    with pytest.raises(ValueError, match="interpolation"):
        resizer.fit([_rand((4, 4))])
    with pytest.raises(ValueError, match="interpolation"):
        resizer.transform([_rand((4, 4))])


# GrayscaleToRGB --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_gray_2d_to_rgb(dtype):
    img = _rand((6, 7), dtype)
    out = GrayscaleToRGB().transform([img])
    assert out.shape == (1, 6, 7, 3)
    assert out.dtype == dtype
    for c in range(3):
        np.testing.assert_array_equal(out[0, :, :, c], img)


def test_gray_stacked_batch_to_rgb():
    X = _rand((4, 6, 7))
    out = GrayscaleToRGB().transform(X)
    assert out.shape == (4, 6, 7, 3)
    np.testing.assert_array_equal(out, np.repeat(X[..., None], 3, axis=3))


def test_gray_single_channel_to_rgb():
    img = _rand((6, 7, 1))
    out = GrayscaleToRGB().transform([img])
    assert out.shape == (1, 6, 7, 3)
    np.testing.assert_array_equal(out[0], np.concatenate([img] * 3, axis=2))


def test_rgba_drops_alpha():
    img = _rand((6, 7, 4), np.uint16)
    out = GrayscaleToRGB().transform([img])
    assert out.shape == (1, 6, 7, 3)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[0], img[:, :, :3])
    assert out[0].flags.c_contiguous


def test_rgb_unchanged():
    X = _rand((3, 6, 7, 3))
    out = GrayscaleToRGB().transform(X)
    assert out.dtype == X.dtype
    np.testing.assert_array_equal(out, X)


def test_gray_mixed_layouts_become_stacked():
    out = GrayscaleToRGB().transform(
        [_rand((5, 5)), _rand((5, 5, 1)), _rand((5, 5, 3)), _rand((5, 5, 4))]
    )
    assert out.shape == (4, 5, 5, 3)
    assert out.dtype == np.uint8


# Normalizer ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 65535)])
def test_normalizer_integer_depths(dtype, top):
    X = np.array([[[0, 1], [top // 2, top]]], dtype)
    out = Normalizer().transform(X)
    assert out.dtype == np.float32
    assert out[0, 0, 0] == 0.0 and out[0, 1, 1] == 1.0
    np.testing.assert_allclose(out, X.astype(np.float64) / top, rtol=1e-6)


def test_normalizer_random_uint8_in_unit_range():
    out = Normalizer().transform(_rand((3, 8, 8, 3)))
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("as_list", [False, True])
def test_normalizer_float_in_range_passes(dtype, as_list):
    X = _rand((2, 5, 5, 3), dtype)
    X[0, 0, 0] = 0.0
    X[0, 0, 1] = 1.0
    out = Normalizer().transform(list(X) if as_list else X)
    assert out.dtype == np.float32
    assert out.shape == X.shape
    np.testing.assert_array_equal(out, X.astype(np.float32))


@pytest.mark.parametrize("bad", [-0.01, 1.01, 255.0, np.inf, -np.inf])
@pytest.mark.parametrize("as_list", [False, True])
def test_normalizer_float_out_of_range(bad, as_list):
    X = np.full((2, 4, 4), 0.5, np.float32)
    X[1, 2, 2] = bad
    with pytest.raises(ValueError):
        Normalizer().transform(list(X) if as_list else X)


def test_normalizer_list_with_nan_rejected():
    with pytest.raises(ValueError, match="NaN"):
        Normalizer().transform([np.full((4, 4), np.nan, np.float32)])


def _nan_batch():
    X = np.full((2, 4, 4), 0.5, np.float32)
    X[1, 1, 1] = np.nan
    return X


@pytest.mark.parametrize(
    "X",
    [_nan_batch(), np.zeros((2, 4, 4, 5), np.uint8), np.zeros((0, 4, 4), np.uint8)],
    ids=["nan", "5-channels", "empty"],
)
def test_normalizer_stacked_fast_path_validates(X):
    with pytest.raises(ValueError):
        Normalizer().transform(X)


@pytest.mark.parametrize(
    "X",
    [list(_nan_batch()), list(np.zeros((2, 4, 4, 5), np.uint8)), []],
    ids=["nan", "5-channels", "empty"],
)
def test_normalizer_list_path_validates(X):
    with pytest.raises(ValueError):
        Normalizer().transform(X)


def test_normalizer_differing_shapes_suggests_resizer():
    with pytest.raises(ValueError, match="Resizer"):
        Normalizer().transform([_rand((4, 4)), _rand((5, 5))])
    with pytest.raises(ValueError, match="GrayscaleToRGB"):
        Normalizer().transform([_rand((4, 4)), _rand((4, 4, 3))])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8, np.uint32])
@pytest.mark.parametrize("as_list", [False, True])
def test_normalizer_unsupported_int_dtype(dtype, as_list):
    X = np.zeros((2, 4, 4), dtype)
    with pytest.raises(ValueError, match="unsupported pixel type"):
        Normalizer().transform(list(X) if as_list else X)


def test_normalizer_mixed_bit_depths_per_image():
    a = np.full((4, 4), 255, np.uint8)
    b = np.full((4, 4), 255, np.uint16)  # 255 out of 65535: dark
    c = np.full((4, 4), 65535, np.uint16)
    d = np.full((4, 4), 0.25, np.float64)
    out = Normalizer().transform([a, b, c, d])
    assert out.dtype == np.float32
    assert out.shape == (4, 4, 4)
    np.testing.assert_allclose(out[:, 0, 0], [1.0, 255 / 65535, 1.0, 0.25], rtol=1e-6)


def test_normalizer_on_files_of_two_depths(tmp_path):
    p8 = _write(tmp_path / "a.png", np.full((6, 6), 51, np.uint8))
    p16 = _write(tmp_path / "b.png", np.full((6, 6), 13107, np.uint16))
    loaded = ImageLoader().transform([p8, p16])
    assert loaded.dtype == np.uint16  # stacked at the deeper depth, 51 * 257 == 13107
    out = Normalizer().transform(loaded)
    np.testing.assert_array_equal(out, np.float32(51) / np.float32(255))


# The preprocessing chain in a scikit-learn pipeline --------------------------------


def test_pipeline_files_to_normalised_rgb(tmp_path):
    paths = [
        _write(tmp_path / "gray.jpeg", _rand((60, 40))),
        _write(tmp_path / "gray16.png", _rand((20, 30), np.uint16)),
        _write(tmp_path / "colour.png", _rand((32, 32, 3))),
        _write(tmp_path / "rgba.png", _rand((50, 70, 4))),
        _write(tmp_path / "colour.bmp", _rand((10, 90, 3))),
        _write(tmp_path / "gray16.tiff", _rand((100, 100), np.uint16)),
    ]
    pipe = make_pipeline(ImageLoader(), Resizer(32), GrayscaleToRGB(), Normalizer())
    out = pipe.fit_transform(paths)
    assert out.dtype == np.float32
    assert out.shape == (len(paths), 32, 32, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out, pipe.transform(paths))
    np.testing.assert_array_equal(out, clone(pipe).transform(paths))
    # The already-32x32 colour PNG went through unchanged apart from scaling.
    colour = cv2.imread(str(paths[2]))[:, :, ::-1]
    np.testing.assert_allclose(out[2], colour / 255, rtol=1e-6)
    # Grayscale images have three equal channels.
    np.testing.assert_array_equal(out[1, :, :, 0], out[1, :, :, 2])


# scikit-learn contract -------------------------------------------------------------

ESTIMATORS = [
    (Resizer, {"size": (20, 30), "interpolation": "linear"}),
    (GrayscaleToRGB, {}),
    (Normalizer, {}),
]


@pytest.mark.parametrize(("Est", "params"), ESTIMATORS, ids=lambda e: getattr(e, "__name__", ""))
def test_clone_and_params_round_trip(Est, params):
    est = Est(**params)
    cloned = clone(est)
    assert cloned is not est
    assert cloned.get_params() == est.get_params()
    for key, value in params.items():
        assert cloned.get_params()[key] == value
    assert Est(**est.get_params()).get_params() == est.get_params()
    assert est.set_params(**est.get_params()) is est


def test_resizer_set_params():
    resizer = Resizer()
    assert resizer.get_params() == {"size": 224, "interpolation": "auto"}
    resizer.set_params(size=16, interpolation="nearest")
    assert resizer.get_params() == {"size": 16, "interpolation": "nearest"}
    assert resizer.transform([_rand((8, 8))]).shape == (1, 16, 16)


@pytest.mark.parametrize(("Est", "params"), ESTIMATORS, ids=lambda e: getattr(e, "__name__", ""))
def test_fit_returns_self_stateless(Est, params):
    est = Est(**params)
    X = _rand((2, 20, 30, 3))
    before = dict(vars(est))
    assert est.fit(X) is est
    assert est.fit(X, np.array([0, 1])) is est
    assert vars(est) == before
    assert not [k for k in vars(est) if k.endswith("_")]
    assert get_tags(est).requires_fit is False
    check_is_fitted(Est(**params))
    np.testing.assert_array_equal(Est(**params).transform(X), est.fit_transform(X))


@pytest.mark.parametrize(("Est", "params"), ESTIMATORS, ids=lambda e: getattr(e, "__name__", ""))
def test_pickle_round_trip(Est, params):
    est = Est(**params).fit(None)
    restored = pickle.loads(pickle.dumps(est))
    assert type(restored) is Est
    assert restored.get_params() == est.get_params()
    X = _rand((2, 20, 30, 3))
    np.testing.assert_array_equal(restored.transform(X), est.transform(X))


@pytest.mark.parametrize("Est", [Resizer, GrayscaleToRGB, Normalizer])
@pytest.mark.parametrize(
    "X", [np.zeros((3, 5)), np.zeros(5), "a.png", [], [np.zeros(5)]],
    ids=["tabular", "1d", "str", "empty", "1d-image"],
)
def test_invalid_batches_rejected(Est, X):
    with pytest.raises((ValueError, TypeError)):
        Est().transform(X)




def test_already_preprocessed_batch_is_not_copied():
    from skpneumo import ImageLoader

    X = _rand((4, 32, 32, 3), np.float32)
    for step in (ImageLoader(), Resizer(32), GrayscaleToRGB(), Normalizer()):
        assert step.transform(X) is X


# ---------------------------------------------------------------- CLAHE
def _low_contrast(dtype=np.uint8, shape=(64, 64)):
    rng = np.random.default_rng(0)
    top = 255 if dtype == np.uint8 else 65535
    img = top * (0.45 + 0.1 * rng.random(shape))
    return img.astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_clahe_matches_opencv_and_spreads_contrast(dtype):
    img = _low_contrast(dtype)
    out = CLAHE(clip_limit=3.0, tile_grid_size=4).transform(img[np.newaxis])[0]
    expected = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)).apply(img)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == dtype and out.std() > 2 * img.std()


def test_clahe_keeps_gray_rgb_images_gray():
    gray = _low_contrast()
    rgb = np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    out = CLAHE().transform(rgb[np.newaxis])[0]
    assert out.shape == rgb.shape
    np.testing.assert_array_equal(out[..., 0], CLAHE().transform(gray[np.newaxis])[0])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_clahe_rejects_float_images_and_bad_parameters():
    with pytest.raises(ValueError, match="before Normalizer"):
        CLAHE().transform(np.zeros((1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="clip_limit"):
        CLAHE(clip_limit=0).fit(None)
    with pytest.raises(ValueError, match="tile_grid_size"):
        CLAHE(tile_grid_size=0).fit(None)
    assert clone(CLAHE(clip_limit=1.5)).clip_limit == 1.5

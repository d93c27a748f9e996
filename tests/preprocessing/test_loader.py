"""Tests for skpneumo.preprocessing.loader (ImageLoader) and skpneumo.io.read_image."""

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

import skpneumo.preprocessing.loader as loading
from skpneumo import ImageLoader, ImageReadError, read_image
from skpneumo.utils.validation import check_hw

RNG = np.random.default_rng(0)


def _write(path, image, params=()):
    """Write ``image`` (OpenCV BGR(A) order) to ``path``; works for non-ASCII names too."""
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix, image, list(params))
    assert ok, f"cv2 could not encode {path.suffix}"
    buf.tofile(str(path))
    return path


def _rand(shape, dtype=np.uint8):
    hi = np.iinfo(dtype).max
    return RNG.integers(0, hi, size=shape, dtype=dtype, endpoint=True)


def _smooth(shape, dtype=np.uint8):
    """A smooth gradient image: JPEG keeps it close to the original."""
    h, w = shape[:2]
    base = np.add.outer(np.arange(h), np.arange(w)).astype(np.float64)
    base = base / base.max() * 200 + 20
    if len(shape) == 3:
        base = np.stack([base, 255 - base, np.full_like(base, 128)][: shape[2]], axis=2)
    return base.astype(dtype)


def _bgr_to_rgb(image):
    if image.ndim == 2:
        return image
    if image.shape[2] == 3:
        return image[:, :, ::-1]
    return image[:, :, [2, 1, 0, 3]]


# read_image: formats, bit depth, channel order -------------------------------------


LOSSLESS_CASES = [
    ("gray8.png", (17, 23), np.uint8),
    ("gray16.png", (17, 23), np.uint16),
    ("color8.png", (17, 23, 3), np.uint8),
    ("color16.png", (17, 23, 3), np.uint16),
    ("rgba8.png", (17, 23, 4), np.uint8),
    ("gray.bmp", (16, 24), np.uint8),
    ("color.bmp", (16, 24, 3), np.uint8),
    ("gray8.tif", (17, 23), np.uint8),
    ("gray16.tiff", (17, 23), np.uint16),
    ("color8.tiff", (17, 23, 3), np.uint8),
    ("color16.tif", (17, 23, 3), np.uint16),
]


@pytest.mark.parametrize(("name", "shape", "dtype"), LOSSLESS_CASES)
def test_read_lossless_formats_exact(tmp_path, name, shape, dtype):
    bgr = _rand(shape, dtype)
    path = _write(tmp_path / name, bgr)
    image = read_image(path)
    assert image.dtype == dtype
    assert image.shape == shape  # grayscale stays 2-D, RGBA keeps 4 channels
    np.testing.assert_array_equal(image, _bgr_to_rgb(bgr))


@pytest.mark.parametrize("name", ["gray.jpeg", "gray.jpg"])
def test_read_grayscale_jpeg_is_2d(tmp_path, name):
    gray = _smooth((30, 40))
    image = read_image(_write(tmp_path / name, gray, [cv2.IMWRITE_JPEG_QUALITY, 100]))
    assert image.shape == (30, 40)
    assert image.dtype == np.uint8
    assert np.abs(image.astype(int) - gray).max() <= 3


def test_read_colour_jpeg_rgb(tmp_path):
    rgb = _smooth((30, 40, 3))
    image = read_image(
        _write(tmp_path / "c.jpeg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    )
    assert image.shape == (30, 40, 3)
    assert image.dtype == np.uint8
    assert np.abs(image.astype(int) - rgb).mean() < 3


@pytest.mark.parametrize("ext", [".jpeg", ".png", ".bmp", ".tiff"])
def test_pure_red_comes_back_in_channel_0(tmp_path, ext):
    bgr = np.zeros((12, 12, 3), np.uint8)
    bgr[:, :, 2] = 255  # red in OpenCV's BGR order
    image = read_image(_write(tmp_path / f"red{ext}", bgr))
    assert image.shape == (12, 12, 3)
    assert image[:, :, 0].min() >= 250
    assert image[:, :, 1:].max() <= 5


def test_png_alpha_rgba_order(tmp_path):
    bgra = np.zeros((5, 6, 4), np.uint8)
    bgra[...] = (10, 20, 30, 40)  # B, G, R, A
    image = read_image(_write(tmp_path / "alpha.png", bgra))
    assert image.shape == (5, 6, 4)
    np.testing.assert_array_equal(image[0, 0], [30, 20, 10, 40])


def test_png16_values_exact_including_extremes(tmp_path):
    img = np.array([[0, 1, 255, 256], [4095, 32768, 65534, 65535]], np.uint16)
    image = read_image(_write(tmp_path / "x.png", img))
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, img)


def test_str_and_path_inputs(tmp_path):
    img = _rand((9, 11))
    path = _write(tmp_path / "p.png", img)
    for item in (str(path), path):
        np.testing.assert_array_equal(read_image(item), img)
    a = ImageLoader().transform([str(path)])
    b = ImageLoader().transform([path])
    assert a.shape == (1, 9, 11)
    np.testing.assert_array_equal(a, b)


def test_non_ascii_file_name(tmp_path):
    img = _rand((8, 9, 3))
    path = _write(tmp_path / "röntgen_肺炎_ñ.png", img)
    np.testing.assert_array_equal(ImageLoader().transform([path])[0], img[:, :, ::-1])
    np.testing.assert_array_equal(ImageLoader().transform([str(path)])[0], img[:, :, ::-1])


def test_numpy_string_array_of_paths(tmp_path):
    paths = [str(_write(tmp_path / f"{i}.png", _rand((4, 5)))) for i in range(3)]
    out = ImageLoader().transform(np.array(paths))
    assert out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, ImageLoader().transform(paths))


# ImageLoader: arrays pass through, stacking ----------------------------------------


def test_list_mixing_paths_and_arrays(tmp_path):
    bgr = _rand((10, 12, 3))
    path = _write(tmp_path / "a.png", bgr)
    arr = _rand((10, 12, 3))
    out = ImageLoader().transform([path, arr, str(path)])
    assert out.shape == (3, 10, 12, 3)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], bgr[:, :, ::-1])
    np.testing.assert_array_equal(out[1], arr)  # arrays are not channel-swapped
    np.testing.assert_array_equal(out[2], bgr[:, :, ::-1])


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((4, 10, 12, 3), np.uint8), ((4, 10, 12), np.uint16), ((3, 5, 6, 1), np.float32)],
)
def test_stacked_array_passes_through(shape, dtype):
    X = RNG.random(shape).astype(dtype) if dtype == np.float32 else _rand(shape, dtype)
    out = ImageLoader().transform(X)
    assert out.shape == X.shape
    assert out.dtype == X.dtype
    np.testing.assert_array_equal(out, X)


def test_different_shapes_give_object_array(tmp_path):
    a = _write(tmp_path / "a.png", _rand((10, 12)))
    b = _write(tmp_path / "b.png", _rand((20, 8, 3)))
    out = ImageLoader().transform([a, b])
    assert out.dtype == object
    assert out.shape == (2,)
    assert out[0].shape == (10, 12)
    assert out[1].shape == (20, 8, 3)


def test_same_shape_different_depths_stack_at_16_bits_keeping_brightness(tmp_path):
    img8, img16 = _rand((10, 12)), _rand((10, 12), np.uint16)
    a, b = _write(tmp_path / "a.png", img8), _write(tmp_path / "b.png", img16)
    out = ImageLoader().transform([a, b])
    assert out.dtype == np.uint16 and out.shape == (2, 10, 12)
    np.testing.assert_array_equal(out[0], img8.astype(np.uint16) * 257)  # 255 -> 65535
    np.testing.assert_array_equal(out[1], img16)


def test_same_shapes_are_stacked(tmp_path):
    imgs = [_rand((7, 9, 3)) for _ in range(4)]
    paths = [_write(tmp_path / f"{i}.png", img) for i, img in enumerate(imgs)]
    out = ImageLoader().transform(paths)
    assert out.shape == (4, 7, 9, 3)
    assert out.dtype == np.uint8
    for got, img in zip(out, imgs):
        np.testing.assert_array_equal(got, img[:, :, ::-1])


def test_object_array_input_from_previous_loader(tmp_path):
    a = _write(tmp_path / "a.png", _rand((10, 12)))
    b = _write(tmp_path / "b.png", _rand((20, 8, 3)))
    first = ImageLoader().transform([a, b])
    again = ImageLoader().transform(first)
    assert again.dtype == object
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)


# Parallel decoding -----------------------------------------------------------------


@pytest.fixture(scope="module")
def many_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(1)
    paths = []
    for i in range(30):
        h, w = int(rng.integers(8, 40)), int(rng.integers(8, 40))
        kind = i % 5
        if kind == 0:
            paths.append(_write(root / f"{i}.png", rng.integers(0, 256, (h, w), dtype=np.uint8)))
        elif kind == 1:
            paths.append(_write(root / f"{i}.jpeg", _smooth((h, w, 3))))
        elif kind == 2:
            paths.append(_write(root / f"{i}.png", rng.integers(0, 65536, (h, w), dtype=np.uint16)))
        elif kind == 3:
            paths.append(_write(root / f"{i}.bmp", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
        else:
            paths.append(_write(root / f"{i}.tif", rng.integers(0, 256, (h, w, 4), dtype=np.uint8)))
    return paths


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_parallel_bitwise_equal_to_sequential(many_files, n_jobs):
    seq = ImageLoader().transform(many_files)
    par = ImageLoader(n_jobs=n_jobs).transform(many_files)
    assert seq.dtype == object and par.dtype == object
    assert len(seq) == len(par) == 30
    for a, b in zip(seq, par):
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    for path, img in zip(many_files, par):
        np.testing.assert_array_equal(read_image(path), img)


@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_parallel_stacked_same_size(tmp_path, n_jobs):
    imgs = [_rand((6, 7, 3)) for _ in range(12)]
    paths = [_write(tmp_path / f"{i}.png", img) for i, img in enumerate(imgs)]
    out = ImageLoader(n_jobs=n_jobs).transform(paths)
    np.testing.assert_array_equal(out, np.stack([img[:, :, ::-1] for img in imgs]))


# Errors ----------------------------------------------------------------------------


def _bad_file(tmp_path, kind):
    if kind == "missing":
        return tmp_path / "does_not_exist.png"
    if kind == "zero_bytes":
        path = tmp_path / "empty.jpeg"
        path.write_bytes(b"")
        return path
    if kind == "random_bytes":
        path = tmp_path / "corrupt.jpeg"
        path.write_bytes(np.random.default_rng(3).integers(0, 256, 600, dtype=np.uint8).tobytes())
        return path
    if kind == "truncated_png":
        good = _write(tmp_path / "good.png", _rand((40, 50)))
        data = good.read_bytes()
        path = tmp_path / "truncated.png"
        path.write_bytes(data[: len(data) // 2])
        return path
    if kind == "directory":
        path = tmp_path / "folder.png"
        path.mkdir()
        return path
    if kind == "text_png":
        path = tmp_path / "notes.png"
        path.write_text("this is not an image\n")
        return path
    raise AssertionError(kind)


BAD_KINDS = ["missing", "zero_bytes", "random_bytes", "truncated_png", "directory", "text_png"]


def test_image_read_error_is_value_error():
    assert issubclass(ImageReadError, ValueError)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_read_image_errors_name_path(tmp_path, kind):
    bad = _bad_file(tmp_path, kind)
    with pytest.raises(ImageReadError) as exc:
        read_image(bad)
    assert str(bad) in str(exc.value)


def test_a_file_that_decodes_to_no_image_or_cannot_be_read_is_an_image_read_error(tmp_path, monkeypatch):
    nan = tmp_path / "nan.tiff"
    assert cv2.imwrite(str(nan), np.full((4, 4), np.nan, dtype=np.float32))
    with pytest.raises(ImageReadError, match="NaN or infinite") as exc:
        read_image(nan)
    assert str(nan) in str(exc.value)
    locked = _write(tmp_path / "locked.png", _rand((6, 6)))

    def refuse(path, dtype):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(np, "fromfile", refuse)
    with pytest.raises(ImageReadError, match="Cannot read '.*locked.png': Permission denied"):
        read_image(locked)


@pytest.mark.parametrize("n_jobs", [None, 2])
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_loader_errors_name_path(tmp_path, kind, n_jobs):
    bad = _bad_file(tmp_path, kind)
    with pytest.raises(ImageReadError) as exc:
        ImageLoader(n_jobs=n_jobs).transform([str(bad)])
    assert str(bad) in str(exc.value)
    with pytest.raises(ValueError, match="does_not_exist|empty|corrupt|truncated|folder|notes"):
        ImageLoader(n_jobs=n_jobs).fit_transform([bad])


@pytest.mark.parametrize("n_jobs", [None, 2])
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_path_last_of_many_is_reported(tmp_path, kind, n_jobs):
    good = _write(tmp_path / "ok.png", _rand((6, 6)))
    bad = _bad_file(tmp_path, kind)
    with pytest.raises(ImageReadError) as exc:
        ImageLoader(n_jobs=n_jobs).transform([good] * 40 + [bad])
    assert str(bad) in str(exc.value)


@pytest.mark.parametrize("kind", ["missing", "zero_bytes", "directory"])
def test_cheap_file_errors_raised_before_decoding(tmp_path, kind, monkeypatch):
    good = _write(tmp_path / "ok.png", _rand((6, 6)))
    bad = _bad_file(tmp_path, kind)
    calls = []

    def spy(path):
        calls.append(path)
        return read_image(path)

    monkeypatch.setattr(loading, "read_image", spy)
    with pytest.raises(ImageReadError) as exc:
        ImageLoader().transform([good] * 20 + [bad])
    assert str(bad) in str(exc.value)
    assert calls == []  # nothing was decoded before the bad path was reported


@pytest.mark.parametrize("X", [[], (), np.empty((0, 4, 4), np.uint8), np.array([], dtype=object)])
def test_empty_input_value_error(X):
    with pytest.raises(ValueError, match="no images"):
        ImageLoader().transform(X)


@pytest.mark.parametrize("single", ["a.png", Path("a.png"), b"a.png"])
def test_single_path_type_error(single):
    with pytest.raises(TypeError, match="wrap it in a list"):
        ImageLoader().transform(single)


@pytest.mark.parametrize(
    "X",
    [
        [np.full((4, 4), np.nan)],
        [np.zeros((4, 4), np.float32), np.full((4, 4, 3), np.inf, np.float32)],
        np.full((2, 4, 4, 3), np.nan, np.float32),
        [np.zeros(5)],  # shape (5,) per image
        [np.zeros((4, 4, 5), np.uint8)],  # 5 channels
        np.zeros((2, 4, 4, 5), np.uint8),
        [np.zeros((4, 4, 3, 2), np.uint8)],  # 4-D image
        np.zeros((3, 5)),  # tabular data
        np.zeros((2, 3, 4, 4, 3)),  # 5-D batch
        [np.zeros((0, 4), np.uint8)],  # empty image
        [np.array([["a", "b"], ["c", "d"]], dtype=object)],
        [np.zeros((4, 4), bool)],
    ],
    ids=[
        "nan", "inf", "nan-stacked", "1d-image", "5-channels", "5-channels-stacked",
        "4d-image", "tabular", "5d-batch", "empty-image", "object-image", "bool-image",
    ],
)
@pytest.mark.parametrize("n_jobs", [None, 2])
def test_invalid_arrays_value_error(X, n_jobs):
    with pytest.raises(ValueError):
        ImageLoader(n_jobs=n_jobs).transform(X)


def test_invalid_array_error_mentions_image_index():
    with pytest.raises(ValueError, match="image 1"):
        ImageLoader().transform([np.zeros((4, 4)), np.zeros((4, 4, 5))])


@pytest.mark.parametrize("n_jobs", [0, "x", 1.5, True, "2"])
def test_invalid_n_jobs(tmp_path, n_jobs):
    path = _write(tmp_path / "a.png", _rand((4, 4)))
    loader = ImageLoader(n_jobs=n_jobs)  # __init__ does not validate
    assert loader.n_jobs is n_jobs
    with pytest.raises(ValueError, match="n_jobs"):
        loader.fit([path])
    with pytest.raises(ValueError, match="n_jobs"):
        loader.transform([path])


def test_numpy_integer_n_jobs_accepted(tmp_path):
    path = _write(tmp_path / "a.png", _rand((4, 4)))
    out = ImageLoader(n_jobs=np.int64(2)).fit_transform([path])
    assert out.shape == (1, 4, 4)


# scikit-learn contract -------------------------------------------------------------


def test_fit_returns_self_sets_nothing(tmp_path):
    path = _write(tmp_path / "a.png", _rand((4, 4)))
    loader = ImageLoader(n_jobs=2)
    before = dict(vars(loader))
    assert loader.fit([path]) is loader
    assert vars(loader) == before
    assert not [k for k in vars(loader) if k.endswith("_")]
    check_is_fitted(loader)  # stateless: usable without fit


def test_transform_without_fit_and_fit_transform_agree(tmp_path):
    paths = [_write(tmp_path / f"{i}.png", _rand((4, 5))) for i in range(3)]
    np.testing.assert_array_equal(
        ImageLoader().transform(paths), ImageLoader().fit_transform(paths)
    )


def test_tags():
    tags = get_tags(ImageLoader())
    assert tags.requires_fit is False
    assert tags.input_tags.two_d_array is False
    assert tags.input_tags.string is True


def test_clone_get_set_params():
    loader = ImageLoader(n_jobs=3, reduce_to=(64, 48))
    cloned = clone(loader)
    assert cloned is not loader
    assert cloned.get_params() == {"n_jobs": 3, "reduce_to": (64, 48)}
    assert loader.set_params(n_jobs=-1) is loader
    assert loader.get_params() == {"n_jobs": -1, "reduce_to": (64, 48)}
    assert ImageLoader(**cloned.get_params()).get_params() == cloned.get_params()
    assert ImageLoader().get_params() == {"n_jobs": None, "reduce_to": None}


def test_pickle_round_trip(tmp_path):
    path = _write(tmp_path / "a.png", _rand((5, 6, 3)))
    loader = ImageLoader(n_jobs=2).fit([path])
    restored = pickle.loads(pickle.dumps(loader))
    assert restored.get_params() == loader.get_params()
    np.testing.assert_array_equal(restored.transform([path]), loader.transform([path]))




# Reduced JPEG decoding (reduce_to) --------------------------------------------------


def _xray_jpeg(path, shape, colour=False, params=()):
    """A smooth, X-ray-like image with some texture, written as JPEG."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    img = 120 + 60 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + RNG.normal(0, 4, (h, w))
    img = np.clip(img, 0, 255).astype(np.uint8)
    if colour:
        img = cv2.merge([img, img // 2, 255 - img])
    return _write(path, img, params)


def _with_exif_orientation(path, orientation):
    """Insert an EXIF block with the given orientation tag after the JPEG's SOI marker."""
    tiff = (b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little")
            + (0x0112).to_bytes(2, "little") + (3).to_bytes(2, "little")
            + (1).to_bytes(4, "little") + orientation.to_bytes(2, "little") + b"\x00\x00"
            + (0).to_bytes(4, "little"))
    payload = b"Exif\x00\x00" + tiff
    data = path.read_bytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:])
    return path


@pytest.mark.parametrize("reduce_to, expected", [
    (64, (100, 75)),        # 1/4: both sides still >= 64; 1/8 would give 50 x 38
    ((40, 30), (50, 38)),   # 1/8, sides rounded up
    (150, (200, 150)),      # 1/2
    (151, (400, 300)),      # less than twice the target: decoded in full
])
def test_reduced_decode_size(tmp_path, reduce_to, expected):
    path = _xray_jpeg(tmp_path / "big.jpeg", (400, 300))
    image = read_image(path, reduce_to=check_hw(reduce_to, "reduce_to"))
    assert image.shape == expected and image.dtype == np.uint8


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("size", [64, 128])
def test_reduced_decode_close_to_full_decode_then_resize(tmp_path, colour, size):
    from skpneumo import Resizer

    paths = [_xray_jpeg(tmp_path / f"{i}.jpeg", (500, 600), colour) for i in range(3)]
    full = Resizer(size).transform(ImageLoader().transform(paths))
    reduced = Resizer(size).transform(ImageLoader(reduce_to=size).transform(paths))
    assert reduced.shape == full.shape == ((3, size, size, 3) if colour else (3, size, size))
    diff = np.abs(full.astype(int) - reduced.astype(int))
    assert diff.mean() < 1.0 and diff.max() <= 8, (diff.mean(), diff.max())


def test_reduced_decode_keeps_channels_and_rgb_order(tmp_path):
    red = np.zeros((256, 256, 3), np.uint8)
    red[:, :, 2] = 255  # BGR
    path = _write(tmp_path / "red.jpeg", red)
    image = ImageLoader(reduce_to=32).transform([path])[0]
    assert image.shape == (32, 32, 3)
    assert image[..., 0].min() > 240 and image[..., 1:].max() < 15
    gray = ImageLoader(reduce_to=32).transform([_xray_jpeg(tmp_path / "g.jpeg", (256, 256))])[0]
    assert gray.shape == (32, 32)


def test_reduced_decode_ignores_exif_orientation_like_full_decode(tmp_path):
    path = _with_exif_orientation(_xray_jpeg(tmp_path / "rot.jpeg", (400, 200)), 6)
    assert read_image(path).shape == (400, 200)
    assert read_image(path, reduce_to=(100, 50)).shape == (100, 50)


@pytest.mark.parametrize("name", ["small.jpeg", "big.png", "progressive.jpeg"])
def test_no_reduction_for_small_jpegs_and_other_formats(tmp_path, name):
    if name == "small.jpeg":
        path = _xray_jpeg(tmp_path / name, (60, 70))
        np.testing.assert_array_equal(read_image(path, (32, 32)), read_image(path))
    elif name == "big.png":
        path = _write(tmp_path / name, _smooth((300, 300)))
        np.testing.assert_array_equal(read_image(path, (32, 32)), read_image(path))
    else:  # the frame header of a progressive JPEG is found too
        path = _xray_jpeg(tmp_path / name, (256, 256), params=(cv2.IMWRITE_JPEG_PROGRESSIVE, 1))
        assert read_image(path, (32, 32)).shape == (32, 32)


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_reduced_parallel_bitwise_equal_to_sequential(tmp_path, n_jobs):
    paths = [_xray_jpeg(tmp_path / f"{i}.jpeg", (200 + 8 * i, 240), colour=i % 3 == 0) for i in range(40)]
    seq = ImageLoader(reduce_to=48).transform(paths)
    par = ImageLoader(reduce_to=48, n_jobs=n_jobs).transform(paths)
    assert seq.dtype == par.dtype == object
    for a, b in zip(seq, par):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reduce_to", [0, (32,), (32, 0), "224", 2.5])
def test_invalid_reduce_to(tmp_path, reduce_to):
    path = _write(tmp_path / "a.png", _rand((6, 6)))
    with pytest.raises(ValueError, match="reduce_to"):
        ImageLoader(reduce_to=reduce_to).transform([path])


@pytest.mark.parametrize("reduce_to", ["AUTO", np.array([64, 64])])
def test_reduce_to_is_auto_or_a_size(reduce_to):
    with pytest.raises(ValueError, match=r"reduce_to \(or 'auto'\) must be a positive int or a \(height, width\) pair"):
        ImageLoader(reduce_to=reduce_to).transform(["x.png"])

"""The default pipeline, SMOTE on, on the files a hospital actually has, all in one list.

8- and 16-bit PNG, colour and gray JPEG, RGBA PNG, DICOM MONOCHROME1 and MONOCHROME2
at 12 and 16 bits, several sizes, ``str`` and ``pathlib`` paths, non-ASCII names, and
three PNEUMONIA films for each NORMAL one.
"""

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from conftest import write_dicom
from skpneumo import ImageLoader, ImageReadError, make_pipeline, read_image
from skpneumo.cli import main as cli_main

FAST = dict(weights=None, backbone="smallcnn", size=32, epochs=1, fine_tune_epochs=0, batch_size=8,
            smote__k_neighbors=3, random_state=0)
KINDS = ["png8", "png16", "jpeg_rgb", "jpeg_gray", "png_rgba",
         "dcm_m1_12", "dcm_m2_12", "dcm_m1_16", "dcm_m2_16"]
SIZES = [(40, 48), (64, 64), (300, 260)]  # the largest JPEGs decode at reduced scale


def film(rng, pneumonia, size):
    """A gray film in [0, 1]; pneumonia adds a bright blob."""
    h, w = size
    img = rng.normal(0.35, 0.05, size=(h, w))
    if pneumonia:
        cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
        yy, xx = np.mgrid[:h, :w]
        img += 0.45 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.15 * min(h, w)) ** 2))
    return np.clip(img, 0, 1)


def write_film(path, kind, gray):
    """Write ``gray`` (floats in [0, 1]) as a file of ``kind``; return the path."""
    g8 = np.rint(gray * 255).astype(np.uint8)
    if kind == "png8":
        ok, data = cv2.imencode(".png", g8)
    elif kind == "png16":
        ok, data = cv2.imencode(".png", np.rint(gray * 65535).astype(np.uint16))
    elif kind == "jpeg_gray":
        ok, data = cv2.imencode(".jpeg", g8)
    elif kind == "jpeg_rgb":
        ok, data = cv2.imencode(".jpeg", cv2.merge([g8, g8, g8]))
    elif kind == "png_rgba":
        ok, data = cv2.imencode(".png", cv2.merge([g8, g8, g8, np.full_like(g8, 255)]))
    else:
        _, photometric, bits = kind.split("_")
        top = 2 ** int(bits) - 1
        stored = gray if photometric == "m2" else 1 - gray  # MONOCHROME1: bright is low
        pixels = np.rint(stored * top).astype(np.uint16)
        write_dicom(path, pixels, "MONOCHROME1" if photometric == "m1" else "MONOCHROME2", int(bits))
        return path
    assert ok
    data.tofile(str(path))  # cv2.imwrite cannot write non-ASCII paths on every platform
    return path


@pytest.fixture(scope="module")
def hospital_files(tmp_path_factory):
    """48 films, 36 PNEUMONIA and 12 NORMAL, of every kind and size, 24 patients."""
    root = tmp_path_factory.mktemp("hospital")
    rng = np.random.default_rng(0)
    paths, labels, groups = [], [], []
    for i in range(48):
        pneumonia = i % 4 != 0
        kind, size = KINDS[i % len(KINDS)], SIZES[i % len(SIZES)]
        ext = ".dcm" if kind.startswith("dcm") else ".jpeg" if kind.startswith("jpeg") else ".png"
        patient = f"patient{i // 2}"
        name = f"{patient}_röntgen film {i} 胸部{ext}" if i % 3 == 0 else f"{patient}_{kind}_{i}{ext}"
        path = write_film(root / name, kind, film(rng, pneumonia, size))
        paths.append(path if i % 2 else str(path))  # pathlib and str mixed
        labels.append("PNEUMONIA" if pneumonia else "NORMAL")
        groups.append(patient)
    return paths, np.array(labels), np.array(groups)


def test_every_kind_reads_as_the_film_written(hospital_files):
    paths, labels, _ = hospital_files
    depths = set()
    for path in paths[:len(KINDS)]:
        image = read_image(path)
        depths.add(image.dtype)
        gray = image if image.ndim == 2 else image[:, :, 0]
        top = np.iinfo(image.dtype).max
        # MONOCHROME1 inverted back; DICOM without a window stretched from its own
        # minimum and maximum to the full range: the background stays darker than mid-gray.
        assert 0.2 < np.median(gray) / top < 0.55, (path, np.median(gray) / top)
    assert depths == {np.dtype(np.uint8), np.dtype(np.uint16)}


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_fit_on_the_mix_with_smote_and_predict_each_file_alone(hospital_files):
    paths, labels, _ = hospital_files
    pipe = make_pipeline(**FAST)
    pipe.fit(paths, labels)
    clf = pipe.named_steps["clf"]
    # SMOTE balanced 36 PNEUMONIA against 12 NORMAL: the network saw 72 images.
    assert clf.history_["phase"] == [1]
    assert clf.X_shape_[0] == 72
    together = pipe.predict_proba(paths)
    # Files 0-8 hold every kind at every size of the set (and the odd names): the rest repeat them.
    alone = np.concatenate([pipe.predict_proba([path]) for path in paths[:len(KINDS)]])
    np.testing.assert_allclose(together[:len(KINDS)], alone, rtol=0, atol=1e-6)
    # The preprocessed films are bitwise the same whatever the company in the list.
    batch = pipe[:-1].transform(paths)
    assert batch.dtype == np.float32 and batch.shape == (48, 32, 32, 3)
    for i in (0, 1, 5, 6, 7, 8):
        np.testing.assert_array_equal(batch[i], pipe[:-1].transform([paths[i]])[0])


def test_8_bit_and_16_bit_copies_of_a_film_preprocess_identically(tmp_path):
    gray = film(np.random.default_rng(3), True, (40, 48))
    g8 = np.rint(gray * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), g8)
    cv2.imwrite(str(tmp_path / "b.png"), g8.astype(np.uint16) * 257)  # the same film, 16 bits
    pipe = make_pipeline(**FAST)
    both = pipe[:-1].transform([tmp_path / "a.png", tmp_path / "b.png"])
    # Resized at their own depth: the 16-bit copy keeps the bits the 8-bit one rounds off.
    np.testing.assert_allclose(both[0], both[1], rtol=0, atol=0.5 / 255 + 1e-6)
    assert np.abs(both[0] - both[1]).max() > 0
    np.testing.assert_array_equal(both[0], pipe[:-1].transform([tmp_path / "a.png"])[0])
    np.testing.assert_array_equal(both[1], pipe[:-1].transform([tmp_path / "b.png"])[0])


@pytest.mark.slow
def test_grid_search_over_the_image_size_by_patient(hospital_files):
    paths, labels, groups = hospital_files
    pipe = make_pipeline(**FAST)
    search = GridSearchCV(pipe, {"resize__size": [32, 48]}, scoring="roc_auc", cv=StratifiedGroupKFold(2),
                          error_score="raise")
    search.fit(paths, labels, groups=groups)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.named_steps["clf"].X_shape_[1:3] == (
        (search.best_params_["resize__size"],) * 2)


def test_large_jpegs_decode_reduced_for_the_size_the_pipeline_has_when_it_runs(tmp_path):
    path = tmp_path / "big.jpeg"
    cv2.imwrite(str(path), np.rint(film(np.random.default_rng(1), False, (600, 520)) * 255).astype(np.uint8))
    for size in (64, 160):
        pipe = make_pipeline(**FAST).set_params(resize__size=size)
        rest = pipe[1:-1]  # resize, clahe (off), rgb, smote (skipped), normalize
        reduced = rest.transform(ImageLoader(reduce_to=size).transform([path]))
        full = rest.transform(ImageLoader().transform([path]))
        assert np.abs(reduced - full).max() > 0  # the two decodes are told apart
        np.testing.assert_array_equal(pipe[:-1].transform([path]), reduced)
    # Standalone, "auto" has no size to decode for: the full image.
    assert pipe.named_steps["load"].transform([path])[0].shape == (600, 520)


def huge_png_header(path, side=40000):
    """A tiny PNG whose header declares ``side`` x ``side`` pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                           + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.mark.slow
def test_a_huge_image_is_named_and_the_cli_predicts_the_others(hospital_files, tmp_path, capsys):
    paths, labels, _ = hospital_files
    huge = huge_png_header(tmp_path / "huge film.png")
    with pytest.raises(ImageReadError, match="huge film.png"):
        read_image(huge)
    model = tmp_path / "m.joblib"
    import joblib

    joblib.dump(make_pipeline(**FAST).fit(paths, labels), model)
    capsys.readouterr()
    files = [str(paths[0]), str(huge), str(paths[1])]
    assert cli_main(["predict", str(model), *files, "--format", "csv", "--quiet"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 3
    assert "huge film.png" in rows[1] and "CV_IO_MAX_IMAGE_PIXELS" in rows[1]
    assert rows[0].split(",")[2] in ("NORMAL", "PNEUMONIA")
    assert rows[2].split(",")[2] in ("NORMAL", "PNEUMONIA")

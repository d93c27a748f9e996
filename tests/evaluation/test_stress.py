"""Tests for skpneumo.evaluation.stress: acquisition changes and the stress report."""

import cv2
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from skpneumo.evaluation import ACQUISITION_SHIFTS, stress_report
from skpneumo.evaluation.scoring import resolve_groups
from skpneumo.evaluation.stress import blur, clahe, contrast, downscale, gamma, jpeg, noise, sharpen


def film(dtype=np.uint8, shape=(64, 80), seed=0):
    """A smooth gradient with fine texture, in the full range of ``dtype``."""
    rng = np.random.default_rng(seed)
    unit = np.linspace(0.1, 0.9, shape[1])[np.newaxis, :] * np.ones(shape)
    unit = np.clip(unit + rng.normal(0, 0.05, shape), 0, 1)
    return np.rint(unit * np.iinfo(dtype).max).astype(dtype)


def sharpness(image):
    return cv2.Laplacian(image.astype(np.float64), cv2.CV_64F).var()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("name", sorted(ACQUISITION_SHIFTS))
def test_every_shift_keeps_shape_and_pixel_type(name, dtype):
    gray = film(dtype)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, np.iinfo(dtype).max)])
    for image in (gray, gray[:, :, None], np.repeat(gray[:, :, None], 3, axis=2), rgba):
        changed = ACQUISITION_SHIFTS[name](image)
        assert changed.shape == image.shape and changed.dtype == image.dtype
        assert not np.array_equal(changed, image), name
        if image.shape[-1] == 4:
            assert np.array_equal(changed[:, :, 3], image[:, :, 3])  # alpha untouched


def test_blur_and_downscale_soften_sharpen_hardens():
    image = film(shape=(256, 320))  # sigma 0.5% of 256 pixels: 1.3 pixels
    base = sharpness(image)
    assert sharpness(blur(image, sigma=0.01)) < sharpness(blur(image, sigma=0.005)) < base / 2
    assert sharpness(downscale(image, factor=0.25)) < sharpness(downscale(image, factor=0.5)) < base / 2
    assert sharpness(sharpen(image)) > 2 * base
    # Scaled to the film: the same relative blur on a film twice the size.
    big = cv2.resize(image, (160, 128), interpolation=cv2.INTER_LINEAR)
    assert blur(big, sigma=0.01).shape == big.shape


def test_pixel_values_by_hand():
    image = np.array([[0, 64, 128, 255]], dtype=np.uint8)
    assert gamma(image, gamma=2.0).tolist() == [[0, 16, 64, 255]]  # round(255 * (v / 255) ** 2)
    mean = image.mean() / 255
    expected = np.rint(np.clip(mean + 0.5 * (image / 255 - mean), 0, 1) * 255)
    assert contrast(image, factor=0.5).tolist() == expected.tolist()
    flat = np.full((16, 16), 1000, dtype=np.uint16)
    assert np.array_equal(downscale(flat, factor=0.25), flat)  # nothing to lose
    assert np.array_equal(blur(flat), flat)


def test_noise_is_repeatable_and_of_the_asked_strength():
    image = np.full((200, 200), 0.5, dtype=np.float32)
    a, b = noise(image, std=0.03, random_state=1), noise(image, std=0.03, random_state=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, noise(image, std=0.03, random_state=2))
    assert (a - 0.5).std() == pytest.approx(0.03, rel=0.05)


def test_jpeg_and_clahe_on_sixteen_bit_and_color():
    deep = film(np.uint16)
    out = jpeg(deep, quality=20)
    # Through 8 bits: the values are multiples of 257 (8-bit values scaled back up).
    assert out.dtype == np.uint16 and np.all(out % 257 == 0)
    dull = 100 + film() // 8  # values 100 to 131: a low-contrast film
    rgb = np.repeat(dull[:, :, None], 3, axis=2)
    equalised = clahe(rgb)
    assert np.array_equal(equalised[:, :, 0], equalised[:, :, 2])
    assert equalised[:, :, 0].std() > 1.4 * dull.std()  # 11.2 against 7.6


class MeanBrightness(ClassifierMixin, BaseEstimator):
    """P(PNEUMONIA) = mean pixel value: brighter films look sicker."""

    threshold = 0.5

    def __init__(self):
        self.classes_ = np.array(["NORMAL", "PNEUMONIA"])
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        p = np.array([np.mean(np.asarray(x, dtype=float)) / 255 for x in X])
        return np.column_stack([1 - p, p])


def test_stress_report_scores_each_change_at_the_stored_threshold():
    # NORMAL films darker than PNEUMONIA ones; gamma 0.5 brightens every film.
    levels = [60, 90, 110, 118, 135, 150, 170, 200]
    X = [np.full((8, 8), v, dtype=np.uint8) for v in levels]
    y = ["NORMAL"] * 4 + ["PNEUMONIA"] * 4
    model = MeanBrightness()
    reports = stress_report(model, X, y, shifts={"bright": lambda im: gamma(im, gamma=0.5)})
    assert list(reports) == ["clean", "bright"]
    assert (reports["clean"].specificity, reports["clean"].recall) == (1.0, 1.0)
    # Brightened: sqrt(v / 255) >= 0.5 for v >= 64, so three of four NORMAL films are called sick.
    assert reports["bright"].specificity == 0.25 and reports["bright"].recall == 1.0
    assert reports["bright"].roc_auc == 1.0  # the ranking survives, the threshold does not
    assert model.calls == 2


def test_stress_report_refuses_bad_shifts_before_predicting():
    model = MeanBrightness()
    X, y = [film(), film(seed=1)], ["NORMAL", "PNEUMONIA"]
    with pytest.raises(ValueError, match="shift 'crop'.*shape"):
        stress_report(model, X, y, shifts={"crop": lambda im: im[:10]})
    with pytest.raises(ValueError, match="shift 'x' is not callable"):
        stress_report(model, X, y, shifts={"x": 3})
    with pytest.raises(ValueError, match="'clean' names the unchanged films"):
        stress_report(model, X, y, shifts={"clean": lambda im: im})
    with pytest.raises(ValueError, match="X holds 2 films but y 3 labels"):
        stress_report(model, X, y + ["NORMAL"])
    with pytest.raises(ValueError, match="holds no films"):
        stress_report(model, [], [])
    assert model.calls == 0


def test_stress_reports_read_patients_as_evaluate_does(tmp_path):
    names = ["IM-0001-0001.png", "IM-0001-0002.png", "IM-0002-0001.png", "scan_1.png",
             "person1_virus_1.png", "person1_bacteria_2.png", "person2_virus_3.png", "IM-0003-0001.dcm.png"]
    paths = []
    for name, level in zip(names, [60, 90, 110, 118, 135, 150, 170, 200]):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8), level, dtype=np.uint8))
        paths.append(str(tmp_path / name))
    y = ["NORMAL"] * 4 + ["PNEUMONIA"] * 4
    with pytest.warns(UserWarning, match="1 of 8 file names hold no patient id") as record:
        reports = stress_report(MeanBrightness(), paths, y, shifts={"bright": lambda im: gamma(im, gamma=0.5)})
    assert record[0].filename == __file__  # points at the caller of stress_report
    with pytest.warns(UserWarning):
        groups, source, notes = resolve_groups(paths)
    # IM-0001, IM-0002, scan_1, person1, person2, IM-0003 (the .png of a .dcm name)
    assert len(set(groups)) == 6 and source == "from file names" and len(notes) == 2
    for report in reports.values():
        assert (report.groups_source, report.n_groups) == ("from file names", 6)
        assert report.notes[:2] == tuple(notes)
    images = [cv2.imread(p, cv2.IMREAD_UNCHANGED) for p in paths]
    assert stress_report(MeanBrightness(), images, y, shifts={})["clean"].groups_source == "none (images)"
    given = stress_report(MeanBrightness(), paths, y, shifts={}, groups=list("aabbccdd"))["clean"]
    assert (given.groups_source, given.n_groups, given.notes) == ("given", 4, ())

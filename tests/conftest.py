import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid  # noqa: E402

# Small enough for a ResNet-50 fit in seconds on 2 CPU cores; the minimum Keras allows.
TINY = 32
# A pipeline saved by skpneumo 0.1.0 (smallcnn at 32 px, threshold 0.4; tests/data/make_model_0_1_0.py):
# a fitted model for the tests that need one but not its training.
LEGACY_MODEL = Path(__file__).resolve().parent / "data" / "model-0.1.0.joblib"


def write_xray_like(path, pneumonia, rng, size=(40, 48)):
    """A grayscale image whose class is visible: pneumonia adds a bright patch."""
    h, w = size
    img = rng.normal(90, 12, size=(h, w))
    if pneumonia:
        cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
        yy, xx = np.mgrid[:h, :w]
        img += 110 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 6.0**2))
    cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))


def write_dicom(path, pixels, photometric="MONOCHROME2", bits_stored=None, **elements):
    """Write a single-frame Part 10 DICOM file holding ``pixels``, uncompressed."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.set_pixel_data(pixels, photometric, bits_stored or pixels.dtype.itemsize * 8)
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return Path(path)


@pytest.fixture(scope="session")
def image_set(tmp_path_factory):
    """24 image files (12 per class, 8 patients per class) with labels and patient groups."""
    root = tmp_path_factory.mktemp("xrays")
    rng = np.random.default_rng(0)
    paths, labels, groups = [], [], []
    for label in ("NORMAL", "PNEUMONIA"):
        for i in range(12):
            patient = f"{label}-p{i % 8}"
            ext = ".png" if i % 2 else ".jpeg"
            path = root / f"{patient}-{i}{ext}"
            write_xray_like(path, label == "PNEUMONIA", rng)
            paths.append(str(path))
            labels.append(label)
            groups.append(patient)
    return np.array(paths), np.array(labels), np.array(groups)


def make_tiny_arrays():
    """12 random 32x32 RGB images in [0, 1) and alternating NORMAL/PNEUMONIA labels."""
    rng = np.random.default_rng(1)
    X = rng.random((12, TINY, TINY, 3), dtype=np.float32)
    y = np.array(["NORMAL", "PNEUMONIA"] * 6)
    return X, y


@pytest.fixture
def tiny_arrays():
    return make_tiny_arrays()


@pytest.fixture
def validation_split_spy(monkeypatch):
    """The training paths and the ``clf__validation_data`` paths of the next pipeline fits."""
    from skpneumo import PneumoniaPipeline
    from skpneumo.estimators import Preprocessed

    seen = {}
    fit, transform = PneumoniaPipeline.fit, PneumoniaPipeline.transform

    def spy_transform(self, X, **params):
        # fit_model decodes the validation films before training (then hands them over as Preprocessed).
        seen["transformed"] = list(X)
        return transform(self, X, **params)

    def spy(self, X, y=None, **params):
        validation = params["clf__validation_data"][0]
        seen["train"] = list(X)
        seen["val"] = seen["transformed"] if isinstance(validation, Preprocessed) else list(validation)
        return fit(self, X, y, **params)

    monkeypatch.setattr(PneumoniaPipeline, "fit", spy)
    monkeypatch.setattr(PneumoniaPipeline, "transform", spy_transform)
    return seen

"""Fixtures of the serving tests (imported by each module): a tiny saved model and films in every format."""

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette", reason="the 'serve' extra is not installed")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

from conftest import TINY, write_dicom  # noqa: E402


@pytest.fixture(scope="session")
def served_model(image_set, tmp_path_factory):
    """The path of a model folder: a small CNN at 32 px, one epoch on the 24 films of ``image_set``."""
    from skpneumo import make_pipeline, save_model

    paths, labels, _ = image_set
    pipe = make_pipeline(backbone="smallcnn", weights=None, size=TINY, smote=None, augment=False, dense_units=(),
                         epochs=0, fine_tune_layers="all", fine_tune_epochs=1, batch_size=8, random_state=0,
                         threshold=0.4)
    pipe.fit(paths, labels)
    folder = tmp_path_factory.mktemp("served") / "tiny-model"
    save_model(pipe, folder)
    return folder


def encoded(image, ext=".png"):
    """An image's file bytes."""
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


@pytest.fixture(scope="session")
def films(image_set, tmp_path_factory):
    """``(name, bytes, path)`` of films in every format the service reads: JPEG, PNG, 16-bit PNG, DICOM."""
    paths = list(image_set[0])
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("upload")
    wide = (rng.normal(30000, 6000, (44, 52))).clip(0, 65535).astype(np.uint16)
    (folder / "wide16.png").write_bytes(encoded(wide))
    write_dicom(folder / "chest.dcm", (rng.normal(2000, 300, (40, 40))).clip(0, 4095).astype(np.uint16),
                bits_stored=12)
    chosen = [paths[0], paths[1], paths[-1], str(folder / "wide16.png"), str(folder / "chest.dcm")]
    return [(f"upload-{i}.bin", open(p, "rb").read(), p) for i, p in enumerate(chosen)]

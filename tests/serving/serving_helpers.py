"""Fixtures of the serving tests (imported by each module): a tiny saved model and films in every format."""

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette", reason="the 'serve' extra is not installed")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

from conftest import TINY, write_dicom  # noqa: E402


@pytest.fixture(scope="session")
def served_model(image_set, tmp_path_factory):
    """The path of a model folder: an untrained small CNN at 32 px, threshold 0.4, saved once.

    Untrained, the network gives every film about 0.5; its output unit is rescaled so that
    the films of ``image_set`` spread around the threshold (some labels of each class).
    """
    from scipy.special import logit

    from skpneumo import PneumoniaClassifier, PneumoniaPipeline, make_pipeline, save_model
    from skpneumo.network import build_model

    template = make_pipeline(size=TINY, smote=None, threshold=0.4, batch_size=8)
    network = build_model((TINY, TINY, 3), backbone="smallcnn", weights=None, dense_units=(), dropout=0.0,
                          augmentation=None)
    clf = PneumoniaClassifier.from_network(network, ["NORMAL", "PNEUMONIA"], **template.named_steps["clf"].get_params())
    pipe = PneumoniaPipeline([*template.steps[:-1], ("clf", clf)])
    kernel, bias = network.layers[-1].get_weights()
    before_bias = logit(pipe.predict_proba(image_set[0])[:, 1].astype(np.float64)) - bias[0]
    scale = 1 / before_bias.std()
    network.layers[-1].set_weights([kernel * scale, bias * 0 + logit(0.4) - scale * before_bias.mean()])
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

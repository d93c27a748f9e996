"""Saving and loading models: atomic writes, clear errors, and models saved by skpneumo 0.1."""

import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

import skpneumo
from conftest import LEGACY_MODEL
from skpneumo import ModelFileError, load_model, save_model
from skpneumo.datasets import make_synthetic_xrays

DATA = Path(__file__).resolve().parents[1] / "data"
# LEGACY_MODEL: written by tests/data/make_model_0_1_0.py from the skpneumo 0.1.0 checkout (commit fe49e2d),
# with the probabilities 0.1.0 gave for the first four of its training films.
LEGACY_PROBA = [0.47685375809669495, 0.4883699417114258, 0.48163896799087524, 0.4985277056694031]


def test_a_model_saved_by_0_1_loads_and_predicts_as_it_did(tmp_path):
    data = make_synthetic_xrays(tmp_path, n_per_class=6, size=40, random_state=0)
    model = load_model(LEGACY_MODEL)
    assert isinstance(model, skpneumo.PneumoniaPipeline) and model.chunk_size == 1024
    assert model.named_steps["clf"].threshold == 0.4
    probe = sorted(data.paths)[:4]
    np.testing.assert_allclose(model.predict_proba(probe)[:, 1], LEGACY_PROBA, atol=1e-6)
    # The old module names are only aliased while loading.
    assert "skpneumo.pipeline" not in sys.modules


def test_a_model_from_an_unknown_version_says_retrain_or_resave(tmp_path):
    # A pickle naming a module that no skpneumo version this one knows defines.
    data = LEGACY_MODEL.read_bytes().replace(b"skpneumo.sampling", b"skpneumo.samplinX")
    path = tmp_path / "future.joblib"
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match="retrain the model, or load it with the version that saved it"):
        load_model(path)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found: '.*none.joblib'"):
        load_model(tmp_path / "none.joblib")
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(ModelFileError, match="junk.joblib' is not a skpneumo model file or is corrupt"):
        load_model(junk)
    joblib.dump({"a": 1}, tmp_path / "dict.joblib")
    with pytest.raises(ModelFileError, match="holds a dict"):
        load_model(tmp_path / "dict.joblib")


def test_save_is_atomic_and_keeps_the_umask_mode(tmp_path):
    model = load_model(LEGACY_MODEL)
    old = os.umask(0o027)
    try:
        save_model(model, tmp_path / "m.joblib")
    finally:
        os.umask(old)
    assert (tmp_path / "m.joblib").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.joblib"]

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    target = tmp_path / "other.joblib"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(joblib, "dump", lambda value, path: (Path(path).write_bytes(b"half"), fail()))
        with pytest.raises(OSError, match="No space left on device"):
            save_model(model, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.joblib"]
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        save_model(model, tmp_path / "missing" / "m.joblib")


# A fresh process importing TensorFlow; test_model_folder.py checks a saved model in a fresh
# process in the quick loop.
@pytest.mark.slow
def test_a_saved_model_predicts_the_same_in_a_fresh_process(tmp_path):
    data = make_synthetic_xrays(tmp_path / "data", n_per_class=6, size=40, random_state=0)
    model = load_model(LEGACY_MODEL)
    save_model(model, tmp_path / "m.joblib")
    probe = sorted(map(str, data.paths))[:4]
    code = ("import sys, skpneumo; m = skpneumo.load_model(sys.argv[1]); "
            "print(' '.join(repr(float(p)) for p in m.predict_proba(sys.argv[2:])[:, 1]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.joblib"), *probe],
                         capture_output=True, text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    np.testing.assert_allclose([float(v) for v in out.stdout.split()], model.predict_proba(probe)[:, 1], atol=1e-7)

import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from skpneumo import PneumoniaClassifier
from skpneumo.estimators import classifier as classifier_module
from skpneumo.network import SmallCNN

FAST = dict(weights=None, backbone="smallcnn", epochs=1, fine_tune_epochs=1, fine_tune_layers="all",
            batch_size=4, random_state=0)
ROOT = Path(__file__).resolve().parents[1]


def conv_policies(model):
    backbone = model.get_layer("backbone")
    return {layer.dtype_policy.name for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)}


# True: phase 1 on cached features of pre-trained weights, then the whole network in phase 2; it covers
# what False checks, so False waits for the full suite.
@pytest.mark.parametrize("cached", [pytest.param(False, marks=pytest.mark.slow), True])
@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_mixed_precision_fits_predicts_float32_and_reloads(tiny_arrays, tmp_path, cached):
    X, y = tiny_arrays
    params = dict(FAST, mixed_precision=True)
    if cached:
        params.update(weights=tmp_path / "smallcnn.weights.h5", augment=False, cache_features=True)
        SmallCNN(input_shape=(32, 32, 3)).save_weights(params["weights"])
    clf = PneumoniaClassifier(**params).fit(X, y)
    assert keras.config.dtype_policy().name == "float32"
    assert clf.model_.dtype_policy.name == "mixed_float16"
    assert conv_policies(clf.model_) == {"mixed_float16"}
    assert isinstance(clf.model_.optimizer, keras.optimizers.LossScaleOptimizer)
    assert clf.model_.predict(X, verbose=0).dtype == np.float32
    assert np.isfinite(clf.history_["loss"]).all()
    proba = clf.predict_proba(X)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    reloaded = pickle.loads(pickle.dumps(clf))
    assert conv_policies(reloaded.model_) == {"mixed_float16"}
    np.testing.assert_allclose(reloaded.predict_proba(X), proba, rtol=1e-6)


def test_mixed_precision_policy_is_restored_when_building_fails(tiny_arrays, monkeypatch):
    def failing_build(*args, **kwargs):
        assert keras.config.dtype_policy().name == "mixed_float16"
        raise RuntimeError("build failed")

    monkeypatch.setattr(classifier_module, "build_model", failing_build)
    with pytest.raises(RuntimeError, match="build failed"):
        PneumoniaClassifier(**FAST, mixed_precision=True).fit(*tiny_arrays)
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("param, value", [("mixed_precision", "yes"), ("distribution", "multi_gpu")])
def test_invalid_hardware_parameters_are_named(tiny_arrays, param, value):
    with pytest.raises(ValueError, match=param):
        PneumoniaClassifier(**FAST, **{param: value}).fit(*tiny_arrays)


DATA_PARALLEL_SCRIPT = """
import json, os, sys
import numpy as np
if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from skpneumo import PneumoniaClassifier

rng = np.random.default_rng(0)
X = rng.random((15, 32, 32, 3), dtype=np.float32)
y = np.array(["NORMAL", "PNEUMONIA"] * 7 + ["NORMAL"])
clf = PneumoniaClassifier(distribution="data_parallel", validation_split=0.2, **json.loads(sys.argv[1]))
clf.fit(X, y)
print(json.dumps({"n_devices": clf.n_devices_, "loss": clf.history_["loss"],
                  "proba": clf.predict_proba(X).tolist(), "one": clf.predict_proba(X[:1]).tolist()}))
"""


# A fresh process per backend (two logical CPU devices must be set before TensorFlow starts):
# ~30 s each. split_evenly and pad_for_devices are checked in the quick loop (test_training.py).
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_training_on_two_cpu_devices(backend):
    if backend == "jax" and importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    # Augmentation layers hang JAX's data-parallel steps on host devices (Keras 3.15).
    params = {**FAST, "augment": backend != "jax"}
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", DATA_PARALLEL_SCRIPT, json.dumps(params)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["n_devices"] == 2
    assert np.isfinite(out["loss"]).all()
    proba = np.array(out["proba"])
    assert proba.shape == (15, 2) and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(out["one"], proba[:1], atol=1e-5)

"""Data-parallel training across processes: network/distributed.py, and two real processes on localhost."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skpneumo.datasets import make_synthetic_xrays
from skpneumo.network import distributed

WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).parents[2]


def test_shard_indices_deal_each_class_evenly_and_disjointly():
    labels = np.array(["N"] * 7 + ["P"] * 4)
    shards = [distributed.shard_indices(labels, i, 3) for i in range(3)]
    # 6 of the 7 NORMAL and 3 of the 4 PNEUMONIA films: two and one per process, none twice.
    assert [sorted(labels[s].tolist()) for s in shards] == [["N", "N", "P"]] * 3
    assert len(set(np.concatenate(shards).tolist())) == 9
    assert shards[1].tolist() == [1, 4, 8]
    with pytest.raises(ValueError, match="class 'P' has 4 training films, fewer than the 5 processes"):
        distributed.shard_indices(labels, 0, 5)


def test_batch_size_is_the_global_batch(monkeypatch):
    monkeypatch.setattr(distributed, "process_count", lambda: 4)
    assert distributed.process_batch_size(32) == 8
    with pytest.raises(ValueError, match="batch_size=30 is the global batch.*multiple of 4"):
        distributed.process_batch_size(30)


def test_join_refuses_another_backend_and_partial_settings(monkeypatch):
    monkeypatch.setattr(distributed.keras.backend, "backend", lambda: "tensorflow")
    with pytest.raises(ValueError, match="JAX Keras backend; KERAS_BACKEND is 'tensorflow'"):
        distributed.join("127.0.0.1:1234", 2, 0)
    monkeypatch.setattr(distributed.keras.backend, "backend", lambda: "jax")
    monkeypatch.setenv("SKPNEUMO_NUM_PROCESSES", "2")
    with pytest.raises(ValueError, match=r"missing: coordinator \(SKPNEUMO_COORDINATOR\), process_id"):
        distributed.join()
    with pytest.raises(ValueError, match=r"process_id must be in \[0, num_processes\)"):
        distributed.join("127.0.0.1:1234", process_id=2)


# ------------------------------------------------------------------ real processes (JAX backend)
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data, out, process_id, num_processes, port, *extra, join_timeout=60):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "JOIN_TIMEOUT": str(join_timeout),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(WORKER), str(data), str(out), str(process_id), str(num_processes),
                             str(port), *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"a training process still ran after {timeout} s (a hang?): {process.communicate()[0][-2000:]}")
    return process.returncode, output


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    pytest.importorskip("jax", reason="distributed training needs jax: pip install 'skpneumo[jax]'")
    root = tmp_path_factory.mktemp("films")
    make_synthetic_xrays(root, n_per_class=12, size=32, random_state=0)
    return root


@pytest.mark.slow
def test_two_processes_train_one_model_as_one_process_would(films, tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir(), one.mkdir()
    port = _free_port()
    # The two processes stream their shards; the one process trains in memory: one test of both paths.
    runs = [_start(films, two, 0, 2, port, "stream"), _start(films, two, 1, 2, port, "stream"),
            _start(films, one, 0, 1, 0)]
    for run in runs:
        rc, output = _finish(run, timeout=600)
        assert rc == 0, output[-3000:]
    first, second, alone = (np.load(path) for path in (two / "weights-0.npz", two / "weights-1.npz",
                                                        one / "weights-0.npz"))
    assert len(first.files) == len(alone.files) > 10
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
        # Adam's first steps move a weight by about the learning rate whatever its gradient's size, so a
        # gradient of float-noise size (summed in another order) may move it either way: 2 steps of 1e-3.
        np.testing.assert_allclose(first[key], alone[key], rtol=0, atol=4e-3)
    # Only the first process saved the model; its card says how it was trained.
    assert sorted(p.name for p in two.iterdir()) == ["model", "weights-0.npz", "weights-1.npz"]
    recipe = json.loads((two / "model" / "model_card.json").read_text())["recipe"]
    assert recipe["processes"] == 2 and recipe["streaming"] is True


@pytest.mark.slow
def test_a_process_that_never_joins_stops_the_other_with_an_error(films, tmp_path):
    started = time.perf_counter()
    rc, output = _finish(_start(films, tmp_path, 0, 2, _free_port(), join_timeout=5), timeout=300)
    assert rc != 0
    # JAX's client ends the process itself (no Python exception), saying the deadline to register passed.
    assert "DEADLINE_EXCEEDED" in output and "RegisterTask" in output, output[-3000:]
    assert time.perf_counter() - started < 300
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_a_process_that_dies_stops_the_other_with_an_error(films, tmp_path):
    port = _free_port()
    first, second = _start(films, tmp_path, 0, 2, port, "die"), _start(films, tmp_path, 1, 2, port, "die")
    assert _finish(second, timeout=300)[0] == 3
    rc, output = _finish(first, timeout=300)
    assert rc != 0
    assert "Gloo" in output or "heartbeat" in output, output[-3000:]
    assert not (tmp_path / "model").exists() and not list(tmp_path.glob("weights-*"))

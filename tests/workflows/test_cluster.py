import json

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from conftest import LEGACY_MODEL
from skpneumo import PneumoniaClassifier, cli, load_model, predict_on_cluster, save_model
from skpneumo.workflows import cluster

distributed = pytest.importorskip("distributed")



@pytest.fixture(scope="module")
def client():
    # Worker processes, as on a real cluster: the model and the estimators travel pickled.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                  dashboard_address=None) as local_cluster:
        with distributed.Client(local_cluster) as dask_client:
            yield dask_client


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    # A stored tiny model (smallcnn at 32 px): prediction on the cluster needs no training here.
    out = tmp_path_factory.mktemp("cluster_model") / "model.joblib"
    save_model(load_model(LEGACY_MODEL), out)
    return out


def grid_search():
    # Classes a small CNN separates within a few epochs, so that scores do not hinge on
    # the seed: seeded fits on Dask workers are not bit-identical to local ones, because
    # Keras draws layer seeds from Python's global random generator, which the worker's
    # own threads also use.
    rng = np.random.default_rng(0)
    y = np.array(["NORMAL", "PNEUMONIA"] * 8)
    X = (0.25 + 0.5 * (y == "PNEUMONIA")[:, None, None, None] + rng.normal(0, 0.05, (16, 32, 32, 3)))
    clf = PneumoniaClassifier(weights=None, backbone="smallcnn", augment=False, epochs=4, learning_rate=3e-3,
                              fine_tune_epochs=0, batch_size=4, random_state=0)
    search = GridSearchCV(clf, {"dense_units": [(8,), (16,)]}, scoring="roc_auc", cv=StratifiedKFold(2),
                          n_jobs=2, refit=False)
    return search.fit(X.clip(0, 1).astype(np.float32), y)


@pytest.mark.slow
def test_grid_search_on_the_cluster_matches_the_local_one(client):
    local = grid_search()
    with joblib.parallel_config(backend="dask"):
        remote = grid_search()
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    # Not bit-identical (see above): both must have learned the visible difference.
    assert (local.cv_results_["mean_test_score"] >= 0.7).all()
    assert (remote.cv_results_["mean_test_score"] >= 0.7).all()
    # The fits ran on both workers, which imported skpneumo to unpickle the estimators.
    workers = client.run(lambda: "skpneumo.estimators" in __import__("sys").modules)
    assert len(workers) == 2 and all(workers.values())


@pytest.mark.slow  # the CLI's --scheduler end to end; test_shards_come_back_in_input_order checks the shards
def test_cli_predict_on_the_cluster_equals_local_prediction(model_file, image_set, client, tmp_path):
    folder = tmp_path / "xrays"
    folder.mkdir()
    for path in image_set[0][:11]:
        (folder / path.rsplit("/", 1)[-1]).write_bytes(open(path, "rb").read())
    (folder / "corrupt.png").write_bytes(b"not an image")
    outputs = {}
    for name, extra in [("local", []), ("cluster", ["--scheduler", client.scheduler.address])]:
        outputs[name] = tmp_path / f"{name}.json"
        assert cli.main(["predict", str(model_file), str(folder), "--format", "json",
                         "--output", str(outputs[name]), "--quiet", *extra]) == 0
    local, remote = (json.loads(outputs[name].read_text()) for name in ("local", "cluster"))
    assert len(local) == 12 and sum(row["error"] is not None for row in local) == 1
    # Equal up to float rounding: the shards predict other batches than one local pass.
    for row in (*local, *remote):
        row["probability"] = None if row["probability"] is None else pytest.approx(row["probability"], abs=1e-6)
    assert remote == local


# Starting two worker processes that import TensorFlow takes longer than the quick loop allows;
# the quick loop checks the errors that come before any cluster work (below).
@pytest.mark.slow
def test_shards_come_back_in_input_order(model_file, image_set, client):
    model = joblib.load(model_file)
    paths = list(image_set[0])
    rows = predict_on_cluster(model, paths, client, chunk_size=5)
    assert [row["path"] for row in rows] == paths
    expected = model.predict_proba(paths)[:, 1]
    np.testing.assert_allclose([row["probability"] for row in rows], expected, rtol=1e-5)


def test_unreachable_scheduler_is_one_line_error(model_file, image_set, monkeypatch, capsys):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    assert cli.main(["predict", str(model_file), image_set[0][0], "--scheduler", "tcp://127.0.0.1:9",
                     "--quiet"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("skpneumo: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")


def test_bad_chunk_size_is_named_before_connecting(model_file, image_set, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    with pytest.raises(ValueError, match="chunk_size"):  # not the unreachable scheduler's error
        predict_on_cluster(joblib.load(model_file), image_set[0], "tcp://127.0.0.1:9", chunk_size=0)

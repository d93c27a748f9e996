"""Hyper-parameter search and batch prediction on a Dask cluster.

scikit-learn runs the fits of ``GridSearchCV`` through joblib; inside
``joblib.parallel_config(backend="dask")`` joblib hands them to the workers of the
Dask cluster the current ``distributed.Client`` is connected to. Each worker
unpickles the pipeline (so it needs skpneumo installed), loads its images from the
paths and trains; the search object gathers the scores as usual. Afterwards
``predict_on_cluster`` (the Python side of ``skpneumo predict --scheduler``) sends
the best model to every worker once and shards the image files between them.

By default the script starts a ``LocalCluster`` with 2 worker processes on this
machine and searches a tiny synthetic data set (24 images at 32x32, a small CNN
trained from scratch: 4 fits and the refit, a few minutes on a CPU). Its scores
show the mechanics, not a model. On a real cluster::

    dask scheduler                                   # on the scheduler machine
    dask worker tcp://SCHEDULER:8786 --nthreads 1    # on every worker machine
    python examples/dask_grid_search.py --scheduler tcp://SCHEDULER:8786 \
        --workdir /shared/xrays                      # a folder every worker can read

The workers read the image files themselves: every path must be readable at the same
location on every worker (shared storage such as NFS). Give each worker one thread
(``--nthreads 1``): TensorFlow already uses all of a machine's cores for one fit.
"""

import argparse
import tempfile
import time

import joblib
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from skpneumo import make_pipeline, predict_on_cluster
from skpneumo.datasets import load_chest_xray, make_synthetic_xrays


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler to use (default: a 2-worker LocalCluster on this machine)")
    parser.add_argument("--workdir", help="folder for the synthetic images (default: a temporary folder; "
                                          "with --scheduler it must be readable by every worker)")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or tmp
        make_synthetic_xrays(root, n_per_class=12, size=48, random_state=0, split=["train", "test"])
        train = load_chest_xray(root, split="train")
        test = load_chest_xray(root, split="test")

        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
        with client:
            print(f"Dask cluster: {client.scheduler.address}, {len(client.nthreads())} workers")
            pipe = make_pipeline(weights=None, backbone="smallcnn", size=32, epochs=0, fine_tune_layers="all",
                                 fine_tune_epochs=3, batch_size=8, random_state=0)
            search = GridSearchCV(pipe, {"clf__fine_tune_learning_rate": [1e-3, 1e-2]}, scoring="roc_auc",
                                  cv=StratifiedGroupKFold(n_splits=2))
            start = time.perf_counter()
            with joblib.parallel_config(backend="dask"):
                search.fit(train.paths, train.labels, groups=train.groups)
            print(f"search: {time.perf_counter() - start:.0f} s")
            for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
                print(f"  {params}: ROC AUC {score:.3f}")
            print(f"best: {search.best_params_}")

            rows = predict_on_cluster(search.best_estimator_, test.paths, client)
            for row in rows[:3]:
                print(f"  {row['path']}: {row['label']} (p={row['probability']:.3f})")
            print(f"predicted {len(rows)} test images on the cluster")


if __name__ == "__main__":
    main()

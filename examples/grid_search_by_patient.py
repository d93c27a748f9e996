"""Hyper-parameter search with patient-level cross-validation.

Several images can come from one patient. If a patient has images in both the
training and the evaluation folds, the score rewards recognising the patient
rather than the disease and is optimistic. ``load_chest_xray`` returns each
image's patient id in ``groups``; ``StratifiedGroupKFold`` keeps every patient in
one fold while balancing the classes, and ``GridSearchCV.fit(..., groups=groups)``
passes the ids on.

By default the script runs on a tiny synthetic data set (24 images resized to
32x32, a ResNet-50 trained from scratch for one epoch per fit: 4 fits plus the
refit), which takes a few minutes on a CPU and needs no network. Its scores are
close to chance: it shows the mechanics, not a model. With ``--data`` it searches on a real ``chest_xray`` folder
with ImageNet weights at 224x224 (hours: use a GPU).

Run it from anywhere skpneumo is installed::

    python examples/grid_search_by_patient.py                       # tiny synthetic search
    python examples/grid_search_by_patient.py --out best.joblib --workdir /tmp/xrays
    python examples/grid_search_by_patient.py --data ~/skpneumo_data/chest_xray --folds 3

It prints ``cv_results_`` and saves ``best_estimator_`` (refitted on all the
training images) with joblib. The saved pipeline takes image file paths::

    python examples/load_saved_model.py best.joblib /tmp/xrays/train/NORMAL/*.png
    skpneumo predict best.joblib /tmp/xrays/train

``--workdir`` keeps the synthetic images (by default they go to a temporary
folder that is deleted at the end). Set ``TF_CPP_MIN_LOG_LEVEL=2`` in the
environment to reduce TensorFlow's log output.

Grids searched:

- synthetic (from scratch): ``clf__fine_tune_learning_rate`` in {1e-3, 1e-4}; from
  scratch phase 1 is skipped (``epochs=0``) and the whole network trains in phase 2
  (``fine_tune_layers="all"``), so the phase-2 learning rate is the one that matters.
- ``--data`` (ImageNet weights): ``clf__learning_rate`` in {1e-3, 1e-4} times
  ``clf__fine_tune_layers`` in {0, 30} (0: head only; 30: also the top 30 backbone
  layers).

Keep ``n_jobs=1`` on a one-GPU machine: parallel workers would each start
TensorFlow and compete for the GPU's memory.
"""

import argparse
import sys
import tempfile
import time

import joblib
import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from skpneumo import make_pipeline
from skpneumo.datasets import load_chest_xray, make_synthetic_xrays


def print_cv_results(results):
    """cv_results_ as a small table, best first."""
    order = np.argsort(results["rank_test_score"], kind="stable")
    names = sorted(results["params"][0])
    header = ["rank", "mean ROC AUC", "std", "fit time (s)", *names]
    rows = [[
        str(results["rank_test_score"][i]),
        f"{results['mean_test_score'][i]:.4f}",
        f"{results['std_test_score'][i]:.4f}",
        f"{results['mean_fit_time'][i]:.1f}",
        *(repr(results["params"][i][name]) for name in names),
    ] for i in order]
    widths = [max(len(row[j]) for row in [header, *rows]) for j in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    n_splits = sum(key.startswith("split") and key.endswith("_test_score") for key in results)
    for i in order:
        per_fold = ", ".join(f"{results[f'split{k}_test_score'][i]:.3f}" for k in range(n_splits))
        print(f"  {results['params'][i]}: per-fold ROC AUC {per_fold}")


def build_search(args):
    if args.data is None:
        # Tiny from-scratch settings: the whole network trains in phase 2.
        pipe = make_pipeline(
            weights=None, size=args.size, epochs=0, fine_tune_layers="all",
            fine_tune_epochs=args.epochs, fine_tune_learning_rate=1e-3, batch_size=8,
            smote__k_neighbors=3,  # training folds of a tiny set hold few images per class
            random_state=args.random_state,
        )
        grid = {"clf__fine_tune_learning_rate": [1e-3, 1e-4]}
    else:
        pipe = make_pipeline(
            weights=args.weights or "imagenet", size=args.size, epochs=args.epochs,
            fine_tune_epochs=args.fine_tune_epochs, random_state=args.random_state,
        )
        grid = {"clf__learning_rate": [1e-3, 1e-4], "clf__fine_tune_layers": [0, 30]}
    cv = StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=args.random_state)
    # error_score="raise": a failing fit stops the search with its error instead of
    # scoring NaN with a warning.
    search = GridSearchCV(pipe, grid, scoring="roc_auc", cv=cv, n_jobs=1,
                          error_score="raise", verbose=1)
    return search, cv


def run(args, data_dir):
    if args.data is None:
        data = make_synthetic_xrays(data_dir, n_per_class=args.n_per_class, size=64,
                                    random_state=args.random_state, split="train")
    else:
        data = load_chest_xray(data_dir, split="train")
    paths, labels, groups = data.paths, data.labels, data.groups
    classes, counts = np.unique(labels, return_counts=True)
    print(f"{len(paths)} images ({', '.join(f'{c} {k}' for k, c in zip(classes, counts))}) "
          f"of {len(np.unique(groups))} patients from {data.root}")

    search, cv = build_search(args)
    # What the search will do: no patient is ever on both sides of a split.
    for k, (train_idx, test_idx) in enumerate(cv.split(paths, labels, groups)):
        shared = set(groups[train_idx]) & set(groups[test_idx])
        assert not shared, shared
        print(f"fold {k}: {len(train_idx)} training / {len(test_idx)} evaluation images, "
              "no shared patient")

    t0 = time.perf_counter()
    search.fit(paths, labels, groups=groups)  # file paths in; groups route to the CV splitter
    print(f"search done in {time.perf_counter() - t0:.0f} s\n")
    print_cv_results(search.cv_results_)
    print(f"\nbest: {search.best_params_} (mean ROC AUC {search.best_score_:.4f})")

    joblib.dump(search.best_estimator_, args.out)
    print(f"best_estimator_ (refitted on all {len(paths)} images) saved to {args.out}")
    if args.data is not None or args.workdir:
        print(f"try: python examples/load_saved_model.py {args.out} {paths[0]} {paths[-1]}")
    return search


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="GridSearchCV with StratifiedGroupKFold by patient, scored by ROC AUC.")
    parser.add_argument("--data", metavar="DIR",
                        help="a real chest_xray folder (its train/ split is searched); "
                             "default: tiny synthetic data")
    parser.add_argument("--weights", metavar="PATH",
                        help="with --data: local ResNet-50 notop weights file (offline use)")
    parser.add_argument("--out", default="grid_search_best.joblib",
                        help="where to save best_estimator_ (default: %(default)s)")
    parser.add_argument("--workdir", metavar="DIR",
                        help="synthetic data: write (and keep) the images here; must not "
                             "already hold them (default: a temporary folder)")
    parser.add_argument("--n-per-class", type=int, default=12,
                        help="synthetic images per class (default: %(default)s)")
    parser.add_argument("--size", type=int,
                        help="image size fed to the network (default: 32 synthetic, 224 --data)")
    parser.add_argument("--epochs", type=int,
                        help="synthetic: fine-tuning epochs per fit (default 1); "
                             "--data: phase 1 epochs (default 3)")
    parser.add_argument("--fine-tune-epochs", type=int, default=2,
                        help="--data only: phase 2 epochs (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=2,
                        help="StratifiedGroupKFold splits (default: %(default)s)")
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = 32 if args.data is None else 224
    if args.epochs is None:
        args.epochs = 1 if args.data is None else 3
    if args.data is not None and args.workdir:
        parser.error("--workdir is for the synthetic data only")
    if args.data is None and args.weights:
        parser.error("--weights needs --data")

    if args.data is not None:
        run(args, args.data)
    elif args.workdir:
        run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="skpneumo-grid-") as tmp:
            run(args, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())

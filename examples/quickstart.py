"""Quickstart: train, evaluate and save a skpneumo pipeline.

By default the script writes a small synthetic chest X-ray data set (see
``skpneumo.datasets.make_synthetic_xrays``) into a temporary folder and trains a
ResNet-50 *from scratch* (``weights=None``) on 64x64 images, so it runs offline
and on a CPU. With ``--data`` it trains on a real ``chest_xray`` folder with
ImageNet weights at 224x224 instead (a GPU is strongly recommended).

Run it from anywhere skpneumo is installed::

    python examples/quickstart.py                 # synthetic data, a few minutes on a CPU
    python examples/quickstart.py --tiny          # smallest settings: a smoke test
    python examples/quickstart.py --data ~/skpneumo_data/chest_xray
    python examples/quickstart.py --data chest_xray --weights resnet50_notop.h5  # offline

Add ``--report DIR`` to write the evaluation report (JSON, Markdown, ROC curve and
confusion matrix) and ``--save MODEL.joblib`` to keep the fitted pipeline.

Set ``TF_CPP_MIN_LOG_LEVEL=2`` in the environment to reduce TensorFlow's log output.

The synthetic images are not medical data and the metrics on them mean nothing
about real radiographs: the point is to exercise the whole workflow.
"""

import argparse
import sys
import tempfile
import time

import joblib
import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from skpneumo import WeightsUnavailableError, make_pipeline
from skpneumo.datasets import load_chest_xray, make_synthetic_xrays
from skpneumo.evaluation import evaluate
from skpneumo.network import check_weights

SYNTHETIC_SIZE = 64


def patient_split(labels, groups, n_splits, random_state):
    """Hold out about 1/n_splits of the patients, stratified by class.

    Returns (kept indices, held-out indices); no patient has images on both sides.
    """
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    keep, held = next(cv.split(np.zeros(len(labels)), labels, groups))
    assert not set(groups[keep]) & set(groups[held])
    return keep, held


def synthetic_run(args):
    """Synthetic data, ResNet-50 from scratch: every layer must train."""
    n_train, n_test, epochs = (16, 10, 2) if args.tiny else (40, 20, 6)
    if args.epochs is not None:
        epochs = args.epochs
    with tempfile.TemporaryDirectory(prefix="skpneumo-quickstart-") as tmp:
        train = make_synthetic_xrays(tmp, n_per_class=n_train, size=SYNTHETIC_SIZE,
                                     random_state=args.random_state, split="train")
        test = make_synthetic_xrays(tmp, n_per_class=n_test, size=SYNTHETIC_SIZE,
                                    random_state=args.random_state + 1, split="test")
        print(f"synthetic data in {tmp}: {len(train.paths)} training images of "
              f"{len(set(train.groups))} patients, {len(test.paths)} test images")
        # From scratch, one phase is enough: the whole network (fine_tune_layers="all")
        # for `epochs` epochs at a learning rate suited to training from scratch.
        pipe = make_pipeline(
            weights=None, size=SYNTHETIC_SIZE,
            epochs=0, fine_tune_layers="all", fine_tune_epochs=epochs,
            fine_tune_learning_rate=1e-3, batch_size=16,
            random_state=args.random_state, verbose=2,
        )
        return fit_and_evaluate(pipe, train.paths, train.labels, test.paths, test.labels,
                                args, fit_params={})


def real_run(args):
    """A real chest_xray folder, ImageNet weights (or a local weights file)."""
    data = load_chest_xray(args.data)
    splits = set(data.splits)
    print(f"{len(data.paths)} images of {len(set(data.groups))} patients in {data.root}, "
          f"splits: {sorted(splits)}")
    if "train" not in splits:
        sys.exit(f"error: {data.root} has no train/ split")
    is_train = data.splits == "train"
    paths, labels, groups = data.paths[is_train], data.labels[is_train], data.groups[is_train]
    if "test" in splits:
        test_paths, test_labels = data.paths[data.splits == "test"], data.labels[data.splits == "test"]
    else:
        # No test split (e.g. only train/ is available): hold out 20% of the patients.
        keep, held = patient_split(labels, groups, 5, args.random_state)
        test_paths, test_labels = paths[held], labels[held]
        paths, labels, groups = paths[keep], labels[keep], groups[keep]
        print("no test/ split: 20% of the training patients held out for the evaluation")

    params = dict(weights=args.weights or "imagenet", random_state=args.random_state, verbose=2)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if args.fine_tune_epochs is not None:
        params["fine_tune_epochs"] = args.fine_tune_epochs
    pipe = make_pipeline(**params)
    try:
        # fit() checks the weights too, before loading any image; checking here
        # turns a missing file into a one-line message.
        check_weights(params["weights"])
    except (WeightsUnavailableError, FileNotFoundError) as exc:
        # Offline without cached ImageNet weights: the message says which file to
        # download and where to put it (or pass --weights PATH).
        sys.exit(f"error: {exc}")

    # Early stopping on validation ROC AUC, with about 10% of the training patients
    # held out. The pipeline preprocesses the validation images as at prediction.
    keep, val = patient_split(labels, groups, 10, args.random_state)
    print(f"validation: {len(val)} images of {len(set(groups[val]))} patients")
    fit_params = {"clf__validation_data": (paths[val], labels[val])}
    return fit_and_evaluate(pipe, paths[keep], labels[keep], test_paths, test_labels, args,
                            fit_params)


def fit_and_evaluate(pipe, X_train, y_train, X_test, y_test, args, fit_params):
    labels, counts = np.unique(y_train, return_counts=True)
    print("training on " + ", ".join(f"{c} {label}" for label, c in zip(labels, counts)))
    t0 = time.perf_counter()
    pipe.fit(X_train, y_train, **fit_params)
    clf = pipe.named_steps["clf"]
    phases = clf.history_["phase"]
    print(f"trained in {time.perf_counter() - t0:.0f} s: "
          f"{phases.count(1)} frozen-backbone epochs, {phases.count(2)} fine-tuning epochs, "
          f"final training loss {clf.history_['loss'][-1]:.3f}")

    # File paths in; every metric uses P(PNEUMONIA), looked up in pipe.classes_.
    report = evaluate(pipe, X_test, y_test)
    print()
    print(report.summary())
    if args.report:
        written = report.save(args.report)
        print(f"\nreport written: {', '.join(str(p) for p in written.values())}")
    if args.save:
        joblib.dump(pipe, args.save)
        print(f"model saved to {args.save}; try:\n"
              f"  python examples/load_saved_model.py {args.save} IMAGE...\n"
              f"  skpneumo predict {args.save} IMAGE_OR_FOLDER...")
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train, evaluate and save a skpneumo pipeline "
                    "(synthetic data by default, or a real chest_xray folder).")
    parser.add_argument("--data", metavar="DIR",
                        help="a real chest_xray folder (holding train/ and optionally test/); "
                             "uses ImageNet weights at 224x224")
    parser.add_argument("--weights", metavar="PATH",
                        help="with --data: a local ResNet-50 notop weights file instead of "
                             "downloading the ImageNet weights")
    parser.add_argument("--tiny", action="store_true",
                        help="synthetic data only: the smallest settings (a smoke test)")
    parser.add_argument("--epochs", type=int,
                        help="synthetic: fine-tuning epochs (default 6, --tiny 2); "
                             "--data: phase 1 epochs (default 10)")
    parser.add_argument("--fine-tune-epochs", type=int,
                        help="--data only: phase 2 epochs (default 5)")
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    parser.add_argument("--report", metavar="DIR", help="write the evaluation report to DIR")
    parser.add_argument("--save", metavar="FILE", help="save the fitted pipeline with joblib")
    args = parser.parse_args(argv)
    if args.data is None and (args.weights or args.fine_tune_epochs is not None):
        parser.error("--weights and --fine-tune-epochs need --data")
    if args.data is not None and args.tiny:
        parser.error("--tiny applies to the synthetic data only")
    if args.data is None:
        synthetic_run(args)
    else:
        real_run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

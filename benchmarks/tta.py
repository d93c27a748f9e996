"""Effect of test-time augmentation on a patient-grouped validation split of real X-rays.

Trains one model (SmallCNN from scratch, so it runs on CPUs without ImageNet weights)
on the training split minus about 10% of the patients, then scores those held-out
patients with each set of test-time transforms side by side: ROC AUC, sensitivity and
specificity at the model's threshold, specificity at 95% sensitivity, prediction time, and a patient-level bootstrap
interval of the ROC AUC change against no TTA.

    python benchmarks/tta.py --data /path/to/chest_xray
"""

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedGroupKFold

from skpneumo import make_pipeline
from skpneumo.datasets import load_chest_xray
from skpneumo.evaluation import evaluate
from skpneumo.estimators import DEFAULT_TTA

TTA_SETS = {
    "none": None,
    "default": DEFAULT_TTA,
    "shifts": ("identity", "shift_left", "shift_right", "shift_up", "shift_down"),
    "all but flip": tuple(
        ["identity", "shift_left", "shift_right", "shift_up", "shift_down"] + list(DEFAULT_TTA[1:])
    ),
}


def patient_bootstrap_auc_delta(y, p_base, p_tta, groups, n_boot, seed):
    """95% interval of AUC(p_tta) - AUC(p_base) over bootstrap resamples of patients."""
    rng = np.random.default_rng(seed)
    patients, index = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(index == i) for i in range(len(patients))]
    deltas = []
    for _ in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(len(patients), size=len(patients))])
        if len(np.unique(y[idx])) == 2:
            deltas.append(roc_auc_score(y[idx], p_tta[idx]) - roc_auc_score(y[idx], p_base[idx]))
    return np.percentile(deltas, [2.5, 97.5])


def specificity_at_sensitivity(y, p, sensitivity):
    """Specificity at the first ROC point reaching ``sensitivity``: a screening operating point."""
    fpr, tpr, _ = roc_curve(y, p)
    return 1.0 - fpr[np.argmax(tpr >= sensitivity)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data/chest_xray",
                        help="chest_xray root or train folder (default: %(default)s)")
    parser.add_argument("--size", type=int, default=128, help="input size (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default: %(default)s)")
    parser.add_argument("--val-folds", type=int, default=10,
                        help="validation = one of this many patient-grouped folds (default: %(default)s)")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()

    data = load_chest_xray(args.data, split="train")
    cv = StratifiedGroupKFold(n_splits=args.val_folds, shuffle=True, random_state=args.random_state)
    train_idx, val_idx = next(cv.split(data.paths, data.labels, data.groups))
    assert not set(data.groups[train_idx]) & set(data.groups[val_idx])

    pipe = make_pipeline(
        backbone="smallcnn", weights=None, size=args.size, smote=None, class_weight="balanced",
        epochs=0, fine_tune_layers="all", fine_tune_epochs=args.epochs, fine_tune_learning_rate=1e-3,
        batch_size=32, verbose=2, random_state=args.random_state,
    )
    # Every step but the classifier, normalize included: the classifier takes [0, 1]
    # floats (and refuses 0-255 images), exactly what the pipeline hands it.
    preprocess, clf = pipe[:-1], pipe[-1]
    t0 = time.perf_counter()
    X_train, X_val = preprocess.transform(data.paths[train_idx]), preprocess.transform(data.paths[val_idx])
    y_train, y_val = data.labels[train_idx], data.labels[val_idx]
    print(f"train {len(train_idx)} images / {len(set(data.groups[train_idx]))} patients, "
          f"validation {len(val_idx)} images / {len(set(data.groups[val_idx]))} patients "
          f"({(y_val == 'PNEUMONIA').sum()} PNEUMONIA); loaded in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    clf.fit(X_train, y_train)
    print(f"trained SmallCNN {args.size}px, {args.epochs} epochs in {time.perf_counter() - t0:.0f} s")

    y_true = (y_val == "PNEUMONIA").astype(int)
    rows, base = [], None
    for name, tta in TTA_SETS.items():
        clf.set_params(tta=tta, verbose=0)
        t0 = time.perf_counter()
        report = evaluate(clf, X_val, y_val)
        seconds = time.perf_counter() - t0
        base = base or (report, seconds)
        rows.append((name, len(tta or ("identity",)), report, seconds))

    print(f"\n{'TTA':<14}{'views':>6}{'ROC AUC':>9}{'sens':>8}{'spec':>8}{'spec@95':>9}"
          f"{'AUC change [95% CI]':>30}{'time s':>8}{'x none':>8}")
    for name, n_views, report, seconds in rows:
        low, high = patient_bootstrap_auc_delta(
            y_true, base[0].y_score, report.y_score, data.groups[val_idx], args.n_boot, args.random_state)
        delta = report.roc_auc - base[0].roc_auc
        spec95 = specificity_at_sensitivity(y_true, report.y_score, 0.95)
        print(f"{name:<14}{n_views:>6}{report.roc_auc:>9.4f}{report.recall:>8.3f}{report.specificity:>8.3f}"
              f"{spec95:>9.3f}{f'{delta:+.4f} [{low:+.4f}, {high:+.4f}]':>30}{seconds:>8.1f}"
              f"{seconds / base[1]:>8.1f}")


if __name__ == "__main__":
    main()

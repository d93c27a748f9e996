"""Responsible use, worked through: an operating point, an honest evaluation, explanations.

The steps of docs/responsible_use.md:

1. split by patient into training, validation and test images;
2. train (or load a saved model with ``--model``);
3. choose the decision threshold on the validation patients for a target sensitivity;
4. evaluate once on the test patients at that threshold, with and without test-time
   augmentation (the threshold is chosen again for each setting);
5. write Grad-CAM overlays for a few test images of each class, to be looked at
   next to their probabilities (docs/responsible_use.md, "Reading Grad-CAM").

By default it runs offline on synthetic films (``make_synthetic_xrays``) with a small
network trained from scratch, in a few minutes on a CPU; the numbers then mean nothing
about real radiographs. ``--data DIR`` uses a real ``chest_xray`` folder (the same
small network, or a saved one with ``--model``)::

    python examples/responsible_use.py --out responsible/
    python examples/responsible_use.py --data chest_xray --model model.joblib --out responsible/
"""

import argparse
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from skpneumo import make_pipeline
from skpneumo.datasets import load_chest_xray, make_synthetic_xrays
from skpneumo.evaluation import evaluate
from skpneumo.evaluation import explain, overlay_names
from skpneumo.evaluation import set_operating_point


def hold_out_patients(labels, groups, fraction, random_state):
    """Indices (kept, held out), about ``fraction`` of the patients held out, by class."""
    cv = StratifiedGroupKFold(n_splits=round(1 / fraction), shuffle=True, random_state=random_state)
    kept, held = next(cv.split(np.zeros(len(labels)), labels, groups))
    assert not set(groups[kept]) & set(groups[held])
    return kept, held


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", metavar="DIR", help="a real chest_xray folder (default: synthetic films)")
    parser.add_argument("--model", metavar="FILE",
                        help="a saved skpneumo pipeline to use instead of training one (it must not "
                             "have seen the test patients)")
    parser.add_argument("--out", default="responsible_use", help="output folder (default: %(default)s)")
    parser.add_argument("--sensitivity", type=float, default=0.95,
                        help="target sensitivity on the validation patients (default: %(default)s)")
    parser.add_argument("--n-explain", type=int, default=6, help="test images to explain (default: %(default)s)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out must be a folder, '{out}' is a file")

    with tempfile.TemporaryDirectory(prefix="skpneumo-responsible-") as tmp:
        if args.data:
            data = load_chest_xray(args.data, split="train")
            test = load_chest_xray(args.data, split="test")
        else:
            data = make_synthetic_xrays(tmp, n_per_class=80, size=96, random_state=args.random_state)
            test = make_synthetic_xrays(tmp, n_per_class=40, size=96, random_state=args.random_state + 1,
                                        split="test")
        # 1. Patients never span training, validation and test.
        train_idx, val_idx = hold_out_patients(data.labels, data.groups, 0.2, args.random_state)
        val_paths, val_labels = data.paths[val_idx], data.labels[val_idx]

        # 2. A model that has seen neither the validation nor the test patients.
        if args.model:
            pipe = joblib.load(args.model)
        else:
            pipe = make_pipeline(backbone="smallcnn", weights=None, size=64, smote=None,
                                 class_weight="balanced", epochs=0, fine_tune_layers="all",
                                 fine_tune_epochs=15, fine_tune_learning_rate=1e-3, batch_size=16,
                                 random_state=args.random_state)
            pipe.fit(data.paths[train_idx], data.labels[train_idx])

        # 3 and 4. The operating point is part of the model: choose it on validation
        # patients for each prediction setting, then look at the test set once.
        for tta in (None, "default"):
            pipe.set_params(clf__tta=tta)
            threshold = set_operating_point(pipe, val_paths, val_labels,
                                            target_sensitivity=args.sensitivity).threshold
            report = evaluate(pipe, test.paths, test.labels)
            name = "no TTA" if tta is None else "TTA"
            print(f"\n== {name}: threshold {threshold:.3f} for sensitivity >= {args.sensitivity} "
                  f"on {len(val_idx)} validation images ==")
            print(report.summary())
            report.save(out / f"report_{'tta' if tta else 'plain'}")

        # 5. Where the model found its evidence, on a few test films of each class.
        rng = np.random.default_rng(args.random_state)
        chosen = np.concatenate([
            rng.choice(np.flatnonzero(test.labels == label), args.n_explain // 2, replace=False)
            for label in ("NORMAL", "PNEUMONIA")
        ])
        # explain's probabilities are predict_proba's: the network alone here, without TTA.
        pipe.set_params(clf__tta=None)
        _, proba = explain(pipe, test.paths[chosen], out=out / "gradcam", return_proba=True)
        print(f"\nGrad-CAM overlays in {out / 'gradcam'} (heat: evidence for PNEUMONIA, scaled per image):")
        for label, p, name in zip(test.labels[chosen], proba, overlay_names(test.paths[chosen])):
            print(f"  {name}: true {label}, P(PNEUMONIA) without TTA {p:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

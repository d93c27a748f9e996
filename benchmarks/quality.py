"""Model quality on real chest X-rays: train a preset, select on held-out patients.

Trains ``make_pipeline(preset=...)`` on a train folder with early stopping on a
validation split grouped by patient, then writes the validation report (and a
test report when ``--test`` is given), the training time and the peak memory::

    python benchmarks/quality.py --preset cpu --weights none --out bench-cpu
    python benchmarks/quality.py --preset cpu --weights none --set clahe=CLAHE() --out bench-clahe

``--set name=value`` overrides one pipeline parameter (any ``make_pipeline``
argument; values are Python literals, ``CLAHE(...)`` or ``ImageSMOTE(...)``); ``--patients F`` trains
and validates on a random fraction F of the patients, for quick studies.
Test images are never used for any choice: they are only scored at the end.
"""

import argparse
import ast
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray" / "train"


def parse_value(text):
    from skpneumo import CLAHE, ImageSMOTE

    steps = {"CLAHE": CLAHE, "ImageSMOTE": ImageSMOTE}
    if text.split("(", 1)[0] in steps:
        return eval(text, steps)  # a benchmark's own command line
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def patient_subset(data, fraction, random_state):
    from sklearn.model_selection import GroupShuffleSplit

    if fraction >= 1:
        return data.paths, data.labels, data.groups
    keep, _ = next(GroupShuffleSplit(1, train_size=fraction, random_state=random_state)
                   .split(data.paths, groups=data.groups))
    return data.paths[keep], data.labels[keep], data.groups[keep]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default=str(DEFAULT_TRAIN), help="train folder (NORMAL/, PNEUMONIA/)")
    parser.add_argument("--test", help="test folder, scored once at the end")
    parser.add_argument("--preset", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--weights", default="imagenet", help="imagenet, none or a weights file")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--val-size", type=float, default=0.2, help="fraction of patients held out")
    parser.add_argument("--patients", type=float, default=1.0, help="fraction of patients used")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--save-model", action="store_true", help="also write model.joblib")
    args = parser.parse_args(argv)

    import joblib
    import keras

    from skpneumo import evaluate, fit_model, load_chest_xray
    from skpneumo.datasets import load_split

    params = {"preset": args.preset,
              "weights": None if args.weights.lower() == "none" else args.weights}
    for item in args.set:
        name, _, value = item.partition("=")
        params[name] = parse_value(value)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    paths, labels, groups = patient_subset(load_chest_xray(args.train), args.patients, args.random_state)
    print(f"{len(paths)} images of {len(set(groups))} patients; params {params}", file=sys.stderr)
    t0 = time.perf_counter()
    pipe, (X_val, y_val) = fit_model(paths, labels, groups, params=params, val_size=args.val_size,
                                     random_state=args.random_state, quiet=False)
    train_seconds = time.perf_counter() - t0
    clf = pipe.named_steps["clf"]
    results = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "params": {k: repr(v) for k, v in params.items()},
        "n_images": len(paths), "n_patients": len(set(groups)), "n_validation": len(y_val),
        "train_seconds": round(train_seconds, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "epochs_run": {f"phase {p}": int(np.sum(np.array(clf.history_["phase"]) == p))
                       for p in sorted(set(clf.history_["phase"]))},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "keras": keras.__version__, "backend": keras.backend.backend()},
    }
    # X_val is preprocessed already: score it with the classifier itself.
    report = evaluate(clf, X_val, y_val)
    report.save(out / "validation")
    results["validation"] = report.to_dict()
    print("validation (patients never trained on):\n" + report.summary())
    if args.test:
        test = load_split(args.test, "test")
        report = evaluate(pipe, test.paths, test.labels)
        report.save(out / "test")
        results["test"] = report.to_dict()
        print("test:\n" + report.summary())
    if args.save_model:
        joblib.dump(pipe, out / "model.joblib")
    (out / "benchmark.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"trained in {train_seconds:.0f} s, peak RSS {results['peak_rss_mb']} MB; "
          f"results in {out}/benchmark.json")


if __name__ == "__main__":
    main()

"""Peak memory: fitting with SMOTE, and prediction over many paths.

Each measurement runs in a fresh Python process and reports its peak resident set
size (``ru_maxrss``), so the numbers include Python, TensorFlow and the model.

1. Fit on the real training set (``../shared/data/chest_xray/train``, 224 x 224):
   load, SMOTE and the start of training (a few steps of a small network), with

   - skpneumo: ``make_pipeline(...).fit(paths, labels)``: uint8 images through
     SMOTE, normalized afterwards, batches fed to Keras;
   - imblearn ``SMOTE.fit_resample`` on the flattened images, the obvious
     alternative, on uint8 and (``--float32``, about 12 GB) on float32 images;
   - ``--old-order``: skpneumo with normalize before SMOTE, as before.

   The target is 1.5 x the size of the resampled float32 training set.
2. ``predict_proba`` over 1,000 and 20,000 paths (the real files, repeated) with a
   small fitted model, skpneumo (chunked) against transforming all images first
   and then predicting. The target is 20,000 within 1.2 x of 1,000.

Run: python benchmarks/memory.py [--float32] [--old-order] [--skip-fit] [--skip-predict]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray" / "train"
SIZE = 224
GIB = 2**30


def _peak_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _data():
    from skpneumo import load_chest_xray

    return load_chest_xray(REAL)


def _stop_after(steps):
    import keras

    class StopAfter(keras.callbacks.Callback):
        """Training start only: a few gradient steps."""

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 >= steps:
                self.model.stop_training = True

    return StopAfter()


SMALL = dict(backbone="smallcnn", weights=None, epochs=1, fine_tune_epochs=0, batch_size=32,
             random_state=0)


def child_fit(kind):
    """Peak memory of one way of loading + SMOTE (+ training start)."""
    data = _data()
    result = {"n_images": len(data.paths)}
    if kind in ("skpneumo", "old-order"):
        from skpneumo import make_pipeline

        pipe = make_pipeline(size=SIZE, callbacks=[_stop_after(5)], **SMALL)
        if kind == "old-order":
            steps = dict(pipe.steps)
            pipe.steps = [(name, steps[name]) for name in
                          ("load", "resize", "clahe", "rgb", "normalize", "smote", "clf")]
        pipe.fit(data.paths, data.labels)
        result["n_resampled"] = int(sum(pipe.named_steps["smote"].sampling_strategy_.values())
                                    + len(data.paths))
    else:
        from imblearn.over_sampling import SMOTE

        from skpneumo import make_pipeline

        X = make_pipeline(size=SIZE)[:4].transform(data.paths)  # load, resize, rgb: uint8
        if kind == "imblearn-float32":
            X = X.astype(np.float32) / 255
        X_res, _ = SMOTE(random_state=0).fit_resample(X.reshape(len(X), -1), data.labels)
        result["n_resampled"] = len(X_res)
    result["peak_bytes"] = _peak_bytes()
    return result


def child_predict(kind, n_paths):
    """Peak memory of predict_proba over ``n_paths`` paths with a small fitted model."""
    from skpneumo import make_pipeline

    data = _data()
    rng = np.random.default_rng(0)
    train = rng.choice(len(data.paths), 64, replace=False)
    pipe = make_pipeline(size=64, smote=None, **SMALL).fit(data.paths[train], data.labels[train])
    paths = np.resize(data.paths, n_paths)
    before = _peak_bytes()
    start = time.perf_counter()
    if kind == "skpneumo":
        proba = pipe.predict_proba(paths)
    else:  # transform everything, then predict: the pipeline without chunks
        proba = pipe[-1].predict_proba(pipe[:-1].transform(paths))
    assert proba.shape == (n_paths, 2)
    return {"peak_bytes": _peak_bytes(), "peak_before_predict": before,
            "seconds": time.perf_counter() - start}


def measure(*args):
    """Run one measurement in a fresh process and return its JSON result."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--float32", action="store_true",
                        help="also run imblearn SMOTE on float32 images (about 12 GB)")
    parser.add_argument("--old-order", action="store_true",
                        help="also fit skpneumo with normalize before SMOTE (about 8 GB)")
    parser.add_argument("--skip-fit", action="store_true")
    parser.add_argument("--skip-predict", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_fit(rest[0]) if kind == "fit" else child_predict(rest[0], int(rest[1]))
        print(json.dumps(result))
        return

    print(f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}")
    if not args.skip_fit:
        kinds = ["skpneumo", "imblearn-uint8"]
        kinds += ["imblearn-float32"] * args.float32 + ["old-order"] * args.old_order
        results = {kind: measure("fit", kind) for kind in kinds}
        n_res = results["skpneumo"]["n_resampled"]
        resampled = n_res * SIZE * SIZE * 3 * 4
        print(f"\nFit: {results['skpneumo']['n_images']} images at {SIZE} px, {n_res} after SMOTE; "
              f"the resampled float32 set is {resampled / GIB:.2f} GiB, the target "
              f"{1.5 * resampled / GIB:.2f} GiB")
        labels = {"skpneumo": "skpneumo: load + SMOTE + 5 training steps",
                  "imblearn-uint8": "imblearn SMOTE on uint8 (load + SMOTE only)",
                  "imblearn-float32": "imblearn SMOTE on float32 (load + SMOTE only)",
                  "old-order": "skpneumo, normalize before SMOTE (+ 5 steps)"}
        for kind, result in results.items():
            peak = result["peak_bytes"]
            print(f"  {labels[kind]:48s} peak RSS {peak / GIB:6.2f} GiB = "
                  f"{peak / resampled:4.2f} x the resampled float32 set")

    if not args.skip_predict:
        print("\nPrediction (smallcnn, 64 px), peak RSS:")
        for kind in ("skpneumo", "transform-all"):
            small, large = (measure("predict", kind, n) for n in (1000, 20000))
            print(f"  {kind:14s} 1,000 paths {small['peak_bytes'] / GIB:5.2f} GiB "
                  f"({small['seconds']:.0f} s), 20,000 paths {large['peak_bytes'] / GIB:5.2f} GiB "
                  f"({large['seconds']:.0f} s): ratio {large['peak_bytes'] / small['peak_bytes']:.2f}")
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

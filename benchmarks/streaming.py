"""Streamed training against training in memory: peak memory as the set grows, and epoch time.

Writes synthetic films (:func:`skpneumo.make_synthetic_xrays`, 256 x 256, every other
one re-encoded as JPEG) into a folder, then trains ``smallcnn`` from scratch at 64 px
(batch 32, the default augmentation) on 2,000 and on 8,000 of them, streamed
(``make_pipeline(streaming=True)``: balanced batches, two reading threads) and in
memory (the default pipeline: every film decoded first, SMOTE). Each run is a fresh
Python process reporting its own peak resident set size (``ru_maxrss``: Python,
TensorFlow and the model included) and the time of each epoch; the 2,000-film runs
train two epochs and the last is timed (the first also traces the graph), the
8,000-film runs one. Images per second: training films of an epoch over its time.

Goals (issue 20): streamed peak memory for 8,000 films at most 1.2x that for 2,000;
a streamed epoch at most 1.15x an in-memory one on the same 2,000 films (2 cores).

Run: python benchmarks/streaming.py [--dir DIR] [--sizes 2000 8000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PARAMS = {"backbone": "smallcnn", "weights": None, "size": 64, "batch_size": 32, "fine_tune_epochs": 0,
          "random_state": 0}
FILM_SIZE = 256
MIB = 2**20


def write_films(folder, n):
    """``n`` synthetic films under ``folder`` (kept between runs), half of them JPEG."""
    import cv2

    from skpneumo.datasets import load_chest_xray, make_synthetic_xrays

    if not (folder / "train").is_dir():
        make_synthetic_xrays(folder, n_per_class=n // 2, size=FILM_SIZE, random_state=0)
        for path in sorted((folder / "train").rglob("*.png"))[::2]:
            cv2.imwrite(str(path.with_suffix(".jpeg")), cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
            path.unlink()
    data = load_chest_xray(folder / "train")
    if len(data.paths) < n:
        raise SystemExit(f"{folder} holds {len(data.paths)} films, fewer than {n}: use another --dir")
    return data


def run_one(folder, mode, n, epochs):
    """One fit in this process; prints a JSON line."""
    import keras

    from skpneumo import make_pipeline

    data = write_films(folder, n)
    # The same films for every run: the first n of a fixed shuffle (both classes).
    rows = np.random.default_rng(0).permutation(len(data.paths))[:n]
    times = []

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    pipe = make_pipeline(**PARAMS, epochs=epochs, callbacks=[EpochTimes()], streaming=mode == "streamed")
    started = time.perf_counter()
    pipe.fit(data.paths[rows], data.labels[rows])
    total = time.perf_counter() - started
    trained = len(pipe.named_steps["clf"].history_["loss"])
    print(json.dumps({"mode": mode, "n": n, "epochs": trained, "epoch_seconds": times, "fit_seconds": total,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB}), flush=True)


def measure(folder, mode, n, epochs):
    out = subprocess.run([sys.executable, __file__, "--dir", str(folder), "--one", mode, str(n), str(epochs)],
                         check=True, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results, small, large):
    by = {(r["mode"], r["n"]): r for r in results}
    lines = ["| Films | Mode | Peak RSS | Last epoch | Images/s | Whole fit |", "|---|---|---|---|---|---|"]
    for (mode, n), r in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        epoch = r["epoch_seconds"][-1]
        lines.append(f"| {n:,} | {mode} | {r['peak_mib']:.0f} MiB | {epoch:.1f} s | {n / epoch:.0f} "
                     f"| {r['fit_seconds']:.1f} s |")
    lines.append("")
    for mode in ("streamed", "in memory"):
        if (mode, small) in by and (mode, large) in by:
            ratio = by[mode, large]["peak_mib"] / by[mode, small]["peak_mib"]
            lines.append(f"- {mode}: peak RSS for {large:,} films / for {small:,}: {ratio:.2f}x")
    if ("streamed", small) in by and ("in memory", small) in by:
        ratio = by["streamed", small]["epoch_seconds"][-1] / by["in memory", small]["epoch_seconds"][-1]
        lines.append(f"- streamed epoch / in-memory epoch on the same {small:,} films: {ratio:.2f}x")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="folder for the synthetic films (default: a new temporary one)")
    parser.add_argument("--sizes", nargs=2, type=int, default=[2000, 8000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="skpneumo-streaming-"))
    if args.one:
        mode, n, epochs = args.one
        run_one(folder, mode, int(n), int(epochs))
        return
    small, large = args.sizes
    write_films(folder, large)
    results = []
    for n, epochs in ((small, 2), (large, 1)):
        for mode in ("streamed", "in memory"):
            results.append(measure(folder, mode, n, epochs))
            print(json.dumps(results[-1]), flush=True)
    print(f"\nos.cpu_count() = {os.cpu_count()}, load average (1, 5, 15 min) at the end: {os.getloadavg()}\n")
    print(table(results, small, large))


if __name__ == "__main__":
    main()

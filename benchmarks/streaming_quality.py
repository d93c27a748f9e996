"""Same quality streamed? The ``cpu`` preset streamed (balanced batches) against in memory (SMOTE).

Each run trains today's ``cpu`` preset from scratch through :func:`skpneumo.fit_model`
on the training films of ``--data`` (a folder laid out like ``chest_xray``:
``train/`` and ``test-dev/``, each with ``NORMAL/`` and ``PNEUMONIA/``), either in
memory (the preset as it is: every film decoded, SMOTE) or streamed
(``streaming=True``: films read batch by batch, the classes balanced by resampling the
files each epoch). The preset holds out 20% of the patients (always the same ones,
``split_random_state=0``) for early stopping and the stored threshold (its rule:
the highest threshold reaching sensitivity 0.90 there). Then test-dev (new
patients) is scored once. Each run appends one line to ``OUT/runs.jsonl``: mode,
seed, times, validation and test-dev ROC AUC, sensitivity and specificity at the
stored threshold; ``--summarise`` (and the end of a search) prints the table and the
differences, streamed minus in memory::

    KERAS_BACKEND=jax python benchmarks/streaming_quality.py --data /data/chest_xray --out bench/stream \\
        --seeds 0 1 --jobs 4
    python benchmarks/streaming_quality.py --data DIR --out /tmp/q --limit 24 --epochs 1   # a smoke run

Only Keras 3, NumPy and OpenCV on the training path (no TensorFlow import of its
own), so it runs on a JAX-only machine. ``--jobs N`` trains N runs at a time, each in
its own process. Runs already in ``runs.jsonl`` are skipped.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
# benchmarks/ is on the path of its own scripts.
from recipes import DATA, N_BOOTSTRAP, SPLIT_SEED, append_run, read_runs, run_in_processes, run_row

MODES = {"in memory": {}, "streamed": {"streaming": True}}


def subset(data, limit):
    """The first ``limit`` films of each class (all with None), for a smoke run."""
    if limit is None:
        return data
    rows = np.concatenate([np.flatnonzero(data.labels == label)[:limit] for label in np.unique(data.labels)])
    return type(data)(**{**data, "paths": data.paths[rows], "labels": data.labels[rows],
                         "groups": data.groups[rows], "target": data.target[rows]})


def run_one(mode, seed, args, out):
    """Train one mode with one seed; append its line to ``out/runs.jsonl``."""
    from skpneumo import evaluate, fit_model, load_chest_xray

    train = subset(load_chest_xray(Path(args.data) / "train"), args.limit)
    test = subset(load_chest_xray(Path(args.data) / "test-dev"), args.limit)
    params = {"preset": "cpu", "weights": None, **MODES[mode]}
    if args.epochs is not None:
        params["fine_tune_epochs"] = args.epochs
    started = time.perf_counter()
    pipe, _ = fit_model(train.paths, train.labels, train.groups, params=params, random_state=seed,
                        split_random_state=SPLIT_SEED)
    train_seconds = time.perf_counter() - started
    report = evaluate(pipe, test.paths, test.labels, groups=test.groups, n_bootstrap=args.n_bootstrap,
                      random_state=0)
    row = {"mode": mode, "seed": seed, **run_row(pipe, params, train_seconds, report), "limit": args.limit,
           "tensorflow_imported": "tensorflow" in sys.modules}
    append_run(out, row, f"{mode} seed {seed}")


def summarise(out):
    """Markdown: one row per run, the mean of each mode, and streamed minus in memory."""
    runs = sorted(read_runs(out), key=lambda r: (r["mode"], r["seed"]))
    lines = ["| Mode | Seed | Train time | Epochs | Threshold | Validation ROC AUC / spec. "
             "| Test-dev ROC AUC (95% CI) | Test-dev sens. / spec. |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        v, t = r["validation"], r["test_dev"]
        lo, hi = t["roc_auc_interval"]
        lines.append(f"| {r['mode']} | {r['seed']} | {r['train_seconds']:.0f} s | {r['epochs']} "
                     f"| {r['threshold']:.3f} | {v['roc_auc']:.4f} / {v['specificity']:.3f} "
                     f"| {t['roc_auc']:.4f} ({lo:.3f}-{hi:.3f}) | {t['sensitivity']:.3f} / {t['specificity']:.3f} |")
    means = {}
    for mode in MODES:
        group = [r for r in runs if r["mode"] == mode]
        if group:
            means[mode] = {f"{part} {k}": np.mean([r[part][k] for r in group])
                           for part in ("validation", "test_dev") for k in ("roc_auc", "specificity")}
    if means:
        keys = list(next(iter(means.values())))
        lines += ["", "| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        lines += [f"| {mode} (mean) | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |" for mode, m in means.items()]
        if len(means) == 2:
            lines.append("| streamed - in memory | " + " | ".join(
                f"{means['streamed'][k] - means['in memory'][k]:+.4f}" for k in keys) + " |")
    text = "\n".join(lines) + "\n"
    (Path(out) / "summary.md").write_text(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA), help="folder holding train/ and test-dev/")
    parser.add_argument("--out", required=True, help="output folder (runs.jsonl, summary.md)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at a time, each in its own process")
    parser.add_argument("--limit", type=int,
                        help="only the first N films of each class of each split (smoke runs; SMOTE needs about 12)")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (smoke runs)")
    parser.add_argument("--n-bootstrap", type=int, default=N_BOOTSTRAP)
    parser.add_argument("--summarise", action="store_true", help="only write the tables")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.one:
        run_one(args.one[0], int(args.one[1]), args, out)
        return
    if not args.summarise:
        for folder in ("train", "test-dev"):
            if not (Path(args.data) / folder).is_dir():
                parser.error(f"no {folder}/ folder in {args.data}")
        done = {(r["mode"], r["seed"]) for r in read_runs(out)}
        todo = [(mode, seed) for seed in args.seeds for mode in args.modes if (mode, seed) not in done]
        passed = ["--data", args.data, "--out", str(out), "--n-bootstrap", str(args.n_bootstrap)]
        passed += [f"--{name}={getattr(args, name)}" for name in ("limit", "epochs") if getattr(args, name) is not None]
        commands = [[sys.executable, __file__, *passed, "--one", mode, str(seed)] for mode, seed in todo]
        failed = run_in_processes(commands, args.jobs)
        if failed:
            print(f"failed runs (mode, seed): {[command[-2:] for command in failed]}", file=sys.stderr)
    print(summarise(out))


if __name__ == "__main__":
    main()

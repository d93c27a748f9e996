"""Start from a trained model or from scratch: ROC AUC after training on 200 local films.

A user with a few hundred films of their own adapts a trained model
(``make_pipeline(init=...)``) instead of training from scratch. Measured honestly, the
trained model must never have seen the "local" patients: it is the model that
``benchmarks/quality.py --save-model`` trains on the fit part, and the local films are
patients of that run's report part, which it never saw. For each seed, 200 local films
(by patient) train, the other films of the report part score; both starts see the same
films, also under an acquisition change applied to every local film (a hospital whose
console renders differently, as in :data:`skpneumo.evaluation.ACQUISITION_SHIFTS`)::

    python benchmarks/quality.py --preset cpu --weights none --save-model --out bench-cpu
    python benchmarks/adapt.py --base bench-cpu/model --out bench-adapt
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray" / "train"


def local_patients(groups, n_films, seed):
    """Indices of random whole patients adding up to ``n_films`` films, and of the others."""
    order = np.random.default_rng(seed).permutation(np.unique(groups))
    counts = {g: n for g, n in zip(*np.unique(groups, return_counts=True))}
    chosen = order[:int(np.searchsorted(np.cumsum([counts[g] for g in order]), n_films)) + 1]
    local = np.isin(groups, chosen)
    return np.flatnonzero(local), np.flatnonzero(~local)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default=str(DEFAULT_TRAIN), help="train folder (NORMAL/, PNEUMONIA/)")
    parser.add_argument("--base", required=True, help="model folder written by quality.py --save-model")
    parser.add_argument("--split-seed", type=int, default=0, help="the --split-seed of that quality.py run")
    parser.add_argument("--n-local", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--shifts", nargs="*", default=["gamma 1.5", "clahe"])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    from skpneumo import load_chest_xray, load_model, make_pipeline
    from skpneumo.evaluation import ACQUISITION_SHIFTS
    from skpneumo.io import read_image

    data = load_chest_xray(args.train)
    parts = StratifiedGroupKFold(5, shuffle=True, random_state=args.split_seed)
    _, report = next(parts.split(data.paths, data.labels, data.groups))  # as quality.py: never seen by --base
    paths, labels, groups = data.paths[report], data.labels[report], data.groups[report]
    films = [read_image(p) for p in paths]
    base = load_model(args.base)
    rows = []
    for shift in [None, *args.shifts]:
        changed = films if shift is None else [ACQUISITION_SHIFTS[shift](f) for f in films]
        for seed in args.seeds:
            local, held = local_patients(groups, args.n_local, seed)
            X_local = [changed[i] for i in local]
            X_held = [changed[i] for i in held]
            y_held = labels[held] == "PNEUMONIA"
            row = {"shift": shift or "none", "seed": seed, "n_local": len(local), "n_scored": len(held),
                   "base, not adapted": roc_auc_score(y_held, base.predict_proba(X_held)[:, 1])}
            for name, pipe in (("scratch (cpu preset)", make_pipeline(preset="cpu", weights=None, random_state=seed)),
                               ("from the base model", make_pipeline(init=args.base, random_state=seed))):
                t0 = time.perf_counter()
                pipe.fit(X_local, labels[local])
                row[name] = roc_auc_score(y_held, pipe.predict_proba(X_held)[:, 1])
                row[f"{name} seconds"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    columns = ["base, not adapted", "scratch (cpu preset)", "from the base model"]
    lines = ["| change of the local films | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for shift in dict.fromkeys(r["shift"] for r in rows):
        mine = [r for r in rows if r["shift"] == shift]
        cells = [f"{np.mean([r[c] for r in mine]):.4f} ({', '.join(f'{r[c]:.3f}' for r in mine)})" for c in columns]
        lines.append(f"| {shift} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    (out / "adapt.json").write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows, "table": table},
                                               indent=2) + "\n")
    print(f"ROC AUC on the other {rows[0]['n_scored']} films of the report part, mean (per seed):\n{table}")


if __name__ == "__main__":
    main()

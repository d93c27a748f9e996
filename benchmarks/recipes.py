"""Recipe search for new patients: train recipes on `train/`, score them on `test-dev/`.

Each run trains the 0.3 ``cpu`` preset (restored by :data:`PRESET_03`) from scratch
with a recipe's overrides through :func:`skpneumo.fit_model` on all training films:
the preset holds out 20% of the patients (always the same ones,
``split_random_state=0``) for early stopping and the stored threshold (the highest
reaching sensitivity 0.95 there), so nothing about test-dev chooses an epoch or a
threshold. Then the test-dev films (new patients, half of the official test split)
are scored once: ROC AUC with a 95% interval from 1,000 bootstrap resamples of
patients, and sensitivity and specificity at the stored threshold. Every run appends
one line to ``OUT/runs.jsonl`` (recipe, seed, times, validation and test-dev metrics,
and the validation and test-dev scores themselves), so that ``--summarise`` can show
each run, each recipe with the ensemble of its seeds, and the test-dev sensitivity
and specificity that each threshold rule, applied to the validation scores, would
have given. The runs of the 0.4 search are in ``benchmarks/results/``::

    mkdir -p bench/recipes && gunzip -c benchmarks/results/recipes-runs.jsonl.gz > bench/recipes/runs.jsonl
    python benchmarks/recipes.py --out bench/recipes --seeds 0 1                 # every recipe
    python benchmarks/recipes.py --out bench/recipes --recipes base std --seeds 2
    python benchmarks/recipes.py --out bench/recipes --summarise                 # tables only

``--jobs N`` trains N runs at a time in separate processes (for an accelerator with
memory to spare; on 2 CPU cores keep 1). Runs already in ``runs.jsonl`` are skipped.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from quality import rates  # benchmarks/ is on the path of its own scripts

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray"
SPLIT_SEED = 0
N_BOOTSTRAP = 1000

# The search started from the 0.3 `cpu` preset (smallcnn at 128 px, 8 epochs at 1e-3,
# sharpness 0.5, gamma 0.5, contrast 0.3, SMOTE, the sensitivity-0.95 threshold rule):
# these values restore it on top of today's preset, so that every recipe means what it
# meant in the search. Then one lever at a time, then combinations.
PRESET_03 = {"backbone": "smallcnn", "standardize": False, "fine_tune_epochs": 8, "lr_schedule": "constant",
             "weight_decay": 0.0, "early_stopping_patience": 4}
THRESHOLD_RULE = 0.95
PRESET_04 = "std+cosine+resnet"  # the recipe the 0.4 preset adopted
LEVERS = {
    "crop": {"zoom": 0.25, "shift": 0.15},
    "std": {"standardize": True},
    "cosine": {"lr_schedule": "cosine", "weight_decay": 1e-4, "fine_tune_epochs": 12, "early_stopping_patience": 6},
    "resnet": {"backbone": "smallresnet"},
    "mixup": {"mixup": 0.2},
    "smooth": {"label_smoothing": 0.1},
    "s160": {"size": 160},
    "s224": {"size": 224},
    "balanced": {"smote": None, "class_weight": "balanced"},
    "tta": {"tta": "default"},
}


def combine(*names):
    params = {}
    for name in names:
        params.update(LEVERS[name])
    return params


RECIPES = {
    "base": {},
    **LEVERS,
    "std+crop": combine("std", "crop"),
    "std+crop+cosine": combine("std", "crop", "cosine"),
    "std+crop+cosine+resnet": combine("std", "crop", "cosine", "resnet"),
    "std+crop+cosine+s160": combine("std", "crop", "cosine", "s160"),
    "std+crop+cosine+resnet+s160": combine("std", "crop", "cosine", "resnet", "s160"),
    "std+crop+cosine+mixup": combine("std", "crop", "cosine", "mixup"),
    "cosine+smooth": combine("cosine", "smooth"),
    "cosine+s160": combine("cosine", "s160"),
    "std+cosine+resnet": combine("std", "cosine", "resnet"),
    "std+cosine+resnet+smooth": combine("std", "cosine", "resnet", "smooth"),
}


def run_one(recipe, seed, data, out):
    """Train one recipe with one seed; append its line to ``out/runs.jsonl``."""

    from skpneumo import evaluate, fit_model, load_chest_xray

    train = load_chest_xray(Path(data) / "train")
    test = load_chest_xray(Path(data) / "test-dev")
    params = {"preset": "cpu", "weights": None, **PRESET_03, **RECIPES[recipe]}
    started = time.perf_counter()
    pipe, validation = fit_model(train.paths, train.labels, train.groups, params=params, random_state=seed,
                                 split_random_state=SPLIT_SEED, threshold_rule=THRESHOLD_RULE)
    train_seconds = time.perf_counter() - started
    clf = pipe[-1]
    val_scores = clf.predict_proba(validation[0])[:, 1]
    report = evaluate(pipe, test.paths, test.labels, groups=test.groups, n_bootstrap=N_BOOTSTRAP, random_state=0)
    row = {
        "recipe": recipe, "seed": seed, **run_row(pipe, params, train_seconds, report),
        "scores": {"validation_true": (validation[1] == clf.pos_label_).astype(int).tolist(),
                   "validation_score": val_scores.round(6).tolist(),
                   "test_dev_true": (np.asarray(test.labels) == clf.pos_label_).astype(int).tolist(),
                   "test_dev_score": report.y_score.round(6).tolist(),
                   "test_dev_groups": [str(g) for g in test.groups]},
    }
    append_run(out, row, f"{recipe} seed {seed}")


def run_row(pipe, params, train_seconds, report):
    """What every benchmark run records: the machine, the training, validation (from the card) and test-dev."""
    import keras

    clf = pipe[-1]
    metrics = pipe.model_card_["validation"]["report"]["metrics"]
    return {
        "params": {k: repr(v) for k, v in params.items()},
        "backend": keras.backend.backend(), "cpus": os.cpu_count(),
        "train_seconds": round(train_seconds, 1), "epochs": len(clf.history_["phase"]),
        "threshold": float(clf.threshold),
        "validation": {k: metrics[k]["value"] for k in ("roc_auc", "recall", "specificity")},
        "test_dev": {"roc_auc": report.roc_auc, "roc_auc_interval": report.confidence_intervals["roc_auc"],
                     "sensitivity": report.recall, "specificity": report.specificity},
    }


def append_run(out, row, name):
    """Append ``row`` to ``out/runs.jsonl`` and print its headline numbers under ``name``."""
    with open(Path(out) / "runs.jsonl", "a") as f:
        f.write(json.dumps(row, default=float) + "\n")
    t = row["test_dev"]
    print(f"{name}: {row['train_seconds']:.0f} s, validation AUC {row['validation']['roc_auc']:.4f}, "
          f"test-dev AUC {t['roc_auc']:.4f} sens {t['sensitivity']:.3f} spec {t['specificity']:.3f}", flush=True)


def read_runs(out):
    path = Path(out) / "runs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rule_rates(run, target):
    """Test-dev sensitivity and specificity at the threshold a rule chooses on the run's validation scores."""
    from skpneumo.evaluation import choose_threshold

    scores = run["scores"]
    point = choose_threshold(np.array(scores["validation_true"]), np.array(scores["validation_score"]),
                             target_sensitivity=target)
    return rates(scores["test_dev_true"], scores["test_dev_score"], point.threshold)


def rules_table(runs, focus):
    """Markdown: each threshold rule's test-dev sensitivity and specificity, over all runs and ``focus``'s."""
    lines = ["| Rule on validation patients | All runs: sens. mean (min) | All runs: spec. mean (min) "
             f"| {focus}: sens. per seed | {focus}: spec. per seed |", "|---|---|---|---|---|"]
    for target in (0.95, 0.93, 0.92, 0.90, 0.85, None):
        every = np.array([rule_rates(r, target) for r in runs])
        mine = [rule_rates(r, target) for r in runs if r["recipe"] == focus]
        name = "Youden's J" if target is None else f"sensitivity {target:.2f}"
        lines.append(f"| {name} | {every[:, 0].mean():.3f} ({every[:, 0].min():.3f}) "
                     f"| {every[:, 1].mean():.3f} ({every[:, 1].min():.3f}) "
                     f"| {', '.join(f'{a:.3f}' for a, _ in mine)} | {', '.join(f'{b:.3f}' for _, b in mine)} |")
    return lines


def ensemble(runs):
    """Mean scores of several runs of one recipe, thresholded by the search's rule on their validation scores."""
    from skpneumo.evaluation import bootstrap_intervals, choose_threshold

    first = runs[0]["scores"]
    val_true = np.array(first["validation_true"])
    val = np.mean([r["scores"]["validation_score"] for r in runs], axis=0)
    y = np.array(first["test_dev_true"])
    s = np.mean([r["scores"]["test_dev_score"] for r in runs], axis=0)
    threshold = choose_threshold(val_true, val, target_sensitivity=THRESHOLD_RULE).threshold
    intervals = bootstrap_intervals(y, s, threshold, groups=np.array(first["test_dev_groups"]),
                                    n_bootstrap=N_BOOTSTRAP, random_state=0)
    from sklearn.metrics import roc_auc_score

    sensitivity, specificity = rates(y, s, threshold)
    return {"roc_auc": roc_auc_score(y, s), "roc_auc_interval": intervals["roc_auc"],
            "sensitivity": sensitivity, "specificity": specificity}


def summarise(out):
    """Markdown tables: one row per run, then the mean of each recipe's seeds and their ensemble."""
    order = list(RECIPES)
    runs = sorted(read_runs(out), key=lambda r: (r["seed"] > 1, order.index(r["recipe"]), r["seed"]))
    lines = ["| Recipe | Seed | Train time | Epochs | Validation ROC AUC | Threshold | Test-dev ROC AUC (95% CI) "
             "| Test-dev sens. / spec. |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        t = r["test_dev"]
        lo, hi = t["roc_auc_interval"]
        lines.append(f"| {r['recipe']} | {r['seed']} | {r['train_seconds']:.0f} s | {r['epochs']} "
                     f"| {r['validation']['roc_auc']:.4f} | {r['threshold']:.3f} | {t['roc_auc']:.4f} "
                     f"({lo:.3f}-{hi:.3f}) | {t['sensitivity']:.3f} / {t['specificity']:.3f} |")
    lines += ["", "| Recipe | Seeds | Mean test-dev ROC AUC | Mean sens. / spec. | Ensemble of the seeds: "
              "ROC AUC (95% CI), sens. / spec. |", "|---|---|---|---|---|"]
    by_recipe = {}
    for r in runs:
        by_recipe.setdefault(r["recipe"], []).append(r)
    for recipe, group in by_recipe.items():
        mean = {k: np.mean([r["test_dev"][k] for r in group]) for k in ("roc_auc", "sensitivity", "specificity")}
        cell = ""
        if len(group) > 1:
            e = ensemble(group)
            cell = (f"{e['roc_auc']:.4f} ({e['roc_auc_interval'][0]:.3f}-{e['roc_auc_interval'][1]:.3f}), "
                    f"{e['sensitivity']:.3f} / {e['specificity']:.3f}")
        lines.append(f"| {recipe} | {', '.join(str(r['seed']) for r in group)} | {mean['roc_auc']:.4f} "
                     f"| {mean['sensitivity']:.3f} / {mean['specificity']:.3f} | {cell} |")
    lines += ["", *rules_table(runs, PRESET_04)]
    text = "\n".join(lines) + "\n"
    (Path(out) / "summary.md").write_text(text)
    return text


def run_in_processes(commands, jobs, budget=None):
    """Run ``commands`` (argument lists), at most ``jobs`` at a time, in order; the failed ones.

    With ``budget`` (seconds), no command starts once it is spent; those running finish.
    """
    started, running, failed = time.perf_counter(), [], []
    commands = list(commands)
    while commands or running:
        for p in [p for p in running if p.poll() is not None]:
            running.remove(p)
            if p.returncode:
                failed.append(p.args)
        budget_left = budget is None or time.perf_counter() - started < budget
        if commands and len(running) < jobs and budget_left:
            running.append(subprocess.Popen(commands.pop(0)))
        elif not budget_left and not running:
            break
        else:
            time.sleep(1)
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA), help="folder holding train/ and test-dev/")
    parser.add_argument("--out", required=True, help="output folder (runs.jsonl, summary.md)")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES), metavar="NAME")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at a time, each in its own process")
    parser.add_argument("--budget", type=float, default=None, help="start no run after this many seconds")
    parser.add_argument("--summarise", action="store_true", help="only write the tables")
    parser.add_argument("--one", nargs=2, metavar=("RECIPE", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.one:
        run_one(args.one[0], int(args.one[1]), args.data, out)
        return
    if not args.summarise:
        for folder in ("train", "test-dev"):
            if not (Path(args.data) / folder).is_dir():
                parser.error(f"no {folder}/ folder in {args.data}")
        done = {(r["recipe"], r["seed"]) for r in read_runs(out)}
        # Seed by seed, so that an interrupted search has every recipe once before any twice.
        todo = [(recipe, seed) for seed in args.seeds for recipe in args.recipes if (recipe, seed) not in done]
        run_in_processes([[sys.executable, __file__, "--data", args.data, "--out", str(out), "--one", recipe, str(seed)]
                          for recipe, seed in todo], args.jobs, budget=args.budget)
    print(summarise(out))


if __name__ == "__main__":
    main()

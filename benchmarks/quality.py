"""Model quality on real chest X-rays, and how it holds under acquisition changes.

Three parts of the training films, by patient (no patient in two parts):

- **fit** (60%): what the network trains on;
- **validation** (20%): early stopping and the decision threshold;
- **report** (20%): never trained or selected on; scored clean and under each change of
  :data:`skpneumo.evaluation.ACQUISITION_SHIFTS` (blur, downscale, sharpen, gamma,
  contrast, noise, JPEG, CLAHE) at the stored threshold and at the thresholds other
  rules would have stored, so that recipes and threshold rules are chosen on what
  survives the changes, not on clean AUC alone::

    python benchmarks/quality.py --preset cpu --weights none --out bench-cpu
    python benchmarks/quality.py --preset cpu --weights none --patients 0.4 \\
        --set sharpness=0.5 --out bench-sharp      # one ablation, 40% of the patients

``--set name=value`` overrides one pipeline parameter (any ``make_pipeline`` argument;
values are Python literals, ``CLAHE(...)`` or ``ImageSMOTE(...)``); ``--patients F`` uses
a random fraction F of the patients, for quick studies; ``--seed`` seeds the training
while ``--split-seed`` keeps the three parts. ``--test DIR`` scores a test folder once at
the end: it is never used for a choice.
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
N_BOOTSTRAP = 1000


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


def rates(y_true, y_score, threshold):
    """Sensitivity and specificity of ``y_score >= threshold`` (``y_true``: 1 positive)."""
    sick = np.asarray(y_true) == 1
    called = np.asarray(y_score) >= threshold
    return float(np.mean(called[sick])), float(np.mean(~called[~sick]))


def threshold_rules(stored, y_val, s_val, stressed_val):
    """The threshold each rule would store, all from validation patients only."""
    from skpneumo.evaluation import choose_threshold

    pooled_y = np.concatenate([y_val] + [y for y, _ in stressed_val])
    pooled_s = np.concatenate([s_val] + [s for _, s in stressed_val])
    return {
        "stored": stored,
        "0.5": 0.5,
        "youden": choose_threshold(y_val, s_val).threshold,
        "sensitivity 0.95": choose_threshold(y_val, s_val, target_sensitivity=0.95).threshold,
        "youden, stressed validation": choose_threshold(pooled_y, pooled_s).threshold,
    }


def stress_table(reports, thresholds):
    """Markdown: AUC, then sensitivity/specificity at each rule's threshold, per change."""
    head = "| change | ROC AUC | " + " | ".join(f"{name} ({t:.3f})" for name, t in thresholds.items()) + " |"
    lines = [head, "|" + "---|" * (2 + len(thresholds))]
    for name, report in reports.items():
        cells = ["{:.3f} / {:.3f}".format(*rates(report.y_true, report.y_score, t)) for t in thresholds.values()]
        lines.append(f"| {name} | {report.roc_auc:.4f} | " + " | ".join(cells) + " |")
    worst = {rule: min(rates(r.y_true, r.y_score, t)[1] for r in reports.values())
             for rule, t in thresholds.items()}
    lines.append("| worst specificity | | " + " | ".join(f"{w:.3f}" for w in worst.values()) + " |")
    return "\n".join(lines) + "\n(sensitivity / specificity at each rule's threshold)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default=str(DEFAULT_TRAIN), help="train folder (NORMAL/, PNEUMONIA/)")
    parser.add_argument("--test", help="test folder, scored once at the end")
    parser.add_argument("--preset", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--weights", default="imagenet", help="imagenet, none or a weights file")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--patients", type=float, default=1.0, help="fraction of patients used")
    parser.add_argument("--seed", type=int, default=0, help="seeds the training")
    parser.add_argument("--split-seed", type=int, default=0, help="seeds the patient subset and parts")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--save-model", action="store_true", help="also write the model folder")
    args = parser.parse_args(argv)

    import keras
    from sklearn.model_selection import StratifiedGroupKFold

    from skpneumo import evaluate, fit_model, load_chest_xray, save_model, stress_report
    from skpneumo.datasets import load_split

    params = {"preset": args.preset,
              "weights": None if args.weights.lower() == "none" else args.weights}
    for item in args.set:
        name, _, value = item.partition("=")
        params[name] = parse_value(value)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    paths, labels, groups = patient_subset(load_chest_xray(args.train), args.patients, args.split_seed)
    parts = StratifiedGroupKFold(5, shuffle=True, random_state=args.split_seed)
    rest, report_idx = next(parts.split(paths, labels, groups))
    fit_val_paths, fit_val_labels, fit_val_groups = paths[rest], labels[rest], groups[rest]
    # 25% of the remaining 80% of the patients: the validation part is 20% of the whole.
    from skpneumo.workflows import patient_validation_split

    _, val_idx = patient_validation_split(fit_val_groups, fit_val_labels, 0.25, args.split_seed)
    print(f"{len(paths)} images of {len(set(groups))} patients: {len(rest) - len(val_idx)} fit, "
          f"{len(val_idx)} validation, {len(report_idx)} report; params {params}", file=sys.stderr)
    t0 = time.perf_counter()
    pipe, _ = fit_model(fit_val_paths, fit_val_labels, fit_val_groups, params=params, val_size=0.25,
                        split_random_state=args.split_seed, random_state=args.seed, quiet=False)
    train_seconds = time.perf_counter() - t0
    clf = pipe[-1]
    results = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "params": {k: repr(v) for k, v in params.items()},
        "n_images": len(paths), "n_patients": len(set(groups)),
        "n_fit": len(rest) - len(val_idx), "n_validation": len(val_idx), "n_report": len(report_idx),
        "train_seconds": round(train_seconds, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "epochs_run": {f"phase {p}": int(np.sum(np.array(clf.history_["phase"]) == p))
                       for p in sorted(set(clf.history_["phase"]))},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "keras": keras.__version__, "backend": keras.backend.backend()},
    }
    val_paths, val_labels = fit_val_paths[val_idx], fit_val_labels[val_idx]
    val_stress = stress_report(pipe, val_paths, val_labels)
    val_clean = val_stress.pop("clean")
    thresholds = threshold_rules(float(clf.threshold), val_clean.y_true, val_clean.y_score,
                                 [(r.y_true, r.y_score) for r in val_stress.values()])
    results["thresholds"] = thresholds
    results["validation"] = val_clean.to_dict()

    t0 = time.perf_counter()
    reports = stress_report(pipe, paths[report_idx], labels[report_idx], n_bootstrap=N_BOOTSTRAP)
    results["stress_seconds"] = round(time.perf_counter() - t0, 1)
    reports["clean"].save(out / "report")
    results["report"] = reports["clean"].to_dict()
    results["stress"] = {
        name: {"roc_auc": r.roc_auc, "roc_auc_interval": r.confidence_intervals.get("roc_auc"),
               **{rule: dict(zip(("sensitivity", "specificity"), rates(r.y_true, r.y_score, t)))
                  for rule, t in thresholds.items()}}
        for name, r in reports.items()
    }
    # Scores under every change, for threshold rules studied after the run.
    np.savez_compressed(out / "scores.npz", **{
        f"{part} {name} {kind}": getattr(report, f"y_{kind}")
        for part, group in (("validation", {"clean": val_clean, **val_stress}), ("report", reports))
        for name, report in group.items() for kind in ("true", "score")})
    table = stress_table(reports, thresholds)
    results["stress_table"] = table
    print("validation part (early stopping and threshold):\n" + val_clean.summary())
    print("report part (never trained or selected on):\n" + reports["clean"].summary())
    print(table)
    if args.test:
        test = load_split(args.test, "test")
        report = evaluate(pipe, test.paths, test.labels)
        report.save(out / "test")
        results["test"] = report.to_dict()
        print("test:\n" + report.summary())
    if args.save_model:
        save_model(pipe, out / "model")
    (out / "benchmark.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"trained in {train_seconds:.0f} s, peak RSS {results['peak_rss_mb']} MB; "
          f"results in {out}/benchmark.json")


if __name__ == "__main__":
    main()

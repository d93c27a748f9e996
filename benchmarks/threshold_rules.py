"""Which threshold rule holds under acquisition changes: a study of quality.py's scores.

Each ``benchmarks/quality.py`` run saves ``scores.npz``: the labels and scores of its
validation and report parts, clean and under every change of the stress report. For
each rule (chosen on the validation part only) this prints the threshold, the report
part's clean sensitivity and specificity, the lowest sensitivity and specificity over
all changes and the mean specificity over them, per run::

    python benchmarks/threshold_rules.py bench-base bench-gamma bench-clahe
"""

import argparse
from pathlib import Path

import numpy as np
from quality import rates  # benchmarks/ is on the path of its own scripts


def load_scores(folder):
    """``{part: {change: (y_true, y_score)}}`` from a run's ``scores.npz``."""
    data = np.load(Path(folder) / "scores.npz")
    parts = {}
    for key in data.files:
        part, rest = key.split(" ", 1)
        change, kind = rest.rsplit(" ", 1)
        parts.setdefault(part, {}).setdefault(change, {})[kind] = data[key]
    return {part: {c: (v["true"], v["score"]) for c, v in changes.items()} for part, changes in parts.items()}


def rules(validation):
    """Threshold of each rule, from the validation part (clean, or pooled over all changes)."""
    from skpneumo.evaluation import choose_threshold

    clean = validation["clean"]
    pooled = tuple(np.concatenate([v[i] for v in validation.values()]) for i in (0, 1))
    found = {"0.5": 0.5, "youden": choose_threshold(*clean).threshold,
             "youden, stressed": choose_threshold(*pooled).threshold}
    for target in (0.9, 0.93, 0.95, 0.97):
        found[f"sensitivity {target}"] = choose_threshold(*clean, target_sensitivity=target).threshold
        found[f"sensitivity {target}, stressed"] = choose_threshold(*pooled, target_sensitivity=target).threshold
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="output folders of quality.py")
    args = parser.parse_args(argv)
    print("| run | rule | threshold | clean sens. / spec. | worst sens. / worst spec. under changes | mean spec. |")
    print("|---|---|---|---|---|---|")
    for run in args.runs:
        scores = load_scores(run)
        for rule, threshold in rules(scores["validation"]).items():
            clean = rates(*scores["report"]["clean"], threshold)
            under = [rates(*v, threshold) for v in scores["report"].values()]
            print(f"| {Path(run).name} | {rule} | {threshold:.3f} | {clean[0]:.3f} / {clean[1]:.3f} | "
                  f"{min(u[0] for u in under):.3f} / {min(u[1] for u in under):.3f} | "
                  f"{np.mean([u[1] for u in under]):.3f} |")


if __name__ == "__main__":
    main()

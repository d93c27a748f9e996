"""Bootstrap confidence intervals: vectorised (skpneumo.evaluation.bootstrap) versus a loop of sklearn calls.

Run: ``python benchmarks/bootstrap.py [--n-samples 5000] [--n-bootstrap 1000]``.
Both compute percentile intervals of ROC AUC, sensitivity and specificity from the
same resamples (drawn here once, as index arrays), so the intervals must agree; the
script checks that and prints the times and their ratio, resampling images and then
patients (three images per patient).
"""

import argparse
import time

import numpy as np
from sklearn.metrics import recall_score, roc_auc_score

from skpneumo.evaluation.bootstrap import _weighted_metrics, bootstrap_intervals


def loop_metrics(y, p, threshold, draws):
    """One roc_auc_score and two recall_score calls per resample: the obvious way."""
    rows = []
    for idx in draws:
        pred = p[idx] >= threshold
        rows.append([roc_auc_score(y[idx], p[idx]), recall_score(y[idx], pred),
                     recall_score(y[idx], pred, pos_label=0)])
    return np.array(rows)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=5000)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, b = args.n_samples, args.n_bootstrap
    y = rng.integers(0, 2, n)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1), 3)  # ties, as float32 outputs have

    # Same resamples for both: the vectorised metrics take them as count weights.
    draws = rng.integers(0, n, (b, n))
    weights = np.stack([np.bincount(d, minlength=n) for d in draws]).astype(float)
    loop, t_loop = timed(loop_metrics, y, p, 0.5, draws)
    vector, t_vector = timed(_weighted_metrics, weights, y.astype(bool), p, 0.5)
    assert np.allclose(loop, vector, rtol=0, atol=1e-12), "the two methods disagree"
    print(f"{n} predictions, {b} resamples of images (same resamples, metrics agree to 1e-12):")
    print(f"  loop of sklearn calls   {t_loop:8.3f} s")
    print(f"  vectorised              {t_vector:8.3f} s   ({t_loop / t_vector:.0f}x faster)")

    _, t_samples = timed(bootstrap_intervals, y, p, 0.5, n_bootstrap=b, random_state=0)
    _, t_groups = timed(bootstrap_intervals, y, p, 0.5, n_bootstrap=b, random_state=0,
                        groups=np.arange(n) // 3)
    print("bootstrap_intervals end to end (drawing included):")
    print(f"  resampling images       {t_samples:8.3f} s")
    print(f"  resampling patients     {t_groups:8.3f} s")


if __name__ == "__main__":
    main()

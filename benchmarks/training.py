"""Phase-1 training time: cached backbone features versus the full network.

In phase 1 the backbone is frozen. Without augmentation every epoch computes the
same backbone features again; ``cache_features=True`` computes them once and
trains the head on them. Both fits run here on the same real images, with the
same seed, and must give the same probabilities::

    python benchmarks/training.py --images 256 --epochs 10

ResNet-50 at 224x224 with random weights: the cost is that of ImageNet weights,
which cannot be downloaded here.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray" / "train"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default=str(DEFAULT_TRAIN))
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--backbone", default="resnet50")
    args = parser.parse_args(argv)

    from sklearn.model_selection import train_test_split

    from skpneumo import PneumoniaClassifier, load_chest_xray, make_pipeline

    data = load_chest_xray(args.train)
    paths, _, labels, _ = train_test_split(data.paths, data.labels, train_size=args.images,
                                           stratify=data.labels, random_state=0)
    X = make_pipeline(size=args.size)[:-1].transform(paths)  # every step but clf (SMOTE skipped)
    params = dict(backbone=args.backbone, weights=None, augment=False, epochs=args.epochs,
                  fine_tune_epochs=0, random_state=0)
    results = {}
    for cache in (False, True):
        clf = PneumoniaClassifier(**params, cache_features=cache)
        start = time.perf_counter()
        clf.fit(X, labels)
        results[cache] = (time.perf_counter() - start, clf.predict_proba(X)[:, 1])
    (uncached, p_full), (cached, p_cached) = results[False], results[True]
    n = args.images * args.epochs
    print(f"{args.backbone} at {args.size}px, {args.images} images x {args.epochs} epochs, "
          f"{os.cpu_count()} CPUs")
    print(f"  full network    {uncached:7.1f} s  {n / uncached:7.1f} img-epochs/s")
    print(f"  cached features {cached:7.1f} s  {n / cached:7.1f} img-epochs/s")
    print(f"  speed-up {uncached / cached:.1f}x; max |p_cached - p_full| = "
          f"{np.abs(p_cached - p_full).max():.2e}")


if __name__ == "__main__":
    main()

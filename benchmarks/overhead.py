"""Wrapper overhead: the fitted pipeline's predict_proba against the bare Keras model.

Both predict the same preloaded, preprocessed float32 batch with the same batch
size; repeats alternate between them so that machine load affects both alike. The
pipeline's own work (the loader and preprocessing steps passing the batch through,
the input checks) is also timed alone: it is what the wrapper adds.

    python benchmarks/overhead.py [--backbone smallcnn] [--n-images 256] [--repeats 7]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from skpneumo import make_pipeline  # noqa: E402
from skpneumo.network import check_input_images  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="smallcnn")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.random((args.n_images, args.size, args.size, 3), dtype=np.float32)
    y = np.array(["NORMAL", "PNEUMONIA"] * 8)
    pipe = make_pipeline(weights=None, backbone=args.backbone, size=args.size, epochs=1, fine_tune_epochs=0,
                         batch_size=args.batch_size, random_state=0, smote=None)
    pipe.fit(X[:16], y)
    model = pipe[-1].model_

    def wrapped():
        return pipe.predict_proba(X)[:, 1]

    def bare():
        return model.predict(X, batch_size=args.batch_size, verbose=0)[:, 0]

    def steps_before_keras():
        return check_input_images(pipe[:-1].transform(X))

    np.testing.assert_allclose(wrapped(), bare(), rtol=1e-6)  # also warms both up
    runs = (("pipeline.predict_proba", wrapped), ("keras Model.predict", bare),
            ("skpneumo checks only", steps_before_keras))
    times = {name: [] for name, _ in runs}
    for _ in range(args.repeats):
        for name, run in runs:
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.backbone} at {args.size}px, {args.n_images} preloaded float32 images, batch {args.batch_size}, "
          f"median of {args.repeats} interleaved repeats:")
    for name, value in medians.items():
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(f"  {name:24s} {value:7.3f} s  ({args.n_images / value:6.1f} img/s)  runs: {runs}")
    bare_median = medians["keras Model.predict"]
    ratio = medians["pipeline.predict_proba"] / bare_median
    paired = statistics.median(w / b for w, b in zip(times["pipeline.predict_proba"], times["keras Model.predict"]))
    print(f"  pipeline / keras, ratio of medians          {ratio:.3f}  ({100 * (ratio - 1):+.1f}%)")
    print(f"  pipeline / keras, median of paired ratios   {paired:.3f}  ({100 * (paired - 1):+.1f}%)")
    print(f"  skpneumo checks / keras                     {medians['skpneumo checks only'] / bare_median:.3f}")


if __name__ == "__main__":
    main()

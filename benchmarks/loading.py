"""Loading and preprocessing speed: skpneumo against the loops a user would write.

Every method turns the same JPEG files into one float32 array of shape
(n, 224, 224, 3) in [0, 1] (decode, resize, grayscale to RGB, normalize):

- skpneumo: ``make_pipeline()[:-1].transform(paths)`` (all cores, reduced JPEG
  decoding, the per-image steps fused into the decoding threads);
- PIL loop: ``Image.open(p).convert("RGB").resize((224, 224))`` / 255, sequential;
- keras: ``keras.utils.image_dataset_from_directory`` iterated to the end, / 255;
- bare decode: ``cv2.imdecode`` of the files' bytes already in memory, sequential
  and on 2 threads, nothing else: the limit the decoder itself sets. On the large
  files the reduced decode skpneumo uses is timed bare as well.

Two references without decoding say where the rest of the time goes: skpneumo's
``uint8`` stage (load, resize, rgb: what SMOTE gets in ``fit``) and writing a
fresh float32 output array of the same size (``np.empty`` + ``fill``), which every
method producing float32 pays: on some virtual machines fresh memory is slower
than decoding.

Two data sets: the real 224 px chest X-rays in ``../shared/data/chest_xray/train``
and large synthetic grayscale radiographs (1500 x 1800, the size of the original
films) written to a temporary folder and deleted afterwards. Each method runs
``--repeats`` times, interleaved, and the best time counts (the machine is shared).

Run: python benchmarks/loading.py [--n-real 2000] [--n-large 100] [--repeats 3]
"""

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from skpneumo import make_pipeline  # noqa: E402
from skpneumo.datasets import load_chest_xray  # noqa: E402
from skpneumo.datasets.synthetic import render_xray  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray" / "train"
SIZE = 224
LARGE_SHAPE = (1500, 1800)


def skpneumo_pipeline(paths, folder):
    return make_pipeline(size=SIZE)[:-1].transform(paths)


def skpneumo_uint8(paths, folder):
    make_pipeline(size=SIZE)[:4].transform(paths)  # load, resize, clahe (off), rgb


def fresh_float32(paths, folder):
    np.empty((len(paths), SIZE, SIZE, 3), np.float32).fill(0)


def pil_loop(paths, folder):
    out = np.empty((len(paths), SIZE, SIZE, 3), np.float32)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            out[i] = np.asarray(image.convert("RGB").resize((SIZE, SIZE)), np.float32) / 255
    return out


def keras_dataset(paths, folder):
    import keras

    data = keras.utils.image_dataset_from_directory(
        folder, labels=None, image_size=(SIZE, SIZE), batch_size=32, shuffle=False,
        color_mode="rgb", verbose=False,
    ).map(lambda x: x / 255.0)
    return np.concatenate([batch.numpy() for batch in data])


def _decoder(flag, n_threads):
    def decode(blobs):
        def block(start):
            for blob in blobs[start:start + 16]:
                cv2.imdecode(blob, flag)

        starts = range(0, len(blobs), 16)
        if n_threads == 1:
            for start in starts:
                block(start)
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(block, starts))
    return decode


def make_large(folder, n, seed=0):
    """``n`` grayscale JPEGs of 1500 x 1800: a few rendered radiographs plus noise."""
    rng = np.random.default_rng(seed)
    bases = [render_xray(rng, LARGE_SHAPE[1], i % 2 == 1)[:LARGE_SHAPE[0]] for i in range(6)]
    paths = []
    for i in range(n):
        noise = rng.normal(0, 1.0, LARGE_SHAPE).astype(np.float32)
        image = np.clip(bases[i % len(bases)] + noise, 0, 255).astype(np.uint8)
        path = folder / f"large-{i:04d}.jpeg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(str(path))
    return paths


def run(name, paths, folder, repeats, bare):
    """Time every method on ``paths``; ``bare`` maps labels to (function, data) pairs."""
    methods = {
        "skpneumo pipeline": (skpneumo_pipeline, paths),
        "PIL loop (sequential)": (pil_loop, paths),
        "keras image_dataset_from_directory": (keras_dataset, paths),
        **bare,
        "skpneumo uint8 stage (no normalize)": (skpneumo_uint8, paths),
        "fresh float32 output only (no decode)": (fresh_float32, paths),
    }
    best = dict.fromkeys(methods, np.inf)
    for _ in range(repeats):
        for label, (function, data) in methods.items():
            start = time.perf_counter()
            result = function(data, folder)
            best[label] = min(best[label], time.perf_counter() - start)
            if result is not None:
                assert result.shape == (len(paths), SIZE, SIZE, 3) and result.dtype == np.float32, label
            del result
    print(f"\n{name}: {len(paths)} images, best of {repeats}")
    ours = best["skpneumo pipeline"]
    for label, seconds in best.items():
        print(f"  {label:44s} {len(paths) / seconds:8.0f} images/s   "
              f"time = {seconds / ours:5.2f} x skpneumo's")
    return best


def bare_methods(paths, flags):
    blobs = [np.fromfile(path, np.uint8) for path in paths]
    methods = {}
    for label, flag in flags.items():
        for n_threads in (1, 2):
            decode = _decoder(flag, n_threads)
            methods[f"bare {label} ({n_threads} thread{'s' * (n_threads > 1)})"] = (
                lambda data, folder, decode=decode: decode(data), blobs)
    return methods


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-real", type=int, default=2000, help="real 224 px images (default 2000)")
    parser.add_argument("--n-large", type=int, default=100, help="large synthetic images (default 100)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}")
    # Decoding dominates only once Python, OpenCV and TensorFlow are warm.
    skpneumo_pipeline([str(p) for p in sorted(REAL.glob("*/*.jpeg"))[:64]], None)

    with tempfile.TemporaryDirectory(prefix="skpneumo-bench-") as tmp:
        tmp = Path(tmp)
        real = load_chest_xray(REAL)
        paths = [str(p) for p in real.paths[np.random.default_rng(0).permutation(len(real.paths))]
                 [:args.n_real]]
        # image_dataset_from_directory reads a folder: link the chosen files into one.
        real_dir = tmp / "real"
        real_dir.mkdir()
        for i, path in enumerate(paths):
            os.symlink(path, real_dir / f"{i:05d}.jpeg")
        real_links = sorted(str(p) for p in real_dir.iterdir())
        real_best = run("real chest X-rays (224 x 224 JPEG)", real_links, real_dir, args.repeats,
                        bare_methods(real_links, {"decode": cv2.IMREAD_UNCHANGED}))
        shutil.rmtree(real_dir)

        large_dir = tmp / "large"
        large_dir.mkdir()
        t0 = time.perf_counter()
        large = make_large(large_dir, args.n_large)
        print(f"\n(wrote {len(large)} synthetic {LARGE_SHAPE[0]}x{LARGE_SHAPE[1]} grayscale JPEGs "
              f"in {time.perf_counter() - t0:.0f} s)")
        large_best = run(f"synthetic radiographs ({LARGE_SHAPE[0]} x {LARGE_SHAPE[1]} grayscale JPEG)",
                         large, large_dir, args.repeats,
                         bare_methods(large, {"full decode": cv2.IMREAD_UNCHANGED,
                                              "1/4 reduced decode": cv2.IMREAD_REDUCED_GRAYSCALE_4}))

    print("\nTargets (ratios of times):")
    for name, best, bare in [("real", real_best, "bare decode (2 threads)"),
                             ("large", large_best, "bare 1/4 reduced decode (2 threads)")]:
        ours = best["skpneumo pipeline"]
        print(f"  {name}: PIL / skpneumo = {best['PIL loop (sequential)'] / ours:.2f} (>= 2), "
              f"keras / skpneumo = {best['keras image_dataset_from_directory'] / ours:.2f} (>= 1.5), "
              f"skpneumo / {bare} = {ours / best[bare]:.2f} (<= 1.3)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

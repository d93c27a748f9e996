"""Use a saved skpneumo model from another application.

A fitted skpneumo pipeline saved with joblib (by ``skpneumo fit``, ``skpneumo demo``,
``skpneumo.save_model``, ``examples/quickstart.py --save`` or
``examples/grid_search_by_patient.py``) is a complete scikit-learn classifier whose
first step reads image files. An application therefore needs nothing but
``skpneumo.load_model`` (or ``joblib.load``): no preprocessing code, no Keras code, no
knowledge of the image size the network was trained on. It passes file paths and
gets probabilities::

    python examples/load_saved_model.py MODEL.joblib IMAGE [IMAGE ...]
    python examples/load_saved_model.py grid_search_best.joblib xray1.jpeg xray2.png > out.csv

Output: CSV on stdout with the columns ``path``, ``probability`` (of the positive
class: the classifier's ``pos_label_``, ``PNEUMONIA`` for the usual labels) and ``label`` (the
prediction of ``model.predict``, which applies the model's decision threshold).
Errors go to stderr, with exit status 1.

Requirements and cautions:

- skpneumo and its dependencies (TensorFlow/Keras, scikeras, scikit-learn,
  imbalanced-learn, OpenCV) must be installed: unpickling imports them. Use the
  same versions as the machine that saved the model.
- A joblib file is a pickle, and loading a pickle can run arbitrary code: only load
  model files from a source you trust.
- Set ``TF_CPP_MIN_LOG_LEVEL=2`` in the environment to reduce TensorFlow's log output.
"""

import argparse
import csv
import sys
from pathlib import Path

import skpneumo


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Print path, probability and label for chest X-ray images, "
                    "using a skpneumo model saved with joblib.")
    parser.add_argument("model", type=Path, help="model file saved with joblib.dump")
    parser.add_argument("images", type=Path, nargs="+", help="image files (JPEG, PNG, ...)")
    args = parser.parse_args(argv)

    try:
        model = skpneumo.load_model(args.model)
    except skpneumo.ModelFileError as exc:  # missing, corrupt, or not a fitted classifier
        print(f"error: {exc}", file=sys.stderr)
        return 1

    classes = list(model.classes_)
    positive = "PNEUMONIA" if "PNEUMONIA" in classes else classes[1]
    paths = [str(path) for path in args.images]
    try:
        # File paths go straight in: the pipeline loads, resizes and normalizes them.
        # (predict runs the network a second time; for large batches, threshold the
        # probabilities yourself.)
        probabilities = model.predict_proba(paths)[:, classes.index(positive)]
        labels = model.predict(paths)
    except ValueError as exc:  # skpneumo.ImageReadError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 1

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["path", "probability", "label"])
    for path, probability, label in zip(paths, probabilities, labels):
        writer.writerow([path, f"{probability:.6f}", label])
    return 0


if __name__ == "__main__":
    sys.exit(main())

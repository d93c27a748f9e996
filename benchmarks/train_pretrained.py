"""Train the shipped model ``kermany-v2``, or check a shipped model against its card.

Trains the ``cpu`` preset from scratch (``weights=None``, ``random_state=0``) on the
5,216 training films of Kermany et al. through :func:`skpneumo.fit_model`, which holds
out the preset's 20% of the patients for early stopping, the threshold and the card's
validation metrics, then scores the test-dev films (new patients: half of the official
test split) once at the stored threshold for the card, and writes the model folder::

    python benchmarks/train_pretrained.py --out skpneumo/pretrained/kermany-v2
    python benchmarks/train_pretrained.py --check kermany-v2 --out /tmp/retrained

``--test-dev`` names the test-dev folder (default: beside the training folder; none
skips it). It never chooses anything: the epoch and the threshold come from the
validation patients of the training split.

``--check NAME`` retrains into ``--out`` and compares the new card with the shipped
one: the same films (counts and SHA-256 of the file names) and validation metrics
within ``--tolerance`` (training on another machine or library version is not
bit-identical). Exit status 1 when they differ.
"""

import argparse
import json
import sys
from pathlib import Path

DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray" / "train"
TEST_DEV = (
    "Half of the official test split of the same data set (624 films), split by patient by the project's "
    "maintainers; the other half is kept for a final check. New patients: none of them trained the model, "
    "chose its epoch or its threshold. Same collection as the training films."
)

SUMMARY = (
    "Pneumonia on pediatric frontal chest X-rays, from scratch on CPUs: the `cpu` preset of "
    "skpneumo trained on the 5,216 training films of Kermany et al. (80% of the patients trained, "
    "the other 20% chose the epoch and the threshold and give the validation metrics). Ships inside "
    "the package; `skpneumo.pretrained()` loads it offline."
)
DATA_SOURCE = (
    "Kermany et al. chest X-ray images (training split: 1,341 NORMAL and 3,875 PNEUMONIA films): "
    "anterior-posterior films of children aged one to five, from Guangzhou Women and Children's "
    "Medical Center, one hospital; labels graded by physicians. Licence: CC BY 4.0."
)
CITATION = (
    "Kermany DS, Goldbaum M, Cai W, et al. Identifying Medical Diagnoses and Treatable Diseases by "
    "Image-Based Deep Learning. Cell 2018;172(5):1122-1131.e9. doi:10.1016/j.cell.2018.02.010. "
    "Data: Kermany D, Zhang K, Goldbaum M. Labeled Optical Coherence Tomography (OCT) and Chest X-Ray "
    "Images for Classification. Mendeley Data, v2, 2018. doi:10.17632/rscbjbr9sj.2 (CC BY 4.0)."
)
EXTRA_LIMITS = (
    "Children (one to five years) of one hospital: not validated on adults or on other hospitals; "
    "validate on local patients before any use.",
)


def compare(shipped, new, tolerance):
    """Differences between two cards, as sentences; empty when they agree."""
    problems = []
    for part in ("training_data", "validation"):
        for key in ("n_images", "class_counts", "n_patients", "file_names_sha256"):
            if (shipped[part] or {}).get(key) != (new[part] or {}).get(key):
                problems.append(f"{part}.{key}: shipped {shipped[part].get(key)!r}, retrained {new[part].get(key)!r}")
    for metric in ("roc_auc", "recall", "specificity"):
        a = shipped["validation"]["report"]["metrics"][metric]["value"]
        b = new["validation"]["report"]["metrics"][metric]["value"]
        if abs(a - b) > tolerance:
            problems.append(f"validation {metric}: shipped {a:.4f}, retrained {b:.4f} (tolerance {tolerance})")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default=str(DEFAULT_TRAIN), help="train folder (NORMAL/, PNEUMONIA/)")
    parser.add_argument("--out", required=True, help="the model folder to write (must not exist)")
    parser.add_argument("--check", metavar="NAME", help="compare with the card of this shipped model")
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--test-dev", help="test-dev folder (NORMAL/, PNEUMONIA/), or 'none'")
    parser.add_argument("--weights-dtype", choices=["float16", "float32"], default="float16",
                        help="how the folder stores the weights (float16: half the size; default)")
    args = parser.parse_args(argv)

    from skpneumo import evaluate, fit_model, load_chest_xray, save_model
    from skpneumo.network.pretrained import shipped_model_path
    from skpneumo.utils.files import check_output_file
    from skpneumo.workflows.model_card import LIMITATIONS, new_patients_entry

    # Bad arguments fail now, not after ten minutes of training.
    shipped = json.loads((shipped_model_path(args.check) / "model_card.json").read_text()) if args.check else None
    check_output_file(args.out)
    test_dev = args.test_dev or str(Path(args.train).parent / "test-dev")
    test = None if test_dev.lower() == "none" else load_chest_xray(test_dev)
    data = load_chest_xray(args.train)
    pipe, _ = fit_model(data.paths, data.labels, data.groups, params={"preset": "cpu", "weights": None},
                        random_state=0, quiet=False)
    pipe.model_card_.update(summary=SUMMARY, data_source=DATA_SOURCE, citation=CITATION,
                            limitations=[*EXTRA_LIMITS, *LIMITATIONS])
    if args.weights_dtype == "float16":
        # Round now, so that the test-dev numbers are those of the network as shipped
        # (the validation metrics and the threshold were taken before rounding).
        network = pipe.named_steps["clf"].model_
        network.set_weights([w.astype("float16").astype(w.dtype) for w in network.get_weights()])
    if test is not None:
        report = evaluate(pipe, test.paths, test.labels, groups=test.groups, random_state=0)
        pipe.model_card_["new_patients"] = [new_patients_entry("test-dev", TEST_DEV, report, test.paths,
                                                               test.labels, test.groups)]
        print("test-dev (new patients):\n" + report.summary())
    save_model(pipe, args.out, weights_dtype=args.weights_dtype)
    card = json.loads((Path(args.out) / "model_card.json").read_text())
    metrics = card["validation"]["report"]["metrics"]
    print(f"saved {args.out}: validation ROC AUC {metrics['roc_auc']['value']:.4f}, sensitivity "
          f"{metrics['recall']['value']:.3f}, specificity {metrics['specificity']['value']:.3f} at threshold "
          f"{card['threshold']['value']:.4f}; trained in {card['trained_seconds']:.0f} s")
    if args.check:
        problems = compare(shipped, card, args.tolerance)
        print("\n".join(problems) if problems else f"the retrained model matches the card of {args.check}")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

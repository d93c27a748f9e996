"""The ``skpneumo`` command line: demo, fit, evaluate, predict, explain and serve.

The top layer: argparse and one small function per command, each calling the
library (:mod:`skpneumo.workflows` and below). Nothing in the package imports it.
"""

import argparse
import csv
import importlib.abc
import importlib.util
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .exceptions import ModelFileError
from .utils.files import check_output_file

# The backbone names of skpneumo.network.BACKBONES, without importing Keras to parse arguments.
BACKBONE_NAMES = ["densenet121", "efficientnetb0", "mobilenetv3small", "resnet50", "smallcnn", "smallresnet"]

DEMO_IMAGE_SIZE = 64
DEMO_VAL_SIZE = 0.2
# The compact SmallCNN (the 0.3 cpu preset's network), from scratch at the images' own 64 px, whole network
# in one phase; early stopping on validation patients ends it after about 10 epochs.
DEMO_PARAMS = dict(weights=None, backbone="smallcnn", size=DEMO_IMAGE_SIZE, epochs=0, fine_tune_layers="all",
                   fine_tune_epochs=15, fine_tune_learning_rate=1e-3, batch_size=16)


class CLIError(Exception):
    """A failure to report as one line, without a traceback."""


def _load_split(data_dir, split, quiet_groups=False):
    """``load_split``, without the warning about file names lacking a patient id when
    ``quiet_groups`` (``--groups`` gives the patients, or ``evaluate`` reads them itself)."""
    from .datasets import load_split

    with warnings.catch_warnings():
        if quiet_groups:
            warnings.simplefilter("ignore", UserWarning)
        return load_split(data_dir, split)


def _expand_paths(items):
    from .io import is_image_name

    paths = []
    for item in items:
        if os.path.isdir(item):
            found = sorted(str(p) for p in Path(item).rglob("*") if p.is_file() and is_image_name(p.name))
            if not found:
                raise CLIError(f"no images found in folder '{item}'")
            paths.extend(found)
        else:
            paths.append(item)
    return paths


def _classifier_params(args):
    params = {}
    for name in ("epochs", "fine_tune_epochs", "batch_size", "learning_rate", "fine_tune_learning_rate"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    if args.fine_tune_layers is not None:
        params["fine_tune_layers"] = args.fine_tune_layers
    if args.backbone is not None:
        params["backbone"] = args.backbone
    if args.clahe:
        from .preprocessing import CLAHE

        params["clahe"] = CLAHE()
    if args.tta is not None:
        params["tta"] = None if args.tta == "none" else args.tta
    if args.image_size is not None:
        params["size"] = args.image_size
    if args.preset:
        params["preset"] = args.preset
    if args.weights is not None:
        params["weights"] = None if args.weights.lower() == "none" else args.weights
    if args.no_smote:
        params["smote"] = None
    if args.class_weight:
        params["class_weight"] = "balanced"
    if args.streaming:
        params["streaming"] = True
    return params


# ---------------------------------------------------------------- commands
def _threshold_rule(args):
    """fit_model's threshold_rule for --target-sensitivity/--youden; None: the preset's."""
    rule = "youden" if args.youden else args.target_sensitivity
    if rule is not None and args.val_size == 0:
        raise CLIError("--target-sensitivity and --youden choose the threshold on validation patients, "
                       "but --val-size 0 holds out nobody")
    if rule is not None and args.val_size is None and not args.preset:
        raise CLIError("--target-sensitivity and --youden choose the threshold on the validation "
                       "patients: add --val-size")
    return rule


def cmd_fit(args):
    """``skpneumo fit``: train on a folder, optionally choose the threshold, save the model."""
    from .datasets import read_groups

    threshold_rule = _threshold_rule(args)
    check_output_file(args.out)
    rank = 0
    if args.distributed:
        from .network.distributed import join

        rank, _ = join(args.coordinator, args.num_processes, args.process_id)
        args.quiet = args.quiet or rank > 0  # the first process alone reports and saves
    data = _load_split(args.data_dir, "train", quiet_groups=bool(args.groups))
    if args.groups:
        data.groups = read_groups(args.groups, data.paths)
    _say(args, f"training on {len(data.paths)} images ({_counts(data.labels)}) from {data.root}")
    t0 = time.perf_counter()
    from .workflows import fit_model, save_model

    pipe, validation = fit_model(
        data.paths, data.labels, data.groups, params=_classifier_params(args),
        val_size=args.val_size, threshold_rule=threshold_rule, random_state=args.random_state,
        quiet=args.quiet,
    )
    if rank > 0:
        return 0  # process 0 saves
    threshold = pipe.model_card_["threshold"]
    if threshold is not None:
        _say(args, f"threshold {threshold['value']:.4g} ({threshold['rule']}): sensitivity "
                   f"{threshold['sensitivity']:.3f}, specificity {threshold['specificity']:.3f} on "
                   f"{len(validation[1])} validation images")
    save_model(pipe, args.out)
    _say(args, f"trained in {time.perf_counter() - t0:.0f} s; model saved to {args.out}")
    return 0


def cmd_evaluate(args):
    """``skpneumo evaluate``: score a model on a labelled folder, print the report, and write it with --report."""
    from .datasets import read_groups
    from .evaluation import evaluate
    from .workflows import load_model

    if args.report is not None and Path(args.report).exists() and not Path(args.report).is_dir():
        raise CLIError(f"--report must be a folder, but '{args.report}' is a file")
    model = load_model(args.model)
    # evaluate reads the patients from the file names itself, and warns once if it cannot.
    data = _load_split(args.data_dir, args.split, quiet_groups=True)
    # Patients from --groups, else read from the file names by evaluate (and said so).
    groups = read_groups(args.groups, data.paths) if args.groups else "auto"
    # Paths: the pipeline streams them in chunks, every step applied exactly once.
    report = evaluate(model, data.paths, _truth(model, data), groups=groups if args.bootstrap_by == "patient" else None,
                      threshold=args.threshold, n_bootstrap=args.n_bootstrap, confidence=args.confidence,
                      random_state=args.random_state)
    written = None
    if args.report is not None:
        try:
            written = report.save(args.report)
        except OSError as exc:
            raise CLIError(str(exc)) from None
    print(report.summary())
    if written is not None:
        _say(args, f"report written to {Path(written['report.json']).parent}")
    return 0


def _truth(model, data):
    """The folder's classes as ``model`` knows them: ``target`` (0/1) for a model trained on it, else ``labels``."""
    from .utils.labels import find_label

    trained_on_target = all(find_label(model.classes_, value) is not None for value in (0, 1))
    return data.target if trained_on_target else data.labels


def _named(rows):
    """``rows`` with each predicted class by its name, so that 0/1 read as NORMAL/PNEUMONIA."""
    from .utils.labels import class_name

    return [{**row, "label": None if row["label"] is None else class_name(row["label"])} for row in rows]


def _override_threshold(model, args):
    """Apply ``--threshold`` to the model's classifier, if given."""
    if args.threshold is None:
        return
    from .estimators import skpneumo_classifier

    clf = skpneumo_classifier(model)
    if clf is None:
        raise CLIError(f"--threshold needs a skpneumo pipeline: '{args.model}' holds a "
                       f"{type(model).__name__}, which decides by its own rule")
    clf.set_params(threshold=args.threshold)


def cmd_predict(args):
    """``skpneumo predict``: a row per image (CSV or JSON), unreadable files reported."""
    if args.output:
        check_output_file(args.output)
    from .workflows import load_model

    model = load_model(args.model)
    _override_threshold(model, args)
    paths = _expand_paths(args.paths)
    if args.scheduler:
        from .workflows import predict_on_cluster

        rows = predict_on_cluster(model, paths, args.scheduler, quiet=args.quiet)
    else:
        from .workflows import predict_paths

        rows = predict_paths(model, paths, args.quiet)
    rows = _named(rows)
    for row in rows:
        if row["error"]:
            print(f"skpneumo: cannot read {row['path']}: {row['error']}", file=sys.stderr)
    if args.format == "json":
        text = json.dumps(rows, indent=2) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["path", "probability", "label", "error"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    if args.output:
        from .utils.files import write_file_atomically

        write_file_atomically(args.output, lambda tmp: Path(tmp).write_text(text))
    else:
        sys.stdout.write(text)
    return 1 if all(row["error"] for row in rows) else 0


def cmd_explain(args):
    """``skpneumo explain``: Grad-CAM overlays to --out, and a CSV row per image on stdout."""
    from .workflows import explain_paths, load_model

    model = load_model(args.model)
    paths = _expand_paths(args.paths)
    if Path(args.out).is_file():
        raise CLIError(f"--out must be a folder, but '{args.out}' is a file")
    rows = _named(explain_paths(model, paths, args.out, alpha=args.alpha, quiet=args.quiet))
    for row in rows:
        if row["error"]:
            print(f"skpneumo: cannot read {row['path']}: {row['error']}", file=sys.stderr)
    writer = csv.DictWriter(sys.stdout, fieldnames=["path", "probability", "label", "overlay", "error"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return 1 if all(row["error"] for row in rows) else 0


def cmd_serve(args):
    """``skpneumo serve``: the model over HTTP, with a web viewer, until Ctrl-C or SIGTERM."""
    try:
        from .serving import serve
    except ImportError as exc:
        raise CLIError(f"skpneumo serve needs the 'serve' extra ({exc}): pip install 'skpneumo[serve]'") from None
    serve(args.model, host=args.host, port=args.port, token_file=args.token_file, max_upload_mb=args.max_upload_mb,
          max_files=args.max_files, max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
          log_level="warning" if args.quiet else "info")
    return 0


def cmd_demo(args):
    """``skpneumo demo``: synthetic films, train, evaluate, save, reload and predict, offline."""
    from .datasets import load_chest_xray, make_synthetic_xrays
    from .evaluation import evaluate
    from .workflows import fit_model, load_model, predict_paths, save_model

    out = Path(args.out)
    data_dir = out / "data"
    if data_dir.exists():
        raise CLIError(f"'{data_dir}' already exists; remove it or choose another --out")
    t0 = time.perf_counter()
    make_synthetic_xrays(data_dir, n_per_class=args.n_per_class, size=DEMO_IMAGE_SIZE,
                         random_state=args.random_state, split="train")
    make_synthetic_xrays(data_dir, n_per_class=max(10, args.n_per_class // 2), size=DEMO_IMAGE_SIZE,
                         random_state=args.random_state + 1, split="test")
    train = load_chest_xray(data_dir, split="train")
    test = load_chest_xray(data_dir, split="test")
    _say(args, f"1/4 synthetic chest X-rays written to {data_dir} "
               f"(train {len(train.paths)}, test {len(test.paths)})")
    # Early stopping and the decision threshold on held-out patients, as for real films.
    pipe, validation = fit_model(train.paths, train.labels, train.groups, params=DEMO_PARAMS,
                                 val_size=DEMO_VAL_SIZE, threshold_rule="youden", random_state=args.random_state,
                                 quiet=args.quiet)
    threshold = pipe.model_card_["threshold"]["value"]
    model_path = out / "model.joblib"
    save_model(pipe, model_path)
    _say(args, f"2/4 compact CNN from scratch (offline, weights=None, {DEMO_PARAMS['size']}px) trained, "
               f"threshold {threshold:.3f} chosen on {len(validation[1])} validation images "
               f"(Youden's J), saved to {model_path}")
    report = evaluate(pipe, test.paths, test.labels, random_state=args.random_state)
    report_dir = out / "report"
    report.save(report_dir)
    _say(args, f"3/4 evaluated on {len(test.paths)} held-out synthetic images:")
    print(report.summary())
    reloaded = load_model(model_path)
    rows = predict_paths(reloaded, list(test.paths[:3]), quiet=True)
    _say(args, "4/4 reloaded the saved model and predicted:")
    for row in rows:
        print(f"  {Path(row['path']).name}: {row['label']} (p={row['probability']:.3f})")
    print(f"report: {report_dir}/report.md")
    print(f"model:  {model_path}")
    _say(args, f"demo finished in {time.perf_counter() - t0:.0f} s")
    return 0


def _counts(labels):
    values, counts = np.unique(labels, return_counts=True)
    return ", ".join(f"{c} {v}" for v, c in zip(values, counts))


def _say(args, message):
    if not args.quiet:
        print(message, file=sys.stderr)


# ---------------------------------------------------------------- TensorFlow's log lines
# A C++ log line of TensorFlow: absl's "I0102 12:00:00.000000  123 port.cc:153] ..." or TensorFlow's own
# "2024-01-02 12:00:00.000000: I tensorflow/...", and absl's notice before its first line.
_TF_LOG_LINE = re.compile(r"^(?:([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]"
                          r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) )")
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# TF_CPP_MIN_LOG_LEVEL's scale: 1 leaves out INFO, 2 also WARNING, 3 also ERROR; FATAL always shows.
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 4}
_ABSL_LEVEL = {1: logging.WARNING, 2: logging.ERROR, 3: logging.CRITICAL}


def _is_dropped_log_line(line, level):
    """Whether ``line`` is a TensorFlow log line that ``TF_CPP_MIN_LOG_LEVEL=level`` leaves out."""
    if line.startswith(_ABSL_NOTICE):
        return level > _SEVERITY["W"]
    match = _TF_LOG_LINE.match(line)
    return match is not None and _SEVERITY[match.group(1) or match.group(2)] < level


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Import hook: the first ``import tensorflow`` runs with its log lines below ``level`` left out of stderr.

    TensorFlow >= 2.16 logs its start-up lines (oneDNN, cudart, cuDNN factories) through absl's
    C++ logging, which ignores ``TF_CPP_MIN_LOG_LEVEL``; they are written to file descriptor 2
    while the library loads. The hook sends that descriptor to a temporary file during the import
    and writes back the rest (Python warnings, fatal errors). An import hook, not an import in
    ``main``, so that a command failing before it needs TensorFlow still fails at once.
    """

    def __init__(self, level):
        self.level = level

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        _remove_hook(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _QuietLoader(spec.loader, self.level)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader, level):
        self.loader, self.level = loader, level

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        # Its own loader again, for anything (importlib.resources, reloads) that asks later.
        module.__loader__ = module.__spec__.loader = self.loader
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                lines = captured.read().decode(errors="replace").splitlines(keepends=True)
                sys.stderr.write("".join(line for line in lines if not _is_dropped_log_line(line, self.level)))
        # The Python side (Keras, TensorFlow) logs through absl's Python logger: the same level.
        logging.getLogger("absl").setLevel(_ABSL_LEVEL[min(self.level, 3)])


def _remove_hook(hook):
    if hook in sys.meta_path:
        sys.meta_path.remove(hook)


def _quiet_tensorflow(debug):
    """Keep TensorFlow's log lines out of the output, unless ``--debug``.

    A ``TF_CPP_MIN_LOG_LEVEL`` the user set is their level; otherwise it is set to 3. Returns
    the import hook that applies the level to the lines TensorFlow writes while it loads, if any.
    """
    if debug:
        return None
    try:
        level = int(os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3"))
    except ValueError:
        level = 0
    if level < 1 or "tensorflow" in sys.modules:
        return None
    hook = _QuietTensorFlowImport(level)
    sys.meta_path.insert(0, hook)
    return hook


# ---------------------------------------------------------------- parser
def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


MODEL_HELP = "a model folder or .joblib file saved by skpneumo fit, or a shipped model's name (kermany-v2, kermany-v1)"


def _number_in(name, accept, wording):
    """An argparse type: a float that ``accept`` admits, else ``wording`` with the given text."""

    def parse(text):
        value = float(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{wording}, got {text}")
        return value

    parse.__name__ = name  # argparse names the type in "invalid <name> value"
    return parse


_fraction = _number_in("_fraction", lambda v: 0 < v < 1, "must be between 0 and 1")
_validation_fraction = _number_in("_validation_fraction", lambda v: 0 <= v < 1, "must be at least 0 and below 1")
_unit_interval = _number_in("_unit_interval", lambda v: 0 <= v <= 1, "must be between 0 and 1")
_sensitivity = _number_in("_sensitivity", lambda v: 0 < v <= 1, "must be in (0, 1]")


def _layers(text):
    if text == "all":
        return text
    try:
        return _non_negative_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0 or 'all', got {text!r}") from None


def build_parser():
    """The argument parser of the ``skpneumo`` command."""
    # The common flags work before or after the command: the command's copies default to
    # SUPPRESS, so that they leave the value given before the command alone.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars or messages")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors, and TensorFlow's log lines")

    parser = argparse.ArgumentParser(
        prog="skpneumo",
        description="Pneumonia detection on chest X-rays with a scikit-learn pipeline.",
    )
    parser.add_argument("--version", action="version", version=f"skpneumo {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors, and TensorFlow's log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", parents=[common], help="run the whole job offline on synthetic data",
                          description="Synthetic data, train, evaluate, save, reload, predict "
                                      "(offline, a few minutes on a CPU).")
    demo.add_argument("--out", default="skpneumo-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--n-per-class", type=_positive_int, default=100,
                      help="training images per class (default: %(default)s)")
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser("fit", parents=[common], help="train a model on a chest_xray folder",
                         description="Train on DATA_DIR: a split folder holding NORMAL/ and "
                                     "PNEUMONIA/, or a chest_xray root holding train/.")
    fit.add_argument("data_dir", metavar="DATA_DIR")
    fit.add_argument("--out", required=True,
                     help="where to save the model: a .joblib file, or a new folder (portable: JSON and a "
                          ".keras network, loaded without pickle)")
    fit.add_argument("--image-size", type=_positive_int, help="square input size (default 224)")
    fit.add_argument("--epochs", type=_non_negative_int,
                     help="phase 1 epochs: the head on a frozen pre-trained backbone, every layer "
                          "with --weights none (default 10)")
    fit.add_argument("--fine-tune-epochs", type=_non_negative_int, help="phase 2 epochs (default 5)")
    fit.add_argument("--fine-tune-layers", type=_layers, help="backbone layers to fine-tune, or 'all' (default 30)")
    fit.add_argument("--learning-rate", type=float, help="phase 1 learning rate (default 1e-3)")
    fit.add_argument("--fine-tune-learning-rate", type=float, help="phase 2 learning rate (default 1e-5)")
    fit.add_argument("--batch-size", type=_positive_int, help="default 32")
    fit.add_argument("--preset", choices=["cpu", "gpu"],
                     help="named recipe for the machine (see docs/benchmarks.md); the other "
                          "options override its values")
    fit.add_argument("--weights", help="imagenet (default), none, or a weights file PATH")
    fit.add_argument("--backbone", choices=BACKBONE_NAMES, help="feature extractor (default resnet50)")
    fit.add_argument("--clahe", action="store_true",
                     help="contrast-limited adaptive histogram equalisation after resizing")
    fit.add_argument("--tta", choices=["none", "default"],
                     help="test-time augmentation at prediction (default none)")
    fit.add_argument("--no-smote", action="store_true", help="disable SMOTE oversampling")
    fit.add_argument("--class-weight", action="store_true", help="balanced class weights")
    fit.add_argument("--streaming", action="store_true",
                     help="read the films batch by batch while training instead of decoding them all first "
                          "(memory does not grow with the data set); no SMOTE: the classes are balanced "
                          "by resampling the files each epoch")
    fit.add_argument("--val-size", type=_validation_fraction,
                     help="fraction of patients held out for early stopping, the threshold and the model "
                          "card (default: the preset's, 0.2; none without a preset; 0: nobody)")
    fit.add_argument("--random-state", type=int, default=None)
    fit.add_argument("--groups", metavar="CSV",
                     help="patient of each file, for --val-size: a CSV with 'file' and 'patient' "
                          "columns (default: parsed from the file names)")
    point = fit.add_mutually_exclusive_group()
    point.add_argument("--target-sensitivity", type=_sensitivity, metavar="S",
                       help="store the highest threshold reaching sensitivity S on the validation patients "
                            "(the presets' rule: S = 0.95)")
    point.add_argument("--youden", action="store_true",
                       help="store the threshold maximising Youden's J on the validation patients")
    dist = fit.add_argument_group("several processes or hosts (KERAS_BACKEND=jax; docs/scaling.md)")
    dist.add_argument("--distributed", action="store_true",
                      help="train one model data-parallel with the other processes started the same way; "
                           "--batch-size is the global batch")
    dist.add_argument("--coordinator", metavar="HOST:PORT",
                      help="process 0's address (default: $SKPNEUMO_COORDINATOR; none: detected under Slurm)")
    dist.add_argument("--num-processes", type=_positive_int, metavar="N",
                      help="processes in all (default: $SKPNEUMO_NUM_PROCESSES)")
    dist.add_argument("--process-id", type=_non_negative_int, metavar="I",
                      help="this process's rank, 0 to N-1 (default: $SKPNEUMO_PROCESS_ID)")
    fit.set_defaults(func=cmd_fit)

    ev = sub.add_parser("evaluate", parents=[common], help="score a model on a labelled folder",
                        description="Evaluate MODEL on DATA_DIR and print the report; --report also "
                                    "writes it (JSON, Markdown, figures) to a folder.")
    ev.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    ev.add_argument("data_dir", metavar="DATA_DIR")
    ev.add_argument("--report", metavar="DIR",
                    help="also write the report to this folder: report.json, report.md and figures "
                         "(default: print it only)")
    ev.add_argument("--threshold", type=_unit_interval,
                    help="decision threshold on P(PNEUMONIA) instead of the model's own")
    ev.add_argument("--split", default="test",
                    help="split to evaluate when DATA_DIR holds several (default: %(default)s)")
    ev.add_argument("--n-bootstrap", type=_non_negative_int, default=1000, metavar="N",
                    help="bootstrap resamples for the confidence intervals of ROC AUC, sensitivity "
                         "and specificity; 0: none (default: %(default)s)")
    ev.add_argument("--confidence", type=_fraction, default=0.95,
                    help="coverage of the confidence intervals (default: %(default)s)")
    ev.add_argument("--bootstrap-by", choices=["patient", "image"], default="patient",
                    help="resample patients (ids from the file names) or single images "
                         "(default: %(default)s)")
    ev.add_argument("--groups", metavar="CSV",
                    help="patient of each file, for the bootstrap: a CSV with 'file' and 'patient' "
                         "columns (default: parsed from the file names)")
    ev.add_argument("--random-state", type=int, default=0,
                    help="seed of the bootstrap (default: %(default)s)")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", parents=[common], help="predict images or folders",
                        description="One row per image: path, probability, label.")
    pr.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    pr.add_argument("paths", metavar="PATH", nargs="+", help="image files or folders")
    pr.add_argument("--format", choices=["csv", "json"], default="csv")
    pr.add_argument("--threshold", type=_unit_interval,
                    help="decision threshold on P(PNEUMONIA) instead of the model's own")
    pr.add_argument("--output", help="write results to this file instead of stdout")
    pr.add_argument("--scheduler", metavar="ADDRESS",
                    help="shard the images over the workers of this Dask scheduler (tcp://host:8786); "
                         "the workers must see the files at the same paths")
    pr.set_defaults(func=cmd_predict)

    ex = sub.add_parser("explain", parents=[common], help="Grad-CAM heatmaps over images",
                        description="Write a Grad-CAM overlay PNG per image (where the model found "
                                    "pneumonia evidence) to --out; print path, probability, label "
                                    "and overlay file as CSV.")
    ex.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    ex.add_argument("paths", metavar="PATH", nargs="+", help="image files or folders")
    ex.add_argument("--out", required=True, metavar="DIR", help="folder for the overlays (created if needed)")
    ex.add_argument("--alpha", type=_unit_interval, default=0.5,
                    help="opacity of the colour map at the hottest point (default: %(default)s)")
    ex.set_defaults(func=cmd_explain)

    sv = sub.add_parser("serve", parents=[common], help="serve a model over HTTP, with a web viewer",
                        description="Serve MODEL over HTTP (docs/serving.md): POST /v1/predict, POST /v1/explain, "
                                    "GET /v1/model, /healthz, /readyz, and a viewer at /. Needs the 'serve' extra.")
    sv.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default: %(default)s, this machine only)")
    sv.add_argument("--port", type=_non_negative_int, default=8000, help="default: %(default)s")
    sv.add_argument("--token-file", metavar="FILE",
                    help="a file holding a token that every route but /healthz, /readyz and the page "
                         "require as 'Authorization: Bearer TOKEN'")
    sv.add_argument("--max-upload-mb", type=_number_in("_megabytes", lambda v: v > 0, "must be > 0"), default=20.0,
                    help="largest request, in MiB; larger ones are refused while they are read (default: %(default)s)")
    sv.add_argument("--max-files", type=_positive_int, default=16, help="most films per request (default: %(default)s)")
    sv.add_argument("--max-batch-size", type=_positive_int, default=None,
                    help="films predicted together from concurrent requests (default: the model's batch_size)")
    sv.add_argument("--max-wait-ms", type=_number_in("_milliseconds", lambda v: v >= 0, "must be >= 0"), default=10.0,
                    help="how long a batch waits for more requests (default: %(default)s)")
    sv.set_defaults(func=cmd_serve)
    return parser


def main(argv=None):
    """Entry point of the ``skpneumo`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    hook = _quiet_tensorflow(args.debug)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("skpneumo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        # The whole message: advice (where to put a weights file, what to install) often
        # follows the first line.
        message = str(exc).strip() or type(exc).__name__
        if isinstance(exc, ModelFileError) and not args.debug:
            message += "; --debug shows where loading failed"
        print(f"skpneumo: error: {message}", file=sys.stderr)
        return 1
    finally:
        _remove_hook(hook)


if __name__ == "__main__":
    sys.exit(main())

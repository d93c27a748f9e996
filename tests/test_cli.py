import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from conftest import write_xray_like
from sklearn.metrics import roc_auc_score

import skpneumo
import skpneumo.preprocessing.loader
import skpneumo.workflows
from skpneumo import cli
from skpneumo.datasets import load_chest_xray, make_synthetic_xrays
from skpneumo.evaluation import choose_threshold

# The compact backbone: the command line does not depend on it (--backbone is tested alone).
FAST_FIT = ["--backbone", "smallcnn", "--image-size", "32", "--epochs", "1", "--fine-tune-epochs", "0",
            "--weights", "none", "--batch-size", "8", "--random-state", "0", "--quiet"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_data")
    make_synthetic_xrays(root, n_per_class=12, size=40, random_state=0, split=["train", "test"])
    return root


@pytest.fixture(scope="module")
def model_file(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_model") / "model.joblib"
    assert cli.main(["fit", str(data_dir), "--out", str(out), "--val-size", "0.3", "--youden", *FAST_FIT]) == 0
    return out


def last_stderr_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_fit_writes_only_the_model(model_file):
    assert model_file.is_file()
    assert [p.name for p in model_file.parent.iterdir()] == ["model.joblib"]


def test_fit_stores_the_youden_threshold_of_the_validation_patients(model_file, data_dir):
    train = load_chest_xray(data_dir, split="train")
    _, val = skpneumo.workflows.patient_validation_split(train.groups, train.labels, 0.3, 0)
    model = joblib.load(model_file)
    expected = choose_threshold(train.labels[val], model.predict_proba(train.paths[val])[:, 1])
    assert model.named_steps["clf"].threshold == pytest.approx(expected.threshold, abs=1e-6)


def test_fit_records_a_model_card_that_matches_the_films(model_file, data_dir):
    train = load_chest_xray(data_dir, split="train")
    fit, val = skpneumo.workflows.patient_validation_split(train.groups, train.labels, 0.3, 0)
    model = joblib.load(model_file)
    card = model.model_card_
    names = "\n".join(sorted(Path(p).name for p in train.paths[fit]))
    assert card["training_data"] == {
        "n_images": len(fit), "n_patients": len(set(train.groups[fit])),
        "class_counts": {c: int(np.sum(train.labels[fit] == c)) for c in ("NORMAL", "PNEUMONIA")},
        "file_names_sha256": hashlib.sha256(names.encode()).hexdigest(),
    }
    assert card["validation"]["n_images"] == len(val)
    auc = roc_auc_score(train.labels[val] == "PNEUMONIA", model.predict_proba(train.paths[val])[:, 1])
    assert card["validation"]["report"]["metrics"]["roc_auc"]["value"] == pytest.approx(auc, abs=1e-6)
    low, high = card["validation"]["report"]["metrics"]["roc_auc"]["interval"]
    assert low <= auc <= high
    threshold = model.named_steps["clf"].threshold
    assert card["threshold"]["value"] == threshold and card["threshold"]["rule"] == "youden on the validation patients"
    assert card["validation"]["report"]["threshold"] == threshold


def test_evaluate_writes_a_report(model_file, data_dir, tmp_path, capsys):
    report = tmp_path / "report"
    assert cli.main(["evaluate", str(model_file), str(data_dir), "--report", str(report), "--quiet"]) == 0
    assert {p.name for p in report.iterdir()} == {
        "report.json", "report.md", "roc_curve.png", "confusion_matrix.png", "pr_curve.png", "reliability.png"}
    data = json.loads((report / "report.json").read_text())
    assert data["n_samples"] == 24
    assert data["threshold"] == joblib.load(model_file).named_steps["clf"].threshold
    assert (data["n_bootstrap"], data["confidence"], data["bootstrap_unit"]) == (1000, 0.95, "groups")
    assert set(data["confidence_intervals"]) == {"roc_auc", "recall", "specificity"}
    assert data["interval_methods"]["recall"].startswith("Wilson score")
    assert data["groups_source"] == "from file names"
    assert data["n_groups"] == len(set(load_chest_xray(data_dir, "test").groups))
    assert 0 <= data["brier_score"] <= 1 and 0 <= data["ece"] <= 1
    out = capsys.readouterr().out
    assert "ROC AUC" in out and "95% CI" in out and "Brier score" in out and "Calibration (ECE)" in out


def test_evaluate_prints_the_report_without_report(model_file, data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", str(model_file), str(data_dir), "--n-bootstrap", "50", "--quiet"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert cli.main([*argv, "--report", "r"]) == 0
    assert capsys.readouterr().out == printed
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert printed.startswith("Evaluation report: 24 samples")
    assert f"  ROC AUC               {data['roc_auc']:.4f}" in printed


def test_evaluate_bootstrap_options(model_file, data_dir, tmp_path):
    for argv, unit, n in [(["--bootstrap-by", "image", "--confidence", "0.9"], "samples", 1000),
                          (["--n-bootstrap", "0"], None, 0)]:
        report = tmp_path / f"report{n}"
        assert cli.main(["evaluate", str(model_file), str(data_dir), "--report", str(report), "--quiet",
                         *argv]) == 0
        data = json.loads((report / "report.json").read_text())
        assert (data["n_bootstrap"], data["bootstrap_unit"]) == (n, unit)
    assert data["confidence_intervals"] == {}


def test_predict_csv_reports_bad_files_and_predicts_the_rest(model_file, data_dir, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    folder = data_dir / "test" / "NORMAL"
    assert cli.main(["predict", str(model_file), str(folder), str(bad), "--quiet"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len(rows) == len(list(folder.iterdir())) + 1
    good = [r for r in rows if not r["error"]]
    assert all(0 <= float(r["probability"]) <= 1 and r["label"] in {"NORMAL", "PNEUMONIA"} for r in good)
    assert "bad.png" in captured.err


def test_predict_json_to_file(model_file, data_dir, tmp_path):
    out = tmp_path / "pred.json"
    image = next((data_dir / "test" / "PNEUMONIA").iterdir())
    assert cli.main(["predict", str(model_file), str(image), "--format", "json",
                     "--output", str(out), "--quiet"]) == 0
    rows = json.loads(out.read_text())
    assert rows[0]["path"] == str(image) and rows[0]["error"] is None


@pytest.mark.slow
def test_a_model_trained_on_target_reads_normal_and_pneumonia(data_dir, tmp_path, capsys):
    train, test = load_chest_xray(data_dir, split="train"), load_chest_xray(data_dir, split="test")
    params = dict(backbone="smallcnn", size=32, epochs=1, fine_tune_epochs=0, weights=None, batch_size=8)
    pipe, _ = skpneumo.fit_model(train.paths, train.target, train.groups, params=params, val_size=0.3,
                                 random_state=0)
    assert list(pipe.classes_) == [0, 1] and set(pipe.predict(test.paths[:4]).tolist()) <= {0, 1}
    skpneumo.save_model(pipe, tmp_path / "model")
    assert skpneumo.load_model(tmp_path / "model").classes_.tolist() == [0, 1]  # predict keeps 0/1
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "- classes: 0 (NORMAL), 1 (PNEUMONIA)" in card and "films (NORMAL " in card and ", PNEUMONIA " in card

    assert cli.main(["predict", str(tmp_path / "model"), *test.paths[:4], *test.paths[-4:], "--quiet"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {row["label"] for row in rows} <= {"NORMAL", "PNEUMONIA"} and len(rows) == 8
    assert cli.main(["evaluate", str(tmp_path / "model"), str(data_dir), "--report", str(tmp_path / "r"),
                     "--n-bootstrap", "0", "--quiet"]) == 0
    assert "positive class 'PNEUMONIA'" in capsys.readouterr().out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert (report["pos_label"], report["pos_name"]) == (1, "PNEUMONIA")
    assert report["class_counts"] == {"NORMAL": 12, "PNEUMONIA": 12}


@pytest.mark.parametrize("argv, message", [
    (["fit", "/no/such/folder", "--out", "m.joblib", "--quiet"], "does not exist"),
    (["evaluate", "/no/model.joblib", ".", "--report", "r", "--quiet"], "model file not found"),
    # Checked before the (missing) data folder is even looked at.
    (["fit", "/no/such/folder", "--out", "m.joblib", "--youden"], "add --val-size"),
    (["fit", "/no/such/folder", "--out", "m.joblib", "--target-sensitivity", "0.9"], "add --val-size"),
    (["fit", "/no/such/folder", "--out", "m.joblib", "--preset", "cpu", "--val-size", "0", "--youden"],
     "--val-size 0 holds out nobody"),
])
def test_failures_exit_1_with_one_line(argv, message, capsys):
    assert cli.main(argv) == 1
    line = last_stderr_line(capsys)
    assert line.startswith("skpneumo: error:") and message in line


def test_not_a_model_file(tmp_path, capsys):
    fake = tmp_path / "fake.joblib"
    fake.write_bytes(b"garbage")
    assert cli.main(["predict", str(fake), str(fake), "--quiet"]) == 1
    assert "not a skpneumo model" in last_stderr_line(capsys)


def test_unwritable_output_leaves_nothing(data_dir, tmp_path, capsys):
    out = tmp_path / "missing_dir" / "model.joblib"
    assert cli.main(["fit", str(data_dir), "--out", str(out), *FAST_FIT]) == 1
    assert "output folder does not exist" in last_stderr_line(capsys)
    assert not out.parent.exists()


@pytest.mark.parametrize("argv", [
    ["fit"],
    ["fit", "d", "--out", "m", "--val-size", "0.2", "--target-sensitivity", "1.5"],
    ["fit", "d", "--out", "m", "--val-size", "0.2", "--target-sensitivity", "0"],
    ["fit", "d", "--out", "m", "--val-size", "0.2", "--target-sensitivity", "0.9", "--youden"],
    ["evaluate", "m", "d", "--report", "r", "--confidence", "1"],
    ["evaluate", "m", "d", "--report", "r", "--n-bootstrap", "-5"],
])
def test_usage_error_exits_2(argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


def test_python_dash_m_help():
    result = subprocess.run([sys.executable, "-m", "skpneumo", "predict", "--help"],
                            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0 and "--format" in result.stdout


TF_LOG_WORDS = ("oneDNN", "cudart", "absl")


def run_cli(*argv, **env):
    """``python -m skpneumo ARGV`` of this checkout, without TF_CPP_MIN_LOG_LEVEL unless given."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    root = str(Path(skpneumo.__file__).parents[1])
    environ.update(env, PYTHONPATH=root)
    return subprocess.run([sys.executable, "-m", "skpneumo", *argv], capture_output=True, text=True,
                          env=environ, cwd=root)


@pytest.mark.slow  # two fresh processes importing TensorFlow; the filter itself is checked below
def test_no_tensorflow_log_lines_unless_debug(model_file, data_dir):
    image = next((data_dir / "test" / "NORMAL").iterdir())
    debug = run_cli("--debug", "predict", str(model_file), str(image), "--quiet")
    if not any(word in debug.stderr for word in TF_LOG_WORDS):
        pytest.skip("this TensorFlow writes no start-up log lines")
    result = run_cli("predict", str(model_file), str(image), "--quiet")
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if any(w in line for w in TF_LOG_WORDS)] == []
    assert result.stdout == debug.stdout and str(image) in result.stdout


def test_a_user_set_tensorflow_log_level_is_respected(monkeypatch):
    monkeypatch.setattr(sys, "modules", {k: v for k, v in sys.modules.items() if k != "tensorflow"})
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert cli._quiet_tensorflow(debug=False) is None and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    hook = cli._quiet_tensorflow(debug=False)
    assert hook.level == 1 and sys.meta_path[0] is hook and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert cli._quiet_tensorflow(debug=True) is None and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert cli._quiet_tensorflow(debug=False).level == 3 and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_the_log_line_filter_keeps_what_the_level_keeps():
    lines = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             "I0000 00:00:1796395611.485826   14529 port.cc:153] oneDNN custom operations are on.",
             "2024-01-02 12:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations",
             "W0000 00:00:1796395611.485826   14529 x.cc:1] a warning",
             "E0000 00:00:1796395639.305143   14877 cuda_platform.cc:52] failed call to cuInit",
             "F0000 00:00:1796395639.305143   14877 cpu_feature_guard.cc:52] The TensorFlow library was compiled",
             "/x/y.py:3: DeprecationWarning: old"]
    dropped = {level: [cli._is_dropped_log_line(line, level) for line in lines] for level in (1, 2, 3)}
    assert dropped == {1: [False, True, True, False, False, False, False],
                       2: [True, True, True, True, False, False, False],
                       3: [True, True, True, True, True, False, False]}


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    # The real demo trains longer; the same steps with a one-epoch model.
    monkeypatch.setattr(cli, "DEMO_PARAMS", {**cli.DEMO_PARAMS, "size": 32, "fine_tune_epochs": 1})
    assert cli.main(["demo", "--out", str(tmp_path / "demo"), "--n-per-class", "10"]) == 0
    out = capsys.readouterr().out
    assert "model:" in out and "report:" in out
    assert (tmp_path / "demo" / "model.joblib").is_file()
    assert (tmp_path / "demo" / "report" / "roc_curve.png").is_file()
    assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 1


def test_evaluate_refuses_a_root_without_the_split(model_file, tmp_path, capsys):
    make_synthetic_xrays(tmp_path / "only_train", n_per_class=3, size=40, random_state=0)
    assert cli.main(["evaluate", str(model_file), str(tmp_path / "only_train"),
                     "--report", str(tmp_path / "r"), "--quiet"]) == 1
    assert "test" in last_stderr_line(capsys)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_fit_with_a_preset_and_overrides(data_dir, tmp_path):
    out = tmp_path / "preset.joblib"
    argv = ["fit", str(data_dir), "--out", str(out), "--preset", "cpu", "--weights", "none",
            "--image-size", "32", "--fine-tune-epochs", "1", "--random-state", "0", "--quiet"]
    assert cli.main(argv) == 0
    pipe = skpneumo.load_model(out)
    clf = pipe.named_steps["clf"]
    assert clf.backbone == "smallresnet" and clf.standardize and clf.class_weight is None
    assert pipe.named_steps["smote"] != "passthrough"
    assert pipe.named_steps["resize"].size == 32 and clf.fine_tune_epochs == 1
    assert clf.history_["phase"] == [2]


def test_explain_writes_overlays_and_reports_bad_files(model_file, data_dir, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    folder = data_dir / "test" / "PNEUMONIA"
    out = tmp_path / "gradcam"
    assert cli.main(["explain", str(model_file), str(folder), str(bad), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    images = sorted(folder.iterdir())
    assert [r["path"] for r in rows] == [str(p) for p in images] + [str(bad)]
    assert "bad.png" in captured.err and rows[-1]["error"] and not rows[-1]["overlay"]
    good = rows[:-1]
    assert all(0 <= float(r["probability"]) <= 1 and not r["error"] for r in good)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p.stem}_gradcam.png" for p in images)
    assert all(os.path.isfile(r["overlay"]) for r in good)


def test_explain_refuses_a_file_as_output_folder(model_file, data_dir, tmp_path, capsys):
    image = next((data_dir / "test" / "NORMAL").iterdir())
    assert cli.main(["explain", str(model_file), str(image), "--out", str(image), "--quiet"]) == 1
    assert "must be a folder" in last_stderr_line(capsys)


# Daily use: errors keep their advice, checks come first, flags anywhere -------------


def test_version_and_common_flags_before_or_after_the_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"skpneumo {skpneumo.__version__}"
    for argv in (["--quiet", "predict", "/no/model.joblib", "x"], ["predict", "/no/model.joblib", "x", "--quiet"]):
        args = cli.build_parser().parse_args(argv)
        assert args.quiet is True and args.debug is False
    assert cli.build_parser().parse_args(["--debug", "fit", "d", "--out", "m"]).debug is True


def test_backbone_names_match_the_model_module():
    from skpneumo.network import BACKBONES

    assert sorted(BACKBONES) == cli.BACKBONE_NAMES


@pytest.mark.parametrize("argv, option", [
    (["fit", "d", "--out", "m", "--fine-tune-layers", "abc"], "--fine-tune-layers"),
    (["fit", "d", "--out", "m", "--backbone", "vgg16"], "--backbone"),
    (["predict", "m", "x", "--threshold", "1.5"], "--threshold"),
])
def test_bad_option_values_exit_2_naming_the_option(argv, option, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and option in capsys.readouterr().err


def test_offline_imagenet_error_keeps_its_advice(data_dir, tmp_path, monkeypatch, capsys):
    import urllib.request

    from skpneumo.network import backbones

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(backbones, "_weights_cache_dirs", lambda: [str(tmp_path / "empty")])
    out = tmp_path / "m.joblib"
    assert cli.main(["fit", str(data_dir), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "https://" in err and "--weights PATH" in err and "KERAS_HOME" in err
    assert len(err.strip().splitlines()) > 1 and not out.exists()


def test_missing_model_fails_fast_and_bad_weights_before_loading_images(data_dir, tmp_path, capsys, monkeypatch):
    started = time.perf_counter()
    assert cli.main(["predict", str(tmp_path / "none.joblib"), "x.png", "--quiet"]) == 1
    assert "model file not found" in capsys.readouterr().err
    assert time.perf_counter() - started < 1.0
    notes = tmp_path / "notes.txt"
    notes.write_text("not weights")
    truncated = tmp_path / "w.weights.h5"
    truncated.write_bytes(b"\x00" * 16)
    monkeypatch.setattr(skpneumo.preprocessing.loader, "read_image",
                        lambda *a, **k: pytest.fail("an image was decoded"))
    for weights, message in ((notes, "not a Keras weights file"), (truncated, "not a valid .h5 file")):
        assert cli.main(["fit", str(data_dir), "--out", str(tmp_path / "m.joblib"), "--weights", str(weights),
                         "--quiet"]) == 1
        assert message in capsys.readouterr().err


def test_output_checked_before_training(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(skpneumo.workflows, "fit_model", lambda *a, **k: pytest.fail("training started"))
    assert cli.main(["fit", str(data_dir), "--out", str(tmp_path / "missing" / "m.joblib"), "--quiet"]) == 1
    assert "output folder does not exist" in capsys.readouterr().err
    assert cli.main(["fit", str(data_dir), "--out", str(tmp_path), "--quiet"]) == 1
    assert "is a folder" in capsys.readouterr().err


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_written_files_get_the_usual_file_mode(model_file, data_dir, tmp_path):
    assert model_file.stat().st_mode & 0o777 == 0o666 & ~_umask()  # the model that fit saved
    out = tmp_path / "predictions.csv"
    image = next((data_dir / "test" / "NORMAL").iterdir())
    old = os.umask(0o022)
    try:
        assert cli.main(["predict", str(model_file), str(image), "--output", str(out), "--quiet"]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_debug_shows_why_a_model_file_did_not_load(tmp_path, capsys):
    fake = tmp_path / "fake.joblib"
    fake.write_bytes(b"garbage")
    assert cli.main(["--debug", "predict", str(fake), str(fake)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "joblib" in err and "not a skpneumo model" in err


def test_predict_and_evaluate_take_a_threshold(model_file, data_dir, tmp_path, capsys):
    image = next((data_dir / "test" / "PNEUMONIA").iterdir())
    labels = {}
    for threshold in ("0", "1"):
        assert cli.main(["predict", str(model_file), str(image), "--threshold", threshold, "--quiet"]) == 0
        row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        labels[threshold] = row["label"]
    assert labels == {"0": "PNEUMONIA", "1": "NORMAL" if float(row["probability"]) < 1 else "PNEUMONIA"}
    assert cli.main(["evaluate", str(model_file), str(data_dir), "--report", str(tmp_path / "r"),
                     "--threshold", "0", "--n-bootstrap", "0", "--quiet"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["threshold"] == 0 and report["recall"] == 1.0


def test_wrapped_models_predict_and_evaluate(model_file, data_dir, tmp_path, capsys):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    pipe = skpneumo.load_model(model_file)
    val = load_chest_xray(data_dir, split="train")
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipe), method="sigmoid").fit(val.paths, val.labels)
    fixed = FixedThresholdClassifier(FrozenEstimator(pipe), threshold=0.0).fit(val.paths, val.labels)
    images = sorted((data_dir / "test" / "NORMAL").iterdir())[:3]
    for model, name in ((calibrated, "calibrated.joblib"), (fixed, "fixed.joblib")):
        joblib.dump(model, tmp_path / name)
        assert cli.main(["predict", str(tmp_path / name), *map(str, images), "--quiet"]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        proba = model.predict_proba([str(p) for p in images])[:, 1]
        assert [float(r["probability"]) for r in rows] == pytest.approx(proba.tolist())
        assert [r["label"] for r in rows] == model.predict([str(p) for p in images]).tolist()
    assert {r["label"] for r in rows} == {"PNEUMONIA"}  # the wrapper's threshold of 0 decided
    assert cli.main(["evaluate", str(tmp_path / "calibrated.joblib"), str(data_dir), "--report",
                     str(tmp_path / "r"), "--n-bootstrap", "0", "--quiet"]) == 0
    assert cli.main(["explain", str(tmp_path / "fixed.joblib"), str(images[0]), "--out", str(tmp_path / "g"),
                     "--quiet"]) == 1
    assert "explain needs a skpneumo pipeline" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "fixed.joblib"), str(images[0]), "--threshold", "0.3",
                     "--quiet"]) == 1
    assert "--threshold needs a skpneumo pipeline" in capsys.readouterr().err


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_fit_takes_backbone_clahe_and_tta(data_dir, tmp_path):
    out = tmp_path / "m.joblib"
    fast_fit = [arg for arg in FAST_FIT if arg not in ("--backbone", "smallcnn")]
    assert cli.main(["fit", str(data_dir), "--out", str(out), *fast_fit, "--backbone", "smallcnn", "--clahe",
                     "--tta", "default"]) == 0
    pipe = skpneumo.load_model(out)
    assert pipe.named_steps["clf"].backbone == "smallcnn" and pipe.named_steps["clf"].tta == "default"
    assert type(pipe.named_steps["clahe"]).__name__ == "CLAHE"


@pytest.mark.slow  # over 3 s: the quick loop stays under 3 minutes; CI runs it
def test_patients_from_a_groups_csv(tmp_path, monkeypatch, capsys, validation_split_spy):
    # File names that carry no patient id: the CSV says who is who.
    data = tmp_path / "train"
    rng = np.random.default_rng(0)
    rows = [("file", "patient")]
    for label in ("NORMAL", "PNEUMONIA"):
        (data / label).mkdir(parents=True)
        for i in range(16):
            name = f"scan_{label[0]}{i:03d}.png"
            write_xray_like(data / label / name, label == "PNEUMONIA", rng)
            rows.append((f"train/{label}/{name}" if i % 2 else name, f"{label}-patient{i // 4}"))
    groups_csv = tmp_path / "patients.csv"
    groups_csv.write_text("\n".join(",".join(row) for row in rows) + "\n")
    patient = {Path(f).name: p for f, p in rows[1:]}
    seen = validation_split_spy
    out = tmp_path / "m.joblib"
    assert cli.main(["fit", str(data), "--out", str(out), "--val-size", "0.25", "--groups", str(groups_csv),
                     *FAST_FIT]) == 0
    train = {patient[Path(p).name] for p in seen["train"]}
    val = {patient[Path(p).name] for p in seen["val"]}
    assert val and train and not train & val and len(train | val) == 8
    assert cli.main(["evaluate", str(out), str(data), "--report", str(tmp_path / "r"), "--groups", str(groups_csv),
                     "--quiet"]) == 0
    assert "Patients (groups): 8, given" in capsys.readouterr().out
    # A file the CSV misses is named before any training.
    groups_csv.write_text("\n".join(",".join(row) for row in rows[:-1]) + "\n")
    monkeypatch.setattr(skpneumo.workflows, "fit_model", lambda *a, **k: pytest.fail("training started"))
    assert cli.main(["fit", str(data), "--out", str(out), "--val-size", "0.25", "--groups", str(groups_csv),
                     "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "gives no patient for" in err and "scan_P015.png" in err


def test_evaluate_checks_the_report_folder_first_and_groups_csv_rows(model_file, data_dir, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr(skpneumo.workflows, "load_model", lambda path: pytest.fail("the model was loaded"))
    taken = tmp_path / "report.txt"
    taken.write_text("")
    assert cli.main(["evaluate", str(model_file), str(data_dir), "--report", str(taken), "--quiet"]) == 1
    assert "must be a folder" in capsys.readouterr().err
    rows = tmp_path / "g.csv"
    for text, message in (("file,patient\na.png\n", "line 2: needs both a file and a patient"),
                          ("file,patient\na.png,P1\na.png,P2\n", "line 3: 'a.png' is listed with two patients")):
        rows.write_text(text)
        with pytest.raises(ValueError, match=message):
            skpneumo.read_groups(rows, [str(tmp_path / "a.png")])


@pytest.mark.slow  # two more evaluations of wrappers; test_wrapped_models_predict_and_evaluate is the quick check
def test_threshold_wrappers_are_scored_at_their_own_threshold(model_file, data_dir, tmp_path):
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    pipe = skpneumo.load_model(model_file)
    val = load_chest_xray(data_dir, split="train")
    for threshold, expected in (("auto", 0.5), (0.3, 0.3)):
        fixed = FixedThresholdClassifier(FrozenEstimator(pipe), threshold=threshold).fit(val.paths, val.labels)
        joblib.dump(fixed, tmp_path / "fixed.joblib")
        assert cli.main(["evaluate", str(tmp_path / "fixed.joblib"), str(data_dir), "--report", str(tmp_path / "r"),
                         "--n-bootstrap", "0", "--quiet"]) == 0
        report = json.loads((tmp_path / "r" / "report.json").read_text())
        test = load_chest_xray(data_dir, split="test")
        predicted = fixed.predict(test.paths)
        assert report["threshold"] == expected
        true_positives = (predicted == "PNEUMONIA") & (test.labels == "PNEUMONIA")
        assert report["confusion_matrix"][1][1] == int(true_positives.sum())


def test_fit_distributed_refuses_another_backend_before_reading_films(tmp_path, capsys):
    # The suite runs on TensorFlow: --distributed needs KERAS_BACKEND=jax, and says so.
    rc = cli.main(["fit", str(tmp_path / "missing"), "--out", str(tmp_path / "m"), "--distributed",
                   "--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "0"])
    assert rc == 1
    assert last_stderr_line(capsys) == (
        "skpneumo: error: distributed training runs on the JAX Keras backend; KERAS_BACKEND is 'tensorflow': "
        "set KERAS_BACKEND=jax (and pip install 'skpneumo[jax]').")
    assert not (tmp_path / "m").exists()

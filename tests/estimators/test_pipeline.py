import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import joblib
import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import clone, is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import (
    FixedThresholdClassifier, GridSearchCV, GroupKFold, StratifiedGroupKFold, StratifiedKFold,
    TunedThresholdClassifierCV, check_cv, cross_validate,
)

from skpneumo import (
    CLAHE,
    GrayscaleToRGB,
    ImageLoader,
    ImageReadError,
    ImageSMOTE,
    Normalizer,
    PneumoniaClassifier,
    PneumoniaPipeline,
    Resizer,
    make_pipeline,
)
from skpneumo.datasets import make_synthetic_xrays
from skpneumo.evaluation import evaluate
from skpneumo.evaluation import set_operating_point



TINY = 32
# The pipeline does not depend on the backbone: the compact one keeps searches fast.
FAST = dict(weights=None, backbone="smallcnn", size=TINY, epochs=1, fine_tune_epochs=0, batch_size=8,
            smote__k_neighbors=3)


def fast_pipeline(**params):
    params = {**FAST, "random_state": 0, **params}
    if params.get("smote", "on") is None:
        del params["smote__k_neighbors"]
    return make_pipeline(**params)


@pytest.fixture(scope="module")
def fitted(image_set):
    paths, labels, _ = image_set
    return fast_pipeline().fit(paths, labels)


def test_default_composition():
    pipe = make_pipeline()
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == ["load", "resize", "clahe", "rgb", "smote", "normalize", "clf"]
    assert isinstance(pipe.named_steps["smote"], ImageSMOTE)
    assert isinstance(pipe.named_steps["clf"], PneumoniaClassifier)
    assert pipe.get_params()["resize__size"] == 224
    assert is_classifier(pipe)
    assert isinstance(check_cv(3, np.array([0, 1] * 5), classifier=is_classifier(pipe)), StratifiedKFold)


@pytest.mark.parametrize("final, methods", [
    (PneumoniaClassifier(), {"predict", "predict_proba"}),
    (Normalizer(), {"transform"}),
    ("passthrough", {"transform"}),
])
def test_methods_follow_the_final_step(final, methods):
    pipe = PneumoniaPipeline([("load", ImageLoader()), ("last", final)])
    assert {m for m in ("predict", "predict_proba", "transform") if hasattr(pipe, m)} == methods


def test_parameter_routing():
    pipe = make_pipeline(epochs=2, size=64, smote=None, random_state=3, clf__batch_size=4)
    params = pipe.get_params()
    assert params["clf__epochs"] == 2 and params["resize__size"] == 64 and params["clf__batch_size"] == 4
    assert params["smote"] == "passthrough"
    assert params["clf__random_state"] == 3
    with pytest.raises(ValueError, match="Unknown parameter 'epoch'"):
        make_pipeline(epoch=2)
    with pytest.raises(ValueError, match="disabled"):
        make_pipeline(smote=None, smote__k_neighbors=2)
    assert clone(pipe).get_params()["clf__epochs"] == 2


def test_end_to_end_on_files(fitted, image_set):
    paths, labels, _ = image_set
    proba = fitted.predict_proba(paths)
    assert proba.shape == (len(paths), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(fitted.classes_) == ["NORMAL", "PNEUMONIA"]
    assert set(fitted.predict([Path(p) for p in paths[:3]])) <= {"NORMAL", "PNEUMONIA"}
    # The fitted classifier saw SMOTE-balanced data; prediction never resamples.
    assert len(fitted.predict_proba(paths[:5])) == 5


@pytest.mark.slow  # the quick loop fits without SMOTE in test_clahe_step_runs_exactly_once_from_paths_to_a_report
def test_smote_disabled_and_class_weight(image_set):
    paths, labels, _ = image_set
    keep = np.r_[0:5, 12:24]
    pipe = fast_pipeline(smote=None, class_weight="balanced").fit(paths[keep], labels[keep])
    assert pipe.predict_proba(paths[:2]).shape == (2, 2)


def test_cross_validation_with_standard_scorers(image_set):
    paths, labels, _ = image_set
    y = (labels == "PNEUMONIA").astype(int)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    scores = cross_validate(fast_pipeline(), paths, y, cv=cv, return_estimator=True, return_indices=True,
                            scoring=["roc_auc", "f1", "average_precision", "neg_log_loss"])
    for name in ("roc_auc", "f1", "average_precision", "neg_log_loss"):
        assert np.isfinite(scores[f"test_{name}"]).all(), name
    # The scorers read the positive class's column: each fold's scores are the ones
    # computed by hand from P(PNEUMONIA) and the model's own labels.
    for k, (model, test) in enumerate(zip(scores["estimator"], scores["indices"]["test"])):
        proba, predicted = model.predict_proba(paths[test])[:, 1], model.predict(paths[test])
        assert scores["test_roc_auc"][k] == pytest.approx(roc_auc_score(y[test], proba))
        assert scores["test_f1"][k] == pytest.approx(f1_score(y[test], predicted))


@pytest.mark.slow
def test_grid_search_on_the_loaders_target_takes_the_standard_scorers(tmp_path):
    # The loaders' target is 0/1, so scorers that need a positive label work unchanged.
    data = make_synthetic_xrays(tmp_path, n_per_class=10, size=TINY, random_state=0)
    scoring = ["f1", "precision", "recall", "average_precision", "roc_auc"]
    search = GridSearchCV(fast_pipeline(), {"clf__learning_rate": [1e-3]}, scoring=scoring, refit=False,
                          cv=StratifiedGroupKFold(2), error_score="raise")
    search.fit(data.paths, data.target, groups=data.groups)
    for name in scoring:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all(), name


@pytest.mark.slow  # two worker processes import TensorFlow; test_cross_validation_with_standard_scorers stays quick
def test_grid_search_by_patient_in_parallel(image_set):
    paths, labels, groups = image_set
    search = GridSearchCV(fast_pipeline(), {"clf__learning_rate": [1e-3, 1e-4]}, scoring="roc_auc",
                          cv=GroupKFold(2), n_jobs=2, error_score="raise")
    search.fit(paths, labels, groups=groups)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    proba = search.best_estimator_.predict_proba(paths)[:, 1]
    assert search.score(paths, labels) == pytest.approx(roc_auc_score(labels == "PNEUMONIA", proba))


@pytest.mark.slow  # three fits; the next test checks the wrappers around a fitted pipeline in the quick loop
def test_threshold_and_calibration_wrappers(image_set):
    paths, labels, _ = image_set
    y = (labels == "PNEUMONIA").astype(int)
    tuned = TunedThresholdClassifierCV(fast_pipeline(), cv=2, scoring="balanced_accuracy",
                                       random_state=0).fit(paths, y)
    assert 0 <= tuned.best_threshold_ <= 1
    # The tuned threshold is the pipeline's own threshold parameter, applied to P(1).
    deployed = tuned.estimator_.set_params(clf__threshold=tuned.best_threshold_)
    np.testing.assert_array_equal(tuned.predict(paths), deployed.predict(paths))
    # Fixed thresholds and calibration around a fitted pipeline: the next test (the
    # wrappers clone and fit the pipeline as the tuned one does here).


def test_fitted_pipeline_in_threshold_and_calibration_wrappers(fitted, image_set):
    paths, labels, _ = image_set
    raw = fitted.predict_proba(paths)[:, 1]
    fixed = FixedThresholdClassifier(FrozenEstimator(fitted), threshold=0.3, pos_label="PNEUMONIA")
    fixed.fit(paths, labels)
    expected = np.where(raw >= 0.3, "PNEUMONIA", "NORMAL")
    np.testing.assert_array_equal(fixed.predict(paths), expected)
    assert evaluate(fixed, paths, labels, n_bootstrap=0).threshold == 0.3

    tuned = TunedThresholdClassifierCV(FrozenEstimator(fitted), scoring="balanced_accuracy", cv=2,
                                       random_state=0).fit(paths, labels)
    np.testing.assert_array_equal(tuned.predict(paths),
                                  np.where(raw >= tuned.best_threshold_, "PNEUMONIA", "NORMAL"))

    for method in ("sigmoid", "isotonic"):
        calibrated = CalibratedClassifierCV(FrozenEstimator(fitted), method=method).fit(paths, labels)
        proba = calibrated.predict_proba(paths)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        # Calibration maps P(PNEUMONIA) through a non-decreasing function.
        assert np.all(np.diff(proba[np.argsort(raw), 1]) >= -1e-12)
        report = evaluate(calibrated, paths, labels, threshold=0.5, groups=image_set[2], random_state=0)
        assert report.confidence_intervals["roc_auc"] is not None


def test_operating_point_stored_in_the_pipeline(fitted, image_set):
    paths, labels, _ = image_set
    pipe = pickle.loads(pickle.dumps(fitted))  # leave the shared fixture's threshold alone
    point = set_operating_point(pipe, paths, labels, target_sensitivity=0.75)
    assert pipe.get_params()["clf__threshold"] == point.threshold != fitted.get_params()["clf__threshold"]
    predicted = pipe.predict(paths)
    assert np.mean(predicted[labels == "PNEUMONIA"] == "PNEUMONIA") == point.sensitivity >= 0.75
    assert np.mean(predicted[labels == "NORMAL"] == "NORMAL") == point.specificity
    assert evaluate(pipe, paths, labels, n_bootstrap=0).recall == point.sensitivity


@pytest.mark.slow  # a fresh process importing TensorFlow: test_model_folder.py has the quick one
def test_joblib_round_trip_in_a_fresh_process(fitted, image_set, tmp_path):
    paths, _, _ = image_set
    model_file = tmp_path / "model.joblib"
    joblib.dump(fitted, model_file)
    expected = fitted.predict_proba(paths)
    np.save(tmp_path / "paths.npy", paths)
    script = (
        "import sys, joblib, numpy as np\n"
        f"pipe = joblib.load({str(model_file)!r})\n"
        f"paths = np.load({str(tmp_path / 'paths.npy')!r})\n"
        f"np.save({str(tmp_path / 'proba.npy')!r}, pipe.predict_proba(paths))\n"
    )
    # This checkout's skpneumo, not whichever one is installed.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), expected)


@pytest.mark.parametrize("params, match", [
    ({"epochs": -1}, "epochs"),
    ({"weights": "/no/such/weights.h5"}, "weights.h5"),
    ({"size": 0}, "size"),
    ({"smote__k_neighbors": 0}, "k_neighbors"),
    ({"load__reduce_to": 16}, "load__reduce_to=16 is smaller than resize__size=32"),
])
def test_parameter_errors_before_any_image_is_loaded(params, match):
    # The paths do not exist: a parameter error proves nothing was loaded.
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        fast_pipeline(**params).fit(["/missing/a.png", "/missing/b.png"], ["NORMAL", "PNEUMONIA"])


def test_bad_image_files_are_named(image_set, tmp_path):
    paths, labels, _ = image_set
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpeg"
    corrupt.write_bytes(os.urandom(300))
    for bad, match in [(tmp_path / "missing.png", "not found"), (empty, "empty"),
                       (corrupt, "Cannot decode"), (tmp_path, "directory")]:
        with pytest.raises(ImageReadError, match=match) as err:
            fast_pipeline().fit(list(paths[:-1]) + [bad], labels)
        assert str(bad) in str(err.value)


@pytest.mark.parametrize("X, y, match", [
    ([], [], "no images"),
    (["a.png", "b.png", "c.png"], ["NORMAL", "PNEUMONIA"], "3 images but y holds 2"),
    (["a.png", "b.png"], ["NORMAL", "NORMAL"], "exactly two classes"),
    (["a.png", "b.png", "c.png"], ["NORMAL", "PNEUMONIA", "COVID"], "exactly two classes"),
    ("a.png", ["NORMAL"], "single str"),
])
def test_bad_input_is_rejected_before_loading(X, y, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fast_pipeline().fit(X, y)


def test_in_memory_arrays_through_the_pipeline(image_set):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(16, 40, 40), dtype=np.uint8)
    y = np.array([0, 1] * 8)
    pipe = fast_pipeline().fit(X, y)
    assert pipe.predict_proba(X).shape == (16, 2)
    with pytest.raises(ValueError, match="NaN"):
        pipe.predict_proba(np.full((2, 40, 40), np.nan))


@pytest.mark.slow  # two fits; the refusal below is in the quick loop
def test_preprocessed_validation_images_reach_the_classifier_as_paths_would(image_set):
    from skpneumo.estimators import Preprocessed

    paths, labels, _ = image_set
    train, val = slice(0, len(paths) - 6), slice(len(paths) - 6, None)
    by_path = fast_pipeline(epochs=2).fit(paths[train], labels[train], clf__validation_data=(paths[val], labels[val]))
    pipe = fast_pipeline(epochs=2)
    images = Preprocessed(pipe[:-1].transform(paths[val]))
    pipe.fit(paths[train], labels[train], clf__validation_data=(images, labels[val]))
    assert by_path[-1].history_["val_auc"] == pipe[-1].history_["val_auc"]


def test_preprocessed_validation_images_need_steps_that_learn_nothing(image_set):
    from sklearn.preprocessing import FunctionTransformer

    from skpneumo.estimators import Preprocessed

    paths, labels, _ = image_set
    pipe = fast_pipeline(normalize=FunctionTransformer())
    images = Preprocessed(np.zeros((2, TINY, TINY, 3), np.float32))
    with pytest.raises(ValueError, match=r"Step 'normalize' \(FunctionTransformer\) learns from the images in fit; "
                                         r"validation images preprocessed before fit"):
        pipe.fit(paths, labels, clf__validation_data=(images, labels[:2]))
    # A streamed fit reads its validation films itself.
    with pytest.raises(ValueError, match="a streamed fit validates on image paths"):
        fast_pipeline(streaming=True, smote=None).fit(paths, labels, clf__validation_data=(images, labels[:2]))


def test_loader_decodes_for_the_pipeline_size():
    # Read when the pipeline runs, so that searches over resize__size need nothing else.
    assert make_pipeline(size=64).get_params()["load__reduce_to"] == "auto"
    assert make_pipeline(reduce_to=None).get_params()["load__reduce_to"] is None
    assert make_pipeline(load=ImageLoader()).get_params()["load__reduce_to"] is None
    assert make_pipeline().get_params()["load__n_jobs"] == -1
    with pytest.raises(ValueError, match="load__reduce_to=.32, 32. is smaller than resize__size=64"):
        fast_pipeline(size=64, reduce_to=(32, 32)).fit(["a.png", "b.png"], ["NORMAL", "PNEUMONIA"])


def test_chunk_size_is_checked_at_prediction_and_kept_by_slicing(fitted, image_set):
    paths = image_set[0][:2]
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1, got 0"):
        clone(fitted).set_params(chunk_size=0).fit(*image_set[:2])
    bad = pickle.loads(pickle.dumps(fitted))
    bad.set_params(chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1, got 0"):
        bad.predict_proba(paths)
    assert bad.set_params(chunk_size=7)[:3].chunk_size == 7


def test_chunk_size_is_a_parameter(image_set):
    pipe = fast_pipeline().set_params(chunk_size=8)
    assert clone(pipe).get_params()["chunk_size"] == 8
    assert "chunk_size" in GridSearchCV(pipe, {"chunk_size": [8, 16]}).param_grid
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        fast_pipeline(smote=None).set_params(chunk_size=0).fit(*image_set[:2])


@pytest.fixture(scope="module")
def mixed_files(image_set, tmp_path_factory):
    """The small image set plus large grayscale and colour JPEGs that decode reduced."""
    from conftest import write_xray_like

    root = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(5)
    large = []
    for i in range(6):
        path = root / f"large-{i}.jpeg"
        write_xray_like(path, i % 2 == 1, rng, size=(300, 260))
        if i % 3 == 0:  # colour
            gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(path), cv2.merge([gray, gray // 2, 255 - gray]))
        large.append(str(path))
    return list(image_set[0]) + large


@pytest.mark.parametrize("n_jobs", [1, -1])
def test_fused_loading_equals_the_steps_one_by_one(mixed_files, n_jobs):
    pipe = fast_pipeline(n_jobs=n_jobs, size=48)
    steps = [pipe.named_steps[name] for name in ("load", "resize", "rgb", "normalize")]
    loaded = clone(steps[0]).set_params(reduce_to=48).transform(mixed_files)
    assert any(img.shape[0] < 260 for img in loaded)  # some were decoded reduced
    one_by_one = loaded
    for step in steps[1:3]:
        one_by_one = step.transform(one_by_one)
    fused = pipe[:4].transform(mixed_files)  # load, resize, clahe (off), rgb
    assert fused.dtype == np.uint8 and fused.shape == (len(mixed_files), 48, 48, 3)
    np.testing.assert_array_equal(fused, one_by_one)
    # At prediction, SMOTE is skipped and normalize joins the fused steps.
    np.testing.assert_array_equal(pipe._transform_for_final(mixed_files), steps[3].transform(one_by_one))
    # A step order the fused pass cannot stack ends in the steps' own error.
    with pytest.raises(ValueError, match="differ in shape"):
        make_pipeline(resize=None)._transform_for_final(mixed_files)


def test_chunked_prediction_is_bitwise_equal_to_one_pass(fitted, image_set, monkeypatch):
    paths, _, _ = image_set
    one_pass = fitted.predict_proba(paths)
    labels = fitted.predict(paths)
    clf = fitted.named_steps["clf"]
    sizes = []
    predict_proba = clf.predict_proba
    monkeypatch.setattr(fitted, "chunk_size", 13)  # rounded down to batch_size=8
    monkeypatch.setattr(clf, "predict_proba", lambda X, **kw: sizes.append(len(X)) or predict_proba(X, **kw))
    np.testing.assert_array_equal(fitted.predict_proba(list(paths)), one_pass)
    assert sizes == [8, 8, 8]
    np.testing.assert_array_equal(fitted.predict(paths), labels)
    arrays = fitted[:4].transform(paths)  # loaded images are chunked too
    np.testing.assert_array_equal(fitted.predict_proba(arrays), one_pass)


@pytest.mark.slow  # two fits with validation; the CLI's --val-size fits (test_cli.py) pass paths too
def test_validation_data_as_paths_equals_preprocessed(image_set):
    paths, labels, _ = image_set
    train, val = np.r_[0:9, 12:21], np.r_[9:12, 21:24]
    histories = []
    for make_X_val in (lambda pipe: paths[val], lambda pipe: pipe._transform_for_final(paths[val])):
        pipe = fast_pipeline(early_stopping_patience=None)
        pipe.fit(paths[train], labels[train], clf__validation_data=(make_X_val(pipe), labels[val]))
        histories.append(pipe.named_steps["clf"].history_)
    assert "val_auc" in histories[0]
    assert histories[0] == histories[1]


def test_clahe_step_runs_exactly_once_from_paths_to_a_report(image_set):
    paths, labels, _ = image_set
    pipe = make_pipeline(clahe=CLAHE(), size=32, weights=None, backbone="smallcnn", epochs=1,
                         fine_tune_epochs=0, batch_size=8, smote=None, random_state=0)
    pipe.fit(paths, labels)
    X = ImageLoader().transform(paths)
    for step in (Resizer(32), CLAHE(), GrayscaleToRGB(), Normalizer()):
        X = step.transform(X)
    expected = pipe.named_steps["clf"].predict_proba(X)
    np.testing.assert_array_equal(pipe.predict_proba(paths), expected)
    report = evaluate(pipe, paths, labels, n_bootstrap=0)
    assert report.roc_auc == evaluate(pipe.named_steps["clf"], X, labels, n_bootstrap=0).roc_auc

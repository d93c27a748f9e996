import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import clone, is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    FixedThresholdClassifier, GridSearchCV, GroupKFold, StratifiedKFold,
    TunedThresholdClassifierCV, check_cv, cross_validate,
)

from skpneumo import ImageReadError, ImageSMOTE, PneumoniaClassifier, make_pipeline



TINY = 32
FAST = dict(weights=None, size=TINY, epochs=1, fine_tune_epochs=0, batch_size=8,
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
    assert [name for name, _ in pipe.steps] == ["load", "resize", "rgb", "smote", "normalize", "clf"]
    assert isinstance(pipe.named_steps["smote"], ImageSMOTE)
    assert isinstance(pipe.named_steps["clf"], PneumoniaClassifier)
    assert pipe.get_params()["resize__size"] == 224
    assert is_classifier(pipe)
    assert isinstance(check_cv(3, np.array([0, 1] * 5), classifier=is_classifier(pipe)), StratifiedKFold)


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


def test_smote_disabled_and_class_weight(image_set):
    paths, labels, _ = image_set
    keep = np.r_[0:5, 12:24]
    pipe = fast_pipeline(smote=None, class_weight="balanced").fit(paths[keep], labels[keep])
    assert pipe.predict_proba(paths[:2]).shape == (2, 2)


def test_cross_validation_with_standard_scorers(image_set):
    paths, labels, _ = image_set
    y = (labels == "PNEUMONIA").astype(int)
    scores = cross_validate(fast_pipeline(), paths, y, cv=3,
                            scoring=["roc_auc", "f1", "average_precision", "neg_log_loss"])
    for name in ("roc_auc", "f1", "average_precision", "neg_log_loss"):
        assert np.isfinite(scores[f"test_{name}"]).all(), name


def test_grid_search_by_patient_in_parallel(image_set):
    paths, labels, groups = image_set
    search = GridSearchCV(fast_pipeline(), {"clf__learning_rate": [1e-3, 1e-4]}, scoring="roc_auc",
                          cv=GroupKFold(2), n_jobs=2, error_score="raise")
    search.fit(paths, labels, groups=groups)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    proba = search.best_estimator_.predict_proba(paths)[:, 1]
    assert search.score(paths, labels) == pytest.approx(roc_auc_score(labels == "PNEUMONIA", proba))


def test_threshold_and_calibration_wrappers(image_set):
    paths, labels, _ = image_set
    y = (labels == "PNEUMONIA").astype(int)
    tuned = TunedThresholdClassifierCV(fast_pipeline(), cv=2, scoring="balanced_accuracy",
                                       random_state=0).fit(paths, y)
    assert 0 <= tuned.best_threshold_ <= 1
    fixed = FixedThresholdClassifier(fast_pipeline(), threshold=0.3).fit(paths, y)
    assert set(fixed.predict(paths)) <= {0, 1}
    calibrated = CalibratedClassifierCV(fast_pipeline(), cv=2, method="sigmoid").fit(paths, y)
    proba = calibrated.predict_proba(paths)
    assert proba.shape == (len(paths), 2) and np.isfinite(proba).all()


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
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), expected)


@pytest.mark.parametrize("params, match", [
    ({"epochs": -1}, "epochs"),
    ({"weights": "/no/such/weights.h5"}, "weights.h5"),
    ({"size": 0}, "size"),
    ({"smote__k_neighbors": 0}, "k_neighbors"),
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

"""Tests for skpneumo.preprocessing.ImageSMOTE."""

import pickle
from collections import Counter

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from skpneumo import ImageSMOTE


def _batch(n_major=20, n_minor=8, shape=(6, 5, 3), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    n = n_major + n_minor
    if np.issubdtype(dtype, np.integer):
        X = rng.integers(0, np.iinfo(dtype).max, (n, *shape), dtype=dtype, endpoint=True)
    else:
        X = rng.random((n, *shape)).astype(dtype)
    y = np.array([0] * n_major + [1] * n_minor)
    return X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(6, 5, 3), (6, 5), (4, 4, 1)])
def test_shapes_dtype_balance_originals_first(dtype, shape):
    X, y = _batch(shape=shape, dtype=dtype)
    X_res, y_res = ImageSMOTE(random_state=0).fit_resample(X, y)
    assert X_res.shape == (40, *shape)
    assert X_res.dtype == dtype
    assert y_res.shape == (40,)
    assert Counter(y_res.tolist()) == {0: 20, 1: 20}
    np.testing.assert_array_equal(X_res[: len(X)], X)  # originals kept first, unchanged
    np.testing.assert_array_equal(y_res[: len(y)], y)
    assert np.all(y_res[len(y):] == 1)  # only minority images synthesised


def test_float_synthetic_images_between_parents():
    X, y = _batch(dtype=np.float32)
    X_res, _ = ImageSMOTE(random_state=0).fit_resample(X, y)
    minority = X[y == 1]
    syn = X_res[len(X):]
    # Convex combinations of minority images lie inside the per-pixel envelope.
    assert np.all(syn >= minority.min(axis=0) - 1e-6)
    assert np.all(syn <= minority.max(axis=0) + 1e-6)
    assert syn.min() >= 0.0 and syn.max() <= 1.0


def test_uint8_synthetic_pixels_in_dtype_range():
    X, y = _batch(dtype=np.uint8)
    X_res, _ = ImageSMOTE(random_state=0).fit_resample(X, y)
    assert X_res.dtype == np.uint8
    assert X_res.min() >= 0 and X_res.max() <= 255


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_synthetic_pixels_between_parents(dtype):
    # Two minority images of one pixel: every synthetic pixel must lie in [100, 200].
    X = np.zeros((8, 1, 1, 1), dtype)
    X[6, 0, 0, 0], X[7, 0, 0, 0] = 200, 100
    y = np.array([0] * 6 + [1] * 2)
    X_res, _ = ImageSMOTE(k_neighbors=1, random_state=0).fit_resample(X, y)
    syn = X_res[8:].ravel()
    assert len(syn) == 4
    assert np.all((syn >= 100) & (syn <= 200)), syn


def test_uint8_synthetic_pixels_are_rounded_float_smote():
    X, y = _batch(dtype=np.uint8)
    X_int, _ = ImageSMOTE(random_state=0).fit_resample(X, y)
    X_flt, _ = ImageSMOTE(random_state=0).fit_resample(X.astype(np.float64), y)
    np.testing.assert_array_equal(X_int, np.rint(X_flt).astype(np.uint8))


def test_matches_plain_smote_on_flattened_floats():
    X, y = _batch(dtype=np.float32)
    X_res, y_res = ImageSMOTE(random_state=3).fit_resample(X, y)
    X_ref, y_ref = SMOTE(random_state=3).fit_resample(X.reshape(len(X), -1), y)
    np.testing.assert_array_equal(X_res.reshape(len(X_res), -1), X_ref)
    np.testing.assert_array_equal(y_res, y_ref)


def test_reproducible_with_random_state():
    X, y = _batch()
    a, ya = ImageSMOTE(random_state=42).fit_resample(X, y)
    b, yb = ImageSMOTE(random_state=42).fit_resample(X, y)
    c, _ = ImageSMOTE(random_state=7).fit_resample(X, y)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c)
    rs = np.random.RandomState(0)
    d, _ = ImageSMOTE(random_state=np.random.RandomState(0)).fit_resample(X, y)
    e, _ = ImageSMOTE(random_state=rs).fit_resample(X, y)
    np.testing.assert_array_equal(d, e)


@pytest.mark.parametrize("as_list", [False, True])
def test_string_labels(as_list):
    X, _ = _batch(n_major=15, n_minor=7)
    y = np.array(["PNEUMONIA"] * 15 + ["NORMAL"] * 7)
    X_res, y_res = ImageSMOTE(random_state=0).fit_resample(X, y.tolist() if as_list else y)
    assert X_res.shape == (30, *X.shape[1:])
    assert len(y_res) == 30
    assert Counter(np.asarray(y_res).tolist()) == {"PNEUMONIA": 15, "NORMAL": 15}
    assert list(y_res[:22]) == y.tolist()
    if not as_list:
        assert y_res.dtype.kind == "U"


def test_multiclass_and_sampling_strategy():
    rng = np.random.default_rng(0)
    X = rng.random((30, 4, 4, 3)).astype(np.float32)
    y = np.array([0] * 15 + [1] * 9 + [2] * 6)
    _, y_res = ImageSMOTE(random_state=0).fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 15, 1: 15, 2: 15}
    X2, y2 = _batch(n_major=20, n_minor=6)
    X_res, y_res = ImageSMOTE(sampling_strategy=0.5, random_state=0).fit_resample(X2, y2)
    assert Counter(y_res.tolist()) == {0: 20, 1: 10}
    assert X_res.shape[0] == 30


@pytest.mark.parametrize("k", [1, 2, 5])
def test_tiny_minority_class_clear_error(k):
    X, y = _batch(n_major=20, n_minor=k)
    with pytest.raises(ValueError, match="k_neighbors") as exc:
        ImageSMOTE(k_neighbors=k, random_state=0).fit_resample(X, y)
    assert "smote=None" in str(exc.value)
    assert f"k_neighbors={k}" in str(exc.value)
    # One more minority image is enough.
    X, y = _batch(n_major=20, n_minor=k + 1)
    X_res, y_res = ImageSMOTE(k_neighbors=k, random_state=0).fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 20, 1: 20}


def test_tiny_minority_error_names_string_class():
    X, _ = _batch(n_major=10, n_minor=3)
    y = ["PNEUMONIA"] * 10 + ["NORMAL"] * 3
    with pytest.raises(ValueError, match="NORMAL"):
        ImageSMOTE().fit_resample(X, y)


def _ragged_object_array():
    batch = np.empty(2, dtype=object)
    batch[0] = np.zeros((4, 4, 3), np.float32)
    batch[1] = np.zeros((5, 5, 3), np.float32)
    return batch


@pytest.mark.parametrize(
    "X",
    [
        _ragged_object_array(),
        [np.zeros((4, 4, 3)), np.zeros((5, 5, 3))],
        np.zeros(2),
    ],
    ids=["object-array", "ragged-list", "1d"],
)
def test_ragged_or_object_input_value_error(X):
    with pytest.raises(ValueError):
        ImageSMOTE().fit_resample(X, [0, 1])


def test_object_array_error_message():
    with pytest.raises(ValueError, match="ImageSMOTE: expected a stacked array"):
        ImageSMOTE().fit_resample(_ragged_object_array(), [0, 1])


# Inside an imbalanced-learn pipeline -------------------------------------------------


class ImageCountingClassifier(ClassifierMixin, BaseEstimator):
    """Trivial classifier on 4-D image batches that records how many images it saw."""

    def fit(self, X, y):
        X = np.asarray(X)
        assert X.ndim == 4
        self.classes_ = np.unique(y)
        self.n_fit_images_ = len(X)
        self.fit_counts_ = Counter(np.asarray(y).tolist())
        return self

    def predict(self, X):
        X = np.asarray(X)
        assert X.ndim == 4
        self.n_predict_images_ = len(X)
        return np.full(len(X), self.classes_[0])


def test_imblearn_pipeline_resamples_in_fit_only():
    X, y = _batch(n_major=20, n_minor=8, shape=(6, 5, 3))
    pipe = make_pipeline(ImageSMOTE(random_state=0), ImageCountingClassifier())
    assert pipe.fit(X, y) is pipe
    clf = pipe[-1]
    assert clf.n_fit_images_ == 40
    assert clf.fit_counts_ == {0: 20, 1: 20}
    pred = pipe.predict(X)
    assert pred.shape == (28,)
    assert clf.n_predict_images_ == 28
    pred = pipe.predict(X[:5])
    assert pred.shape == (5,)
    assert clf.n_predict_images_ == 5
    assert 0.0 <= pipe.score(X, y) <= 1.0
    assert clf.n_predict_images_ == 28


def test_imblearn_pipeline_params_and_clone():
    pipe = make_pipeline(ImageSMOTE(k_neighbors=3), ImageCountingClassifier())
    pipe.set_params(imagesmote__k_neighbors=2)
    assert clone(pipe).get_params()["imagesmote__k_neighbors"] == 2
    X, y = _batch(n_major=10, n_minor=2)
    with pytest.raises(ValueError, match="k_neighbors=2"):
        pipe.fit(X, y)


# scikit-learn contract -------------------------------------------------------------


def test_clone_and_params_round_trip():
    smote = ImageSMOTE(sampling_strategy=0.8, k_neighbors=3, random_state=11)
    cloned = clone(smote)
    assert cloned is not smote
    params = cloned.get_params()
    assert params["sampling_strategy"] == 0.8
    assert params["k_neighbors"] == 3
    assert params["random_state"] == 11
    assert params == smote.get_params()
    assert ImageSMOTE(**params).get_params() == params
    assert smote.set_params(k_neighbors=4) is smote
    assert smote.get_params()["k_neighbors"] == 4


def test_init_stores_params_only():
    smote = ImageSMOTE(k_neighbors=3, random_state=1)
    assert not [k for k in vars(smote) if k.endswith("_") and not k.startswith("_")]
    assert set(smote.get_params()) <= set(vars(smote))


def test_fit_returns_self_and_fit_resample_does_not_change_params():
    X, y = _batch()
    smote = ImageSMOTE(random_state=0)
    params = smote.get_params()
    assert smote.fit(X.reshape(len(X), -1), y) is smote
    smote.fit_resample(X, y)
    assert smote.get_params() == params


def test_pickle_round_trip():
    X, y = _batch()
    smote = ImageSMOTE(k_neighbors=3, random_state=5)
    a, _ = smote.fit_resample(X, y)
    restored = pickle.loads(pickle.dumps(smote))
    assert type(restored) is ImageSMOTE
    assert restored.get_params() == smote.get_params()
    b, _ = restored.fit_resample(X, y)
    np.testing.assert_array_equal(a, b)




@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_bitwise_equal_to_plain_smote_on_float32_then_rounded(dtype):
    X, y = _batch(n_major=30, n_minor=9, shape=(7, 6, 3), dtype=dtype, seed=4)
    X_res, y_res = ImageSMOTE(random_state=5).fit_resample(X, y)
    ref, y_ref = SMOTE(random_state=5).fit_resample(X.reshape(len(X), -1).astype(np.float32), y)
    if dtype != np.float32:
        ref = np.clip(np.rint(ref), 0, np.iinfo(dtype).max).astype(dtype)
    np.testing.assert_array_equal(X_res.reshape(len(X_res), -1), ref)
    np.testing.assert_array_equal(y_res, y_ref)


def test_blockwise_generation_equals_one_block(monkeypatch):
    from skpneumo.preprocessing import sampling

    X, y = _batch(n_major=40, n_minor=6, shape=(8, 8), dtype=np.uint8, seed=2)
    whole, _ = ImageSMOTE(random_state=1).fit_resample(X, y)
    monkeypatch.setattr(sampling, "_BLOCK_BYTES", 3 * 8 * 8 * 4)  # 3 images per block
    blocks, _ = ImageSMOTE(random_state=1).fit_resample(X, y)
    np.testing.assert_array_equal(blocks, whole)


def test_uint8_input_is_not_copied_to_float(monkeypatch):
    # Besides its output, resampling a uint8 batch allocates less than one float32
    # copy of the batch (imblearn alone allocates several).
    import tracemalloc

    from skpneumo.preprocessing import sampling

    monkeypatch.setattr(sampling, "_BLOCK_BYTES", 4 * 64 * 64 * 3 * 4)
    X, y = _batch(n_major=60, n_minor=20, shape=(64, 64, 3), dtype=np.uint8)
    tracemalloc.start()
    ImageSMOTE(random_state=0).fit_resample(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out_bytes = 120 * X[0].nbytes
    assert peak < out_bytes + X.size * np.dtype(np.float32).itemsize, peak


def test_resampling_keeps_no_copy_of_the_images():
    X, y = _batch(n_major=30, n_minor=10, shape=(16, 16, 3), dtype=np.uint8)
    smote = ImageSMOTE(random_state=0)
    smote.fit_resample(X, y)
    assert len(pickle.dumps(smote)) < X[y == 1].nbytes

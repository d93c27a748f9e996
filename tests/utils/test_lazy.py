"""Lazy re-exports: a name is imported on first use, then cached; unknown names fail clearly."""

import pytest

import skpneumo


def test_a_name_is_cached_after_first_use():
    # Importing without loading TensorFlow is tested in tests/test_architecture.py.
    make_pipeline = skpneumo.make_pipeline
    assert vars(skpneumo)["make_pipeline"] is make_pipeline is vars(skpneumo.estimators)["make_pipeline"]


def test_unknown_names_raise_attribute_error_and_dir_lists_the_exports():
    with pytest.raises(AttributeError, match="module 'skpneumo' has no attribute 'PneumoniaClasifier'"):
        skpneumo.PneumoniaClasifier  # noqa: B018 (the lookup is what is tested)
    assert {"make_pipeline", "load_model", "explain"} <= set(dir(skpneumo))
    assert sorted(skpneumo.__all__) == skpneumo.__all__

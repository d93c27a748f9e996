"""scikit-learn's own estimator checks, where they apply to image estimators.

Many generic checks feed 2-D tabular data, which image transformers rightly reject;
these are the ones that test the estimator contract itself.
"""

import pytest
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_dont_overwrite_parameters,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_estimators_fit_returns_self,
    check_estimators_overwrite_params,
    check_estimators_pickle,
    check_fit_check_is_fitted,
    check_fit_idempotent,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    check_valid_tag_types,
)

from skpneumo import GrayscaleToRGB, ImageLoader, ImageSMOTE, Normalizer, Resizer

CONTRACT_CHECKS = [
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_get_params_invariance,
    check_set_params,
    check_dont_overwrite_parameters,
    check_estimators_overwrite_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_valid_tag_types,
    check_estimator_tags_renamed,
    check_mixin_order,
    check_do_not_raise_errors_in_init_or_set_params,
]
STATELESS_CHECKS = [check_fit_check_is_fitted, check_estimators_fit_returns_self]
SAMPLER_CHECKS = [check_estimators_pickle, check_fit_idempotent]

CASES = [
    (est, check)
    for est in (ImageLoader, Resizer, GrayscaleToRGB, Normalizer)
    for check in CONTRACT_CHECKS + STATELESS_CHECKS
] + [(ImageSMOTE, check) for check in CONTRACT_CHECKS + SAMPLER_CHECKS]


@pytest.mark.parametrize("Est, check", CASES,
                         ids=[f"{e.__name__}-{c.__name__}" for e, c in CASES])
def test_sklearn_estimator_checks(Est, check):
    check(Est.__name__, Est())

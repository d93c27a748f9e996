"""scikit-learn's estimator checks on every skpneumo estimator.

scikit-learn runs its checks only on estimators that take 2-D ``(n_samples,
n_features)`` arrays; ours take image batches ``(n, H, W[, C])`` or file paths, so
each is checked through :func:`tabular_view`, a subclass that only claims 2-D
input. Every check then runs: those that fit on tables fail for that reason alone
and are listed in :func:`expected_failed_checks`; the rest (parameters, cloning,
pickling, tags, error messages, fitting without data) must pass.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skpneumo import (
    CLAHE,
    GrayscaleToRGB,
    ImageLoader,
    ImageSMOTE,
    Normalizer,
    PneumoniaClassifier,
    Resizer,
    make_pipeline,
)

TINY = dict(weights=None, backbone="smallcnn", epochs=1, fine_tune_epochs=0, batch_size=8, random_state=0)
ESTIMATORS = [
    ImageLoader(), Resizer(size=8), CLAHE(), GrayscaleToRGB(), Normalizer(), ImageSMOTE(k_neighbors=2),
    PneumoniaClassifier(**TINY), make_pipeline(**TINY, size=32, smote__k_neighbors=2),
]


def tabular_view(estimator):
    """``estimator`` as an instance of a subclass that claims 2-D input, so that
    scikit-learn runs its checks at all; nothing else changes."""
    cls = type(estimator)
    name = f"Tabular{cls.__name__}"
    if name not in globals():

        def __sklearn_tags__(self):
            tags = cls.__sklearn_tags__(self)
            tags.input_tags.two_d_array = True
            return tags

        # A module-level name, so that the pickling checks find the class again.
        globals()[name] = type(name, (cls,), {"__sklearn_tags__": __sklearn_tags__,
                                              "__module__": __name__, "__qualname__": name})
    return globals()[name](**estimator.get_params(deep=False))


# Why the checks that fail do, by what they feed the estimator.
TABLES = ("fits or transforms (n_samples, n_features) tables: skpneumo estimators take image "
          "batches (n, H, W[, C]) and refuse tables with their own error")
STATELESS = ("a stateless image transformer's fit checks its parameters only and ignores X "
             "(as FunctionTransformer does); its transform checks the images")
SCIKERAS = "inherited from scikeras' KerasClassifier, the wrapper the design names"

TABLE_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
    "check_f_contiguous_array_estimator", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_dict_unchanged", "check_fit_idempotent", "check_fit2d_predict1d",
    "check_estimators_overwrite_params", "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting", "check_estimators_pickle",
    "check_positive_only_tag_during_fit", "check_estimators_empty_data_messages", "check_estimators_nan_inf",
    "check_classifier_data_not_an_array", "check_classifiers_classes", "check_classifiers_train",
    "check_supervised_y_2d", "check_fit2d_1feature", "check_fit_check_is_fitted", "check_n_features_in",
]
TRANSFORMER_TABLE_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
    "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes", "check_transformers_unfitted_stateless",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit2d_predict1d", "check_estimators_pickle",
]
STATELESS_CHECKS = [
    "check_n_features_in_after_fitting", "check_complex_data", "check_estimators_empty_data_messages",
    "check_estimators_nan_inf", "check_estimator_sparse_tag", "check_n_features_in", "check_fit1d",
]
CLASSIFIER_TABLE_CHECKS = TABLE_CHECKS + [
    "check_sample_weights_not_an_array", "check_sample_weights_list", "check_all_zero_sample_weights_error",
    "check_sample_weights_shape", "check_sample_weights_not_overwritten",
    "check_sample_weight_equivalence_on_dense_data", "check_classifiers_one_label_sample_weights",
    "check_classifiers_regression_target", "check_class_weight_classifiers",
    "check_classifier_not_supporting_multiclass", "check_fit2d_1sample",
]


def expected_failed_checks(estimator):
    """The checks ``estimator`` is known to fail, each with its reason."""
    if isinstance(estimator, ImageSMOTE):  # a SMOTE: it takes tables too
        return {}
    if isinstance(estimator, PneumoniaClassifier):
        return {**dict.fromkeys(CLASSIFIER_TABLE_CHECKS, TABLES),
                "check_estimator_tags_renamed": SCIKERAS + " (it still defines _more_tags for old scikit-learn)",
                "check_mixin_order": SCIKERAS + " (its base classes come in scikeras' order)"}
    if hasattr(estimator, "steps"):
        return dict.fromkeys(TABLE_CHECKS, TABLES)
    return {**dict.fromkeys(TRANSFORMER_TABLE_CHECKS, TABLES), **dict.fromkeys(STATELESS_CHECKS, STATELESS)}


@parametrize_with_checks([tabular_view(est) for est in ESTIMATORS],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)

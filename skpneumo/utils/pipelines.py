"""The last step of a pipeline: one rule for every layer, without importing Keras."""


def final_step(model):
    """The name and estimator of ``model``'s last step, or ``(None, model)`` if it has no steps.

    The one rule for "the step that decides" of a pipeline (scikit-learn's or
    imbalanced-learn's) or of a bare estimator.

    Parameters
    ----------
    model : estimator
        A pipeline or any other estimator.

    Returns
    -------
    name : str or None
        The step's name; None when ``model`` is not a pipeline.
    estimator : estimator
        The last step (as the pipeline holds it: ``"passthrough"`` or None for a
        disabled step), or ``model`` itself.
    """
    steps = getattr(model, "steps", None)
    return tuple(steps[-1]) if steps else (None, model)

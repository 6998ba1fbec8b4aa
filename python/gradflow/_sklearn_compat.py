"""What differs between the scikit-learn releases the estimators support (1.2 through 1.6), in
one place: input validation (a method before 1.6, a function from 1.6 on) and estimator tags
(_more_tags before 1.6, __sklearn_tags__ from 1.6 on; the estimators define both)."""
try:  # scikit-learn ≥ 1.6
    from sklearn.utils.validation import validate_data as _validate_data_function
except ImportError:  # pragma: no cover - which branch runs depends on the installed release
    _validate_data_function = None


def validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
    """sklearn.utils.validation.validate_data where it exists, else estimator._validate_data:
    checks X (and y), sets or checks n_features_in_ and feature_names_in_ (reset=True sets)."""
    if _validate_data_function is not None:
        return _validate_data_function(estimator, X=X, y=y, **kwargs)
    return estimator._validate_data(X=X, y=y, **kwargs)


def with_tags(tags, **changes):
    """scikit-learn ≥ 1.6's Tags with the given fields of its input_tags / target_tags set."""
    for group, fields in changes.items():
        for name, value in fields.items():
            setattr(getattr(tags, group), name, value)
    return tags

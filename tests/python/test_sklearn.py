"""gradflow.sklearn: scikit-learn's own checks, and the estimators where scikit-learn users put them."""
import pickle
import warnings

import numpy as np
import pytest

import gradflow as gf
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from gradflow.sklearn import GradflowClassifier, GradflowRegressor


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator", [GradflowClassifier(), GradflowRegressor()], ids=lambda e: type(e).__name__)
def test_every_check_of_check_estimator_passes(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on the checks' tiny data sets
        check_estimator(estimator)


def iris():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    return StandardScaler().fit_transform(X), names


def test_labels_of_any_type_history_and_partial_fit():
    X, y = iris()
    clf = GradflowClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100, random_state=0).fit(X, y)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.score(X, y) > 0.9
    assert clf.n_iter_ == len(clf.loss_curve_) == len(clf.history_) <= 100
    assert list(clf.history_.columns)[:3] == ["epoch", "train_loss", "train_acc"]  # a pandas DataFrame
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    inc = GradflowClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    for _ in range(30):
        inc.partial_fit(X, y, classes=["setosa", "versicolor", "virginica"])
    assert inc.n_iter_ == 30 and inc.score(X, y) > 0.8
    with pytest.raises(ValueError, match="not in classes_"):
        inc.partial_fit(X[:3], ["rose", "setosa", "setosa"])


def test_pipeline_grid_search_cross_validation_clone_and_pickle():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), GradflowClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.02, max_iter=60,
                                                                random_state=1))
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.8
    search = GridSearchCV(pipe, {"gradflowclassifier__solver": ["adam", "sgd"],
                                 "gradflowclassifier__learning_rate_init": [0.02, 0.05]}, cv=3)
    search.fit(X, y)
    assert search.best_score_ > 0.8
    fitted = search.best_estimator_
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert clone(fitted[-1]).get_params() == fitted[-1].get_params()
    assert not hasattr(clone(fitted[-1]), "model_")


def test_the_same_random_state_gives_the_same_model_and_the_defaults_are_the_librarys():
    X, y = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=0)
    y = (y - y.mean()) / y.std()
    a = GradflowRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=200, random_state=3).fit(X, y)
    b = GradflowRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=200, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.score(X, y) > 0.9
    assert a._optimizer.name == "adam"
    assert GradflowRegressor(max_iter=1).fit(X, y)._optimizer.learning_rate == 1e-3  # Adam's own default
    c = GradflowRegressor(solver="adamw", max_iter=5, random_state=3).fit(X, y)
    assert c._optimizer.name == "adamw"


def test_bad_parameters_and_inputs_are_clear_errors():
    X, y = iris()
    with pytest.raises(ValueError, match="learning_rate='adaptive' is not available in gradflow"):
        GradflowClassifier(solver="sgd", learning_rate="adaptive").fit(X, y)
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        GradflowClassifier(solver="adamx").fit(X, y)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        GradflowClassifier(activation="swish").fit(X, y)
    # One class, as MLPClassifier takes it: that class predicted everywhere.
    assert set(GradflowClassifier(max_iter=2).fit(X, ["a"] * len(X)).predict(X)) == {"a"}
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GradflowClassifier().fit(np.full_like(X, np.nan), y)
    fitted = GradflowClassifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but GradflowClassifier is expecting 4 features"):
        fitted.predict(X[:, :3])


def test_warm_start_continues_the_network_and_a_plain_fit_starts_afresh():
    X, y = iris()
    clf = GradflowClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=5, random_state=0)
    clf.fit(X, y)
    first = clf.loss_curve_[-1]
    clf.set_params(warm_start=True).fit(X, y)
    assert clf.n_iter_ == 10 and len(clf.loss_curve_) == 10 and clf.loss_curve_[5] < first
    clf.set_params(warm_start=False).fit(X, y)
    assert clf.n_iter_ == 5


def test_scikit_learns_defaults_and_names_where_the_estimators_overlap_with_its_mlp():
    """Glorot-uniform weights by default (scikit-learn's initializer), activation='logistic', and a
    regressor fitted on a column y predicts [samples] as MLPRegressor does."""
    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    clf = GradflowClassifier(hidden_layer_sizes=(8,), activation="logistic", max_iter=5, random_state=0)
    clf.fit(X, y)
    assert clf.get_params()["init"] == "glorot_uniform"
    assert "Sigmoid(8)" in clf.model_.summary() and "init glorot_uniform" in clf.model_.summary()
    reg = GradflowRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y.astype(float).reshape(-1, 1))
    assert reg.predict(X).shape == (len(X),)


def test_two_estimators_fitting_in_two_threads_each_keep_their_thread_count():
    import threading
    X, y = make_classification(n_samples=400, n_features=8, random_state=1)
    before = gf.num_threads()
    errors = []

    def fit(n):
        try:
            for _ in range(3):
                GradflowClassifier(hidden_layer_sizes=(32,), max_iter=3, n_threads=n, random_state=0).fit(X, y)
                assert gf.num_threads() == before  # this thread's count outside a fit: untouched
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=fit, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert gf.num_threads() == before
    # The same bits with one thread as with the process's count.
    a = GradflowClassifier(hidden_layer_sizes=(32,), max_iter=3, n_threads=1, random_state=0).fit(X, y)
    b = GradflowClassifier(hidden_layer_sizes=(32,), max_iter=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_every_mlpclassifier_parameter_is_accepted_with_its_meaning_or_refused_with_the_reason():
    """A grid copied from an MLPClassifier search runs: every constructor parameter of scikit-learn's
    MLP is one of ours, with its default; 'sgd' is scikit-learn's (Nesterov momentum 0.9)."""
    import inspect

    from sklearn.neural_network import MLPClassifier, MLPRegressor
    for ours, theirs in ((GradflowClassifier, MLPClassifier), (GradflowRegressor, MLPRegressor)):
        mine = ours().get_params()
        for name, value in theirs().get_params().items():
            assert name in mine, name
            if name not in ("alpha", "learning_rate_init"):  # None: the solver's own (the module says why)
                assert mine[name] == value, (name, mine[name], value)
        assert set(inspect.signature(theirs).parameters) <= set(inspect.signature(ours).parameters)
    X, y = iris()
    sgd = GradflowClassifier(solver="sgd", max_iter=2, random_state=0).fit(X, y)
    h = sgd._optimizer.hyperparameters()
    assert (h["momentum"], h["nesterov"]) == (0.9, 1.0)
    plain = GradflowClassifier(solver="sgd", momentum=0, max_iter=2, random_state=0).fit(X, y)
    assert plain._optimizer.hyperparameters()["momentum"] == 0 and plain._optimizer.hyperparameters()["nesterov"] == 0
    adam = GradflowClassifier(beta_1=0.8, beta_2=0.99, epsilon=1e-6, max_iter=2, random_state=0).fit(X, y)
    assert {k: adam._optimizer.hyperparameters()[k] for k in ("beta1", "beta2", "eps")} == {
        "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}
    GradflowClassifier(learning_rate="adaptive", power_t=0.3, max_fun=10, max_iter=2).fit(X, y)  # Adam ignores them
    with pytest.raises(ValueError, match="learning_rate='invscaling' is not available in gradflow"):
        GradflowClassifier(solver="sgd", learning_rate="invscaling").fit(X, y)
    with pytest.raises(ValueError, match="learning_rate must be"):
        GradflowClassifier(learning_rate="fast").fit(X, y)
    search = GridSearchCV(GradflowClassifier(max_iter=3, random_state=0),
                          {"learning_rate": ["constant", "adaptive"], "momentum": [0.8, 0.9],
                           "nesterovs_momentum": [True, False], "beta_1": [0.9], "epsilon": [1e-8]}, cv=2)
    assert search.fit(X, y).best_params_ is not None


def test_best_loss_and_validation_scores_as_scikit_learn_keeps_them():
    X, y = iris()
    plain = GradflowClassifier(max_iter=20, random_state=0).fit(X, y)
    assert plain.best_loss_ == min(plain.loss_curve_)
    assert plain.validation_scores_ is None and plain.best_validation_score_ is None
    early = GradflowClassifier(max_iter=30, early_stopping=True, random_state=0).fit(X, y)
    assert early.best_loss_ is None
    assert len(early.validation_scores_) == early.n_iter_
    assert all(0 <= s <= 1 for s in early.validation_scores_)
    assert early.best_validation_score_ == max(early.validation_scores_)
    Xr, yr = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=0)
    reg = GradflowRegressor(max_iter=30, early_stopping=True, random_state=0).fit(Xr, (yr - yr.mean()) / yr.std())
    assert len(reg.validation_scores_) == reg.n_iter_ and reg.best_validation_score_ <= 1  # R²


def test_partial_fits_are_the_epochs_of_one_fit_bit_for_bit():
    """partial_fit goes on where the last one stopped, its shuffling included: n partial_fits give
    the bits of fit(max_iter=n)."""
    X, y = make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)
    y = (y - y.mean()) / y.std()
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=0.01, random_state=1, batch_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = GradflowRegressor(max_iter=7, tol=0, n_iter_no_change=100, **kw).fit(X, y)
    parts = GradflowRegressor(**kw)
    for _ in range(7):
        parts.partial_fit(X, y)
    np.testing.assert_array_equal(whole.predict(X), parts.predict(X))
    assert parts.n_iter_ == 7 and parts.loss_curve_ == whole.loss_curve_


def test_lbfgs_multilabel_sparse_input_and_the_weights_as_scikit_learn_lays_them_out():
    from scipy.sparse import csr_matrix
    from sklearn.datasets import make_multilabel_classification
    X, Y = make_multilabel_classification(n_samples=60, random_state=0)
    clf = GradflowClassifier(solver="lbfgs", hidden_layer_sizes=(30,), random_state=0).fit(X, Y)
    assert clf.n_iter_ >= 1 and clf.out_activation_ == "logistic" and list(clf.classes_) == [0, 1, 2, 3, 4]
    assert clf.predict(X).shape == Y.shape and clf.score(X, Y) > 0.9
    assert not hasattr(clf, "partial_fit")  # as scikit-learn's: no partial_fit for lbfgs
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba > 0.5, clf.predict(X).astype(bool))
    # Sparse X reads as its dense self.
    np.testing.assert_array_equal(clf.predict_proba(csr_matrix(X)), proba)
    sparse_fit = GradflowClassifier(solver="lbfgs", hidden_layer_sizes=(30,), random_state=0).fit(csr_matrix(X), Y)
    np.testing.assert_array_equal(sparse_fit.predict_proba(X), proba)
    # coefs_ [n_in, n_out] and intercepts_ are the network's weights: writing them changes it.
    assert [c.shape for c in clf.coefs_] == [(20, 30), (30, 5)] and [b.shape for b in clf.intercepts_] == [(30,), (5,)]
    assert clf.n_layers_ == 3 and clf.n_outputs_ == 5
    clf.coefs_[1][:] = 0
    clf.intercepts_[1][:] = 0
    np.testing.assert_array_equal(clf.predict_proba(X), np.full_like(proba, 0.5))


def test_non_finite_weights_and_inputs_beyond_float32_say_so_in_scikit_learns_words():
    X = np.full((10, 2), 1e300)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights.*beyond float32's range"):
        GradflowRegressor().fit(X, np.arange(10.0))
    X, y = iris()
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights.*diverged"):
        GradflowClassifier(solver="sgd", learning_rate_init=1e8, max_iter=5).fit(X * 1000, y)

"""scikit-learn estimators: GradflowClassifier and GradflowRegressor.

Their parameters mirror sklearn.neural_network.MLPClassifier / MLPRegressor where the two
overlap, plus gradflow's own (batch_norm, dropout, init, schedule, n_threads). Differences:

- learning_rate_init=None and alpha=None take the solver's own defaults, the library's (PyTorch's:
  Adam lr 1e-3, weight decay 0; AdamW weight decay 0.01). alpha is the solver's weight decay
  (an L2 term added to the gradient, as torch.optim), not scikit-learn's penalty on the loss.
- solver is any registered optimizer (gradflow.optimizer_kinds(): sgd, momentum, nesterov,
  adagrad, rmsprop, adam, adamw, lbfgs). 'sgd' is scikit-learn's: momentum (0.9) and
  nesterovs_momentum (True) apply to it; 'adam' takes beta_1, beta_2 and epsilon. 'lbfgs' is
  torch.optim.LBFGS on the whole training set in one step, with a strong-Wolfe line search and
  scipy's history of 10 pairs: max_iter iterations, max_fun evaluations, tol on max|gradient|
  (scipy's gtol, as scikit-learn passes it), alpha as an L2 term alpha/2·‖θ‖² in its objective;
  it has no partial_fit (as scikit-learn's).
- learning_rate: 'constant' for every solver (scikit-learn, too, ignores it but for 'sgd');
  'invscaling' and 'adaptive' with 'sgd' are refused: their rates are functions of the samples
  seen and of the training loss that gradflow's schedules do not have (schedule= has gradflow's:
  step, exponential, cosine, plateau).
- early_stopping stops on the validation loss (scikit-learn: the validation score) and keeps the
  best epoch's weights, as scikit-learn does.
- init (gradflow's own) defaults to Glorot-uniform, scikit-learn's initializer (which narrows it
  by √3 for 'logistic'); "default" picks by activation (He for the ReLU family, LeCun for SELU).
- live=True draws the loss curves in the notebook cell as the fit goes (one line per epoch outside
  a notebook).
- n_threads caps this estimator's fits (0: the process's count, gradflow.set_num_threads);
  estimators fitting in several threads at once each keep theirs, and the process's count is
  never changed.

They work in Pipeline, GridSearchCV, cross_val_score and clone, and pickle (the weights travel
as the safetensors bytes gradflow's model files hold; an optimizer's state does not travel: a
partial_fit after unpickling starts the update rule afresh). They take scipy sparse X (densified
to float32 for the library) and multilabel y (an indicator matrix: sigmoid outputs and binary
cross-entropy). After fit: classes_ (classifier), coefs_ and intercepts_ (float32 views of the
weights as scikit-learn lays them out, [n_in, n_out]: writing them changes the network),
n_layers_, n_outputs_, out_activation_, loss_curve_, n_iter_, best_loss_ (without early_stopping), validation_scores_ and
best_validation_score_ (accuracy, or R² for the regressor, with early_stopping), history_ (a pandas DataFrame when pandas is installed, else a list of
dicts), diagnostics_ (per-layer records, with diagnostics_every), model_ (the gradflow
Sequential).
"""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.metaestimators import available_if
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d

from . import _gradflow as _gf
from . import _sklearn_compat as _compat
from . import nn as _nn
from .live import LiveCurves as _LiveCurves

__all__ = ["GradflowClassifier", "GradflowRegressor"]


# scikit-learn's names for the activations it shares with gradflow (its others are gradflow's too).
_ACTIVATIONS = {"logistic": "sigmoid"}
# scikit-learn's words for a fit whose weights stopped being finite.
_NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large values and need to "
               "be preprocessed.")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _stochastic(estimator):
    """partial_fit exists for the stochastic solvers only (scikit-learn's rule: not for lbfgs)."""
    if estimator.solver == "lbfgs":
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {estimator.solver} is not "
                             "stochastic.")
    return True


class _GradflowMLP(BaseEstimator):
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=None, batch_size="auto",
                 learning_rate_init=None, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 learning_rate="constant", power_t=0.5, max_fun=15000, batch_norm=False, dropout=0.0,
                 init="glorot_uniform", schedule="none", diagnostics_every=0, n_threads=0, live=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.max_fun = max_fun
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.init = init
        self.schedule = schedule
        self.diagnostics_every = diagnostics_every
        self.n_threads = n_threads
        self.live = live

    # ---- what subclasses say ----
    def _loss_name(self):
        raise NotImplementedError

    def _output_layers(self, n_outputs):
        raise NotImplementedError

    def _targets(self, y, first):
        """y as the library takes it: class indices (float32 [n]) or values (float32 [n, k])."""
        raise NotImplementedError

    # ---- building ----
    def _layers(self, n_outputs):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if any(not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive whole numbers, got {self.hidden_layer_sizes!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        hidden = _nn.mlp(sizes, activation=_ACTIVATIONS.get(self.activation, self.activation),
                         batch_norm=bool(self.batch_norm), dropout=float(self.dropout), init=self.init)
        return hidden + self._output_layers(n_outputs)

    def _make_optimizer(self):
        if self.solver == "lbfgs":
            return _gf.make_optimizer("lbfgs", max_iter=int(self.max_iter), max_eval=int(self.max_fun),
                                      tolerance_grad=float(self.tol), history_size=10, strong_wolfe=True,
                                      weight_decay=float(self.alpha or 0))
        kwargs = {}
        if self.solver == "sgd":  # scikit-learn's SGD: with (Nesterov) momentum unless told otherwise
            kwargs["momentum"] = float(self.momentum)
            kwargs["nesterov"] = bool(self.nesterovs_momentum) and self.momentum > 0
        elif self.solver in ("adam", "adamw"):
            kwargs.update(beta1=float(self.beta_1), beta2=float(self.beta_2), eps=float(self.epsilon))
        if self.learning_rate_init is not None:
            kwargs["lr"] = float(self.learning_rate_init)
        if self.alpha is not None:
            kwargs["weight_decay"] = float(self.alpha)
        return _gf.make_optimizer(self.solver, **kwargs)

    def _seed(self):
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _check_params(self):
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a whole number ≥ 1, got {self.max_iter!r}")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, numbers.Integral) or self.batch_size < 1):
            raise ValueError(f"batch_size must be 'auto' or a whole number ≥ 1, got {self.batch_size!r}")
        if not (self.n_iter_no_change == np.inf or (isinstance(self.n_iter_no_change, numbers.Integral)
                                                     and self.n_iter_no_change >= 1)):
            raise ValueError(f"n_iter_no_change must be a whole number ≥ 1 or numpy.inf, got {self.n_iter_no_change!r}")
        if not isinstance(self.max_fun, numbers.Integral) or self.max_fun < 1:
            raise ValueError(f"max_fun must be a whole number ≥ 1, got {self.max_fun!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError(f"learning_rate must be 'constant', 'invscaling' or 'adaptive', got {self.learning_rate!r}")
        if self.solver == "sgd" and self.learning_rate != "constant":
            raise ValueError(f"learning_rate={self.learning_rate!r} is not available in gradflow: scikit-learn's "
                             "rate there follows the samples seen ('invscaling') or the training loss ('adaptive'), "
                             "which gradflow's schedules do not; schedule= takes gradflow's (step, exponential, "
                             "cosine, plateau)")
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum!r}")
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon!r}")

    # ---- training ----
    def _initialize(self, n_features, n_outputs, seed):
        self.model_ = _gf.Sequential(n_features, self._layers(n_outputs), seed=seed)
        self._optimizer = self._make_optimizer()
        self._loss = _gf.Loss(self._loss_name())
        self.loss_curve_ = []
        self._history = []
        self.history_ = _frame(self._history)
        self.diagnostics_ = []
        self.n_iter_ = 0
        self.t_ = 0
        # scikit-learn's: the best training loss without early stopping, the validation scores with it
        self.best_loss_ = None if self.early_stopping else np.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None

    def _split_validation(self, X, t, seed):
        # scikit-learn's rule: stratified for a binary target (its single-output case) only
        binary = self._loss_name() == "cross_entropy" and len(self.classes_) == 2
        return train_test_split(X, t, test_size=self.validation_fraction, random_state=seed,
                                stratify=t if binary else None)

    def _train(self, X, t, epochs, seed, incremental):
        if self.solver == "lbfgs":
            return self._train_lbfgs(X, t, seed)
        X_val = t_val = None
        if self.early_stopping and not incremental:
            X, X_val, t, t_val = self._split_validation(X, t, seed)
        batch = min(200, len(X)) if self.batch_size == "auto" else min(int(self.batch_size), len(X))
        stopper = _NoImprovement(self.tol, self.n_iter_no_change, self.verbose, active=not self.early_stopping)
        # Early stopping that never stops (n_iter_no_change=inf) still keeps the best epoch.
        patience = epochs + 1 if self.n_iter_no_change == np.inf else int(self.n_iter_no_change)
        # partial_fit goes on where the last fit stopped (its shuffling too): 100 partial_fits are
        # max_iter=100's epochs.
        state = getattr(self, "_trainer_state", "") if incremental else ""
        result = self._gradflow_fit(X, t, epochs=epochs + (self.n_iter_ if state else 0), batch_size=batch,
                                    shuffle=bool(self.shuffle), seed=seed, X_val=X_val, y_val=t_val,
                                    early_stop=patience if X_val is not None else 0, min_delta=float(self.tol),
                                    on_epoch=self._live(None if incremental else stopper), continue_from=state)
        self._trainer_state = result["state"]
        self._no_improvement_count = stopper.count
        self._record(result, len(X))
        if not incremental and not stopper.stopped and X_val is None and epochs == self.max_iter:
            warnings.warn(f"{type(self).__name__}: max_iter ({self.max_iter}) reached and the optimization hasn't "
                          "converged yet.", ConvergenceWarning)

    def _train_lbfgs(self, X, t, seed):
        """One LBFGS step over the whole training set: max_iter iterations, max_fun evaluations."""
        result = self._gradflow_fit(X, t, epochs=1, batch_size=len(X), shuffle=False, seed=seed,
                                    on_epoch=self._live(None))
        self._record(result, len(X))
        self.n_iter_ = self._optimizer.iterations
        if not self._optimizer.converged:
            limit = "max_iter" if self.n_iter_ >= self.max_iter else "max_fun"
            warnings.warn(f"lbfgs failed to converge: {limit} ({getattr(self, limit)}) reached; increase it or scale "
                          "the data", ConvergenceWarning)

    def _live(self, hook):
        """live=True: the loss curves drawn in the notebook cell as the fit goes (gradflow.live)."""
        return _LiveCurves(title=type(self).__name__, then=hook) if self.live else hook

    def _gradflow_fit(self, X, t, **options):
        """gradflow.fit with the estimator's settings, a divergence reported in scikit-learn's words."""
        try:
            return _gf.fit(self.model_, self._loss, self._optimizer, X, t, num_classes=self._num_classes(),
                           schedule=self.schedule, diagnostics_every=int(self.diagnostics_every),
                           n_threads=int(self.n_threads), **options)
        except _gf.TrainingDiverged as e:
            raise ValueError(f"{_NON_FINITE} ({e})") from e
        finally:
            if isinstance(options.get("on_epoch"), _LiveCurves):
                options["on_epoch"].flush()  # the epochs not drawn yet

    def _record(self, result, n):
        self._history += result["history"]
        self.loss_curve_ += [epoch["train_loss"] for epoch in result["history"]]
        if self.best_loss_ is not None and self.loss_curve_:
            self.best_loss_ = min(self.best_loss_, min(self.loss_curve_))
        if self.validation_scores_ is not None:
            key = "val_acc" if self._loss_name() == "cross_entropy" else "val_r2"
            self.validation_scores_ += [e[key] for e in result["history"] if e[key] is not None]
            if self.validation_scores_:
                self.best_validation_score_ = max(self.validation_scores_)
        self.n_iter_ += len(result["history"])
        self.t_ += n * len(result["history"])
        self.diagnostics_ += result["diagnostics"]  # (its warnings: RuntimeWarnings from gradflow.fit)
        if result["best_epoch"] is not None:
            self.best_epoch_ = result["best_epoch"]
        self.history_ = _frame(self._history)
        self._report = result["report"]

    def report(self):
        """The last fit's (or partial_fit's) gradflow.Report: curves, per-layer diagnostics (with
        diagnostics_every > 0), warnings, settings — shown inline in Jupyter, save(path) writes
        the page. Not kept by pickling."""
        check_is_fitted(self, "model_")
        if getattr(self, "_report", None) is None:
            raise AttributeError(f"{type(self).__name__}: no report (the estimator was unpickled)")
        return self._report

    def _fit(self, X, y, incremental):
        """incremental: False (fit), True (partial_fit on a fitted estimator) or "reset" (the first
        partial_fit). A fresh network unless warm_start or partial_fit continues the one there is."""
        self._check_params()
        fresh = incremental == "reset" or not hasattr(self, "model_") or (not incremental and not self.warm_start)
        X, y = _compat.validate_data(self, X, y, reset=fresh, dtype=(np.float64, np.float32),
                                     accept_sparse=["csr", "csc"], multi_output=True,
                                     y_numeric=self._loss_name() == "mse")
        X = _library_input(X)
        t = self._targets(y, fresh, warm=not fresh and not incremental)
        seed = self._seed() + (0 if fresh or incremental else self.n_iter_)
        if fresh:
            self._initialize(X.shape[1], self._n_outputs(t), seed)
        elif not hasattr(self, "_optimizer"):  # unpickled: the update rule starts afresh
            self._optimizer = self._make_optimizer()
        self._train(X, t, 1 if incremental else int(self.max_iter), seed, bool(incremental))
        return self

    def fit(self, X, y):
        """Trains a new network on X [samples, features] and y (or continues it with warm_start)."""
        return self._fit(X, y, incremental=False)

    def _raw_predict(self, X):
        check_is_fitted(self, "model_")
        X = _compat.validate_data(self, X, reset=False, dtype=(np.float64, np.float32), accept_sparse=["csr", "csc"])
        return self.model_.predict(_library_input(X)), X.dtype

    # ---- scikit-learn's view of the network ----
    @property
    def coefs_(self):
        """Each Dense layer's weights [n_in, n_out] (scikit-learn's layout): float32 views of the
        network's own, so that writing them changes it."""
        check_is_fitted(self, "model_")
        return [w.T for w, _ in self.model_.dense_parameters()]

    @property
    def intercepts_(self):
        """Each Dense layer's bias [n_out], float32 views of the network's own."""
        check_is_fitted(self, "model_")
        return [b for _, b in self.model_.dense_parameters()]

    @property
    def n_layers_(self):
        return len(self.coefs_) + 1

    @property
    def n_outputs_(self):
        check_is_fitted(self, "model_")
        return self.model_.out_features

    def to_onnx(self, path=None, opset=None):
        """The fitted network as an ONNX model (bytes), also written to path when given.

        Input 'input' float32 [batch, n_features_in_], output 'output' [batch, outputs] (the class
        probabilities in the order of classes_, or the predicted values); classes_ and
        feature_names_in_ travel as metadata_props. opset None: the library's default
        (gradflow.model_to_onnx's)."""
        check_is_fitted(self, "model_")
        names = [str(n) for n in getattr(self, "feature_names_in_", [])]
        classes = [str(c) for c in getattr(self, "classes_", [])]
        options = {} if opset is None else {"opset": opset}
        data = _gf.model_to_onnx(self.model_, classes, names, type(self)._loss_name(self), **options)
        if path is not None:
            with open(path, "wb") as f:
                f.write(data)
        return data

    # ---- pickling: the weights as model-file bytes ----
    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_optimizer", "_loss", "_report", "_trainer_state"):
            state.pop(key, None)
        if "model_" in state:
            state["model_"] = _gf.model_to_bytes(self.model_)
        return state

    def __setstate__(self, state):
        if "model_" in state:
            state["model_"] = _gf.model_from_bytes(state["model_"]).network
        self.__dict__.update(state)
        if "model_" in state:
            self._loss = _gf.Loss(self._loss_name())


def _frame(rows):
    """The per-epoch history as a pandas DataFrame when pandas is installed."""
    try:
        import pandas
    except ImportError:
        return list(rows)
    return pandas.DataFrame(rows, columns=["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_r2", "lr", "seconds"])


class _NoImprovement:
    """scikit-learn's rule on the training loss: an epoch not below the best by more than tol
    counts; training stops when more than n_iter_no_change epochs in a row count."""

    def __init__(self, tol, patience, verbose, active):
        self.tol, self.patience, self.verbose, self.active = tol, patience, verbose, active
        self.best, self.count, self.stopped = np.inf, 0, False

    def __call__(self, epoch):
        loss = epoch["train_loss"]
        if self.verbose:
            print(f"Iteration {epoch['epoch']}, loss = {loss:.8f}")
        if not self.active:
            return False
        self.count = self.count + 1 if loss > self.best - self.tol else 0
        self.best = min(self.best, loss)
        self.stopped = self.count > self.patience
        return self.stopped


def _library_input(X):
    """X as the library reads it: dense float32 (a sparse matrix densified); values beyond
    float32's range are refused in scikit-learn's words rather than turned into infinities."""
    X = X.toarray() if hasattr(X, "toarray") else X
    if X.dtype != np.float32 and X.size and np.abs(X).max() > _FLOAT32_MAX:
        raise ValueError(f"{_NON_FINITE} (X has values beyond float32's range, ±{_FLOAT32_MAX:.3g}, where gradflow "
                         "computes)")
    return np.ascontiguousarray(X, dtype=np.float32)


class GradflowClassifier(ClassifierMixin, _GradflowMLP):
    """A feed-forward classifier trained by gradflow: softmax outputs and cross-entropy, or for
    multilabel y (an indicator matrix) sigmoid outputs and binary cross-entropy.

    Parameters as sklearn.neural_network.MLPClassifier's where they overlap (see the module's
    docstring for the differences), plus batch_norm (BatchNorm after every hidden Dense), dropout
    (after every hidden activation), init (the Dense layers' initializer), schedule (a
    learning-rate schedule as gradflow train --schedule takes it), diagnostics_every (per-layer
    records every N steps into diagnostics_) and n_threads (at most that many threads for this
    estimator's fits; 0: the process's count). Labels may be of any type; classes_ holds them
    sorted (for multilabel y: the column indices).
    """

    _multilabel = False  # until a fit sees an indicator matrix (and in estimators pickled before multilabel)

    def _loss_name(self):
        return "bce" if self._multilabel else "cross_entropy"

    def _num_classes(self):
        return 0 if self._multilabel else len(self.classes_)

    def _n_outputs(self, t):
        return len(self.classes_)

    def _output_layers(self, n_outputs):
        return [_nn.dense(n_outputs), _nn.sigmoid() if self._multilabel else _nn.softmax()]

    @property
    def out_activation_(self):
        check_is_fitted(self, "model_")
        return "logistic" if self._multilabel else "softmax"

    def _targets(self, y, first, warm=False):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        multilabel = type_of_target(y) == "multilabel-indicator"
        given = getattr(self, "_partial_classes", None)
        if first:  # the classes: all of y's, or those the first partial_fit named
            self._multilabel = multilabel
            if multilabel:
                self.classes_ = np.arange(y.shape[1])
            else:
                check_classification_targets(y)
                self._encoder = LabelEncoder().fit(y if given is None else given)
                self.classes_ = self._encoder.classes_
        if multilabel != self._multilabel:
            raise ValueError(f"y is {'' if multilabel else 'not '}multilabel, unlike the y this network was fitted on")
        if multilabel:
            if y.shape[1] != len(self.classes_) or (given is not None and len(given) != y.shape[1]):
                raise ValueError(f"y has {y.shape[1]} labels, the network {len(self.classes_)}")
            return np.ascontiguousarray(y, dtype=np.float32)
        check_classification_targets(y)
        if warm and not np.array_equal(np.unique(y), self.classes_):
            raise ValueError("warm_start can only be used where `y` has the same classes as in the previous call to "
                             f"fit. Previously got {self.classes_}, `y` has {np.unique(y)}")
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if len(unknown):
            raise ValueError(f"y has labels {list(unknown)[:5]} that are not in classes_ {list(self.classes_)[:10]}")
        return self._encoder.transform(y).astype(np.float32)

    @available_if(_stochastic)
    def partial_fit(self, X, y, classes=None):
        """One epoch over X, y, continuing the network and its optimizer; the first call needs classes
        (all the labels there will be)."""
        if not hasattr(self, "model_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._partial_classes = np.asarray(classes)
            try:
                return self._fit(X, y, incremental="reset")
            finally:
                self._partial_classes = None
        if classes is not None and not np.array_equal(np.sort(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes {list(classes)} differ from those of the first call {list(self.classes_)}")
        return self._fit(X, y, incremental=True)

    def predict_proba(self, X):
        """The class probabilities [samples, classes] (columns in the order of classes_; for
        multilabel y each label's own probability), in X's float type."""
        out, dtype = self._raw_predict(X)
        return out.astype(dtype if dtype == np.float32 else np.float64)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The predicted labels, or for multilabel y the indicator matrix."""
        out, _ = self._raw_predict(X)
        if self._multilabel:
            return (out > 0.5).astype(np.int64)
        return self.classes_[np.argmax(out, axis=1)]

    def _more_tags(self):
        return {"multilabel": True}

    def __sklearn_tags__(self):  # scikit-learn ≥ 1.6
        return _compat.with_tags(super().__sklearn_tags__(), input_tags={"sparse": True},
                                 classifier_tags={"multi_label": True})


class GradflowRegressor(RegressorMixin, _GradflowMLP):
    """A feed-forward regressor (identity output, mean squared error) trained by gradflow; y may
    have several columns. Parameters as GradflowClassifier's."""

    _multilabel = False

    def _loss_name(self):
        return "mse"

    def _num_classes(self):
        return 0

    def _n_outputs(self, t):
        return t.shape[1]

    def _output_layers(self, n_outputs):
        return [_nn.dense(n_outputs)]

    @property
    def out_activation_(self):
        check_is_fitted(self, "model_")
        return "identity"

    def _targets(self, y, first, warm=False):
        t = np.asarray(y, dtype=np.float32)
        return np.ascontiguousarray(t.reshape(len(t), -1))

    @available_if(_stochastic)
    def partial_fit(self, X, y):
        """One epoch over X, y, continuing the network and its optimizer."""
        return self._fit(X, y, incremental="reset" if not hasattr(self, "model_") else True)

    def predict(self, X):
        """The predicted values, in X's float type: [samples] for one output (as MLPRegressor,
        whatever y's shape was), else [samples, outputs]."""
        out, dtype = self._raw_predict(X)
        out = out.astype(dtype if dtype == np.float32 else np.float64)
        return out.ravel() if out.shape[1] == 1 else out

    def _more_tags(self):
        return {"multioutput": True}

    def __sklearn_tags__(self):  # scikit-learn ≥ 1.6
        return _compat.with_tags(super().__sklearn_tags__(), input_tags={"sparse": True},
                                 target_tags={"multi_output": True})

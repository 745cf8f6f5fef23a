"""scikit-learn estimators: drop-in ``MLPClassifier`` and ``MLPRegressor`` on any xpnet backend.

The parameters, defaults, fitted attributes and methods are those of
:mod:`sklearn.neural_network`'s estimators of the same names (scikit-learn ≥ 1.6), plus ``backend``
(``"auto"``: CuPy when a CUDA GPU answers, else NumPy) and ``dtype`` (None: X's float dtype, as
scikit-learn computes; ``"float32"``/``"float64"`` force one). They work in
pipelines, grid searches and cross-validation, and pickle without any device array, so joblib (and
its Dask backend) ships them to other processes and machines.

How they are built on xpnet — no second training loop (the adapters named below live in
:mod:`xpnet._sklearn_adapt`, apart from the estimators that assemble them):

- the network is an xpnet :class:`~xpnet.Sequential` of ``Dense`` layers and the hidden
  activation, on the chosen backend; it outputs logits, and the output activation (logistic,
  softmax, identity or exp) is applied on the device by :mod:`xpnet.functional`;
- scikit-learn's objective — its loss, normalised by the batch's (weighted) size, plus the L2 term
  ``0.5 * alpha * sum(W**2) / n`` — is an xpnet :class:`~xpnet.losses.Loss` (:class:`_Objective`);
- ``solver="sgd"`` and ``"adam"`` are xpnet's optimizers with scikit-learn's update rules (velocity
  momentum; Adam's step size folded into the learning rate), and training is
  :meth:`xpnet.Sequential.fit`: ``max_iter`` epochs (one for ``partial_fit``), with a callback
  (:class:`_Convergence`) for scikit-learn's stopping rules (``tol``, ``n_iter_no_change``,
  ``early_stopping``), its ``"invscaling"`` and ``"adaptive"`` learning rates and its bookkeeping
  (``loss_curve_``, ``n_iter_``, ``t_``, ...);
- the batches are drawn from ``random_state`` exactly as scikit-learn draws them, and the initial
  weights too, so in float64 on NumPy the estimators reproduce scikit-learn's loss curves;
- ``solver="lbfgs"`` hands xpnet's loss and gradients to SciPy's L-BFGS-B, as scikit-learn does.

Fitted parameters live on the host (``coefs_``, ``intercepts_``: NumPy arrays) and, as in
scikit-learn, they are the model: predicting, scoring, warm start and ``partial_fit`` use what they
hold at the time, replaced or edited in place. The device network is a cache of layers that they
are loaded into on each use (on NumPy without a copy), and is not pickled.
"""

from __future__ import annotations

import functools
import warnings

import array_api_compat
import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import backend as _backend
from ._sklearn_adapt import (  # noqa: F401 - _restore_optimizer: pickles made before the split
    _HIDDEN,
    _SGD,
    _Adam,
    _Convergence,
    _Dense,
    _HostPickled,
    _Objective,
    _restore_optimizer,
    _Shuffle,
)
from .functional import log_softmax, sigmoid
from .grad import loss_and_grads
from .layers import Identity, Sequential, Sigmoid, Softmax
from .train import DivergenceError

__all__ = ["MLPClassifier", "MLPRegressor"]


def _on_device(method):
    """Run an estimator's method with its backend's device current (CuPy: see
    :meth:`xpnet.backend.Backend.context`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _backend.get(self.backend).context():
            return method(self, *args, **kwargs)

    return wrapper


# -- the estimators -------------------------------------------------------------------------------


def _store(estimator, arguments):
    """Set the constructor's arguments as attributes, unchanged (scikit-learn's convention)."""
    for name, value in arguments.items():
        if name != "self":
            setattr(estimator, name, value)


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: validation, training, the device network."""

    _parameter_constraints: dict = {
        **_SkMLPClassifier._parameter_constraints,  # scikit-learn's own checks and messages
        "backend": [None, str, _backend.Backend],  # names are checked when the network is built
        "dtype": [None, str, type, np.dtype],
    }

    # -- fitting ----------------------------------------------------------------------------------

    @_on_device
    def _fit(self, X, y, sample_weight=None, incremental=False):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self.n_outputs_ = Y.shape[1]
        units = [X.shape[1], *(int(n) for n in sizes), self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(units, X.dtype)
        model = self._network(copy=True)
        dense = [layer for layer in model.layers if isinstance(layer, _Dense)]
        objective = _Objective(self.out_activation_, self.alpha, dense, sample_weight is not None)
        for layer in dense:
            layer.objective = objective
        try:
            if self.solver == "lbfgs":
                self._fit_lbfgs(model, objective, X, self._target(Y, sample_weight, X.dtype))
            else:
                self._fit_stochastic(model, objective, X, Y, sample_weight, incremental)
        except DivergenceError as err:
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             f"contain large values and need to be preprocessed. ({err})") from err
        params = model.params
        self.coefs_ = [np.array(_backend.to_numpy(params[f"{2 * i}.W"])) for i in range(len(dense))]
        self.intercepts_ = [np.array(_backend.to_numpy(params[f"{2 * i}.b"])) for i in range(len(dense))]
        return self

    def _initialize(self, units, dtype):
        """Fresh parameters drawn as scikit-learn draws them (same ``random_state``, same
        weights), and the bookkeeping attributes of a first fit."""
        self.n_iter_, self.t_ = 0, 0
        self.n_layers_ = len(units)
        self.out_activation_ = self._out_activation()
        bound_factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for n_in, n_out in zip(units[:-1], units[1:], strict=True):
            bound = np.sqrt(bound_factor / (n_in + n_out))
            self.coefs_.append(self._random_state.uniform(-bound, bound, (n_in, n_out)).astype(dtype))
            self.intercepts_.append(self._random_state.uniform(-bound, bound, n_out).astype(dtype))
        # As scikit-learn, early stopping falls back on the initial parameters if no epoch scores.
        self._best_params = ({f"{2 * i}.{name}": np.array(value)
                              for i, pair in enumerate(zip(self.coefs_, self.intercepts_, strict=True))
                              for name, value in zip("Wb", pair, strict=True)}
                             if self.early_stopping and self.solver != "lbfgs" else None)
        if self.solver != "lbfgs":
            self.loss_curve_, self._no_improvement_count = [], 0
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.best_loss_, self.validation_scores_, self.best_validation_score_ = np.inf, None, None

    def _target(self, Y, sample_weight, dtype):
        """The target as the objective takes it: ``(m, k)``, or ``(m, k + 1)`` with the weights."""
        Y = Y.astype(dtype)
        return Y if sample_weight is None else np.column_stack([Y, sample_weight.astype(dtype)])

    def _fit_stochastic(self, model, objective, X, Y, sample_weight, incremental):
        if not incremental or not hasattr(self, "_optimizer"):
            if self.solver == "sgd":
                self._optimizer = _SGD(lr=self.learning_rate_init, momentum=self.momentum,
                                       nesterov=self.nesterovs_momentum and self.momentum > 0)
            else:
                self._optimizer = _Adam(lr=self.learning_rate_init, beta1=self.beta_1,
                                        beta2=self.beta_2, eps=self.epsilon)
        else:  # partial_fit goes on: the state follows the model to a new backend or dtype
            try:
                self._optimizer._check_fits(model.params)
            except ValueError:  # set_params(backend=..., dtype=...) since the last call
                self._optimizer.load_state_dict(self._optimizer.state_dict())
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if self.early_stopping:
            # As scikit-learn: stratified only with one output column (binary classification).
            stratify = Y if is_classifier(self) and self.n_outputs_ == 1 else None
            arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
            parts = train_test_split(*arrays, random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, X_val, Y, Y_val = parts[:4]
            sample_weight, weight_val = parts[4:] if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                                 "or the size of your dataset.")
            y_val = self._label_binarizer.inverse_transform(Y_val) if is_classifier(self) else Y_val
            validation = (model.backend.asarray(X_val, model.dtype), y_val, weight_val)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                              "to be clipped", stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n))
        self.n_iter_ = 0
        convergence = _Convergence(self, n, validation, incremental)
        batches = _Shuffle(self._random_state, n, shuffle=self.shuffle, batch_size=batch_size,
                           sample_weight=sample_weight)
        try:
            model.fit(X, self._target(Y, sample_weight, X.dtype), loss=objective,
                      optimizer=self._optimizer, epochs=1 if incremental else self.max_iter,
                      batch_size=batch_size, shuffle=self.shuffle, seed=batches,
                      callbacks=[batches.each_epoch, convergence], metrics=(), verbose=0)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        except DivergenceError as err:
            if validation is None:
                raise
            convergence.diverged(err)

    def _fit_lbfgs(self, model, objective, X, target):
        """Full-batch L-BFGS-B (SciPy) on xpnet's loss and gradients, as scikit-learn's lbfgs."""
        device = model.backend
        X = device.asarray(X, model.dtype)
        target = objective.prepare_target(device.asarray(target, model.dtype), self.n_outputs_)
        shapes = {key: tuple(value.shape) for key, value in model.params.items()}
        bounds = np.cumsum([0] + [int(np.prod(shape)) for shape in shapes.values()])

        def unpack(theta):
            return {key: theta[start:stop].reshape(shape)
                    for (key, shape), start, stop in zip(shapes.items(), bounds[:-1], bounds[1:],
                                                         strict=True)}

        def load(theta):
            # Not load_params, which refuses non-finite values: on badly scaled data the line
            # search may try a point that overflows, which scikit-learn evaluates (to NaN, and
            # SciPy stops with a ConvergenceWarning) rather than failing.
            with device.context():
                model._assign({key: device.asarray(np.array(value), model.dtype)
                               for key, value in unpack(theta).items()})

        def value_and_gradient(theta):
            load(theta)
            value, grads = loss_and_grads(model, objective, X, target, training=True)
            return float(value), np.concatenate(
                [_backend.to_numpy(grads[key]).ravel() for key in shapes]).astype(np.float64)

        theta = np.concatenate([_backend.to_numpy(p).ravel() for p in model.params.values()])
        result = scipy.optimize.minimize(
            value_and_gradient, theta.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = min(result.nit, self.max_iter)
        if result.status != 0:  # scikit-learn's message (_check_optimize_result)
            advice = (f"\nIncrease the number of iterations to improve the convergence "
                      f"(max_iter={self.max_iter}).") if self.n_iter_ == self.max_iter else ""
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={result.status}):\n{result.message}\n{advice}\nYou might also "
                          "want to scale the data as shown in:\n    "
                          "https://scikit-learn.org/stable/modules/preprocessing.html",
                          ConvergenceWarning, stacklevel=3)
        if self.verbose:
            print(f"lbfgs: {self.n_iter_} iterations, loss = {result.fun:.8f}")
        self.loss_ = float(result.fun)
        load(result.x)

    # -- the device network -----------------------------------------------------------------------

    def _network(self, *, copy=False) -> Sequential:
        """The network on the backend, holding what ``coefs_``/``intercepts_`` hold now.

        As in scikit-learn, ``coefs_`` is the model: users replace its arrays or edit them in
        place, and predict, score, warm start and partial_fit must see it. No cheap test detects
        an in-place edit, so every call puts the current arrays into the network: on NumPy the
        network reads them as they are (no copy); elsewhere each call copies them to the device.
        Only the layers are cached, while the shapes, activation, backend and dtype stay.

        ``copy=True``: the network gets copies, which the fit loop may update in place without
        touching ``coefs_`` (a fit that fails leaves it as it was).
        """
        target, dtype = _backend.get(self.backend), _backend.dtype_name(self._np_dtype(False))
        # Backends compare by name and device as text: device objects need not define equality.
        key = (str(target), dtype, self.activation, [W.shape for W in self.coefs_])
        cached = getattr(self, "_model", None)
        if cached is None or cached[0] != key:
            layers = []
            for i, W in enumerate(self.coefs_):
                if i:
                    layers.append(_HIDDEN[self.activation]())
                layers.append(_Dense(*W.shape, init="zeros", backend=target, dtype=dtype))
            self._model = cached = (key, Sequential(*layers))
        model, xp = cached[1], target.xp
        with target.context():
            params = {}
            for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
                for param, value, name in (("W", W, "coefs_"), ("b", b, "intercepts_")):
                    value = target.asarray(value, dtype, name=f"{name}[{i}]")
                    params[f"{2 * i}.{param}"] = xp.asarray(value, copy=True) if copy else value
            # Not load_params: it copies and syncs on a finiteness check; NaN weights predict
            # NaN, as in scikit-learn.
            model._assign(params)
        return model

    def _logits(self, X, model=None):
        """The logits for ``X`` (host data or a backend array) on the device, ``(m, k)``, of
        ``model`` (the network in training) or, by default, of ``coefs_``/``intercepts_``."""
        model = model if model is not None else self._network()
        return model.forward(model.backend.asarray(X, model.dtype))[0]

    @_on_device
    def _outputs(self, X, model=None):
        """The output activation of the logits, on the device: probabilities or predictions."""
        Z = self._logits(X, model)
        xp = array_api_compat.array_namespace(Z)
        if self.out_activation_ == "logistic":
            return sigmoid(Z, xp=xp)
        if self.out_activation_ == "softmax":
            return xp.exp(log_softmax(Z, xp=xp, axis=1))
        return xp.exp(Z) if self.out_activation_ == "exp" else Z

    def export_onnx(self, path) -> str:
        """Write the fitted estimator's inference as an ONNX file (see :func:`xpnet.export_onnx`;
        needs ``xpnet[onnx]``): input ``"X"`` ``(N, n_features_in_)``; output ``"Y"``, what
        :meth:`predict` computes from (a classifier's probabilities: ``predict_proba``, whose
        binary case is the one column ``p(classes_[1])``; a regressor's predictions) and, for a
        single-label classifier, ``"label"``, the predicted class (as text)."""
        check_is_fitted(self)
        from .onnx import export_onnx

        outputs = {"logistic": Sigmoid, "softmax": Softmax, "identity": Identity}
        if self.out_activation_ not in outputs:
            raise ValueError(f"export_onnx: the output activation {self.out_activation_!r} has no "
                             f"layer to export (supported: {sorted(outputs)})")
        model = Sequential(*self._network().layers, outputs[self.out_activation_]())
        classes = getattr(self, "classes_", None)
        # A multi-label target's classes_ is [0, 1, ...] too, one per label column: no one label.
        single = classes is not None and self._label_binarizer.y_type_ != "multilabel-indicator" \
            and (self.out_activation_ == "softmax" or len(classes) == 2)
        return export_onnx(model, path, classes=list(classes) if single else None)

    def _check_X(self, X):
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=self._np_dtype(False),
                          reset=False)
        return X.toarray() if hasattr(X, "toarray") else X

    def _score_outputs(self, outputs, y, sample_weight=None):
        """scikit-learn's validation score from the device outputs: NaN when they are not finite."""
        outputs = _backend.to_numpy(outputs)
        if not np.isfinite(outputs).all():
            return np.nan
        score = accuracy_score if is_classifier(self) else r2_score
        return float(score(y, self._decide(outputs), sample_weight=sample_weight))

    def _validate_X_y(self, X, y, reset, **options):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=self._np_dtype(reset), reset=reset, **options)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return (X.toarray() if hasattr(X, "toarray") else X), y

    def _np_dtype(self, reset):
        """The dtype X is converted to: ``dtype`` when set; else, as scikit-learn, X's own float
        dtype on a fresh fit (other dtypes become float64), and the fitted network's afterwards."""
        if self.dtype is not None:
            return np.dtype(_backend.dtype_name(self.dtype))
        return (np.float64, np.float32) if reset else self.coefs_[0].dtype

    def _check_solver(self):
        if self.solver == "lbfgs":
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "lbfgs is not stochastic.")
        return True

    # -- pickling ---------------------------------------------------------------------------------

    def __getstate__(self):
        # The device network is a cache: rebuilt from the host parameters after unpickling, so
        # no CuPy/torch array travels with the estimator (joblib, Dask, a GPU-less machine).
        return {k: v for k, v in super().__getstate__().items() if k != "_model"}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # accepted as scikit-learn does, densified on the way in
        return tags


_PARAMETERS_DOC = """\
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The number of units of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        The hidden layers' activation.
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        ``"sgd"`` and ``"adam"`` train mini-batches with xpnet's fit loop; ``"lbfgs"`` is SciPy's
        L-BFGS-B on the full batch (its loss and gradients computed by xpnet on the backend).
    alpha : float, default=0.0001
        Strength of the L2 penalty ``0.5 * alpha * sum(W**2) / n_samples_in_batch``.
    batch_size : int or "auto", default="auto"
        Mini-batch size of the stochastic solvers; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The SGD learning rate: constant; ``learning_rate_init / (t_ + 1) ** power_t`` after each
        epoch; or divided by 5 each time the no-improvement count exceeds ``n_iter_no_change``
        (stopping once it is ≤ 1e-6).
    learning_rate_init : float, default=0.001
        The initial learning rate (``"sgd"``, ``"adam"``).
    power_t : float, default=0.5
        Exponent of ``"invscaling"``.
    max_iter : int, default=200
        Epochs of the stochastic solvers; iterations of ``"lbfgs"``.
    shuffle : bool, default=True
        Shuffle the samples each epoch.
    random_state : int, RandomState instance or None, default=None
        Initial weights, validation split and batches, drawn as scikit-learn draws them.
    tol : float, default=1e-4
        An epoch improves when the loss drops (the validation score rises) by at least ``tol``.
    verbose : bool, default=False
        Print the loss of each epoch.
    warm_start : bool, default=False
        Continue from the previous fit's parameters.
    momentum : float, default=0.9
        SGD momentum, in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov's momentum (SGD with ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for binary classification) and
        stop when its score (accuracy, R²) stops improving; the best parameters are kept.
    validation_fraction : float, default=0.1
        The held-out fraction for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates.
    epsilon : float, default=1e-8
        Adam's ε.
    n_iter_no_change : int, default=10
        Epochs without improvement by ``tol`` tolerated before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations of ``"lbfgs"``.
    backend : str, xpnet.backend.Backend or None, default="auto"
        Where to compute: ``"auto"`` (CuPy on a CUDA GPU, else NumPy), ``"numpy"``, ``"cupy"``,
        ``"torch"``, ``"array_api_strict"``, a Backend (with its device), or None for xpnet's
        current default. Resolved when the network is built, in the process that uses it.
    dtype : {None, "float32", "float64"}, default=None
        The network's float dtype. None: as scikit-learn, that of ``X`` at a fresh fit (float32
        stays float32, float64 and any other dtype give float64); later data are converted to
        it. A name forces that dtype whatever ``X`` is.
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Weights ``(n_in, n_out)`` and biases ``(n_out,)`` of each layer, as NumPy arrays.
    loss_ : float
        The loss (with the L2 term) of the last epoch.
    loss_curve_ : list of float
        The loss of each epoch (stochastic solvers).
    best_loss_ : float or None
        The lowest loss reached (None with early stopping).
    validation_scores_ : list of float or None
        The validation score of each epoch (early stopping).
    best_validation_score_ : float or None
        The best validation score (early stopping).
    n_iter_ : int
        Epochs (iterations) run by the last fit.
    t_ : int
        Training samples seen, over all fits since the first.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When ``X`` had string column names.
    n_layers_ : int
        Layers, input and output included.
    n_outputs_ : int
    out_activation_ : str
        ``"logistic"``, ``"softmax"``, ``"identity"`` or ``"exp"``.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron classifier, scikit-learn's ``MLPClassifier`` on any xpnet backend.

    Minimises the log-loss: logistic outputs for binary and multi-label targets, softmax for
    multi-class ones. Class labels may be any values ``numpy.unique`` sorts (strings too).

    Parameters
    ----------
{_PARAMETERS_DOC}{_ATTRIBUTES_DOC}    classes_ : ndarray or list of ndarray
        The class labels.

    Examples
    --------
    >>> from xpnet.sklearn import MLPClassifier
    >>> clf = MLPClassifier((32,), max_iter=300, random_state=0).fit(X_train, y_train)  # doctest: +SKIP
    >>> clf.predict_proba(X_test[:1])                                                  # doctest: +SKIP
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, backend="auto", dtype=None):
        _store(self, locals())

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_X_y(X, y, reset)
        # As scikit-learn: define the classes on a fresh fit, else check them against the last.
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as "
                                     f"in the previous call to fit. Previously got {self.classes_}, "
                                     f"`y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    def _decide(self, P):
        return self._label_binarizer.inverse_transform(P.ravel() if self.n_outputs_ == 1 else P)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` ``(n_samples, n_features)`` and labels ``y`` ``(n_samples,)``
        (or a label indicator matrix ``(n_samples, n_classes)`` for multi-label); returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``; ``classes`` (every label of the whole data) is required on
        the first call. Returns self."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """The predicted classes of ``X``, ``(n_samples,)`` (``(n_samples, n_classes)`` for
        multi-label)."""
        check_is_fitted(self)
        return self._decide(_backend.to_numpy(self._outputs(self._check_X(X))))

    @_on_device
    def predict_proba(self, X):
        """Class probabilities ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        check_is_fitted(self)
        Z = self._logits(self._check_X(X))
        xp = array_api_compat.array_namespace(Z)
        if self.out_activation_ == "softmax":
            P = xp.exp(log_softmax(Z, xp=xp, axis=1))
        elif self.n_outputs_ == 1:  # binary: σ(−z), not 1 − σ(z), which is 0 once σ(z) rounds to 1
            P = xp.concat([sigmoid(-Z, xp=xp), sigmoid(Z, xp=xp)], axis=1)
        else:
            P = sigmoid(Z, xp=xp)
        return _backend.to_numpy(P)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``, ``(n_samples, n_classes)``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor, scikit-learn's ``MLPRegressor`` on any xpnet backend.

    Minimises half the squared error with a linear output, or (``loss="poisson"``) half the
    Poisson deviance with an exponential output, for one target or several.

    Parameters
    ----------
    loss : {{"squared_error", "poisson"}}, default="squared_error"
        ``"poisson"`` needs ``y >= 0``.
{_PARAMETERS_DOC}{_ATTRIBUTES_DOC}"""

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "loss": _SkMLPRegressor._parameter_constraints["loss"]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 backend="auto", dtype=None):
        _store(self, locals())

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_X_y(X, y, reset, y_numeric=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' requires y >= 0")
        return X, y

    def _decide(self, outputs):
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` ``(n_samples, n_features)`` and ``y`` ``(n_samples,)`` or
        ``(n_samples, n_targets)``; returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``; returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predictions ``(n_samples,)``, or ``(n_samples, n_targets)`` for several targets."""
        check_is_fitted(self)
        return self._decide(_backend.to_numpy(self._outputs(self._check_X(X))))

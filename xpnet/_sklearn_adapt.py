"""The pieces of xpnet shaped to scikit-learn's definitions, for :mod:`xpnet.sklearn`'s estimators.

Each adapter is an xpnet extension point filled with scikit-learn's formulas: a layer (:class:`_Dense`,
the L2 penalty in its backward pass), a loss (:class:`_Objective`, scikit-learn's objective on the
logits), optimizers (:class:`_SGD`, :class:`_Adam`: scikit-learn's update rules), a random stream
(:class:`_Shuffle`: its batches, drawn at each epoch's start) and a callback (:class:`_Convergence`:
its stopping rules and bookkeeping). The estimators in :mod:`xpnet.sklearn` assemble them; nothing
here knows an estimator's parameters beyond what it is handed.

A private module beside ``sklearn.py`` rather than a subpackage: the public import path stays
``xpnet.sklearn``, and these classes are implementation, not API.
"""

from __future__ import annotations

import math
import warnings

import array_api_compat
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import shuffle

from . import backend as _backend
from . import optim
from .callbacks import Callback
from .functional import log_softmax, softplus_and_sigmoid
from .layers import Dense, Identity, ReLU, Sigmoid, Tanh
from .losses import Loss

_HIDDEN = {"identity": Identity, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU}


# -- the pieces of xpnet, shaped to scikit-learn's definitions -------------------------------------


class _Dense(Dense):
    """A Dense layer with scikit-learn's L2 penalty in its backward pass.

    Notes
    -----
    ::

        Forward:   Z  = X @ W + b                        as Dense
        Backward:  dW = X.T @ dZ + (alpha / n) * W       (n_in, n_out)
                   db = sum(dZ, axis=0)                  (n_out,)
                   dX = dZ @ W.T                         (m, n_in); not for the input layer

    ``n`` is the batch's total sample weight (its size when unweighted), known to the objective:
    the fit loop evaluates the loss between forward and backward, and the objective leaves
    ``alpha / n`` in its ``l2`` attribute for this backward to read. As in scikit-learn, the input
    layer's ``dX`` is not computed (training runs the network with ``input_grad=False``).
    """

    objective = None  # the _Objective whose L2 term holds this layer's W; None: no penalty

    def forward(self, X, training=False, *, input_grad=True):
        Z, dense_backward = super().forward(X, training, input_grad=input_grad)
        W, objective = self.params["W"], self.objective

        def backward(dZ):
            dX, grads = dense_backward(dZ)
            if objective is not None and objective.alpha:
                grads["W"] += objective.l2 * W  # dW is fresh from X.T @ dZ: ours to update
            return dX, grads

        return Z, backward


class _Objective(Loss):
    r"""scikit-learn's MLP objective on the logits ``Z``, with its L2 penalty.

    Parameters
    ----------
    link : {"logistic", "softmax", "identity", "exp"}
        The output activation; the loss is its canonical one (binary or categorical log-loss,
        half squared error, half Poisson deviance), so ``dZ = (P − Y) / n``.
    alpha : float
        L2 strength.
    dense : list of _Dense
        The layers whose weights are penalised.
    weighted : bool
        The target's last column holds the sample weights.

    Notes
    -----
    ::

        Z, Y, P (m, k)   w (m, 1) (ones when unweighted)   n = sum(w)
        L = ( sum(w * l(Z, Y)) + 0.5 * alpha * sum_layers sum(W²) ) / n
        dZ = w * (P − Y) / n
        l = softplus(Z) − Y Z                       logistic (summed over the k outputs)
          = −Y log_softmax(Z)                       softmax
          = (Z − Y)² / (2 k)                        identity (mean over the outputs)
          = e^Z − Y Z + Y log Y − Y                 exp (Poisson)

    As in scikit-learn, the squared error's value is the mean over the outputs but its gradient
    the sum (they agree for one output). Values are exact from the logits, where scikit-learn
    clips probabilities at machine epsilon.
    """

    name = "sklearn_mlp"

    def __init__(self, link, alpha, dense, weighted):
        self.link, self.alpha, self.dense, self.weighted = link, float(alpha), dense, weighted
        self.l2 = 0.0

    def prepare_target(self, y, n_outputs):
        return super().prepare_target(y, n_outputs + self.weighted)  # weights ride as a column

    def __call__(self, Z, T):
        xp = array_api_compat.array_namespace(Z, T)
        k = Z.shape[1]
        Y, w = (T[:, :k], T[:, k:]) if self.weighted else (T, None)
        n = xp.sum(w) if self.weighted else Z.shape[0]
        if self.link == "logistic":
            L, P = softplus_and_sigmoid(Z, xp=xp)
            L = L - Y * Z
        elif self.link == "softmax":
            log_P = log_softmax(Z, xp=xp, axis=1)
            L, P = -(Y * log_P), xp.exp(log_P)
        elif self.link == "exp":
            P = xp.exp(Z)
            L = P - Y * Z + Y * xp.log(xp.where(Y > 0, Y, xp.ones_like(Y))) - Y
        else:
            L, P = (Z - Y) ** 2 * (0.5 / k), Z
        D = P - Y
        if w is not None:
            L, D = L * w, D * w
        value = xp.sum(L)
        if self.alpha:
            value = value + 0.5 * self.alpha * sum(xp.sum(d.params["W"] ** 2) for d in self.dense)
        self.l2 = self.alpha / n
        return value / n, D / n


def _restore_optimizer(cls, state):
    optimizer = cls(**state["hyper"])
    optimizer.load_state_dict(state)
    return optimizer


class _HostPickled:
    """Pickles through ``state_dict`` with NumPy arrays: no device array leaves the process, and
    the state moves to the parameters' device on the next step."""

    def __reduce__(self):
        state = self.state_dict()
        state["slots"] = {s: {k: _backend.to_numpy(v) for k, v in per_key.items()}
                          for s, per_key in state["slots"].items()}
        return _restore_optimizer, (type(self), state)


class _SGD(_HostPickled, optim.SGD):
    """xpnet's SGD with scikit-learn's velocity form of (Nesterov) momentum.

    Notes
    -----
    For each parameter ``p`` with gradient ``g`` (``v`` shaped like ``p``, zeros at first)::

        v ← μ v − η g
        p ← p + v                (Nesterov: p ← p + μ v − η g)

    The same steps as PyTorch's form (:class:`xpnet.optim.SGD`) at a constant η; when η changes
    (``"invscaling"``, ``"adaptive"``) the velocity keeps the past rates, as in scikit-learn.
    """

    @property
    def learning_rate(self):
        """The current η, under scikit-learn's name (scripts read ``est._optimizer.learning_rate``
        to follow ``"invscaling"`` and ``"adaptive"``)."""
        return self.lr

    def _update(self, p, g, state, *, xp):
        if not self.momentum:
            p -= self.lr * g
            return p
        v = state["b"]
        v *= self.momentum
        v -= self.lr * g
        state["b"] = v  # new arrays (immutable ones, JAX) go back into the state and params
        p += self.momentum * v - self.lr * g if self.nesterov else v
        return p


class _Adam(_HostPickled, optim.Adam):
    """xpnet's Adam with the bias corrections folded into the step size, as scikit-learn (and the
    paper's efficient form): ``p ← p − η √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + ε)``."""

    @property
    def learning_rate(self):
        """The step size of the last step, ``η √(1 − β₂ᵗ) / (1 − β₁ᵗ)`` (η before the first), as
        scikit-learn's ``AdamOptimizer.learning_rate``."""
        t = self.iterations
        return self.lr * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t) if t else self.lr

    def _update(self, p, g, state, *, xp):
        m, v, t = state["m"], state["v"], self.iterations
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        state["m"], state["v"] = m, v
        step_size = self.lr * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        p -= step_size * (m / (xp.sqrt(v) + self.eps))
        return p


class _Shuffle(_backend.Random):
    """The fit loop's batches, drawn as scikit-learn's MLP draws them: at each epoch's start, the
    previous epoch's order shuffled with :func:`sklearn.utils.shuffle` and ``random_state``, then
    cut into batches of ``batch_size`` rows.

    The draw is made by the callback ``each_epoch`` (pass it to ``fit``), and :meth:`permutation`
    only hands the order out: the loop asks for no permutation when one batch covers all the rows
    (the same batch in any order), but scikit-learn shuffles anyway, and a ``random_state``
    instance shared with later fits must be left as scikit-learn leaves it. The callback also
    refuses an epoch with a batch whose sample weights sum to zero, with scikit-learn's error
    (``numpy.average``'s, raised by its loss); xpnet's loss would divide by zero and train on NaN.
    """

    def __init__(self, random_state, n, *, shuffle, batch_size, sample_weight=None):
        super().__init__(0)
        self.random_state, self.order = random_state, np.arange(n)
        self.shuffle, self.batch_size, self.sample_weight = shuffle, batch_size, sample_weight
        self.each_epoch = _OnEpochBegin(self._next_epoch)

    def _next_epoch(self):
        if self.shuffle:
            self.order = shuffle(self.order, random_state=self.random_state)
        if self.sample_weight is not None:
            starts = np.arange(0, len(self.order), self.batch_size)
            if np.any(np.add.reduceat(self.sample_weight[self.order], starts) == 0):
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")

    def permutation(self, n):
        return self.order

    @property
    def state(self):
        return {"random_state": self.random_state.get_state(), "order": self.order.copy()}

    @state.setter
    def state(self, value):
        self.random_state.set_state(value["random_state"])
        self.order = value["order"].copy()


class _OnEpochBegin(Callback):
    """Calls ``function()`` at each epoch's start. (:class:`_Shuffle` is not a callback itself:
    the loop sets a callback's ``state``, which for a random stream is its generator's state.)"""

    def __init__(self, function):
        self.function = function

    def on_epoch_begin(self, epoch, logs=None):
        self.function()


class _Convergence(Callback):
    """scikit-learn's end-of-epoch work, as a callback of xpnet's fit loop.

    Records ``n_iter_``, ``t_``, ``loss_`` and ``loss_curve_``; counts epochs without an
    improvement of at least ``tol`` in the training loss (or, with early stopping, the validation
    score, keeping the best parameters); updates an ``"invscaling"`` learning rate; and when the
    count exceeds ``n_iter_no_change`` stops training — or, for ``"adaptive"`` SGD, divides the
    learning rate by 5 until it falls to 1e-6. xpnet's ``EarlyStopping`` is not used: scikit-learn
    keeps the best value even when it improved by less than ``tol``, which moves the reference.
    """

    def __init__(self, estimator, n_samples, validation, incremental):
        self.est, self.n_samples, self.validation = estimator, n_samples, validation
        self.incremental, self.best = incremental, None

    def on_epoch_end(self, epoch, logs=None):
        est = self.est
        est.n_iter_ += 1
        est.loss_ = logs["loss"]
        est.t_ += self.n_samples
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if self.validation is None:
            if est.loss_ > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if est.loss_ < est.best_loss_:
                est.best_loss_ = est.loss_
        else:
            # The network in training: coefs_ still holds the parameters from before the fit.
            outputs = est._outputs(self.validation[0], self.model)
            score = est._score_outputs(outputs, *self.validation[1:])
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                xp = self.model.backend.xp
                self.best = {k: xp.asarray(v, copy=True) for k, v in self.model.params.items()}
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            self.optimizer.lr = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            message = (f"{what} did not improve more than tol={est.tol:f} for "
                       f"{est.n_iter_no_change} consecutive epochs.")
            if self._stop(message):
                self.state.stop_training = True
                return
            est._no_improvement_count = 0
        if not self.incremental and est.n_iter_ == est.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and "
                          "the optimization hasn't converged yet.", ConvergenceWarning, stacklevel=2)

    def _stop(self, message):
        est, opt = self.est, self.optimizer
        if est.solver == "sgd" and est.learning_rate == "adaptive":
            if opt.lr > 1e-6:
                opt.lr /= 5.0
                if est.verbose:
                    print(f"{message} Setting learning rate to {opt.lr:f}")
                return False
            message += " Learning rate too small."
        if est.verbose:
            print(f"{message} Stopping.")
        return True

    def diverged(self, err):
        """Early stopping survives a diverging epoch, as in scikit-learn (its issue 29504): the
        epoch is recorded with a NaN loss and validation score, and the fit ends there, keeping
        the best parameters (``on_train_end`` has restored them). scikit-learn trains on
        through NaN epochs until ``n_iter_no_change`` stops it, to the same parameters."""
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n_samples
        est.loss_ = math.nan
        est.loss_curve_.append(est.loss_)
        est.validation_scores_.append(math.nan)
        warnings.warn(f"{err} Early stopping keeps the parameters of the best validation score "
                      f"({est.best_validation_score_}).", ConvergenceWarning, stacklevel=4)

    def on_train_end(self, logs=None):
        if self.validation is None:
            return
        if self.best is not None:  # restore the best parameters, as scikit-learn does
            self.est._best_params = {k: np.array(_backend.to_numpy(v)) for k, v in self.best.items()}
        if self.est._best_params is not None:
            self.model.load_params(self.est._best_params)

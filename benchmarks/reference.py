"""Hand-written NumPy training steps and the GEMM bound: what xpnet is measured against.

:class:`NumpyMLP` is the MLP a competent engineer writes by hand in NumPy for one known network:
float32 (or whatever dtype the parameters have), the output activation fused with its loss
(``dZ = (p − y) / n`` from the logits), hidden activations computed in place and their backward
taken from the saved outputs, no input gradient for the first layer, and in-place optimizer updates
that consume the gradient buffers instead of allocating temporaries. It is deliberately specific
(sigmoid or ReLU hidden layers; sigmoid + binary cross-entropy, softmax + cross-entropy or linear +
MSE at the end) and carries no checks. ``tests/test_benchmarks.py`` proves it equal to xpnet's
gradients and updates in float64, so the benchmark compares correct implementations.

:func:`gemm_shapes` and :class:`GemmBound` give the lower bound every implementation shares: the
matrix products of one training step (forward ``Z = A @ W``, backward ``dW = A.T @ dZ`` and
``dA = dZ @ W.T`` except for the first layer), run back to back into preallocated outputs.

Shapes follow the house conventions: ``X`` ``(m, n_in)``, ``W`` ``(n_in, n_out)``, ``b`` ``(n_out,)``.
"""

from __future__ import annotations

import math

import numpy as np

HIDDEN = ("sigmoid", "relu")
HEADS = ("bce", "ce", "mse")  # sigmoid + binary cross-entropy, softmax + cross-entropy, linear + MSE


def _sigmoid_(Z):
    """σ(Z) in place, as ½(1 + tanh(Z/2)): one transcendental, never overflows."""
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z += 1.0
    Z *= 0.5
    return Z


class NumpyMLP:
    """A hand-written MLP training step in NumPy.

    Parameters
    ----------
    params : sequence of (W, b)
        Initial weights ``W`` ``(n_in, n_out)`` and biases ``b`` ``(n_out,)``, one pair per Dense
        layer; copied. Their dtype is the dtype of the whole computation.
    hidden : {"sigmoid", "relu"}
        The activation between Dense layers.
    head : {"bce", "ce", "mse"}
        Output activation and loss, fused: sigmoid + binary cross-entropy (mean over every
        element; targets ``(m, k)`` of 0/1), softmax + cross-entropy (mean over the batch; integer
        labels ``(m,)``), or linear output + mean squared error (targets ``(m, k)``).
    optimizer : {"sgd", "adam"}
        Plain SGD ``p ← p − η g``, or Adam with PyTorch's update rule.
    lr, beta1, beta2, eps : float
        Hyperparameters.

    Notes
    -----
    ::

        Forward:   Z_l = A_{l-1} @ W_l + b_l     A_0 = X (m, n_0)   W_l (n_{l-1}, n_l)   Z_l (m, n_l)
                   A_l = act(Z_l)                (in place, Z_l's buffer becomes A_l)
        Head:      bce: L = mean(softplus(Z) − Y Z)          dZ = (σ(Z) − Y) / (m k)
                   ce:  L = mean(logsumexp(Z) − Z[y])        dZ = (softmax(Z) − onehot(y)) / m
                   mse: L = mean((Z − Y)²)                   dZ = 2 (Z − Y) / (m k)
        Backward:  dW_l = A_{l-1}.T @ dZ_l       db_l = sum(dZ_l, axis=0)
                   dA_{l-1} = dZ_l @ W_l.T       (not for l = 1)
                   dZ_{l-1} = dA_{l-1} * A(1 − A)  (sigmoid)   |   dA_{l-1} where A > 0, else 0 (ReLU)
    """

    def __init__(self, params, *, hidden, head, optimizer="sgd", lr=0.01, beta1=0.9, beta2=0.999,
                 eps=1e-8):
        if hidden not in HIDDEN or head not in HEADS or optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown hidden={hidden!r}, head={head!r} or optimizer={optimizer!r}")
        self.W = [np.array(W, copy=True) for W, _ in params]
        self.b = [np.array(b, copy=True) for _, b in params]
        self.dtype = self.W[0].dtype
        self.hidden, self.head, self.optimizer = hidden, head, optimizer
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m = self.v = None  # Adam's moments, made by the first step (as xpnet and torch.optim)

    @property
    def params(self):
        """The current ``[(W, b), ...]`` (the arrays themselves, not copies)."""
        return list(zip(self.W, self.b, strict=True))

    # -- one forward and backward pass ---------------------------------------------------------

    def loss_and_grads(self, X, y):
        """The loss (a NumPy scalar) and ``[(dW, db), ...]`` for a batch ``X`` ``(m, n_0)``.

        ``y``: 0/1 or real targets ``(m, k)`` for ``bce``/``mse``, integer labels ``(m,)`` for ``ce``.
        """
        W, b, n_layers = self.W, self.b, len(self.W)
        saved = [X]  # A_0 .. A_{L-1}: the inputs of each Dense layer
        A = X
        for layer in range(n_layers - 1):
            Z = A @ W[layer]
            Z += b[layer]
            A = _sigmoid_(Z) if self.hidden == "sigmoid" else np.maximum(Z, 0.0, out=Z)
            saved.append(A)
        Z = saved[-1] @ W[-1]
        Z += b[-1]
        loss, dZ = self._head(Z, y)
        grads = [None] * n_layers
        for layer in range(n_layers - 1, -1, -1):
            A = saved[layer]
            grads[layer] = (A.T @ dZ, dZ.sum(axis=0))
            if layer == 0:
                break  # no gradient for the input X
            dA = dZ @ W[layer].T
            if self.hidden == "sigmoid":
                dA *= A
                dA *= 1.0 - A
            else:
                dA[A <= 0.0] = 0.0
            dZ = dA
        return loss, grads

    def _head(self, Z, y):
        """Loss value and ``dZ`` from the logits ``Z`` ``(m, k)``, reusing ``Z``'s buffer."""
        m = Z.shape[0]
        if self.head == "mse":
            Z -= y
            loss = np.vdot(Z, Z) / Z.size
            Z *= 2.0 / Z.size
            return loss, Z
        if self.head == "bce":
            # softplus(z) − y z = max(z, 0) − y z + log1p(exp(−|z|))
            E = np.exp(-np.abs(Z))
            loss = (np.maximum(Z, 0.0) - y * Z + np.log1p(E)).sum() / Z.size
            dZ = _sigmoid_(Z)
            dZ -= y
            dZ *= 1.0 / Z.size
            return loss, dZ
        # ce: log-softmax by the max-shifted log-sum-exp, integer labels y (m,)
        rows = np.arange(m)
        Z -= Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        total = P.sum(axis=1, keepdims=True)
        loss = (np.log(total[:, 0]) - Z[rows, y]).sum() / m
        P /= total
        P[rows, y] -= 1.0
        P *= 1.0 / m
        return loss, P

    # -- the training step -----------------------------------------------------------------------

    def step(self, X, y):
        """One optimizer step on the batch; returns the loss before the update."""
        loss, grads = self.loss_and_grads(X, y)
        params = self.W + self.b
        flat = [g for g, _ in grads] + [g for _, g in grads]
        self.t += 1
        if self.optimizer == "sgd":
            for p, g in zip(params, flat, strict=True):
                g *= self.lr  # the gradient buffer is ours: scale it instead of allocating
                p -= g
            return loss
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        beta1, beta2, t = self.beta1, self.beta2, self.t
        step_size = self.lr / (1.0 - beta1 ** t)
        root_bias2 = math.sqrt(1.0 - beta2 ** t)
        for p, g, m, v in zip(params, flat, self.m, self.v, strict=True):
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            g *= g
            g *= 1.0 - beta2
            v += g
            denom = np.sqrt(v, out=g)  # g is no longer needed: reuse it
            denom *= 1.0 / root_bias2
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= step_size
            p -= denom
        return loss

    def epoch(self, X, y, batch_size, rng):
        """One epoch of mini-batch steps in the order of ``rng.permutation(m)`` (as ``model.fit``
        draws it from its seed); returns the mean loss."""
        m = X.shape[0]
        order = rng.permutation(m)
        total = 0.0
        for start in range(0, m, batch_size):
            rows = order[start:start + batch_size]
            total += self.step(np.take(X, rows, axis=0), np.take(y, rows, axis=0)) * rows.shape[0]
        return total / m


def numpy_mlp_from_xpnet(model, **options):
    """A :class:`NumpyMLP` starting from an xpnet model's parameters (copied to NumPy)."""
    import xpnet

    dense = [layer for layer in model.layers if "W" in layer.params]
    params = [(xpnet.to_numpy(layer.params["W"]), xpnet.to_numpy(layer.params["b"])) for layer in dense]
    return NumpyMLP(params, **options)


# -- the GEMM bound ---------------------------------------------------------------------------------


def gemm_shapes(sizes, m):
    """The matrix products of one training step of an MLP with layer widths ``sizes`` on ``m`` rows.

    Returns a list of ``(a_shape, b_shape, transpose)``: ``transpose`` says which operand enters
    transposed (``"a"``: ``A.T @ B`` for weight gradients, ``"b"``: ``A @ B.T`` for input
    gradients, ``""``: plain). Forward ``A @ W`` per layer; backward ``A.T @ dZ`` per layer and
    ``dZ @ W.T`` for every layer but the first.
    """
    products = []
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    for n_in, n_out in pairs:
        products.append(((m, n_in), (n_in, n_out), ""))
    for layer in range(len(pairs) - 1, -1, -1):
        n_in, n_out = pairs[layer]
        products.append(((m, n_in), (m, n_out), "a"))
        if layer:
            products.append(((m, n_out), (n_in, n_out), "b"))
    return products


def gemm_flops(sizes, m):
    """Floating-point operations of :func:`gemm_shapes` (2 per multiply-add)."""
    total = 0
    for a, b, transpose in gemm_shapes(sizes, m):
        rows = a[1] if transpose == "a" else a[0]
        inner = a[0] if transpose == "a" else a[1]
        cols = b[0] if transpose == "b" else b[1]
        total += 2 * rows * inner * cols
    return total


class GemmBound:
    """The matrix products of one training step alone, back to back, into preallocated outputs.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths.
    m : int
        Rows per batch.
    lib : module
        ``numpy``, ``cupy`` or ``torch`` (their own ``matmul`` with ``out=``); any other Array API
        namespace works too, without ``out=``.
    dtype, device
        Of the operands (``device`` for torch and CuPy; ignored by NumPy).
    """

    def __init__(self, sizes, m, *, lib=np, dtype="float32", device=None):
        rng = np.random.default_rng(0)
        self.lib = lib
        name = getattr(lib, "__name__", "")

        def array(shape):
            host = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
            if name == "numpy":
                return host
            if name == "torch":
                return lib.from_numpy(host).to(device or "cpu")
            return lib.asarray(host) if device is None else lib.asarray(host, device=device)

        self.products = []
        for a_shape, b_shape, transpose in gemm_shapes(sizes, m):
            A, B = array(a_shape), array(b_shape)
            A = A.T if transpose == "a" else A
            B = B.T if transpose == "b" else B
            out = array((A.shape[0], B.shape[1]))
            self.products.append((A, B, out))
        self._use_out = name in ("numpy", "cupy", "torch")

    def step(self):
        matmul = self.lib.matmul
        if self._use_out:
            for A, B, out in self.products:
                matmul(A, B, out=out)
        else:
            for A, B, _ in self.products:
                matmul(A, B)

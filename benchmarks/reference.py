"""Hand-written NumPy training steps and the GEMM bound: what xpnet is measured against.

:class:`NumpyMLP` is the MLP a competent engineer writes by hand in NumPy for one known network:
float32 (or whatever dtype the parameters have), the output activation fused with its loss
(``dZ = (p − y) / n`` from the logits), hidden activations computed in place and their backward
taken from the saved outputs, no input gradient for the first layer, and in-place optimizer updates
that consume the gradient buffers instead of allocating temporaries. It is deliberately specific
(sigmoid or ReLU hidden layers; sigmoid + binary cross-entropy, softmax + cross-entropy or linear +
MSE at the end) and carries no checks. ``tests/test_benchmarks.py`` proves it equal to xpnet's
gradients and updates in float64, so the benchmark compares correct implementations.

:class:`TightW1` and :class:`TightMLP` are the tight floors: each workload's step written straight
(no layer loop, no dict, preallocated buffers where NumPy allows), the fastest correct NumPy for that
one network; the benchmark divides xpnet's time by the faster of the two references.

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
BLOCK = 1 << 16  # elements per block of the tight Adam update (256 KiB of float32, as xpnet's)


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


# -- the tight floors: each workload's step written straight, as the fastest correct NumPy ------------


class TightW1:
    """W1's full-batch step written straight: the floor a tiny network's step cannot go below.

    Three ``X @ W + b``, the tanh-form sigmoid ``0.5 * tanh(0.5 * z) + 0.5``, the loss as
    ``mean(logaddexp(0, z) − y z)``, the fused ``(σ(z) − y) / n``, three backward products,
    ``sum(dZ, axis=0)`` for the biases and six in-place ``p -= lr * g``: about fifty NumPy calls and
    nothing else (no loop, no dict, no check), every one of them an Array API operation (operators
    in place, no ``out=``). For any widths ``sizes = (n0, n1, n2, 1)``; the parameters' dtype is
    the computation's.
    """

    def __init__(self, params, *, lr):
        (self.W1, self.b1), (self.W2, self.b2), (self.W3, self.b3) = (
            (np.array(W, copy=True), np.array(b, copy=True)) for W, b in params)
        self.lr = float(lr)

    @property
    def params(self):
        return [(self.W1, self.b1), (self.W2, self.b2), (self.W3, self.b3)]

    def step(self, X, Y):
        """One step on ``X`` ``(m, n0)`` and 0/1 targets ``Y`` ``(m, 1)``; returns the loss before it."""
        W1, b1, W2, b2, W3, b3, lr = self.W1, self.b1, self.W2, self.b2, self.W3, self.b3, self.lr
        Z1 = X @ W1
        Z1 += b1
        Z1 *= 0.5
        A1 = np.tanh(Z1)
        A1 *= 0.5
        A1 += 0.5
        Z2 = A1 @ W2
        Z2 += b2
        Z2 *= 0.5
        A2 = np.tanh(Z2)
        A2 *= 0.5
        A2 += 0.5
        Z3 = A2 @ W3
        Z3 += b3
        loss = np.mean(np.logaddexp(0.0, Z3) - Y * Z3)
        dZ3 = np.tanh(0.5 * Z3)
        dZ3 *= 0.5
        dZ3 += 0.5
        dZ3 -= Y
        dZ3 *= 1.0 / Y.size
        dW3 = A2.T @ dZ3
        db3 = np.sum(dZ3, axis=0)
        dZ2 = dZ3 @ W3.T
        dZ2 *= A2
        dZ2 *= 1.0 - A2
        dW2 = A1.T @ dZ2
        db2 = np.sum(dZ2, axis=0)
        dZ1 = dZ2 @ W2.T
        dZ1 *= A1
        dZ1 *= 1.0 - A1
        dW1 = X.T @ dZ1
        db1 = np.sum(dZ1, axis=0)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
        W3 -= lr * dW3
        b3 -= lr * db3
        return loss


class _Preallocated:
    """Buffers made once per shape and reused: a tight step allocates nothing after its first."""

    def __init__(self, dtype):
        self.dtype, self._buffers = dtype, {}

    def __call__(self, name, shape, dtype=None):
        key = (name, shape)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = np.empty(shape, dtype or self.dtype)
        return buffer


class TightMLP:
    """W2's and W3's step (three Dense layers, ReLU between them) written straight, into
    preallocated buffers, as a performance engineer writes it for one known network in NumPy.

    ``np.matmul(..., out=)`` into buffers made once; bias and ReLU in place; the ReLU backward as
    one multiply by the mask ``Z > 0``; the head (softmax + cross-entropy on integer labels, or
    linear + MSE) fused and in place. SGD: the learning rate is folded into the head's ``dZ``
    (the backward pass is linear in it, so every gradient comes out already scaled) and each
    parameter takes one ``p -= g``. Adam: PyTorch's rule as in-place multiply-adds, a block of
    ``block`` elements at a time through one preallocated scratch buffer (cache-sized passes,
    no temporary as large as a parameter).

    Parameters
    ----------
    params : sequence of three (W, b)
    head : {"ce", "mse"}
    optimizer : {"sgd", "adam"}
    lr, beta1, beta2, eps : float
    block : int
        Elements per block of Adam's update.
    """

    def __init__(self, params, *, head, optimizer="sgd", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                 block=BLOCK):
        if head not in ("ce", "mse") or optimizer not in ("sgd", "adam") or len(params) != 3:
            raise ValueError(f"unknown head={head!r} or optimizer={optimizer!r}, or not 3 layers")
        self.W = [np.array(W, copy=True) for W, _ in params]
        self.b = [np.array(b, copy=True) for _, b in params]
        self.head, self.optimizer = head, optimizer
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.buffer, self.rows = _Preallocated(self.W[0].dtype), {}
        # made by the first step, as xpnet and torch.optim make theirs: they are training memory,
        # which the benchmark measures from after the build
        self.grads = self.m = self.v = None
        self.t, self.block = 0, block

    @property
    def params(self):
        return list(zip(self.W, self.b, strict=True))

    def step(self, X, y):
        """One step on ``X`` ``(m, n0)``; ``y``: integer labels ``(m,)`` (ce) or targets ``(m, k)``
        (mse). Returns the loss before the update."""
        (W1, W2, W3), (b1, b2, b3), buf = self.W, self.b, self.buffer
        if self.grads is None:
            self.grads = [(np.empty_like(W), np.empty_like(b)) for W, b in zip(self.W, self.b, strict=True)]
        (dW1, db1), (dW2, db2), (dW3, db3) = self.grads
        m = X.shape[0]
        Z1 = np.matmul(X, W1, out=buf("Z1", (m, W1.shape[1])))
        Z1 += b1
        np.maximum(Z1, 0.0, out=Z1)
        Z2 = np.matmul(Z1, W2, out=buf("Z2", (m, W2.shape[1])))
        Z2 += b2
        np.maximum(Z2, 0.0, out=Z2)
        Z3 = np.matmul(Z2, W3, out=buf("Z3", (m, W3.shape[1])))
        Z3 += b3
        scale = self.lr if self.optimizer == "sgd" else 1.0
        if self.head == "mse":
            Z3 -= y
            loss = np.vdot(Z3, Z3) / Z3.size
            Z3 *= 2.0 * scale / Z3.size
        else:
            rows = self.rows.get(m)
            if rows is None:
                rows = self.rows[m] = np.arange(m)
            Z3 -= np.max(Z3, axis=1, keepdims=True)
            picked = Z3[rows, y]
            np.exp(Z3, out=Z3)
            total = np.sum(Z3, axis=1, keepdims=True)
            loss = (np.sum(np.log(total)) - np.sum(picked)) / m
            Z3 /= total
            Z3[rows, y] -= 1.0
            Z3 *= scale / m
        dZ3 = Z3
        np.matmul(Z2.T, dZ3, out=dW3)
        np.sum(dZ3, axis=0, out=db3)
        dZ2 = np.matmul(dZ3, W3.T, out=buf("dZ2", Z2.shape))
        np.multiply(dZ2, Z2 > 0.0, out=dZ2)
        np.matmul(Z1.T, dZ2, out=dW2)
        np.sum(dZ2, axis=0, out=db2)
        dZ1 = np.matmul(dZ2, W2.T, out=buf("dZ1", Z1.shape))
        np.multiply(dZ1, Z1 > 0.0, out=dZ1)
        np.matmul(X.T, dZ1, out=dW1)
        np.sum(dZ1, axis=0, out=db1)
        self.t += 1
        params, grads = self.W + self.b, [dW1, dW2, dW3, db1, db2, db3]
        if self.optimizer == "sgd":
            for p, g in zip(params, grads, strict=True):
                p -= g  # already lr * gradient
            return loss
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
            self.scratch = np.empty(self.block, self.W[0].dtype)
        beta1, beta2, t = self.beta1, self.beta2, self.t
        c1, c2 = self.lr / (1.0 - beta1 ** t), math.sqrt(1.0 - beta2 ** t)
        for p, g, m1, v in zip(params, grads, self.m, self.v, strict=True):
            p, g, m1, v = p.reshape(-1), g.reshape(-1), m1.reshape(-1), v.reshape(-1)
            for start in range(0, p.shape[0], self.block):
                block = slice(start, start + self.block)
                pb, gb, mb, vb = p[block], g[block], m1[block], v[block]
                s = self.scratch[:pb.shape[0]]
                mb *= beta1
                np.multiply(gb, 1.0 - beta1, out=s)
                mb += s
                np.multiply(gb, gb, out=s)
                s *= 1.0 - beta2
                vb *= beta2
                vb += s
                np.sqrt(vb, out=s)
                s *= 1.0 / c2
                s += self.eps
                np.divide(mb, s, out=s)
                s *= c1
                pb -= s
        return loss

    def epoch(self, X, y, batch_size, rng):
        """One epoch of mini-batches in the order of ``rng.permutation(m)`` (as ``model.fit`` draws
        it from its seed), gathered into preallocated batch buffers; returns the mean loss."""
        m = X.shape[0]
        order = rng.permutation(m)
        total = 0.0
        for start in range(0, m, batch_size):
            rows = order[start:start + batch_size]
            n = rows.shape[0]
            Xb = np.take(X, rows, axis=0, out=self.buffer("Xb", (n, X.shape[1])))
            yb = np.take(y, rows, axis=0, out=self.buffer("yb", (n, *y.shape[1:]), y.dtype))
            total += self.step(Xb, yb) * n
        return total / m


def tight_from_xpnet(model, *, head, **options):
    """The tight step of ``head`` (``"bce"``: :class:`TightW1`, else :class:`TightMLP`) starting
    from an xpnet model's parameters (copied to NumPy)."""
    import xpnet

    dense = [layer for layer in model.layers if "W" in layer.params]
    params = [(xpnet.to_numpy(layer.params["W"]), xpnet.to_numpy(layer.params["b"])) for layer in dense]
    if head == "bce":
        return TightW1(params, lr=options["lr"])
    return TightMLP(params, head=head, **options)


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

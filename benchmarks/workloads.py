"""The workloads and the implementations measured on them.

A *workload* fixes the network, the data, the loss and the unit of time (a full-batch step, an
epoch of mini-batches, or one ``predict`` of the data). An *implementation* trains it: xpnet (on
NumPy, and on the ``jax`` backend with its compiled step), the two hand-written NumPy references of
``reference.py`` (generic and tight), PyTorch (autograd + ``torch.optim``), scikit-learn's MLP, or
the GEMM bound (the step's matrix products alone, on OpenBLAS and on XLA). Each implementation
has ``build()`` (data, model, optimizer; not timed), ``run(k)`` (``k`` units of training, ending
with the device synchronised) and ``label``.

scikit-learn is timed through ``partial_fit``: one call is one epoch over the data it is given, so on
W1 (batch = all rows, ``shuffle=False``) it is one full-batch step, and on W2 (``batch_size=256``,
``shuffle=True``) one epoch of 100 mini-batches; its per-call input validation is included, as in
any use of its API. ``alpha=0`` (no L2 penalty) and ``momentum=0`` match the others' plain updates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from reference import GemmBound, NumpyMLP, TightMLP, TightW1

# -- workloads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    key: str            # "W1-1k", "W2", "W3"
    title: str
    sizes: tuple        # layer widths
    hidden: str         # "sigmoid" | "relu"
    head: str           # "bce" | "ce" | "mse"
    rows: int           # rows of training data
    batch: int          # rows per step (== rows: full batch)
    unit: str           # "step" | "epoch" | "predict": what one timed unit is
    optimizers: tuple   # ("sgd",) or ("sgd", "adam"); () for inference
    baseline: str       # "numpy" (the faster of the two NumPy references) | "gemm" | a row's key
    lr: dict            # optimizer -> learning rate

    @property
    def batches(self) -> int:
        return -(-self.rows // self.batch)

    @property
    def xpnet_loss(self) -> str:
        return {"bce": "binary_crossentropy", "ce": "crossentropy", "mse": "mse"}[self.head]

    @property
    def output(self):
        return {"bce": "sigmoid", "ce": "softmax", "mse": None}[self.head]


def workloads(tiny: bool = False) -> list[Workload]:
    """The benchmark's workloads; ``tiny`` shrinks every size so a run takes seconds (tests)."""
    sgd_adam = {"sgd": 0.01, "adam": 0.001}
    w1_rows = (200, 2000) if tiny else (1_000, 100_000)
    w1 = [Workload(f"W1-{_short(n)}", f"W1: 2-5-5-1 sigmoid + binary cross-entropy, full-batch "
                   f"gradient descent, N = {n:,} two-moons points", (2, 5, 5, 1), "sigmoid", "bce", n, n,
                   "step", ("sgd",), "numpy", {"sgd": 0.5})
          for n in w1_rows]
    w2_sizes, w2_batch, w2_batches = ((32, 16, 16, 4), 16, 4) if tiny else ((784, 512, 512, 10), 256, 100)
    w2 = Workload("W2", f"W2: {'-'.join(map(str, w2_sizes))} ReLU + softmax cross-entropy, batch "
                  f"{w2_batch}, {w2_batches} batches per epoch, through model.fit", w2_sizes, "relu", "ce",
                  w2_batch * w2_batches, w2_batch, "epoch", ("sgd", "adam"), "gemm", sgd_adam)
    w3_sizes, w3_batch = ((64, 64, 64, 1), 32) if tiny else ((4096, 4096, 4096, 1), 1024)
    w3 = Workload("W3", f"W3: {'-'.join(map(str, w3_sizes))} ReLU + MSE, batch {w3_batch}, one step",
                  w3_sizes, "relu", "mse", w3_batch, w3_batch, "step", ("sgd",), "gemm", {"sgd": 1e-4})
    w2p = Workload("W2-predict", f"W2's network ({'-'.join(map(str, w2_sizes))}), inference on "
                   f"{w2.rows:,} rows, float32: model.predict beside ONNX Runtime", w2_sizes, "relu", "ce",
                   w2.rows, w2.rows, "predict", (), "xpnet-predict", {})
    return [*w1, w2, w2p, w3]


def _short(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def make_data(w: Workload):
    """``(X, y)`` on the host: float64 two-moons for W1 (as ``xpnet.datasets`` returns them),
    float32 uniform pixels and integer labels for W2, float32 normal inputs and targets for W3."""
    rng = np.random.default_rng(0)
    if w.head == "bce":
        from xpnet import datasets

        return datasets.two_moons(w.rows, noise=0.15, seed=0)
    if w.head == "ce":
        X = rng.random((w.rows, w.sizes[0]), dtype=np.float32)
        return X, rng.integers(0, w.sizes[-1], w.rows)
    X = rng.standard_normal((w.rows, w.sizes[0]), dtype=np.float32)
    return X, rng.standard_normal((w.rows, w.sizes[-1]), dtype=np.float32)


def host_target(w: Workload, y, dtype=np.float32):
    """The target as the hand-written implementations take it: labels ``(m,)`` for ``ce``, else
    ``(m, k)`` floats."""
    if w.head == "ce":
        return np.asarray(y)
    y = np.asarray(y, dtype=dtype)
    return y[:, None] if y.ndim == 1 else y


# -- implementations ------------------------------------------------------------------------------


class Impl:
    """One implementation on one workload (with one optimizer)."""

    kind = ""

    def __init__(self, w: Workload, optimizer: str, backend: str | None = None):
        self.w, self.optimizer, self.backend_name = w, optimizer, backend
        self.lr = w.lr[optimizer]

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.optimizer}" if self.optimizer else self.kind

    @property
    def label(self) -> str:
        return self.kind

    def build(self) -> None:
        raise NotImplementedError

    def run(self, k: int) -> None:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Touch the libraries this implementation uses before memory is measured (BLAS buffers,
        thread pools, lazily loaded kernels), without training the measured model."""
        a = np.ones((256, 256), dtype=np.float32)
        a @ a


class _Xpnet(Impl):
    kind = "xpnet"

    def warm_up(self):
        super().warm_up()
        if self.model.backend.name != "numpy":
            xp = self.model.backend.xp
            a = self.model.backend.asarray(np.ones((256, 256), dtype=np.float32))
            xp.matmul(a, a)
            self.sync()


class XpnetStep(_Xpnet):
    """``xpnet.grad.loss_and_grads`` on pre-validated arrays + ``optim.<opt>.step`` in place; with
    ``validate=True``, ``xpnet.value_and_grad`` on the raw data (boundary checks each step)."""

    def __init__(self, w, optimizer, backend=None, validate=False):
        super().__init__(w, optimizer, backend)
        self.validate = validate

    @property
    def key(self):
        return f"xpnet-vg-{self.optimizer}" if self.validate else f"xpnet-{self.optimizer}"

    @property
    def label(self):
        return ("xpnet: value_and_grad (validates X, y) + SGD.step" if self.validate
                else "xpnet: loss_and_grads + SGD.step")

    def build(self):
        import xpnet
        from xpnet import losses, optim

        w = self.w
        self.model = xpnet.mlp(list(w.sizes), activation=w.hidden, output=w.output, seed=0,
                               backend=self.backend_name)
        backend, dtype = self.model.backend, self.model.dtype
        self.loss = losses.get(w.xpnet_loss)
        self.X_raw, self.y_raw = make_data(w)
        self.X = backend.asarray(self.X_raw, dtype)
        self.y = self.loss.prepare_target(backend.asarray(host_target(w, self.y_raw), dtype), w.sizes[-1])
        self.opt = optim.SGD(lr=self.lr) if self.optimizer == "sgd" else optim.Adam(lr=self.lr)
        self.sync = _synchronizer(backend)

    def run(self, k):
        from xpnet import value_and_grad
        from xpnet.grad import loss_and_grads

        model, loss, opt = self.model, self.loss, self.opt
        for _ in range(k):
            # as fit does: the gradients go straight into the step, so the last step's are freed
            # before the next backward pass makes new ones
            if self.validate:
                opt.step(model.params, value_and_grad(model, loss, self.X_raw, self.y_raw)[1])
            else:
                opt.step(model.params, loss_and_grads(model, loss, self.X, self.y)[1])
        self.sync()


class XpnetFit(_Xpnet):
    """``model.fit(X, y, epochs=k, batch_size=..., metrics=(), verbose=0)`` with a persistent
    optimizer object (its state carries over between calls, as in one long ``fit``). On a
    full-batch workload (W1) an epoch is one step, so every step pays fit's per-epoch work too."""

    @property
    def key(self):
        return f"xpnet-fit-{self.optimizer}" if self.w.unit == "step" else f"xpnet-{self.optimizer}"

    @property
    def label(self):
        return f"xpnet: model.fit, {_OPT_NAMES[self.optimizer]}"

    def build(self):
        import xpnet
        from xpnet import optim

        w = self.w
        self.model = xpnet.mlp(list(w.sizes), activation=w.hidden, output=w.output, seed=0,
                               backend=self.backend_name)
        X, y = make_data(w)
        # on the model's device once, as a user would keep it (a no-op for NumPy): fit does not
        # copy the data in every call
        self.X, self.y = self.model.backend.asarray(X), self.model.backend.asarray(y)
        self.opt = optim.SGD(lr=self.lr) if self.optimizer == "sgd" else optim.Adam(lr=self.lr)
        self.sync = _synchronizer(self.model.backend)
        self.calls = 0

    def run(self, k):
        self.calls += 1
        self.model.fit(self.X, self.y, loss=self.w.xpnet_loss, optimizer=self.opt, epochs=k,
                       batch_size=None if self.w.batch == self.w.rows else self.w.batch,
                       shuffle=True, seed=self.calls, metrics=(), verbose=0)
        self.sync()


class JaxStep(_Xpnet):
    """xpnet on the ``jax`` backend: the whole training step (forward, the hand-written backward
    closures, the loss, the optimizer update) compiled by ``jax.jit``, called as ``fit`` calls it
    for each batch (``xpnet.train._compiled_step``), without fit's once-per-epoch work."""

    kind = "jax"

    @property
    def label(self):
        return f"xpnet on jax: the compiled fit step (jax.jit), {_OPT_NAMES[self.optimizer]}"

    def build(self):
        import xpnet
        from xpnet import losses, optim, train

        w = self.w
        self.model = xpnet.mlp(list(w.sizes), activation=w.hidden, output=w.output, seed=0,
                               backend="jax")
        backend, dtype = self.model.backend, self.model.dtype
        loss = losses.get(w.xpnet_loss)
        X, y = make_data(w)
        self.X = backend.asarray(X, dtype)
        self.y = loss.prepare_target(backend.asarray(host_target(w, y), dtype), w.sizes[-1])
        self.opt = optim.SGD(lr=self.lr) if self.optimizer == "sgd" else optim.Adam(lr=self.lr)
        self.step = train._compiled_step(self.model, loss, self.opt)

    def run(self, k):
        for _ in range(k):
            _, value = self.step(self.X, self.y)
        value.block_until_ready()

    def warm_up(self):
        Impl.warm_up(self)


class JaxFit(XpnetFit):
    """``model.fit`` on the ``jax`` backend (its step compiled by ``jax.jit``), as :class:`XpnetFit`."""

    kind = "jax"

    @property
    def key(self):
        return f"jax-fit-{self.optimizer}" if self.w.unit == "step" else f"jax-{self.optimizer}"

    @property
    def label(self):
        return f"xpnet on jax: model.fit (compiled step), {_OPT_NAMES[self.optimizer]}"

    def build(self):
        self.backend_name = "jax"
        super().build()

    def warm_up(self):
        Impl.warm_up(self)


class JaxGemm(Impl):
    """The GEMM bound on XLA: the same products as :class:`Gemm`, in one ``jax.jit`` function
    (XLA's own CPU GEMMs, not OpenBLAS)."""

    kind = "gemm-jax"

    def __init__(self, w, optimizer=None, backend=None):
        self.w, self.optimizer, self.backend_name = w, None, backend

    @property
    def label(self):
        return "GEMM bound on XLA (the same products, jax.jit)"

    def build(self):
        import jax
        import jax.numpy as jnp

        bound = GemmBound(self.w.sizes, self.w.batch)  # NumPy operands, then on the jax device
        self.pairs = [(jnp.asarray(A), jnp.asarray(B)) for A, B, _ in bound.products]
        self.products = jax.jit(lambda pairs: [A @ B for A, B in pairs])

    def run(self, k):
        for _ in range(k * self.w.batches):
            out = self.products(self.pairs)
        out[-1].block_until_ready()


class XpnetPredict(_Xpnet):
    """``model.predict(X)`` of W2's network (Softmax probabilities), on NumPy."""

    kind = "xpnet-predict"

    def __init__(self, w, optimizer=None, backend=None):
        self.w, self.optimizer, self.backend_name = w, None, backend

    @property
    def label(self):
        return "xpnet: model.predict"

    def build(self):
        import xpnet

        w = self.w
        self.model = xpnet.mlp(list(w.sizes), activation=w.hidden, output=w.output, seed=0,
                               backend=self.backend_name)
        self.X = self.model.backend.asarray(make_data(w)[0], self.model.dtype)
        self.sync = _synchronizer(self.model.backend)

    def run(self, k):
        for _ in range(k):
            self.model.predict(self.X)
        self.sync()


class OnnxPredict(Impl):
    """ONNX Runtime (CPU) running the file ``model.export_onnx`` writes for the same network."""

    kind = "onnxruntime-predict"

    def __init__(self, w, optimizer=None, backend=None):
        self.w, self.optimizer, self.backend_name = w, None, backend

    @property
    def label(self):
        return "ONNX Runtime on model.export_onnx's file"

    def build(self):
        import tempfile

        import onnxruntime

        import xpnet

        w = self.w
        model = xpnet.mlp(list(w.sizes), activation=w.hidden, output=w.output, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = model.export_onnx(os.path.join(tmp, "w2.onnx"))
            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.X = np.ascontiguousarray(make_data(w)[0], dtype=np.float32)
        self.input = self.session.get_inputs()[0].name

    def run(self, k):
        for _ in range(k):
            self.session.run(None, {self.input: self.X})


class NumpyRef(Impl):
    """The hand-written NumPy step of ``reference.py``, float32."""

    kind = "numpy"

    @property
    def label(self):
        return f"hand-written NumPy, {_OPT_NAMES[self.optimizer]}"

    def build(self):
        w = self.w
        rng = np.random.default_rng(0)
        params = []
        for n_in, n_out in zip(w.sizes[:-1], w.sizes[1:], strict=True):
            # He uniform before ReLU, Glorot uniform otherwise (as xpnet.mlp; the values differ)
            limit = np.sqrt(6.0 / n_in) if w.hidden == "relu" else np.sqrt(6.0 / (n_in + n_out))
            params.append((rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32),
                           np.zeros(n_out, dtype=np.float32)))
        self.net = NumpyMLP(params, hidden=w.hidden, head=w.head, optimizer=self.optimizer, lr=self.lr)
        X, y = make_data(w)
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.y = host_target(w, y)
        self.rng = np.random.default_rng(1)

    def run(self, k):
        for _ in range(k):
            if self.w.unit == "epoch":
                self.net.epoch(self.X, self.y, self.w.batch, self.rng)
            else:
                self.net.step(self.X, self.y)


class TightRef(Impl):
    """The tight floor: ``reference.TightW1`` (W1) or ``reference.TightMLP`` (W2, W3), float32,
    from the same initial values as :class:`NumpyRef`."""

    kind = "tight"

    @property
    def label(self):
        return f"tight hand-written NumPy (straight-line), {_OPT_NAMES[self.optimizer]}"

    def build(self):
        ref = NumpyRef(self.w, self.optimizer)
        ref.build()
        params = ref.net.params
        if self.w.head == "bce":
            self.net = TightW1(params, lr=self.lr)
        else:
            self.net = TightMLP(params, head=self.w.head, optimizer=self.optimizer, lr=self.lr)
        self.X, self.y, self.rng = ref.X, ref.y, ref.rng

    def run(self, k):
        for _ in range(k):
            if self.w.unit == "epoch":
                self.net.epoch(self.X, self.y, self.w.batch, self.rng)
            else:
                self.net.step(self.X, self.y)


class TorchRef(Impl):
    """PyTorch: ``nn.Sequential`` of ``nn.Linear`` + activations, the loss on the logits
    (``BCEWithLogitsLoss``, ``CrossEntropyLoss``, ``MSELoss``), ``loss.backward()`` and
    ``torch.optim.SGD``/``Adam`` (defaults otherwise); ``zero_grad()`` each step."""

    kind = "torch"

    def __init__(self, w, optimizer, backend=None, device="cpu"):
        super().__init__(w, optimizer, backend)
        self.device = device

    @property
    def label(self):
        where = "CUDA" if self.device != "cpu" else "CPU"
        return f"PyTorch {where} (autograd + torch.optim), {_OPT_NAMES[self.optimizer]}"

    def build(self):
        import torch
        from torch import nn

        w, dev = self.w, self.device
        torch.manual_seed(0)
        act = nn.Sigmoid if w.hidden == "sigmoid" else nn.ReLU
        layers = []
        for i, (n_in, n_out) in enumerate(zip(w.sizes[:-1], w.sizes[1:], strict=True)):
            if i:
                layers.append(act())
            layers.append(nn.Linear(n_in, n_out))
        self.net = nn.Sequential(*layers).to(dev)
        self.loss = {"bce": nn.BCEWithLogitsLoss, "ce": nn.CrossEntropyLoss, "mse": nn.MSELoss}[w.head]()
        opt = torch.optim.SGD if self.optimizer == "sgd" else torch.optim.Adam
        self.opt = opt(self.net.parameters(), lr=self.lr)
        X, y = make_data(w)
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(dev)
        self.y = torch.from_numpy(host_target(w, y)).to(dev)
        self.sync = torch.cuda.synchronize if dev != "cpu" else (lambda: None)
        self.torch = torch

    def _step(self, X, y):
        self.opt.zero_grad()
        loss = self.loss(self.net(X), y)
        loss.backward()
        self.opt.step()
        return loss

    def run(self, k):
        w, torch = self.w, self.torch
        for _ in range(k):
            if w.unit == "epoch":
                order = torch.randperm(w.rows, device=self.device)
                for start in range(0, w.rows, w.batch):
                    rows = order[start:start + w.batch]
                    self._step(self.X[rows], self.y[rows])
            else:
                self._step(self.X, self.y)
        self.sync()

    def warm_up(self):
        super().warm_up()
        torch = self.torch
        a = torch.ones((256, 256), device=self.device)
        (a @ a).sum().item()


class SklearnRef(Impl):
    """scikit-learn's ``MLPClassifier``/``MLPRegressor`` through ``partial_fit`` (one call = one
    epoch; see the module docstring)."""

    kind = "sklearn"

    @property
    def label(self):
        return f"scikit-learn MLP (partial_fit), {_OPT_NAMES[self.optimizer]}"

    def build(self):
        import warnings

        from sklearn.neural_network import MLPClassifier, MLPRegressor

        warnings.filterwarnings("ignore", module="sklearn")
        w = self.w
        options = dict(hidden_layer_sizes=w.sizes[1:-1], activation="logistic" if w.hidden == "sigmoid"
                       else "relu", solver=self.optimizer, alpha=0.0, batch_size=w.batch,
                       learning_rate_init=self.lr, shuffle=w.unit == "epoch", random_state=0)
        if self.optimizer == "sgd":
            options.update(momentum=0.0, nesterovs_momentum=False)
        X, y = make_data(w)
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        if w.head == "mse":
            self.net, self.y = MLPRegressor(**options), np.asarray(y, dtype=np.float32).ravel()
            self.extra = {}
        else:
            self.net, self.y = MLPClassifier(**options), np.asarray(y)
            self.extra = {"classes": np.arange(max(2, w.sizes[-1]))}

    def run(self, k):
        for _ in range(k):
            self.net.partial_fit(self.X, self.y, **self.extra)
            self.extra = {}


class Gemm(Impl):
    """The GEMM bound: one unit's matrix products alone (``reference.GemmBound``), on the xpnet
    backend's own library and device."""

    kind = "gemm"

    def __init__(self, w, optimizer=None, backend=None):
        self.w, self.optimizer, self.backend_name = w, None, backend

    @property
    def label(self):
        return "GEMM bound (the matrix products alone)"

    def build(self):
        from xpnet import backend as B

        backend = B.get(self.backend_name)
        lib, device = np, None
        if backend.name == "cupy":
            import cupy as lib
        elif backend.name == "torch":
            import torch as lib

            device = backend.device
        elif backend.name != "numpy":
            lib, device = backend.xp, backend.device
        self.bound = GemmBound(self.w.sizes, self.w.batch, lib=lib, device=device)
        self.sync = _synchronizer(backend)

    def run(self, k):
        for _ in range(k * self.w.batches):
            self.bound.step()
        self.sync()


_OPT_NAMES = {"sgd": "SGD", "adam": "Adam", None: ""}


def _synchronizer(backend):
    """A function that waits for the backend's device (nothing to wait for on a CPU)."""
    if backend.name == "cupy":
        import cupy

        return cupy.cuda.Device().synchronize
    if backend.name == "torch" and getattr(backend.device, "type", "cpu") == "cuda":
        import torch

        return torch.cuda.synchronize
    return lambda: None


def on_gpu(backend_name) -> bool:
    from xpnet import backend as B

    backend = B.get(backend_name)
    return backend.name == "cupy" or getattr(backend.device, "type", "cpu") == "cuda"


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def implementations(w: Workload, backend_name=None, *, skip=()) -> list[Impl]:
    """Every implementation that applies to ``w`` here, in a fixed order (rotated when timed).

    On a GPU backend the CPU-only ones (hand-written NumPy, scikit-learn) are left out and PyTorch
    runs on CUDA. ``skip`` names kinds to leave out (``"torch"``, ``"sklearn"``, ...).
    """
    gpu = on_gpu(backend_name)
    jax = not gpu and backend_name in (None, "numpy") and _available("jax")
    if w.unit == "predict":
        impls: list[Impl] = [XpnetPredict(w, backend=backend_name)]
        if not gpu and _importable("onnxruntime") and _importable("ndonnx"):
            impls.append(OnnxPredict(w))
        return [impl for impl in impls if impl.kind.split("-")[0] not in skip]
    impls = [Gemm(w, backend=backend_name)]
    if jax and w.baseline == "gemm":
        impls.append(JaxGemm(w))
    for opt in w.optimizers:
        if w.unit == "epoch":
            impls.append(XpnetFit(w, opt, backend_name))
        else:
            impls.append(XpnetStep(w, opt, backend_name))
            if w.head == "bce":
                impls += [XpnetStep(w, opt, backend_name, validate=True),
                          XpnetFit(w, opt, backend_name)]
        if not gpu:
            impls += [NumpyRef(w, opt), TightRef(w, opt)]
        if jax:
            impls.append(JaxFit(w, opt) if w.unit == "epoch" else JaxStep(w, opt))
            if w.head == "bce":
                impls.append(JaxFit(w, opt))
        if _importable("torch") and not (gpu and not _torch_cuda()):
            impls.append(TorchRef(w, opt, device="cuda" if gpu else "cpu"))
        if not gpu and _importable("sklearn") and w.key != "W3":
            impls.append(SklearnRef(w, opt))
    return [impl for impl in impls if impl.kind.split("-")[0] not in skip]


def _available(backend_name: str) -> bool:
    from xpnet import backend as B

    return backend_name in B.available()


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def blas_threads() -> int:
    """NumPy's BLAS thread count (threadpoolctl), else the number of usable cores."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"
              and "numpy" in p.get("filepath", "")]
    return counts[0] if counts else (os.cpu_count() or 1)

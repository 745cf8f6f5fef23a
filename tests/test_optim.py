"""Optimizers, clipping and schedules against formulas written out in NumPy float64 (and, where
torch is installed, against torch.optim itself)."""

import ast
import concurrent.futures
import inspect
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import optim
from xpnet.backend import of

# Every registered optimizer (xpnet.optim.OPTIMIZERS) with the hyperparameters it is tested with,
# its formula in NumPy float64 (REFERENCES) and its torch.optim twin (TORCH):
# test_every_registered_optimizer_is_covered fails when a registered class lacks one of them.
HYPER = {
    "SGD": [{"lr": 0.1}, {"lr": 0.1, "momentum": 0.9},
            {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}],
    "Adam": [{"lr": 0.1}, {"lr": 0.1, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6,
                           "weight_decay": 0.05}],
    "AdamW": [{"lr": 0.1, "weight_decay": 0.1}],
    "RMSprop": [{"lr": 0.01}, {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "weight_decay": 0.1}],
    "Adagrad": [{"lr": 0.1}, {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.05,
                              "initial_accumulator_value": 0.5, "eps": 1e-6}],
}
CONFIGS = [(cls.__name__, hyper) for cls in optim.OPTIMIZERS.values()
           for hyper in HYPER.get(cls.__name__, [{}])]
IDS = [f"{name}-{'-'.join(map(str, hyper.values()))}" for name, hyper in CONFIGS]
TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-14}}


def _problem(n_steps=3):
    """Host float64 parameters {"W": (2, 3), "b": (3,)} and ``n_steps`` gradient dicts."""
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=3)}
    grads = [{k: rng.normal(size=v.shape) for k, v in params.items()} for _ in range(n_steps)]
    return params, grads


def _on(backend, arrays, dtype):
    """Backend copies (on NumPy, ``asarray`` may return the host array itself)."""
    return {k: backend.asarray(np.array(v, copy=True), dtype) for k, v in arrays.items()}


def _sgd(h, p, grads):
    b = 0.0
    for g in grads:
        g = g + h["weight_decay"] * p
        if h["momentum"]:
            b = h["momentum"] * b + g
            g = g + h["momentum"] * b if h["nesterov"] else b
        p = p - h["lr"] * g
    return p


def _adam(h, p, grads, decoupled=False):
    m = v = 0.0
    lr, wd, b1, b2 = h["lr"], h["weight_decay"], h["beta1"], h["beta2"]
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1.0 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + h["eps"])
    return p


def _rmsprop(h, p, grads):
    v = b = 0.0
    for g in grads:
        g = g + h["weight_decay"] * p
        v = h["rho"] * v + (1 - h["rho"]) * g**2
        d = g / (np.sqrt(v) + h["eps"])
        if h["momentum"]:
            b = h["momentum"] * b + d
            d = b
        p = p - h["lr"] * d
    return p


def _adagrad(h, p, grads):
    s = h["initial_accumulator_value"]
    for t, g in enumerate(grads, start=1):
        g = g + h["weight_decay"] * p
        s = s + g**2
        p = p - h["lr"] / (1 + (t - 1) * h["lr_decay"]) * g / (np.sqrt(s) + h["eps"])
    return p


REFERENCES = {"SGD": _sgd, "Adam": _adam, "AdamW": lambda h, p, g: _adam(h, p, g, True),
              "RMSprop": _rmsprop, "Adagrad": _adagrad}

TORCH = {  # torch.optim's twin of each optimizer, from its hyperparameters h
    "SGD": lambda torch, ts, h, common: torch.optim.SGD(
        ts, momentum=h["momentum"], nesterov=h["nesterov"], **common),
    "Adam": lambda torch, ts, h, common: torch.optim.Adam(
        ts, betas=(h["beta1"], h["beta2"]), eps=h["eps"], **common),
    "AdamW": lambda torch, ts, h, common: torch.optim.AdamW(
        ts, betas=(h["beta1"], h["beta2"]), eps=h["eps"], **common),
    "RMSprop": lambda torch, ts, h, common: torch.optim.RMSprop(
        ts, alpha=h["rho"], eps=h["eps"], momentum=h["momentum"], **common),
    "Adagrad": lambda torch, ts, h, common: torch.optim.Adagrad(
        ts, lr_decay=h["lr_decay"], initial_accumulator_value=h["initial_accumulator_value"],
        eps=h["eps"], **common),
}


def _reference(name, hyper, p, grads):
    """The optimizer's update, written from the formulas in NumPy float64, for one array."""
    h = getattr(optim, name)(**hyper).hyper  # the hyperparameters with their defaults
    return REFERENCES[name](h, p, grads)


def test_every_registered_optimizer_is_covered():
    """A new optimizer class registered in OPTIMIZERS is tested by every test below only once it
    has hyperparameters to test, a reference formula and a torch.optim twin here."""
    registered = {cls.__name__ for cls in optim.OPTIMIZERS.values()}
    assert registered >= {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"}
    for what in (HYPER, REFERENCES, TORCH):
        assert registered <= set(what), sorted(registered - set(what))
    assert {name for name, _ in CONFIGS} == registered
    for name, cls in optim.OPTIMIZERS.items():
        assert name == name.lower() and optim.get(name.upper()).__class__ is cls


def _assert_on(backend, x, dtype):
    assert of(x) == backend
    assert str(x.dtype).endswith(dtype)


# -- updates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_update_matches_formulas(backend, name, hyper, dtype):
    host, grads = _problem()
    host = {k: v.astype(dtype).astype(np.float64) for k, v in host.items()}
    grads = [{k: v.astype(dtype).astype(np.float64) for k, v in g.items()} for g in grads]
    params = _on(backend, host, dtype)
    arrays = dict(params)
    opt = getattr(optim, name)(**hyper)
    for g in grads:
        opt.step(params, _on(backend, g, dtype))
    assert opt.iterations == 3
    for key, p in params.items():
        # in place where arrays are writeable (no allocation); else the new array is in params
        assert (p is arrays[key]) == backend.writeable
        _assert_on(backend, p, dtype)
        expected = _reference(name, hyper, host[key], [g[key] for g in grads])
        np.testing.assert_allclose(xpnet.to_numpy(p), expected, **TOL[dtype])
        assert not np.allclose(expected, host[key])  # the test would notice a missing update
    for slot in opt.state_dict()["slots"].values():  # the state stays in the parameters' dtype
        for key, s in slot.items():
            _assert_on(backend, s, dtype)
            assert tuple(s.shape) == tuple(params[key].shape)


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_update_matches_torch_optim(name, hyper):
    torch = pytest.importorskip("torch")
    host, grads = _problem()
    params = _on(xpnet.backend.get("numpy"), host, "float64")
    opt = getattr(optim, name)(**hyper)
    h = opt.hyper
    tensors = [torch.tensor(v, requires_grad=True) for v in host.values()]
    common = {"lr": h["lr"], "weight_decay": h["weight_decay"], "foreach": False}
    ref = TORCH[name](torch, tensors, h, common)
    for g in grads:
        opt.step(params, g)
        for t, v in zip(tensors, g.values(), strict=True):
            t.grad = torch.tensor(v)
        ref.step()
    for p, t in zip(params.values(), tensors, strict=True):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("threads", [1, 2], ids=["one-thread", "two-threads"])
@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_large_parameters_updated_by_blocks_get_the_same_bits(backend, name, hyper, threads,
                                                              monkeypatch):
    """The NumPy fast path (row blocks, on two threads where there are cores) against the plain
    update of whole arrays: the same bits (other backends take the plain path both times)."""
    pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None
    monkeypatch.setattr(optim, "_POOL", [os.getpid(), pool])
    monkeypatch.setattr(optim, "PARALLEL", 0)  # blocks of any size on the threads
    rng = np.random.default_rng(1)
    host = {"W": rng.normal(size=(13, 5)), "b": rng.normal(size=37)}  # 65 and 37 elements
    grads = [{k: rng.normal(size=v.shape) for k, v in host.items()} for _ in range(3)]
    results = {}
    for block in (optim.BLOCK, 8):  # whole arrays; then rows 0-1, 2-3, ... of W and 8s of b
        monkeypatch.setattr(optim, "BLOCK", block)
        params = _on(backend, host, "float32")
        arrays = dict(params)
        opt = getattr(optim, name)(**hyper)
        for g in grads:
            opt.step(params, _on(backend, g, "float32"))
        assert all((params[k] is arrays[k]) == backend.writeable for k in params)  # in place
        slots = opt.state_dict()["slots"]
        results[block] = [xpnet.to_numpy(p) for p in params.values()] + \
            [xpnet.to_numpy(a) for slot in slots.values() for a in slot.values()]
    whole, blocked = results.values()
    assert not np.array_equal(whole[0], host["W"].astype(np.float32))
    for a, b in zip(whole, blocked, strict=True):
        np.testing.assert_array_equal(a, b)
    if pool is not None:
        pool.shutdown()


def test_adam_on_w2_shapes_gets_the_same_bits_in_blocks_on_threads(monkeypatch):
    """W2's first layer (784 x 512, 6 blocks of rows) through the NumPy fast path on two threads
    and whole, the plain formula: the same bits after 3 steps."""
    rng = np.random.default_rng(2)
    host = {"W": rng.normal(size=(784, 512)).astype(np.float32),
            "b": rng.normal(size=512).astype(np.float32)}
    grads = [{k: rng.normal(size=v.shape).astype(np.float32) for k, v in host.items()}
             for _ in range(3)]
    results = []
    pool = concurrent.futures.ThreadPoolExecutor(2)
    monkeypatch.setattr(optim, "PARALLEL", 0)  # W2's own size stays on one thread (faster)
    for block, threads in ((1 << 30, None), (optim.BLOCK, pool)):
        monkeypatch.setattr(optim, "BLOCK", block)
        monkeypatch.setattr(optim, "_POOL", [os.getpid(), threads])
        params, opt = {k: v.copy() for k, v in host.items()}, optim.Adam(lr=0.01)
        for g in grads:
            opt.step(params, g)
        results.append([params["W"], params["b"], *_slots_of(opt)])
    pool.shutdown()
    assert not np.array_equal(results[0][0], host["W"])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def _slots_of(opt):
    return [a for per_key in opt.state_dict()["slots"].values() for a in per_key.values()]


class _NormalizedSGD(optim.Optimizer):
    """A per-tensor rule, ``p ← p − η g / ‖g‖`` (the shape of LARS and LAMB): not elementwise."""

    hyperparameters = {"lr": (0.1, optim._non_negative)}

    def _update(self, p, g, state, *, xp):
        p -= self._k["lr"] * (g / xp.linalg.vector_norm(g))
        return p


def test_per_tensor_rule_is_right_on_a_parameter_above_the_block_size(backend):
    """A non-elementwise update gets the whole parameter: in row blocks each block would be
    divided by its own norm (wrong by ~1.4e-3 on this 300 x 300 parameter on the old code, which
    blocked every update)."""
    rng = np.random.default_rng(4)
    host = {"W": rng.normal(size=(300, 300)), "b": rng.normal(size=300)}
    assert host["W"].size > optim.BLOCK
    grads = {k: rng.normal(size=v.shape) for k, v in host.items()}
    params = _on(backend, host, "float64")
    opt = _NormalizedSGD(lr=0.5)
    assert not opt.elementwise and "normalizedsgd" not in optim.OPTIMIZERS  # no name: unregistered
    opt.step(params, _on(backend, grads, "float64"))
    for key, p in params.items():
        expected = host[key] - 0.5 * grads[key] / np.linalg.norm(grads[key])
        np.testing.assert_allclose(xpnet.to_numpy(p), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", optim.OPTIMIZERS.values(), ids=lambda c: c.__name__)
def test_hyperparameters_are_declared_on_the_class(cls):
    """The constructor's signature is the declared table; an unknown name is a TypeError that
    lists the class's hyperparameters (as Python's own for a bad keyword, plus the list)."""
    declared = list(cls.hyperparameters)
    signature = inspect.signature(cls)
    assert list(signature.parameters) == declared
    assert cls().hyper == {n: p.default for n, p in signature.parameters.items()}
    with pytest.raises(TypeError, match=f"^{cls.__name__}\\(\\): got an unexpected keyword "
                       f"argument 'learning_rate'; its hyperparameters are {', '.join(declared)}$"):
        cls(learning_rate=0.1)
    with pytest.raises(TypeError, match="learning_rate.*lr"):
        optim.get(cls.name, learning_rate=0.1)
    assert cls(0.25).lr == 0.25  # positional, in the declared order, as before


def test_a_new_optimizer_is_one_class():
    """A hyperparameter no other optimizer has, a slot starting at a value other than 0, and
    the registry: the old global table of checks made ``beta`` a bare KeyError."""

    class Lion(optim.Optimizer):  # sign of an interpolated momentum (Chen et al., 2023)
        name = "lion_test"
        hyperparameters = {"lr": (1e-4, optim._non_negative), "beta": (0.9, optim._unit)}
        elementwise = True

        def slots(self):
            return {"m": 1.0}

        def _update(self, p, g, state, *, xp):
            m = state["m"]
            p -= self._k["lr"] * xp.sign(self.beta * m + (1.0 - self.beta) * g)
            m *= self.beta
            m += (1.0 - self.beta) * g
            state["m"] = m
            return p

    try:
        assert optim.OPTIMIZERS["lion_test"] is Lion and isinstance(optim.get("LION_TEST"), Lion)
        with pytest.raises(ValueError, match="^beta .*got 1.5"):
            Lion(beta=1.5)
        params, g = {"w": np.array([0.5, -0.5])}, {"w": np.array([-1.0, -3.0])}
        opt = Lion(lr=0.1, beta=0.5)
        opt.step(params, g)  # m starts at 1: sign(0.5 - 0.5) = 0, sign(0.5 - 1.5) = -1
        np.testing.assert_array_equal(params["w"], [0.5, -0.4])
        np.testing.assert_array_equal(opt.state_dict()["slots"]["m"]["w"], [0.0, -1.0])
    finally:
        del optim.OPTIMIZERS["lion_test"]


def test_model_parameters_are_updated_in_place(backend):
    model = xpnet.mlp([2, 3, 1], seed=0, backend=backend, dtype="float32")
    W = model.layers[0].params["W"]
    before = xpnet.to_numpy(W).copy()
    X, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [0.0]])
    _, grads = xpnet.value_and_grad(model, "mse", X, y)
    optim.Adam(lr=0.1).step(model.params, grads)
    assert (model.layers[0].params["W"] is W) == backend.writeable  # JAX: a new array, written back
    assert not np.array_equal(xpnet.to_numpy(model.layers[0].params["W"]), before)
    _assert_on(backend, model.layers[0].params["W"], "float32")


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_one_step_changes_every_model_parameter_by_the_rule(backend, name, hyper):
    """``opt.step(model.params, grads)`` on every backend: a silent no-op (immutable arrays,
    ``p -= ...`` rebinding a name) or a skipped parameter fails here."""
    model = xpnet.mlp([3, 4, 2], seed=1, backend=backend, dtype="float64")
    X, y = np.random.default_rng(2).normal(size=(5, 3)), np.random.default_rng(3).normal(size=(5, 2))
    before = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    _, grads = xpnet.value_and_grad(model, "mse", X, y)
    host_grads = {k: xpnet.to_numpy(g).copy() for k, g in grads.items()}
    getattr(optim, name)(**hyper).step(model.params, grads)
    for key, p in model.params.items():
        expected = _reference(name, hyper, before[key], [host_grads[key]])
        assert not np.allclose(expected, before[key])
        np.testing.assert_allclose(xpnet.to_numpy(p), expected, **TOL["float64"])


def test_assigning_model_params_sets_the_layer_array(backend):
    """The README's hand-written step, ``params[key] = params[key] - lr * g``, on every backend."""
    model = xpnet.mlp([2, 3, 1], seed=0, backend=backend, dtype="float64")
    X, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [0.0]])
    before = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    _, grads = xpnet.value_and_grad(model, "mse", X, y)
    params = model.params
    with model.backend.context():  # hand-written array math on the model's device (CuPy)
        for key in params:
            params[key] = params[key] - 5.0 * grads[key]
    for key, p in model.params.items():
        np.testing.assert_allclose(xpnet.to_numpy(p), before[key] - 5.0 * xpnet.to_numpy(grads[key]),
                                   rtol=1e-15, atol=1e-15)
    with pytest.raises(KeyError, match="'9.W' is not a parameter"):
        params["9.W"] = params["0.W"]


def test_step_rejects_mismatched_grads_and_changes_nothing(backend):
    host, (g, *_) = _problem()
    params, grads = _on(backend, host, "float64"), _on(backend, g, "float64")
    opt = optim.SGD(lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="missing \\['b'\\]"):
        opt.step(params, {"W": grads["W"]})
    with pytest.raises(ValueError, match="unexpected \\['c'\\]"):
        opt.step(params, {**grads, "c": grads["b"]})
    with pytest.raises(ValueError, match="grads\\['b'\\]"):
        opt.step(params, {**grads, "b": grads["W"]})
    with pytest.raises(ValueError, match="grads\\['b'\\]"):
        opt.step(params, {**grads, "b": backend.asarray(g["b"], "float32")})
    np.testing.assert_array_equal(xpnet.to_numpy(params["W"]), host["W"])
    assert opt.iterations == 0 and opt.state_dict()["slots"] == {"b": {}}


def test_adam_trains_xor(backend):
    model = xpnet.mlp([2, 8, 1], activation="tanh", output="sigmoid", seed=0, backend=backend,
                      dtype="float64")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    opt = optim.Adam(lr=0.05)
    for _ in range(300):
        loss, grads = xpnet.value_and_grad(model, "binary_crossentropy", X, y)
        opt.step(model.params, grads)
    assert float(loss) < 0.1


# -- clipping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_grad_norm(backend, dtype):
    grads = _on(backend, {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]])}, dtype)
    clipped, norm = optim.clip_grad_norm(grads, 1.0)
    assert norm.shape == ()
    _assert_on(backend, norm, dtype)
    assert float(norm) == pytest.approx(5.0, rel=1e-6)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(xpnet.to_numpy(clipped["a"]), [3 * scale, 0.0], rtol=1e-6)
    np.testing.assert_allclose(xpnet.to_numpy(clipped["b"]), [[0.0], [4 * scale]], rtol=1e-6)
    _assert_on(backend, clipped["b"], dtype)
    np.testing.assert_array_equal(xpnet.to_numpy(grads["a"]), [3.0, 0.0])  # input untouched

    unclipped, norm = optim.clip_grad_norm(grads, 10.0)  # below the threshold: exactly unchanged
    assert float(norm) == pytest.approx(5.0, rel=1e-6)
    for key in grads:
        np.testing.assert_array_equal(xpnet.to_numpy(unclipped[key]), xpnet.to_numpy(grads[key]))


def test_clip_norm_inside_step(backend):
    host, (g, *_) = _problem()
    params = _on(backend, host, "float64")
    optim.SGD(lr=0.5, clip_norm=0.1).step(params, _on(backend, g, "float64"))
    norm = math.sqrt(sum(float((v**2).sum()) for v in g.values()))
    assert norm > 0.1
    for key, p in params.items():
        expected = host[key] - 0.5 * g[key] * (0.1 / (norm + 1e-6))
        np.testing.assert_allclose(xpnet.to_numpy(p), expected, rtol=1e-12)


def test_clip_grad_norm_rejects_bad_arguments(backend):
    grads = _on(backend, {"a": np.ones(2)}, "float64")
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm(grads, 0.0)
    with pytest.raises(ValueError, match="grads"):
        optim.clip_grad_norm({}, 1.0)


# -- checkpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_state_dict_round_trip_continues_exactly(backend, name, hyper):
    host, grads = _problem(n_steps=5)
    grads = [_on(backend, g, "float32") for g in grads]
    build = lambda: getattr(optim, name)(clip_norm=2.0, **hyper)  # noqa: E731
    straight, opt = _on(backend, host, "float32"), build()
    for g in grads:
        opt.step(straight, g)

    params, first = _on(backend, host, "float32"), build()
    for g in grads[:2]:
        first.step(params, g)
    state = first.state_dict()
    json.dumps({k: v for k, v in state.items() if k != "slots"})  # JSON apart from the arrays
    # what a checkpoint file holds: host copies
    saved_params = {k: xpnet.to_numpy(v).copy() for k, v in params.items()}
    saved = {**state, "slots": {s: {k: xpnet.to_numpy(a).copy() for k, a in per_key.items()}
                                for s, per_key in state["slots"].items()}}
    first.step(params, grads[2])  # the snapshot does not follow later steps
    for s, per_key in first.state_dict()["slots"].items():
        for k, a in per_key.items():
            np.testing.assert_array_equal(xpnet.to_numpy(state["slots"][s][k]),
                                          saved["slots"][s][k])
            assert not np.array_equal(xpnet.to_numpy(a), saved["slots"][s][k])

    resumed = _on(backend, saved_params, "float32")
    loaded = optim.from_state_dict(saved)
    assert type(loaded) is type(opt) and loaded.hyper == opt.hyper and loaded.iterations == 2
    for g in grads[2:]:
        loaded.step(resumed, g)
    for key in host:
        np.testing.assert_array_equal(xpnet.to_numpy(resumed[key]), xpnet.to_numpy(straight[key]))
    for per_key in loaded.state_dict()["slots"].values():
        for a in per_key.values():
            _assert_on(backend, a, "float32")


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_state_round_trips_through_a_saved_file(backend, name, hyper, tmp_path):
    """``xpnet.io.save(model, path, optimizer=opt)`` then ``load_checkpoint``: training resumed
    from the file takes the same steps, to the bit, as training that never stopped."""
    X = np.random.default_rng(5).normal(size=(6, 3))
    y = np.random.default_rng(6).normal(size=(6, 2))
    model = xpnet.mlp([3, 4, 2], seed=1, backend=backend, dtype="float32")
    opt = getattr(optim, name)(**hyper)
    for _ in range(2):
        opt.step(model.params, xpnet.value_and_grad(model, "mse", X, y)[1])
    xpnet.io.save(model, tmp_path / "ckpt", optimizer=opt)
    resumed, state, _ = xpnet.io.load_checkpoint(tmp_path / "ckpt", backend.name)
    loaded = optim.from_state_dict(state)
    assert type(loaded) is type(opt) and loaded.hyper == opt.hyper and loaded.iterations == 2
    for _ in range(2):
        opt.step(model.params, xpnet.value_and_grad(model, "mse", X, y)[1])
        loaded.step(resumed.params, xpnet.value_and_grad(resumed, "mse", X, y)[1])
    for key, p in model.params.items():
        np.testing.assert_array_equal(xpnet.to_numpy(resumed.params[key]), xpnet.to_numpy(p))


def test_load_state_dict_takes_backend_arrays_and_float64(backend):
    host, grads = _problem()
    params = _on(backend, host, "float32")
    opt = optim.Adam(lr=0.1)
    opt.step(params, _on(backend, grads[0], "float32"))
    state = opt.state_dict()  # backend arrays
    state64 = {**state, "slots": {s: {k: np.asarray(xpnet.to_numpy(a), dtype=np.float64)
                                      for k, a in per_key.items()}
                                  for s, per_key in state["slots"].items()}}
    for given in (state, state64):
        copy = _on(backend, {k: xpnet.to_numpy(v) for k, v in params.items()}, "float32")
        clone = optim.Adam()
        clone.load_state_dict(given)
        clone.step(copy, _on(backend, grads[1], "float32"))  # no TypeError on strict: cast back
        for per_key in clone.state_dict()["slots"].values():
            for a in per_key.values():
                _assert_on(backend, a, "float32")


def test_load_state_dict_is_checked(backend):
    host, grads = _problem()
    params = _on(backend, host, "float64")
    opt = optim.SGD(lr=0.1, momentum=0.9)
    opt.step(params, _on(backend, grads[0], "float64"))
    state = opt.state_dict()

    with pytest.raises(ValueError, match="'SGD'.*'Adam'|from_state_dict"):
        optim.Adam().load_state_dict(state)
    with pytest.raises(ValueError, match="slots"):  # momentum=0 keeps no buffer
        optim.SGD().load_state_dict({**state, "hyper": {**state["hyper"], "momentum": 0.0}})
    with pytest.raises(ValueError, match="lr"):
        optim.SGD().load_state_dict({**state, "hyper": {**state["hyper"], "lr": -1.0}})
    with pytest.raises(ValueError, match="hyper"):
        optim.SGD().load_state_dict({**state, "hyper": {"learning_rate": 0.1}})
    with pytest.raises(ValueError, match="step"):
        optim.SGD().load_state_dict({**state, "step": -1})
    with pytest.raises(ValueError, match="'name'"):
        optim.SGD().load_state_dict({"slots": {}})
    with pytest.raises(ValueError, match="Adagrad.*Adam.*RMSprop.*SGD"):
        optim.from_state_dict({**state, "name": "Lamb"})

    # keys and shapes are checked against the parameters on the next step, before any update
    before = {k: xpnet.to_numpy(v).copy() for k, v in params.items()}
    g = _on(backend, grads[1], "float64")
    for slots, key in (({"b": {**state["slots"]["b"], "c": np.zeros(3)}}, "'c'"),
                       ({"b": {**state["slots"]["b"], "b": np.zeros(4)}}, "'b'")):
        fresh = optim.SGD(lr=0.1, momentum=0.9)
        fresh.load_state_dict({**state, "slots": slots})
        with pytest.raises(ValueError, match=key):
            fresh.step(params, g)
        assert fresh.iterations == 1
        for k, v in params.items():
            np.testing.assert_array_equal(xpnet.to_numpy(v), before[k])


def test_state_is_created_lazily(backend):
    opt = optim.Adam()
    assert opt.state_dict() == {"name": "Adam", "hyper": opt.hyper, "step": 0,
                                "slots": {"m": {}, "v": {}}}
    params = _on(backend, {"w": np.ones(2)}, "float64")
    opt.step(params, _on(backend, {"w": np.ones(2)}, "float64"))
    assert set(opt.state_dict()["slots"]["m"]) == {"w"}


# -- construction and validation ----------------------------------------------------------------


@pytest.mark.parametrize(("cls", "kwargs", "argument"), [
    (optim.SGD, {"lr": -0.1}, "lr"),
    (optim.SGD, {"lr": math.nan}, "lr"),
    (optim.SGD, {"lr": math.inf}, "lr"),
    (optim.SGD, {"lr": "0.1"}, "lr"),
    (optim.SGD, {"lr": None}, "lr"),
    (optim.SGD, {"momentum": -0.5}, "momentum"),
    (optim.SGD, {"weight_decay": -1e-4}, "weight_decay"),
    (optim.SGD, {"nesterov": True}, "nesterov"),
    (optim.SGD, {"momentum": 0.9, "nesterov": 1}, "nesterov"),
    (optim.SGD, {"clip_norm": 0.0}, "clip_norm"),
    (optim.Adam, {"beta1": 1.0}, "beta1"),
    (optim.Adam, {"beta2": -0.1}, "beta2"),
    (optim.Adam, {"eps": -1e-8}, "eps"),
    (optim.AdamW, {"weight_decay": -0.01}, "weight_decay"),
    (optim.AdamW, {"clip_norm": -1.0}, "clip_norm"),
    (optim.RMSprop, {"rho": 1.0}, "rho"),
    (optim.RMSprop, {"momentum": math.nan}, "momentum"),
])
def test_hyperparameters_are_checked(cls, kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument} .*got"):
        cls(**kwargs)


def test_lr_is_a_checked_python_float():
    opt = optim.SGD(lr=np.float64(0.5))
    assert type(opt.lr) is float and opt.lr == 0.5
    opt.lr = np.float32(0.25)
    assert type(opt.lr) is float and opt.lr == 0.25
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0
    assert opt.lr == 0.25
    assert repr(optim.AdamW()).startswith("AdamW(lr=0.001, beta1=0.9")


def test_get():
    assert isinstance(optim.get("adam"), optim.Adam)
    assert isinstance(optim.get("RMSprop"), optim.RMSprop)
    sgd = optim.get("sgd", lr=0.5, momentum=0.9)
    assert (sgd.lr, sgd.momentum) == (0.5, 0.9)
    assert optim.get(sgd) is sgd
    assert optim.get("adamw").weight_decay == 0.01
    assert isinstance(optim.get("adagrad"), optim.Adagrad)
    with pytest.raises(ValueError, match="adagrad.*adam.*adamw.*rmsprop.*sgd"):
        optim.get("lamb")
    with pytest.raises(ValueError, match="adam"):
        optim.get(None)
    with pytest.raises(ValueError, match="lr"):
        optim.get(sgd, lr=0.1)


def test_module_uses_only_the_array_api():
    imported = set()
    for node in ast.walk(ast.parse(Path(optim.__file__).read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            imported.add(node.module.partition(".")[0])
    assert not imported & {"numpy", "cupy", "torch", "array_api_strict"}, imported


# -- schedules --------------------------------------------------------------------------------


def test_step_lr():
    schedule = optim.StepLR(3, gamma=0.5)
    assert [schedule(e, 0.8) for e in range(8)] == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2]
    assert optim.StepLR(1)(2, 1.0) == pytest.approx(0.01)


def test_exponential_lr():
    schedule = optim.ExponentialLR(0.9)
    for epoch in (0, 1, 5, 20):
        assert schedule(epoch, 0.1) == pytest.approx(0.1 * 0.9**epoch, rel=1e-15)


def test_cosine_annealing_lr():
    schedule = optim.CosineAnnealingLR(T_max=10, eta_min=0.01)
    assert schedule(0, 0.1) == pytest.approx(0.1)
    assert schedule(5, 0.1) == pytest.approx(0.055)
    assert schedule(10, 0.1) == pytest.approx(0.01)
    assert schedule(2, 0.1) == pytest.approx(0.01 + 0.09 * (1 + math.cos(math.pi / 5)) / 2)
    assert schedule(20, 0.1) == pytest.approx(0.1)  # PyTorch's closed form keeps oscillating
    values = [schedule(e, 0.1) for e in range(11)]
    assert values == sorted(values, reverse=True)


def test_schedules_are_checked():
    for make, argument in ((lambda: optim.StepLR(0), "step_size"),
                           (lambda: optim.StepLR(2.5), "step_size"),
                           (lambda: optim.StepLR(2, gamma=-0.1), "gamma"),
                           (lambda: optim.ExponentialLR(math.inf), "gamma"),
                           (lambda: optim.CosineAnnealingLR(0), "T_max"),
                           (lambda: optim.CosineAnnealingLR(5, eta_min=-1.0), "eta_min"),
                           (lambda: optim.ReduceLROnPlateau(factor=1.0), "factor"),
                           (lambda: optim.ReduceLROnPlateau(patience=-1), "patience"),
                           (lambda: optim.ReduceLROnPlateau(min_delta=-1.0), "min_delta"),
                           (lambda: optim.ReduceLROnPlateau(cooldown=1.5), "cooldown"),
                           (lambda: optim.ReduceLROnPlateau(min_lr=-1.0), "min_lr"),
                           (lambda: optim.ReduceLROnPlateau(mode="avg"), "mode"),
                           (lambda: optim.StepLR(2)(-1, 0.1), "epoch"),
                           (lambda: optim.StepLR(2)(1, -0.1), "base_lr")):
        with pytest.raises(ValueError, match=f"^{argument} "):
            make()


def _run_plateau(plateau, metrics, lr):
    lrs = []
    for metric in metrics:
        lr = plateau.update(metric, lr)
        lrs.append(lr)
    return lrs


def test_reduce_lr_on_plateau():
    # patience=2: the third epoch without improvement cuts the rate
    plateau = optim.ReduceLROnPlateau(factor=0.5, patience=2)
    assert _run_plateau(plateau, [1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6], 0.1) == \
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025]
    # an improvement smaller than min_delta is no improvement
    plateau = optim.ReduceLROnPlateau(factor=0.1, patience=0, min_delta=0.01)
    assert _run_plateau(plateau, [1.0, 0.995, 0.98], 1.0) == pytest.approx([1.0, 0.1, 0.1])
    # cooldown: bad epochs right after a cut are not counted; min_lr floors the rate
    plateau = optim.ReduceLROnPlateau(factor=0.1, patience=0, cooldown=2, min_lr=0.005)
    assert _run_plateau(plateau, [1.0] * 6, 1.0) == pytest.approx([1.0, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert _run_plateau(plateau, [1.0] * 5, 0.01) == pytest.approx([0.01, 0.005, 0.005, 0.005,
                                                                    0.005])
    # mode="max" (an accuracy); a rate already below min_lr is never raised to it
    plateau = optim.ReduceLROnPlateau(factor=0.5, patience=1, mode="max", min_lr=0.1)
    assert _run_plateau(plateau, [0.5, 0.7, 0.6, 0.6], 0.05) == [0.05, 0.05, 0.05, 0.05]


def test_reduce_lr_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    metrics = np.cumsum(rng.normal(0.0, 1.0, 200)).tolist()
    for mode in ("min", "max"):
        kwargs = {"mode": mode, "factor": 0.7, "patience": 3, "cooldown": 2, "min_lr": 1e-3}
        ref_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, threshold=0.1,
                                                         threshold_mode="abs", **kwargs)
        plateau, lr = optim.ReduceLROnPlateau(min_delta=0.1, **kwargs), 1.0
        for metric in metrics:
            lr = plateau.update(metric, lr)
            ref.step(metric)
            assert lr == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-12)


@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_an_optimizer_reused_on_other_parameters_refuses_before_any_update(backend, name):
    """An optimizer's state carries over between fits; on another model's parameters (another
    shape) it is refused, naming the key, with the model and the step count untouched. It used
    to update the first parameters, then fail in NumPy's broadcasting (on jax, the compiled step
    broadcast the stale state and trained on silently)."""
    X, y = xpnet.datasets.two_moons(n=32, noise=0.1, seed=0)
    opt = optim.Adam(lr=0.01) if name == "Adam" else optim.SGD(lr=0.1, momentum=0.9)
    first = xpnet.mlp([2, 5, 1], output="sigmoid", seed=0, backend=backend)
    first.fit(X, y, loss="binary_crossentropy", optimizer=opt, epochs=1, verbose=0)
    other = xpnet.mlp([2, 5, 3], output="sigmoid", seed=0, backend=backend)
    before, steps = {k: xpnet.to_numpy(v).copy() for k, v in other.params.items()}, opt.iterations
    with pytest.raises(ValueError, match=r"optimizer's state for '2\.W' is a \(5, 1\)"):
        other.fit(X, np.stack([y, y, y], axis=1), loss="binary_crossentropy", optimizer=opt,
                  epochs=1, verbose=0)
    assert opt.iterations == steps
    for key, value in other.params.items():
        np.testing.assert_array_equal(xpnet.to_numpy(value), before[key], err_msg=key)


def test_an_optimizer_reused_after_model_to_another_backend_is_refused(backend):
    X, y = xpnet.datasets.two_moons(n=32, noise=0.1, seed=0)
    model, opt = xpnet.mlp([2, 5, 1], output="sigmoid", seed=0, backend=backend), optim.Adam()
    model.fit(X, y, loss="binary_crossentropy", optimizer=opt, epochs=1, verbose=0)
    model.to("array_api_strict" if backend.name != "array_api_strict" else "numpy")
    with pytest.raises(ValueError, match="before model.to"):
        model.fit(X, y, loss="binary_crossentropy", optimizer=opt, epochs=1, verbose=0)
    opt.load_state_dict(opt.state_dict())  # the fix the message names: the state carried over
    model.fit(X, y, loss="binary_crossentropy", optimizer=opt, epochs=1, verbose=0)
    assert opt.iterations == 2  # one step an epoch (32 rows, batch 32)

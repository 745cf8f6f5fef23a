"""Bad input at the engine's entry points: a clear error naming the argument, nothing changed."""

import re

import numpy as np
import pytest

import xpnet
from xpnet import backend as B
from xpnet import datasets, losses
from xpnet.layers import Dense, Dropout, LeakyReLU, Sequential


def _params(model):
    return {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}


def _assert_unchanged(model, before):
    after = _params(model)
    assert list(after) == list(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


@pytest.mark.parametrize("sizes, match", [
    ([2], "sizes must be a list of at least two positive ints"),
    ([], "sizes must be a list of at least two positive ints"),
    ("21", "sizes must be a list of at least two positive ints"),
    (5, "sizes must be a list of at least two positive ints"),
    ([2, 0, 1], r"sizes\[1\] must be an int >= 1, got 0"),
    ([2, -3], r"sizes\[1\] must be an int >= 1, got -3"),
    ([2.0, 1], r"sizes\[0\] must be an int >= 1, got 2.0"),
    ([True, 1], r"sizes\[0\] must be an int >= 1, got True"),
    (np.array([2.0, 1.0]), r"sizes\[0\] must be an int >= 1, got np.float64\(2.0\)"),
])
def test_mlp_rejects_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        xpnet.mlp(sizes)


def test_sizes_take_any_integral_scalar_and_store_python_ints(tmp_path):
    # counts read from a NumPy array (np.array([2, 5, 1]), a config's np.int64) are counts
    model = xpnet.mlp(np.array([2, 5, 1]), "sigmoid", "sigmoid", seed=0, backend="numpy")
    same = xpnet.mlp([2, 5, 1], "sigmoid", "sigmoid", seed=0, backend="numpy")
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    assert [(type(d.n_in), type(d.n_out)) for d in dense] == [(int, int)] * 2  # JSON-able
    for key in same.params:
        np.testing.assert_array_equal(_params(model)[key], _params(same)[key])
    layer = Dense(np.int64(2), np.int32(3))
    assert (layer.n_in, layer.n_out) == (2, 3) and type(layer.n_in) is int
    model.save(tmp_path / "m.xpnet")  # the config holds plain ints, so the file format takes it
    assert repr(xpnet.load(tmp_path / "m.xpnet").layers[0]) == "Dense(2, 5)"


def test_mlp_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"activation must be one of \['identity', .*'sigmoid'"):
        xpnet.mlp([2, 1], activation="sigmoidd")
    with pytest.raises(ValueError, match=r"output must be one of .* or None; got 'logistic'"):
        xpnet.mlp([2, 1], output="logistic")
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]"):
        xpnet.mlp([2, 1], dtype="float16")
    with pytest.raises(ValueError, match=r"backend must be 'auto' or one of"):
        xpnet.mlp([2, 1], backend="tensorflow")
    with pytest.raises(ValueError, match=r"init must be a callable or one of"):
        Dense(2, 1, init="uniform")


@pytest.mark.parametrize("make, match", [
    (lambda: LeakyReLU(float("nan")), "slope must be a finite number"),
    (lambda: Dropout(1.0), r"rate must be a number in \[0, 1\)"),
    (lambda: Dropout(-0.1), r"rate must be a number in \[0, 1\)"),
    (lambda: Dense(0, 3), "n_in must be an int >= 1, got 0"),
    (lambda: Dense(2, 3.0), r"n_out must be an int >= 1, got 3.0"),
    (lambda: Sequential(Dense(2, 2), "relu"), "layer 1 must be an xpnet Layer"),
])
def test_layer_constructors_check_their_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_layers_on_different_dtypes_do_not_mix(backend):
    with pytest.raises(ValueError, match="all parameters must share one backend and dtype"):
        Sequential(Dense(2, 2, backend=backend, dtype="float32"),
                   Dense(2, 1, backend=backend, dtype="float64"))


def test_load_params_replaces_values(backend):
    model = xpnet.mlp([2, 3, 1], seed=0, backend=backend)
    new = {k: np.full(v.shape, 0.5) for k, v in _params(model).items()}
    model.load_params(new)
    assert all(np.all(v == 0.5) for v in _params(model).values())
    assert model.params["0.W"].dtype == backend.xp.float32
    new["0.W"][0, 0] = 7.0  # the model owns a copy
    assert _params(model)["0.W"][0, 0] == 0.5


@pytest.mark.parametrize("change, match", [
    (lambda p: p.pop("2.b"), r"missing \['2.b'\]"),
    (lambda p: p.update({"4.W": np.ones((1, 1))}), r"unexpected \['4.W'\]"),
    (lambda p: p.update({"0.W": np.ones((3, 2))}),
     r"params\['0.W'\] has shape \(3, 2\), the model needs \(2, 3\)"),
    (lambda p: p.update({"0.b": np.array([0.0, np.nan, 0.0])}), r"params\['0.b'\] holds NaN"),
    (lambda p: p.update({"0.b": ["a", "b", "c"]}), r"params\['0.b'\] must hold numbers"),
])
def test_load_params_checks_everything_before_changing_anything(backend, change, match):
    model = xpnet.mlp([2, 3, 1], seed=0, backend=backend)
    before = _params(model)
    new = {k: v + 1.0 for k, v in before.items()}
    change(new)
    with pytest.raises(ValueError, match=match):
        model.load_params(new)
    _assert_unchanged(model, before)


def test_load_params_needs_a_mapping(backend):
    with pytest.raises(TypeError, match="params must be a mapping"):
        xpnet.mlp([2, 1], backend=backend).load_params([np.ones((2, 1))])


X_GOOD = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y_GOOD = np.array([1, 1, 0])


@pytest.mark.parametrize("X, y, loss, error, match", [
    (np.array([[0.0, 1.0], [np.nan, 0.0], [1.0, 1.0]]), Y_GOOD, "binary_crossentropy",
     ValueError, r"X\[1, 0\] is nan: X must hold finite numbers"),
    (np.array([[0.0, 1.0], [1.0, np.inf], [1.0, 1.0]]), Y_GOOD, "binary_crossentropy",
     ValueError, r"X\[1, 1\] is inf"),
    (np.array([0.0, 1.0, 1.0]), Y_GOOD, "binary_crossentropy", ValueError,
     r"X must be 2-D, \(m samples, n features\); got shape \(3,\)"),
    (np.zeros((0, 2)), np.zeros(0), "binary_crossentropy", ValueError, "X is empty"),
    ([["a", "b"]], [1], "binary_crossentropy", ValueError, "X must hold numbers"),
    (np.ones((3, 3)), Y_GOOD, "binary_crossentropy", ValueError,
     "X has 3 columns but the model takes 2 inputs"),
    (X_GOOD, np.array([1, 0]), "binary_crossentropy", ValueError, "X has 3 samples but y has 2"),
    (X_GOOD, np.array([1, 2, 0]), "binary_crossentropy", ValueError,
     r"y holds labels \{0, 1, 2\} but binary cross-entropy needs 0/1 labels"),
    (X_GOOD, np.array([-1, 1, 1]), "binary_crossentropy", ValueError, r"labels \{-1, 1\}"),
    (X_GOOD, np.array([1.0, np.nan, 0.0]), "mse", ValueError, r"y\[1\] is nan"),
    (X_GOOD, np.ones((3, 2)), "mse", ValueError, r"y must have shape \(m, 1\) or \(m,\)"),
    (X_GOOD, np.ones((3, 1, 1)), "mse", ValueError, "y must be 1-D .* or 2-D"),
    (X_GOOD, Y_GOOD, "hinge", ValueError, r"loss must be a Loss or one of \['binary_crossentropy'"),
    (X_GOOD, Y_GOOD, "crossentropy", ValueError, "cross-entropy needs a model with k ≥ 2 outputs"),
])
def test_value_and_grad_rejects_bad_input(backend, X, y, loss, error, match):
    model = xpnet.mlp([2, 3, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
    before = _params(model)
    with pytest.raises(error, match=match):
        xpnet.value_and_grad(model, loss, X, y)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("y, match", [
    (np.array([0, 3, 1]), r"y holds labels \{0, 1, 3\} but cross-entropy over 3 classes needs "
                          r"integer labels in \[0, 3\)"),
    (np.array([0.0, 1.5, 1.0]), r"labels \{0, 1, 1.5\}"),
    (np.array([[1, 0, 0], [0, 2, 0], [0, 0, 1]]), "must be one-hot .* rows that sum to 1"),
])
def test_crossentropy_labels_are_checked(backend, y, match):
    model = xpnet.mlp([2, 4, 3], "relu", "softmax", seed=0, backend=backend)
    with pytest.raises(ValueError, match=match):
        xpnet.value_and_grad(model, "crossentropy", X_GOOD, y)


def test_crossentropy_accepts_labels_and_one_hot_alike(backend):
    model = xpnet.mlp([2, 4, 3], "relu", "softmax", seed=0, backend=backend, dtype="float64")
    labels = np.array([2, 0, 1])
    v1, g1 = xpnet.value_and_grad(model, "crossentropy", X_GOOD, labels)
    v2, g2 = xpnet.value_and_grad(model, "crossentropy", X_GOOD, np.eye(3)[labels])
    v3, _ = xpnet.value_and_grad(model, "crossentropy", X_GOOD, labels.astype(float))
    assert float(v1) == pytest.approx(float(v2), rel=1e-12) == float(v3)
    for key in g1:
        np.testing.assert_allclose(xpnet.to_numpy(g1[key]), xpnet.to_numpy(g2[key]), rtol=1e-12)


def test_gradcheck_rejects_bad_eps(backend):
    model = xpnet.mlp([2, 1], backend=backend)
    with pytest.raises(ValueError, match=r"eps must be a float in \(0, 1\)"):
        xpnet.gradcheck(model, "mse", X_GOOD, Y_GOOD, eps=0.0)


def test_gradcheck_needs_float64():
    strict = pytest.importorskip("array_api_strict")
    del strict
    model = xpnet.mlp([2, 1], backend=xpnet.backend.get("array_api_strict", "no_float64"))
    with pytest.raises(ValueError, match="gradcheck needs float64"):
        xpnet.gradcheck(model, "mse", X_GOOD, Y_GOOD)


# -- the same table at every data entry point: fit, predict, evaluate ------------------------------

def _fit(model, X, y):
    model.fit(X, y, loss="binary_crossentropy", epochs=1, verbose=0)


def _evaluate(model, X, y):
    model.evaluate(X, y, loss="binary_crossentropy")


def _predict(model, X, y):
    model.predict(X)


ENTRY_POINTS = {"fit": _fit, "evaluate": _evaluate, "predict": _predict,
                "value_and_grad": lambda m, X, y: xpnet.value_and_grad(m, "binary_crossentropy", X, y),
                "gradcheck": lambda m, X, y: xpnet.gradcheck(m, "binary_crossentropy", X, y)}
BAD_X = [
    (np.array([[0.0, 1.0], [np.nan, 0.0], [1.0, 1.0]]), r"X\[1, 0\] is nan"),
    (np.array([[0.0, 1.0], [1.0, -np.inf], [1.0, 1.0]]), r"X\[1, 1\] is -inf"),
    (np.array([0.0, 1.0, 1.0]), "X must be 2-D"),
    (np.zeros((0, 2)), "X is empty"),
    ([["a", "b"], ["c", "d"], ["e", "f"]], "X must hold numbers"),
    (np.ones((3, 5)), "X has 5 columns but the model takes 2 inputs"),
]
BAD_Y = [
    (np.array([1, 0]), "X has 3 samples but y has 2"),
    (np.array([1, 2, 0]), r"y holds labels \{0, 1, 2\} but binary cross-entropy needs 0/1"),
    (np.array([1.0, np.inf, 0.0]), r"y\[1\] is inf"),
    (np.array(["1", "0", "1"]), "y must hold numbers"),
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("X, match", BAD_X)
def test_bad_X_at_every_entry_point(backend, entry, X, match):
    model = xpnet.mlp([2, 3, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
    before = _params(model)
    with pytest.raises(ValueError, match=match):
        ENTRY_POINTS[entry](model, X, Y_GOOD if len(X) == 3 else np.zeros(len(X)))
    _assert_unchanged(model, before)


@pytest.mark.parametrize("where", [(0, 0), (2999, 1), (2100, 0)])
def test_non_finite_found_in_any_block_of_a_large_X(backend, where, monkeypatch):
    from xpnet import _validation
    monkeypatch.setattr(_validation, "_BLOCK", 1000)  # X is checked 500 rows at a time
    X = np.ones((3000, 2))
    X[where] = np.nan
    model = xpnet.mlp([2, 3, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
    with pytest.raises(ValueError, match=rf"X\[{where[0]}, {where[1]}\] is nan"):
        model.predict(X)


@pytest.mark.parametrize("entry", ["fit", "evaluate", "value_and_grad", "gradcheck"])
@pytest.mark.parametrize("y, match", BAD_Y)
def test_bad_y_at_every_entry_point(backend, entry, y, match):
    model = xpnet.mlp([2, 3, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
    before = _params(model)
    with pytest.raises(ValueError, match=match):
        ENTRY_POINTS[entry](model, X_GOOD, y)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("options, match", [
    ({"epochs": 0}, r"epochs must be an int >= 1, got 0"),
    ({"batch_size": 0}, r"batch_size must be an int >= 1 or None"),
    ({"optimizer": "lamb"}, r"optimizer must be an Optimizer or one of \['adagrad', 'adam', 'adamw'"),
    ({"optimizer": xpnet.optim.SGD}, r"optimizer must be an Optimizer or one of"),
    ({"loss": "hinge"}, r"loss must be a Loss or one of"),
    ({"metrics": ("accuracy", "auc")}, r"metric must be .*one of .*'roc_auc'"),
    ({"validation_split": 1.0}, r"validation_split must be a number in \[0, 1\)"),
    ({"validation_split": 0.1, "validation_data": (X_GOOD, Y_GOOD)}, "not both"),
    ({"validation_data": X_GOOD}, r"validation_data must be a pair"),
    ({"validation_data": (np.ones((2, 3)), [0, 1])}, "X_val has 3 columns but the model takes 2"),
    ({"verbose": 5}, "verbose must be 0, 1 or 2"),
    ({"callbacks": [print]}, "callbacks must be xpnet Callback objects"),
    ({"callbacks": xpnet.EarlyStopping("loss")},  # one callback, not in a list
     r"callbacks must be a list of xpnet Callback objects, got EarlyStopping: pass \[EarlyStopping"),
    ({"callbacks": None}, "callbacks must be a list of xpnet Callback objects, got NoneType"),
])
def test_fit_checks_its_arguments_before_training(backend, options, match):
    model = xpnet.mlp([2, 3, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
    before = _params(model)
    kwargs = {"loss": "binary_crossentropy", "epochs": 2, "verbose": 0, **options}
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(X_GOOD, Y_GOOD, **kwargs)
    _assert_unchanged(model, before)


def _small():
    return xpnet.mlp([2, 3, 1], "tanh", "sigmoid", seed=0, backend="numpy")


@pytest.mark.parametrize("call, message", [
    (lambda v: xpnet.EarlyStopping(patience=v), "patience must be an int >= 0"),
    (lambda v: xpnet.Diagnostics(every=v), "every must be an int >= 1"),
    (lambda v: xpnet.Diagnostics(max_samples=v), "max_samples must be an int >= 1"),
    (lambda v: xpnet.check_backends(_small(), X_GOOD, Y_GOOD, steps=v, backends=["numpy"]),
     "steps must be an int >= 1"),
    (lambda v: _small().fit(X_GOOD, Y_GOOD, loss="binary_crossentropy", epochs=v, verbose=0),
     "epochs must be an int >= 1"),
    (lambda v: _small().predict(X_GOOD, batch_size=v), "batch_size must be an int >= 1 or None"),
    (lambda v: Dense(v, 3), "n_in must be an int >= 1"),
    (lambda v: xpnet.mlp([2, v, 1]), "sizes[1] must be an int >= 1"),
])
def test_count_options_get_one_check_and_one_message_everywhere(call, message):
    for bad in (True, 2.0, "3", -1):  # a bool is no count, nor is a float that happens to be whole
        with pytest.raises(ValueError, match=re.escape(f"{message}, got {bad!r}")):
            call(bad)
    call(np.int64(1))  # any integral scalar is one (a count read from a NumPy array)


@pytest.mark.parametrize("make, match", [
    (lambda: xpnet.optim.SGD(lr=-0.1), "lr must be"),
    (lambda: xpnet.optim.Adam(lr=float("nan")), "lr must be"),
    (lambda: xpnet.optim.Adam(beta1=1.0), "beta1 must be"),
])
def test_optimizer_hyperparameters_are_checked_when_built(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_arrays_of_another_library_are_refused_with_a_pointer_to_model_to(backend):
    others = [n for n in ("array_api_strict", "torch") if n != backend.name
              and n in xpnet.backend.available()]
    if not others:
        pytest.skip("no second array library installed in this session")
    model = xpnet.mlp([2, 3, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
    foreign = xpnet.backend.get(others[0]).asarray(X_GOOD)
    with pytest.raises(TypeError, match=r"model\.to\("):
        model.predict(foreign)


@pytest.mark.parametrize("loss", [losses.BinaryCrossEntropy(from_logits=True), losses.MeanSquaredError(),
                                  losses.CrossEntropy(from_logits=True)])
def test_a_loss_refuses_pred_and_target_of_two_libraries(backend, loss):
    others = [n for n in ("numpy", "array_api_strict", "torch") if n != backend.name
              and n in xpnet.backend.available()]
    if not others:
        pytest.skip("no second array library installed in this session")
    pred = backend.asarray(np.zeros((3, 2)), "float32")
    target = xpnet.backend.get(others[0]).asarray(np.eye(3, 2), "float32")
    with pytest.raises(TypeError, match=rf"{loss.name}: pred is a \w+ but target a \w+"):
        loss(pred, target)


def test_assigning_a_parameter_converts_it_as_load_params_does(backend, on_device):
    """``model.params[key] = value`` (the hand-written loop's update) keeps the model's dtype
    and library and refuses a wrong shape: a NumPy-scalar learning rate made float64 parameters
    on NumPy (then model.save failed), a wrong shape failed later inside matmul."""
    X, y = datasets.two_moons(n=32, noise=0.1, seed=0)
    model = xpnet.mlp([2, 5, 1], output="sigmoid", seed=0, backend=backend)
    params = model.params
    _, grads = xpnet.value_and_grad(model, "binary_crossentropy", X, y)
    for key in params:
        update = np.float64(0.5) * grads[key] if backend.name == "numpy" else 0.5 * grads[key]
        params[key] = params[key] - update
    assert {B.dtype_name(v.dtype) for v in model.params.values()} == {"float32"}
    assert {B.of(v).name for v in model.params.values()} == {backend.name}
    params["0.b"] = [0.0] * 5  # host data: moved to the model's backend
    assert B.of(model.params["0.b"]).name == backend.name
    with pytest.raises(ValueError, match=r"params\['0\.W'\] has shape \(3, 3\), the model needs "
                                         r"\(2, 5\)"):
        params["0.W"] = np.ones((3, 3))
    assert tuple(model.params["0.W"].shape) == (2, 5)

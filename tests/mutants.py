"""Plant one bug at a time in xpnet and check that the tests meant to catch it fail.

    python tests/mutants.py              # every mutant (``nox -s mutants`` runs this on NumPy)
    python tests/mutants.py NAME ...     # some of them; ``--list`` names them all

Each mutant is planted at run time, through the names xpnet exports, in a fresh pytest process:
this module doubles as a pytest plugin (``-p mutants``) that reads ``XPNET_MUTANT`` and records
which tests failed. Only each mutant's catchers run, not the whole suite: the check passes when,
for every mutant, every one of its catchers has a failing test, and when all of them pass on the
unmutated code (so a catcher that fails for another reason is not counted as a catch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# -- the bugs -----------------------------------------------------------------------------------


def _blind_gradcheck():
    import xpnet
    from xpnet import grad

    def gradcheck(model, loss, X, y, eps=1e-6):
        return {key: 0.0 for key in model.params}

    xpnet.gradcheck = grad.gradcheck = gradcheck


def _scaled_backward(cls, *, dX=1.0, grads=1.0, only=None, off_numpy=False):
    """``cls``'s backward with dX and the gradients (or only the gradient ``only``) scaled; with
    ``off_numpy``, only on other backends than NumPy."""
    import array_api_compat

    forward = cls.forward

    def mutant(self, X, training=False, **kwargs):
        Y, backward = forward(self, X, training, **kwargs)
        if off_numpy and array_api_compat.is_numpy_array(X):
            return Y, backward

        def wrong(dY):
            dX_, grads_ = backward(dY)
            grads_ = {k: g * grads if only in (None, k) else g for k, g in grads_.items()}
            return (None if dX_ is None else dX_ * dX), grads_

        return Y, wrong

    cls.forward = mutant


def _layer_one_percent_off(name):
    def plant():
        import xpnet

        _blind_gradcheck()
        _scaled_backward(getattr(xpnet, name), dX=1.01, grads=1.01)

    return plant


def _leaky_relu_slope_on_the_positive_side():
    import array_api_compat

    import xpnet

    # forward and backward agree: gradcheck cannot see it
    def forward(self, X, training=False, *, input_grad=True):
        xp = array_api_compat.array_namespace(X)
        S = xp.astype(X < 0, X.dtype) * (1.0 - self.slope) + self.slope
        return X * S, lambda dY: (dY * S, {})

    xpnet.LeakyReLU.forward = forward


def _dense_bias_gradient_over_m():
    import xpnet

    forward = xpnet.Dense.forward

    def mutant(self, X, training=False, **kwargs):
        Y, backward = forward(self, X, training, **kwargs)

        def wrong(dZ):
            dX, grads = backward(dZ)
            if "b" in grads:
                grads["b"] = grads["b"] / X.shape[0]
            return dX, grads

        return Y, wrong

    xpnet.Dense.forward = mutant


def _loss_gradient_scaled(name, factor):
    def plant():
        from xpnet import losses

        cls = getattr(losses, name)
        call = cls.__call__

        def mutant(self, pred, target):
            value, dpred = call(self, pred, target)
            return value, dpred * factor

        cls.__call__ = mutant

    return plant


def _adam_without_bias_correction():
    from xpnet import optim

    update = optim.Adam._update

    def mutant(self, p, g, state, *, xp):
        t, self.iterations = self.iterations, 10**9  # 1 − β^t = 1: no correction
        try:
            update(self, p, g, state, xp=xp)
        finally:
            self.iterations = t

    optim.Adam._update = mutant


def _shuffle_not_applied():
    import numpy as np

    from xpnet import backend

    backend.Random.permutation = lambda self, n: np.arange(n)


def _validation_split_takes_the_first_rows():
    import numpy as np

    from xpnet import train

    def split(X, y, fraction):
        X, y = np.asarray(X), np.asarray(y)
        n_val = int(X.shape[0] * fraction)
        return (X[n_val:], y[n_val:]), (X[:n_val], y[:n_val])

    train._split = split


def _patience_one_less(cls, method):
    """``cls.method`` run with ``patience`` one lower: the Keras rule where xpnet's is PyTorch's."""
    original = getattr(cls, method)

    def mutant(self, *args, **kwargs):
        self.patience -= 1
        try:
            return original(self, *args, **kwargs)
        finally:
            self.patience += 1

    setattr(cls, method, mutant)


def _early_stopping_patience_off_by_one():
    import xpnet

    _patience_one_less(xpnet.EarlyStopping, "on_epoch_end")


def _early_stopping_restores_nothing():
    import xpnet

    xpnet.EarlyStopping.on_train_end = lambda self, logs=None: None


def _plateau_cuts_one_epoch_early():
    from xpnet import optim

    _patience_one_less(optim.ReduceLROnPlateau, "update")


def _layers_stay_on_their_backend():
    import xpnet

    to = xpnet.Layer.to

    def mutant(self, backend=None, dtype=None):  # casts, but never leaves its own backend
        here = xpnet.backend.of(next(iter(self.params.values()))) if self.params else backend
        return to(self, here, dtype)

    xpnet.Layer.to = mutant


def _load_ignores_backend():
    import xpnet
    from xpnet import io

    load = io.load

    def mutant(path, backend=None, **kwargs):
        return load(path, **kwargs)

    io.load = xpnet.load = mutant


def _optimizer_slots_not_restored():
    from xpnet import optim

    load_state_dict = optim.Optimizer.load_state_dict

    def mutant(self, state):
        load_state_dict(self, {**state, "slots": {s: {} for s in state["slots"]}})

    optim.Optimizer.load_state_dict = mutant


def _default_backend_not_numpy():
    from xpnet import backend

    backend._from_environment = lambda: backend.get(
        os.environ.get("XPNET_BACKEND") or "array_api_strict")


def _zip_checksums_ignored():
    import zipfile

    zipfile.ZipExtFile._update_crc = lambda self, newdata: None


def _dropout_differs_off_numpy():
    import xpnet

    _scaled_backward(xpnet.Dropout, dX=1.0 + 1e-6, off_numpy=True)


def _sigmoid_backward_off_numpy():
    import xpnet

    _scaled_backward(xpnet.Sigmoid, dX=1.0 + 1e-6, off_numpy=True)


ORACLES = "tests/test_oracles.py::"
LAYER_REFERENCE = ORACLES + "test_layer_matches_the_numpy_reference"

#: name -> (plant, catchers): test files or node ids (parametrizations included), each of which
#: must have at least one failing test under the mutant.
MUTANTS = {
    "gradcheck_blind": (_blind_gradcheck, [
        ORACLES + "test_gradcheck_names_the_parameter_a_wrong_dense_backward_breaks",
        ORACLES + "test_gradcheck_sees_a_wrong_activation_backward_below_it",
        ORACLES + "test_gradcheck_sees_a_wrong_loss_gradient"]),
    **{f"gradcheck_blind_and_{name}_backward_1%_off": (_layer_one_percent_off(name),
                                                      [LAYER_REFERENCE])
       for name in ("Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "Identity",
                    "Dropout")},
    "leaky_relu_slope_on_the_positive_side": (_leaky_relu_slope_on_the_positive_side,
                                              [LAYER_REFERENCE]),
    "dense_bias_gradient_over_m": (_dense_bias_gradient_over_m, [
        LAYER_REFERENCE, "tests/test_gradients.py::test_layer_gradients_match_central_differences"]),
    "crossentropy_gradient_doubled": (_loss_gradient_scaled("CrossEntropy", 2.0), [
        ORACLES + "test_loss_matches_its_definition_value_and_gradient",
        "tests/test_gradients.py::test_loss_gradients_match_central_differences"]),
    "mse_gradient_without_its_mean": (_loss_gradient_scaled("MeanSquaredError", 6.0), [
        ORACLES + "test_loss_matches_its_definition_value_and_gradient"]),
    "adam_without_bias_correction": (_adam_without_bias_correction, [
        "tests/test_benchmarks.py::test_reference_steps_equal_xpnet_updates"]),
    "shuffle_not_applied": (_shuffle_not_applied, [
        "tests/test_train.py::test_same_seed_same_history_bit_for_bit",
        "tests/test_train.py::test_shuffle_is_numpys_permutation_on_every_backend"]),
    "validation_split_takes_the_first_rows": (_validation_split_takes_the_first_rows, [
        "tests/test_train.py::test_validation_split_holds_out_the_last_rows"]),
    "early_stopping_patience_off_by_one": (_early_stopping_patience_off_by_one, [
        "tests/test_train.py::test_early_stopping_waits_patience_epochs_without_improvement",
        "tests/test_train.py::test_early_stopping_restores_the_best_weights"]),
    "early_stopping_restores_nothing": (_early_stopping_restores_nothing, [
        "tests/test_train.py::test_restore_best_weights_puts_back_the_best_epochs_parameters",
        "tests/test_train.py::test_early_stopping_restores_the_best_weights"]),
    "plateau_cuts_one_epoch_early": (_plateau_cuts_one_epoch_early, [
        "tests/test_train.py::test_reduce_on_plateau_through_the_scheduler"]),
    "model_to_leaves_the_layers_behind": (_layers_stay_on_their_backend, [
        "tests/test_backend.py::test_model_moves_between_backends"]),
    "load_ignores_backend": (_load_ignores_backend, [
        "tests/test_io.py::test_loads_onto_another_backend"]),
    "optimizer_slots_not_restored": (_optimizer_slots_not_restored, [
        "tests/test_io.py::test_real_optimizer_state_round_trips"]),
    "default_backend_not_numpy": (_default_backend_not_numpy, [
        "tests/test_backend.py::test_numpy_is_always_available_and_the_default"]),
    "zip_checksums_ignored": (_zip_checksums_ignored, [
        "tests/test_io.py::test_random_byte_mutations_give_the_same_model_or_value_errors"]),
    "dropout_differs_off_numpy": (_dropout_differs_off_numpy, [
        "tests/test_parity.py::test_the_backend_under_test_with_minibatches_and_dropout"]),
    "sigmoid_backward_differs_off_numpy": (_sigmoid_backward_off_numpy, [
        "tests/test_gradients.py::test_fifty_steps_agree_with_numpy_and_across_backends"]),
}

# -- the pytest plugin (loaded with -p mutants) -------------------------------------------------

_failed: set[str] = set()
_collected: list[str] = []


def pytest_configure(config):
    name = os.environ.get("XPNET_MUTANT")
    if name:
        MUTANTS[name][0]()


def pytest_report_header(config):
    return f"xpnet mutant: {os.environ.get('XPNET_MUTANT') or 'none'}"


def pytest_collection_modifyitems(session, config, items):
    _collected.extend(item.nodeid for item in items)


def pytest_runtest_logreport(report):
    if report.failed:
        _failed.add(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("XPNET_MUTANT_REPORT")
    if out:
        Path(out).write_text(json.dumps({"collected": _collected, "failed": sorted(_failed)}))


# -- the runner ---------------------------------------------------------------------------------


def _run(name, catchers):
    """``(exit status, {catcher: [failed node ids]})`` of pytest on ``catchers`` under ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = {**os.environ, "XPNET_MUTANT": name or "", "XPNET_MUTANT_REPORT": str(report),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), str(HERE.parent),
                                                           os.environ.get("PYTHONPATH")]))}
        status = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mutants",
             "--no-header", "-o", "addopts=", *catchers],
            cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ).returncode
        result = json.loads(report.read_text()) if report.exists() else {"collected": [],
                                                                         "failed": []}
    by_catcher = {}
    for catcher in catchers:
        mine = [n for n in result["collected"] if n == catcher or n.startswith((catcher + "[",
                                                                               catcher + "::"))]
        if not mine:
            raise SystemExit(f"catcher {catcher!r} selects no test: fix the MUTANTS table")
        by_catcher[catcher] = [n for n in mine if n in result["failed"]]
    return status, by_catcher


def main(argv):
    if "--list" in argv:
        print("\n".join(MUTANTS))
        return 0
    names = argv or list(MUTANTS)
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        raise SystemExit(f"unknown mutants {unknown}; --list names them")
    catchers = sorted({c for n in names for c in MUTANTS[n][1]})
    status, control = _run(None, catchers)
    if status != 0 or any(control.values()):
        print(f"the catchers fail without any mutant (pytest exit {status}): "
              f"{sorted(n for v in control.values() for n in v)}")
        return 1
    print(f"control: the {len(catchers)} catchers pass on the unmutated code")
    survivors = []
    for name in names:
        status, caught = _run(name, MUTANTS[name][1])
        missed = [c for c, failed in caught.items() if not failed]
        if status != 1 or missed:
            survivors.append(name)
            print(f"SURVIVED {name} (pytest exit {status}): not caught by {missed}")
        else:
            count = sum(len(v) for v in caught.values())
            print(f"caught   {name}: {count} failing tests, every catcher among them")
    print(f"{len(names) - len(survivors)} of {len(names)} mutants caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

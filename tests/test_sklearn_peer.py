"""scikit-learn's own MLP tests, run on xpnet.sklearn: the drop-in claim checked by the peer's suite.

At test time, ``sklearn/neural_network/tests/test_mlp.py`` is copied out of the installed
scikit-learn (never vendored: a new scikit-learn brings its new tests), its one import line of the
two estimators is swapped for xpnet's, and the copy runs in a pytest subprocess with this
environment, scikit-learn's own test plugin (``sklearn.conftest``: ``global_random_seed``) and the
estimators' default backend set to the one under test. Every test must pass except those listed in
``EXPECTED_TO_FAIL``, which read private internals of scikit-learn's implementation that xpnet does
not mimic; each must fail on exactly that name, and one that starts passing must leave the list.

scikit-learn's ``test_base.py`` and ``test_stochastic_optimizers.py`` are not run: every test in
them calls a private helper directly (``_base.binary_log_loss``, ``log_loss``, ``poisson_loss``;
``_stochastic_optimizers.SGDOptimizer``, ``AdamOptimizer`` with their ``velocities``/``ms``/``vs``
buffers), none an estimator. The behaviour they stand for — finite log-losses at probabilities of 1,
the half Poisson deviance, the momentum, Nesterov and Adam updates, the adaptive rate's fall by 5 —
is what ``test_sklearn.py::test_float64_training_is_sklearns_step_for_step`` checks through the
estimators, against scikit-learn's, to rtol 1e-9.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

THEIR_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor\n"
OUR_IMPORT = "from xpnet.sklearn import MLPClassifier, MLPRegressor\n"

# test id -> the private internal it reads. Each fails with an AttributeError naming it.
EXPECTED_TO_FAIL = {
    # scikit-learn's L-BFGS objective on its preallocated activation/delta/gradient buffers.
    # xpnet's gradients are checked against central differences in tests/test_gradients.py.
    "test_gradient": "_loss_grad_lbfgs",
}

# Written beside the copy: the default backend of both estimators becomes the session's, so
# ``MLPClassifier()`` in scikit-learn's tests trains there (``"auto"`` would mean NumPy on a CPU).
CONFTEST = """\
import os

from xpnet import backend
from xpnet.sklearn import MLPClassifier, MLPRegressor

_name = os.environ["XPNET_BACKEND"]
# As tests/conftest.py: array_api_strict on its fake device1 unless XPNET_DEVICE says otherwise.
_device = os.environ.get("XPNET_DEVICE") or ("device1" if _name == "array_api_strict" else None)
_under_test = backend.get(_name, _device)
for _estimator in (MLPClassifier, MLPRegressor):
    _estimator.__init__.__kwdefaults__["backend"] = _under_test
if _under_test.name == "torch":  # tiny networks: more threads only add synchronisation
    import torch

    torch.set_num_threads(1)
"""


def _their_test_file() -> str:
    path = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    source = path.read_text(encoding="utf-8")
    if source.count(THEIR_IMPORT) != 1 or source.count("neural_network import") != 1:
        pytest.fail(f"scikit-learn {sklearn.__version__} changed how {path} imports its estimators: "
                    f"the one line {THEIR_IMPORT.strip()!r} was expected. Update THEIR_IMPORT in "
                    f"{__file__} so that every estimator in the file is xpnet's.")
    return source.replace(THEIR_IMPORT, OUR_IMPORT)


def _outcomes(junit_xml: Path) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, message) from pytest's JUnit XML: "passed", "failed", "error", "skipped"."""
    outcomes = {}
    for case in ET.parse(junit_xml).iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
                message = f"{child.get('message', '')}\n{child.text or ''}"
        outcomes[case.get("name")] = (outcome, message)
    return outcomes


def test_sklearns_test_mlp_passes_on_xpnet(backend, tmp_path):
    """scikit-learn's test_mlp.py on the backend under test: everything passes but the list."""
    if backend.name == "array_api_strict":
        # 60 s there against 15-20 s on numpy and torch (2 cores): the strict backend's device
        # discipline is held by test_sklearn.py's estimator checks, which do run on it.
        pytest.skip("scikit-learn's test_mlp.py runs in the numpy and torch sessions")
    (tmp_path / "test_mlp.py").write_text(_their_test_file(), encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not our pyproject's
    env = {**os.environ, "XPNET_BACKEND": backend.name}  # PYTHONPATH and the rest kept
    if backend.name == "jax":  # their float64 tests: x64 on, as our conftest does in this process
        env["JAX_ENABLE_X64"] = "1"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "sklearn.conftest",
         "-c", str(tmp_path / "pytest.ini"), "--junitxml", str(tmp_path / "report.xml"),
         str(tmp_path / "test_mlp.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    if not (tmp_path / "report.xml").exists():
        pytest.fail(f"scikit-learn's test_mlp.py did not run:\n{run.stdout[-4000:]}{run.stderr[-4000:]}")
    outcomes = _outcomes(tmp_path / "report.xml")
    assert len(outcomes) >= 50, run.stdout[-4000:]  # collected: not an empty run

    unexpected = {name: message for name, (outcome, message) in outcomes.items()
                  if outcome != "passed" and name not in EXPECTED_TO_FAIL}
    assert not unexpected, "\n\n".join(f"{name}: {message[-2000:]}"
                                       for name, message in unexpected.items())
    for name, internal in EXPECTED_TO_FAIL.items():
        outcome, message = outcomes[name]
        assert outcome != "passed", f"{name} passes now: remove it from EXPECTED_TO_FAIL"
        assert outcome == "failed" and f"has no attribute '{internal}'" in message, \
            f"{name} was expected to fail reading {internal}, but:\n{message[-2000:]}"

"""The test matrix: one session per backend, plus lint. ``nox`` with no arguments runs them all.

    nox                                   # numpy, array_api_strict, torch, cupy (skips without CUDA), lint
    nox -s "tests(backend='numpy')"       # one backend
    nox -k strict                         # by keyword
    nox -s mutants                        # planted bugs must fail the tests (not in the default run)

Each session sets ``XPNET_BACKEND``, which the test suite's ``backend`` fixture reads.
"""

import shutil

import nox

nox.options.default_venv_backend = "virtualenv"  # torch must come from pip (see pyproject extras)
nox.options.download_python = "never"
nox.options.reuse_existing_virtualenvs = False

# Decided at import time, so the cupy session skips before a virtualenv is made or anything installed.
HAS_CUDA = shutil.which("nvidia-smi") is not None

BACKENDS = {
    "numpy": ["-e", ".[test,sklearn,dask]"],
    "array_api_strict": ["-e", ".[test]"],
    "torch": ["-e", ".[test,torch,sklearn,dask]"],
    "cupy": ["-e", ".[test,cuda,sklearn,dask]"],
}


@nox.session(venv_backend="virtualenv")
@nox.parametrize("backend", [b for b in BACKENDS if b != "cupy"])
def tests(session, backend):
    """Run the test suite on one backend."""
    session.install(*BACKENDS[backend])
    session.run("pytest", *session.posargs, env={"XPNET_BACKEND": backend})


@nox.session(name="tests(backend='cupy')", venv_backend="virtualenv" if HAS_CUDA else "none")
def tests_cupy(session):
    """Run the test suite on CuPy (CUDA GPUs); skipped when no NVIDIA driver is present."""
    if not HAS_CUDA:
        session.skip("cupy: no NVIDIA GPU here (nvidia-smi not found); nothing installed or run")
    session.install(*BACKENDS["cupy"])
    session.run("pytest", *session.posargs, env={"XPNET_BACKEND": "cupy"})


@nox.session(venv_backend="virtualenv")
def lint(session):
    """ruff on the package, tests, examples and benchmarks."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(venv_backend="virtualenv", default=False)
def mutants(session):
    """Plant each bug of tests/mutants.py in turn and check its tests fail (NumPy; a few minutes)."""
    session.install(*BACKENDS["array_api_strict"])  # numpy and array_api_strict, no more
    session.run("python", "tests/mutants.py", *session.posargs, env={"XPNET_BACKEND": "numpy"})

"""The test matrix: one session per backend, plus lint. ``nox`` with no arguments runs them all.

    nox                                   # numpy, array_api_strict, torch, cupy-standin, cupy (skips
                                          # without CUDA), gpu_rehearsal, lint, docs, package
    nox -s "tests(backend='numpy')"       # one backend
    nox -k strict                         # by keyword
    nox -s mutants                        # planted bugs must fail the tests (not in the default run)
    nox -s "tests(backend='jax')"         # JAX CPU (not in a bare nox: eager JAX is slow)
    nox -s package                        # build sdist + wheel, twine check, install the wheel in a
                                          # fresh venv, run `xpnet train`
    nox -s docs                           # the documentation site into site/ (mkdocs --strict)

Each session sets ``XPNET_BACKEND``, which the test suite's ``backend`` fixture reads.
``cupy-standin`` runs the whole suite on xpnet's CuPy code path over the CuPy stand-in of
``tests/standin`` (NumPy underneath, CuPy's behaviour where xpnet meets it), with the model on
device 1 while device 0 is current: what a GPU would reveal, found without one.
"""

import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "virtualenv"  # torch must come from pip (see pyproject extras)
nox.options.download_python = "never"
nox.options.reuse_existing_virtualenvs = False

# Decided at import time, so the cupy session skips before a virtualenv is made or anything installed.
HAS_CUDA = shutil.which("nvidia-smi") is not None
STANDIN = str(Path(__file__).resolve().parent / "tests" / "standin")

BACKENDS = {
    "numpy": ["-e", ".[test,sklearn,dask,onnx,test-onnx]"],
    "array_api_strict": ["-e", ".[test]"],
    "torch": ["-e", ".[test,torch,sklearn,dask]"],
    "cupy-standin": ["-e", ".[test,sklearn,dask]"],
}
ENVIRONMENTS = {
    "cupy-standin": {"XPNET_BACKEND": "cupy", "XPNET_DEVICE": "cuda:1", "PYTHONPATH": STANDIN},
}


@nox.session(venv_backend="virtualenv")
@nox.parametrize("backend", list(BACKENDS))
def tests(session, backend):
    """Run the test suite on one backend."""
    session.install(*BACKENDS[backend])
    session.run("pytest", *session.posargs, env=ENVIRONMENTS.get(backend, {"XPNET_BACKEND": backend}))


def _cuda_major() -> int:
    """The CUDA major version the NVIDIA driver supports (nvidia-smi's header), 13 if unread."""
    try:
        header = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return 13
    found = re.search(r"CUDA Version:\s*(\d+)", header)
    return int(found.group(1)) if found else 13


@nox.session(name="tests(backend='cupy')", venv_backend="virtualenv" if HAS_CUDA else "none")
def tests_cupy(session):
    """Run the test suite on CuPy (CUDA GPUs); skipped when no NVIDIA driver is present."""
    if not HAS_CUDA:
        session.skip("cupy: no NVIDIA GPU here (nvidia-smi not found); nothing installed or run")
    extra = "cuda12" if _cuda_major() <= 12 else "cuda13"  # cupy-cuda12x or cupy-cuda13x
    session.install("-e", f".[test,{extra},sklearn,dask]")
    session.run("pytest", *session.posargs, env={"XPNET_BACKEND": "cupy"})


@nox.session(name="tests(backend='jax')", venv_backend="virtualenv", default=False)
def tests_jax(session):
    """Run the test suite on JAX CPU (immutable arrays; float64 through jax_enable_x64, which the
    suite's conftest turns on). Not in a bare ``nox``: eager JAX dispatches every array operation
    on its own and compiles each new shape, so the suite costs about 5x NumPy's (measured on the
    2-core box: the whole session 12.5 minutes of pytest, 1311 tests, against 2 for the numpy
    session), which would double CI's default run; select it with
    ``nox -s "tests(backend='jax')"`` (``-- tests/test_optim.py`` for one file)."""
    session.install("-e", ".[test,jax,sklearn,dask,onnx,test-onnx]")
    session.run("pytest", *session.posargs, env={"XPNET_BACKEND": "jax"})


@nox.session(venv_backend="virtualenv")
def gpu_rehearsal(session):
    """benchmarks/gpu_check.sh end to end on the CuPy stand-in, as the GPU machine will run it: a
    Python without array-api-compat/-strict/-extra (carried as wheels, installed offline by the
    script), a fake
    nvidia-smi, a few test files (the whole suite runs in the cupy-standin session)."""
    session.install("numpy", "pytest", "torch==2.13.0")  # what the GPU machine has; no compat
    tmp = Path(session.create_tmp()).resolve()
    wheels, bin_dir, out = tmp / "wheels", tmp / "bin", tmp / "gpu-check"
    shutil.rmtree(out, ignore_errors=True)
    session.run("python", "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                "--dest", str(wheels), "array-api-compat>=1.12", "array-api-strict>=2.6.1",
                "array-api-extra>=0.11")  # what the GPU machine lacks, carried as wheels
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'NVIDIA-SMI stand-in (no GPU: CuPy stand-in)'\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    python = shutil.which("python", path=session.bin)
    session.run("bash", "benchmarks/gpu_check.sh", str(out), external=True, env={
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHON": python,
        "XPNET_WHEELS": str(wheels), "PYTHONPATH": STANDIN,
        "GPU_CHECK_PYTEST_ARGS": "tests/test_cuda.py tests/test_backend.py tests/test_train.py",
        "GPU_CHECK_BENCH_ARGS": "--quick --tiny --no-memory"})


@nox.session(venv_backend="virtualenv")
def lint(session):
    """ruff on the package, tests, examples and benchmarks."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(venv_backend="virtualenv")
def docs(session):
    """The documentation site, ``mkdocs build --strict`` into ``site/``: a warning (a broken link or
    anchor, a page outside the navigation, a docstring griffe cannot parse) fails it."""
    session.install(".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(venv_backend="virtualenv")
def package(session):
    """The sdist and wheel as a user gets them: ``python -m build``, ``twine check``, the wheel
    (with its ``py.typed``) installed into a fresh venv outside the source tree, imported, and its
    ``xpnet`` command run."""
    session.install("build", "twine")
    tmp = Path(session.create_tmp()).resolve()
    dist, venv = tmp / "dist", tmp / "fresh"
    shutil.rmtree(dist, ignore_errors=True)
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), ".")
    wheels, sdists = sorted(dist.glob("xpnet-*.whl")), sorted(dist.glob("xpnet-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        session.error(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
    session.run("twine", "check", "--strict", str(wheels[0]), str(sdists[0]))
    with zipfile.ZipFile(wheels[0]) as wheel:
        if "xpnet/py.typed" not in wheel.namelist():
            session.error(f"{wheels[0].name} lacks xpnet/py.typed")
        if stray := [n for n in wheel.namelist() if not n.startswith(("xpnet/", "xpnet-"))]:
            session.error(f"{wheels[0].name} carries files outside the package: {stray[:5]}")
    with tarfile.open(sdists[0]) as sdist:  # the built documentation site stays out
        if built := [n for n in sdist.getnames() if n.split("/")[1:2] == ["site"]]:
            session.error(f"{sdists[0].name} carries the built site: {built[:5]}")
    session.run("python", "-m", "venv", str(venv))
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    # away from the source tree, and no PYTHONPATH (-I): pip and Python see only the fresh venv
    session.chdir(tmp)
    installed = {"PYTHONPATH": str(tmp)}
    session.run(str(bin_dir / "python"), "-I", "-m", "pip", "install", "--quiet", str(wheels[0]),
                external=True)
    session.run(str(bin_dir / "python"), "-I", "-c",
                "import pathlib, xpnet; assert 'site-packages' in xpnet.__file__, xpnet.__file__; "
                "assert (pathlib.Path(xpnet.__file__).parent / 'py.typed').exists(); "
                f"assert xpnet.__version__ == {wheels[0].name.split('-')[1]!r}, xpnet.__version__",
                external=True)
    session.run(str(bin_dir / "xpnet"), "--version", external=True, env=installed)
    session.run(str(bin_dir / "xpnet"), "train", "--epochs", "2", "--quiet", "--plot", "",
                "--out", str(tmp / "model.xpnet"), external=True, env=installed)


@nox.session(venv_backend="virtualenv", default=False)
def mutants(session):
    """Plant each bug of tests/mutants.py in turn and check its tests fail (NumPy; a few minutes)."""
    session.install(*BACKENDS["array_api_strict"])  # numpy and array_api_strict, no more
    session.run("python", "tests/mutants.py", *session.posargs, env={"XPNET_BACKEND": "numpy"})

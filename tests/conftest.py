"""The backend fixture: every test taking ``backend`` (or ``xp``) runs on the backends under test.

``XPNET_BACKEND`` (set by each nox session) picks one backend; unset, every backend available here
is used. array_api_strict runs on its fake ``device1`` by default (``XPNET_DEVICE`` overrides), so
a missing ``device=`` or an implicit host copy fails here as it would on a GPU.
"""

import os

import pytest

from xpnet import backend as B

STRICT_API_VERSION = "2023.12"  # the oldest standard xpnet supports: catches newer-only features

if os.environ.get("XPNET_BACKEND") == "jax":  # the suite tests float64 too: JAX needs x64 first
    import jax

    jax.config.update("jax_enable_x64", True)
    os.environ["JAX_ENABLE_X64"] = "1"  # and in the processes the tests start (dask workers, the CLI)


def _backend_names():
    requested = os.environ.get("XPNET_BACKEND") or None
    # Unset: every backend here but dask, whose lazy parameter graphs make the suite crawl
    # (dask is for data: it runs only when asked for by name).
    return [requested] if requested else [n for n in B.available() if n != "dask"]


def _device_for(name):
    device = os.environ.get("XPNET_DEVICE") or None
    if device is None and name == "array_api_strict":
        return "device1"
    return device


@pytest.fixture(scope="session", autouse=True)
def _strict_flags():
    try:
        import array_api_strict
    except ImportError:
        yield
        return
    array_api_strict.set_array_api_strict_flags(api_version=STRICT_API_VERSION)
    yield
    array_api_strict.reset_array_api_strict_flags()


@pytest.fixture(params=_backend_names(), scope="session")
def backend(request):
    """The :class:`xpnet.backend.Backend` under test."""
    name = request.param
    if name not in B.available():
        if name == "cupy":
            pytest.skip("cupy backend: no CUDA device answers on this machine")
        pytest.skip(f"backend {name!r} is not installed")
    return B.get(name, _device_for(name))


@pytest.fixture
def on_device(backend):
    """The backend's device made current for the test (CuPy: ``with Device(n):``), for tests whose
    own array math, or calls of single layers and helpers, must run where the arrays live, as a
    CuPy user's code does. xpnet's models, losses, metrics, optimizers and functions need no such
    block: the cupy-standin session runs the suite on device 1 while device 0 is current."""
    with backend.context():
        yield backend


@pytest.fixture
def xp(backend):
    """The namespace of the backend under test."""
    return backend.xp

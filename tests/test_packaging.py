"""What a type checker and an installer see: annotated entry points, ``py.typed``, one version.

(``nox -s package`` builds, checks and installs the wheel itself.)
"""

import inspect
import typing
from pathlib import Path

import pytest

import xpnet
from xpnet import backend, grad, io, layers, losses, optim, train

ROOT = Path(xpnet.__file__).resolve().parent.parent
# The public entry points whose signatures carry type hints (DESIGN.md's API).
ENTRY_POINTS = [xpnet.mlp, xpnet.Dense.__init__, xpnet.Sequential.fit, xpnet.Sequential.predict,
                xpnet.Sequential.evaluate, xpnet.Sequential.save, xpnet.load, xpnet.value_and_grad,
                xpnet.gradcheck, backend.get]


@pytest.mark.parametrize("function", ENTRY_POINTS, ids=lambda f: f.__qualname__)
def test_public_entry_points_are_fully_annotated(function):
    function = inspect.unwrap(function)
    names = {**vars(layers), **vars(io), **vars(grad), "Backend": backend.Backend,
             "Loss": losses.Loss, "Optimizer": optim.Optimizer, "History": train.History,
             "Callback": train.Callback}
    hints = typing.get_type_hints(function, globalns=names)  # every hint resolves
    parameters = [p for p in inspect.signature(function).parameters if p != "self"]
    assert set(parameters) <= set(hints), set(parameters) - set(hints)
    assert "return" in hints or function.__name__ == "__init__"


def test_py_typed_is_shipped_and_the_version_is_written_once():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    assert (ROOT / "xpnet" / "py.typed").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "xpnet.__version__"}
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["xpnet"]
    assert xpnet.__version__.count(".") == 2

"""xpnet: multi-layer perceptrons with hand-written backpropagation on any Array API backend.

One implementation of every layer, loss and gradient, written against the Python Array API
standard, runs on NumPy (the default, CPU), CuPy (CUDA GPUs), PyTorch, JAX, Dask and
array-api-strict.

Layout
------
One module per concern; imports point downward only, and there is no import cycle
(``tests/test_architecture.py`` reads the tiers below and checks every import in the package,
those inside functions included, against them). From the ground up, a module imports only
from its own tier or below::

    backend · functional · init
    layers · losses · metrics · _validation · datasets · plot
    grad · optim · schedules
    io · train · callbacks
    explain · onnx · distributed
    model
    diagnose · parity · sklearn · _sklearn_adapt
    cli · __main__

- ``layers`` holds the layer protocol, the built-in layers, ``Sequential`` as a pure composition
  and the layer registry (:data:`xpnet.layers.LAYERS`): each built-in layer is one class that
  declares its name, config keys and equations, and every table (``mlp``'s activations, the file
  format, ``explain``, ``diagnose``, the tests) reads the registry.
- ``losses`` is math on arrays; the model surgery around it (``fuse``, ``check_model``) is in
  ``grad``, which knows layers.
- ``model`` is what ``Sequential.fit/predict/evaluate/save/summary/export_onnx`` delegate to.
  ``Sequential`` stays in ``layers`` (a model is a layer, and nests), with its verbs as thin
  methods that call ``xpnet.model`` through a hook ``model`` installs when imported (importing
  ``xpnet`` does). This keeps ``model.fit(...)`` and ``xpnet.layers.Sequential`` as they were
  while ``layers`` imports nothing from training, files or explanations; defining ``Sequential``
  in ``model`` instead would have split the model in two classes (a composition to nest and a
  model to train) and moved ``mlp`` away from the layers it builds.
- Where the imports show a clearer order than DESIGN.md's picture, they rule: ``io`` sits below
  ``train`` (checkpoints write model files) and ``explain``, ``onnx`` and ``distributed`` below
  ``model`` (they implement its ``summary``, ``export_onnx`` and ``fit(client=...)``). A flat list
  of modules shows these tiers as well as subpackages would, without moving every import path.
- ``__version__`` is assigned here before any import, so a module may read it with
  ``from . import __version__`` (a constant, not an import of the package's modules).

Array namespaces
----------------
Library code gets ``xp`` one way: from its arrays, with :func:`xpnet.functional.namespace`
(array-api-compat's ``array_namespace``, cached per array type). ``Backend.xp`` is that same
namespace object; code that holds a model but no array yet (creating the model's arrays) reads
``model.backend.xp``.
"""

__version__ = "0.1.0"


from . import backend, datasets, init, losses, metrics, model, optim
from .backend import to_numpy
from .diagnose import Diagnostics, diagnose
from .explain import explain
from .grad import gradcheck, value_and_grad
from .io import load, load_checkpoint
from .layers import (
    Dense,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Standardize,
    Tanh,
    mlp,
)
from .onnx import export_onnx
from .parity import check_backends
from .train import (
    Callback,
    CSVLogger,
    DivergenceError,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    resume,
)

__all__ = [
    "CSVLogger", "Callback", "Dense", "Diagnostics", "DivergenceError", "Dropout", "EarlyStopping",
    "History", "Identity", "Layer", "LearningRateScheduler", "LeakyReLU", "ModelCheckpoint", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Standardize", "Tanh", "backend", "check_backends",
    "datasets", "diagnose", "explain", "export_onnx", "gradcheck", "init", "load",
    "load_checkpoint", "losses", "metrics", "mlp", "model", "optim", "resume", "to_numpy", "value_and_grad",
]

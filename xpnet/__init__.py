"""xpnet: multi-layer perceptrons with hand-written backpropagation on any Array API backend.

One implementation of every layer, loss and gradient, written against the Python Array API
standard, runs on NumPy (the default, CPU), CuPy (CUDA GPUs), PyTorch and array-api-strict.
"""

from . import backend, datasets, init, losses, metrics, optim
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

__version__ = "0.1.0"

__all__ = [
    "CSVLogger", "Callback", "Dense", "Diagnostics", "DivergenceError", "Dropout", "EarlyStopping",
    "History", "Identity", "Layer", "LearningRateScheduler", "LeakyReLU", "ModelCheckpoint", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Standardize", "Tanh", "backend", "check_backends",
    "datasets", "diagnose", "explain", "export_onnx", "gradcheck", "init", "load",
    "load_checkpoint", "losses", "metrics", "mlp", "optim", "resume", "to_numpy", "value_and_grad",
]

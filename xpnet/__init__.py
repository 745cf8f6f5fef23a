"""xpnet: multi-layer perceptrons with hand-written backpropagation on any Array API backend.

One implementation of every layer, loss and gradient, written against the Python Array API
standard, runs on NumPy (the default, CPU), CuPy (CUDA GPUs), PyTorch and array-api-strict.
"""

from . import backend, init, losses
from .backend import to_numpy
from .grad import gradcheck, value_and_grad
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
    Tanh,
    mlp,
)

__version__ = "0.1.0"

__all__ = [
    "Dense", "Dropout", "Identity", "Layer", "LeakyReLU", "ReLU", "Sequential", "Sigmoid",
    "Softmax", "Tanh", "backend", "gradcheck", "init", "losses", "mlp", "to_numpy",
    "value_and_grad",
]

"""An instance of every registered layer, for the tests that iterate the registry
(:data:`xpnet.layers.LAYERS`): activations are built with no arguments, so a new built-in
activation needs no entry here; a layer whose constructor needs arguments has one below."""

from xpnet.layers import LAYERS, Dense, Dropout, Standardize

WIDTH = 4  # the features a registered layer gets in the examples (Dense(3, 4) -> layer -> ...)

NEEDS_ARGUMENTS = {
    "dense": lambda kw: Dense(WIDTH, WIDTH, seed=3, **kw),
    "dropout": lambda kw: Dropout(0.5, seed=0),
    "standardize": lambda kw: Standardize([1.0, -2.0, 0.0, 3.0], [0.5, 2.0, 1.0, 4.0], **kw),
}


def example(name, backend=None, dtype="float64"):
    """A registered layer of ``name`` taking and giving ``WIDTH`` features."""
    kw = {"backend": backend, "dtype": dtype}
    if name in NEEDS_ARGUMENTS:
        return NEEDS_ARGUMENTS[name](kw)
    return LAYERS[name]()


def between(name, backend=None, dtype="float64"):
    """``Sequential(Dense(3, 4), <the layer>, Dense(4, 2))``: the layer's backward is checked by
    the gradient reaching the first Dense."""
    from xpnet import Sequential

    kw = {"backend": backend, "dtype": dtype}
    return Sequential(Dense(3, WIDTH, seed=1, **kw), example(name, backend, dtype),
                      Dense(WIDTH, 2, seed=2, **kw))

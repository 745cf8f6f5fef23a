"""The question that started xpnet: "my 2-5-5-1 sigmoid network with binary cross-entropy,
written in numpy, does not learn — how do I do backprop on these matrices?"

The same network, trained by plain full-batch gradient descent written against
``xpnet.value_and_grad``, on XOR and on two moons. Each place where the original went wrong is
marked with "FIX". Run:  python examples/seed_network.py  [--backend torch]
"""

import argparse
import time

import xpnet
from xpnet import datasets


def train(X, y, *, steps, lr, seed, backend):
    # FIX (initialisation): mlp draws zero-mean Glorot-uniform weights, U(-a, a) with
    # a = sqrt(6 / (n_in + n_out)). All-positive U[0, 1) weights push every sigmoid towards 1,
    # where its slope σ(1 − σ) is ~0, and the gradient vanishes before it reaches the first layer.
    model = xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=seed,
                      backend=backend, dtype="float64")
    for _ in range(steps):
        # FIX (stable loss): the model ends in Sigmoid and the loss is binary cross-entropy, so
        # value_and_grad takes the loss from the logits, softplus(z) − y·z, and sends back the fused
        # gradient (σ(z) − y) / m: log(0) is never taken, even when a unit saturates.
        # FIX (1/m): the loss is a mean, so the 1/m lives in its gradient — once, not per layer.
        loss, grads = xpnet.value_and_grad(model, "binary_crossentropy", X, y)
        # FIX (bias gradient): grads["0.b"] is sum(dZ, axis=0), shape (5,) like b itself; the
        # per-sample (m, 5) matrix added to b would broadcast into garbage.
        params = model.params  # params[key] = ... sets the layer's array (JAX's arrays too)
        for key in params:
            # FIX (learning rate): a constant step. lr = 1/epoch is 1e-3 after a thousand epochs:
            # training stalls long before the loss is low.
            params[key] = params[key] - lr * grads[key]
    return model, float(loss)


def accuracy(model, X, y):
    p = xpnet.to_numpy(model(model.backend.asarray(X, model.dtype)))[:, 0]
    return float(((p > 0.5) == y).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="numpy (default), torch, cupy, auto, ...")
    args = parser.parse_args(argv)
    try:
        backend = xpnet.backend.get(args.backend)
    except ValueError as err:  # an unavailable backend: one line, not a traceback
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(f"backend: {backend}")
    problems = {
        "XOR": (datasets.xor(), dict(steps=3000, lr=5.0, seed=1)),
        "two moons": (datasets.two_moons(n=1000, noise=0.1, seed=0), dict(steps=3000, lr=5.0, seed=0)),
    }
    results = {}
    for name, ((X, y), options) in problems.items():
        start = time.perf_counter()
        model, loss = train(X, y, backend=backend, **options)
        results[name] = accuracy(model, X, y)
        print(f"{name:>10}: loss {loss:.4f}  accuracy {results[name]:.1%}  "
              f"({options['steps']} steps, {time.perf_counter() - start:.1f} s)")
    return results


if __name__ == "__main__":
    main()

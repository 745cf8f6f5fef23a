"""Train on the GPU when CUDA is there, on the CPU otherwise — the same code either way.

backend="auto" picks CuPy when a CUDA device answers and NumPy when not (an installed CuPy without
a GPU or driver is simply not available). Run: python examples/gpu.py
"""

import time

import xpnet
from xpnet import datasets


def main(n=20_000, epochs=5, out="spirals.xpnet"):
    backend = xpnet.backend.get("auto")
    where = "GPU" if backend.name == "cupy" else "CPU fallback: no CUDA device"
    print(f"training on {backend} ({where})")
    X, y = datasets.spirals(n=n, n_classes=3, noise=0.1, seed=0)
    model = xpnet.mlp([2, 256, 256, 3], activation="relu", output="softmax", seed=0,
                      backend=backend)
    start = time.perf_counter()
    history = model.fit(X, y, loss="crossentropy", optimizer="adam", epochs=epochs,
                        batch_size=256, seed=0, verbose=2)
    print(f"{epochs} epochs in {time.perf_counter() - start:.1f} s, "
          f"accuracy {history['accuracy'][-1]:.3f}")
    model.save(out)  # loads on any backend: xpnet.load("spirals.xpnet", backend="numpy")
    return history


if __name__ == "__main__":
    main()

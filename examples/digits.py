"""Multi-class: scikit-learn's 8x8 digits with a 64-64-10 ReLU network and softmax cross-entropy.

Needs scikit-learn for the data (pip install "xpnet[sklearn]"). Run: python examples/digits.py
[numpy|torch|...]
"""

import sys

import numpy as np

import xpnet


def main(backend=None, epochs=30):
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("digits.py needs scikit-learn for the data: pip install 'xpnet[sklearn]'")
    try:
        backend = xpnet.backend.get(backend)
    except ValueError as err:  # an unavailable backend: one line, not a traceback
        sys.exit(f"digits.py: error: {err}")
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    model = xpnet.mlp([64, 64, 10], activation="relu", output="softmax", seed=0, backend=backend)
    model.fit(X_train, y_train, loss="crossentropy", optimizer=xpnet.optim.Adam(lr=3e-3),
              epochs=epochs, batch_size=32, validation_split=0.1, seed=0,
              metrics=("accuracy", "f1"), verbose=2,
              callbacks=[xpnet.EarlyStopping("val_loss", patience=5, restore_best_weights=True)])
    scores = model.evaluate(X_test, y_test, metrics=("accuracy", "f1"))
    predicted = xpnet.to_numpy(model.predict(X_test)).argmax(axis=1)
    print(f"test accuracy {scores['accuracy']:.3f}, macro F1 {scores['f1']:.3f} "
          f"({int((predicted != np.asarray(y_test)).sum())} of {len(y_test)} digits wrong)")
    return scores


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

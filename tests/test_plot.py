"""Each plot renders to a PNG that is a real, non-blank image."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import xpnet  # noqa: E402
from xpnet import datasets, optim, plot  # noqa: E402
from xpnet.diagnose import Diagnostics, diagnose  # noqa: E402


def _check_png(path, min_bytes=5_000):
    """A PNG signature, a plausible size, and an image that is not blank."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    assert len(data) > min_bytes, f"only {len(data)} bytes"
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.var() > 1e-3, "the image is (nearly) one colour"
    ink = np.mean(np.any(pixels < 0.9, axis=-1))  # anything clearly not white
    assert ink > 0.01, f"only {ink:.2%} of the pixels are drawn"


def _save(ax, path):
    ax.figure.savefig(path, dpi=80)
    plt.close(ax.figure)
    return path


@pytest.fixture(scope="module")
def trained():
    X, y = datasets.two_moons(n=200, noise=0.15, seed=0)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=0, backend="numpy")
    doctor = Diagnostics(X, y)
    history = model.fit(X, y, loss="binary_crossentropy", optimizer=optim.Adam(lr=0.05), epochs=15,
                        batch_size=32, validation_split=0.2, seed=0, verbose=0, callbacks=[doctor])
    return model, X, y, history, doctor


def test_the_png_check_can_fail(tmp_path):
    fig = plt.figure()
    fig.savefig(tmp_path / "blank.png", dpi=80)
    plt.close(fig)
    with pytest.raises(AssertionError, match="one colour|bytes"):
        _check_png(tmp_path / "blank.png", min_bytes=0)


def test_history(tmp_path, trained):
    _, _, _, history, _ = trained
    ax = plot.history(history)
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "val_loss"]
    _check_png(_save(ax, tmp_path / "history.png"))


def test_decision_boundary(tmp_path, trained):
    model, X, y, _, _ = trained
    _check_png(_save(plot.decision_boundary(model, X, y, resolution=60), tmp_path / "boundary.png"))
    with pytest.raises(ValueError, match="2 features"):
        plot.decision_boundary(model, np.zeros((3, 3)), np.zeros(3))


def test_diagnostics_over_epochs(tmp_path, trained):
    *_, doctor = trained
    ax = plot.diagnostics(doctor)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["0 |grad|", "2 |grad|", "4 |grad|"]  # one line per Dense layer, left axis
    assert len(ax.get_lines()[0].get_xdata()) == 15
    _check_png(_save(ax, tmp_path / "diagnostics.png"))
    _check_png(_save(plot.diagnostics(doctor.report), tmp_path / "from_report.png"))


def test_diagnostics_of_one_report(tmp_path, trained):
    model, X, y, _, _ = trained
    ax = plot.diagnostics(diagnose(model, X, y))
    assert ax.get_title() == "diagnostics per layer" and len(ax.patches) == 3
    _check_png(_save(ax, tmp_path / "report.png"))
    with pytest.raises(TypeError, match="Diagnostics callback or Report"):
        plot.diagnostics(object())


def test_training_report_with_and_without_diagnostics(tmp_path, trained):
    model, X, y, history, doctor = trained
    plot.training_report(tmp_path / "two.png", history, model, X, y)
    plot.training_report(tmp_path / "three.png", history, model, X, y, doctor)
    for name in ("two.png", "three.png"):
        _check_png(tmp_path / name, min_bytes=20_000)
    two = matplotlib.image.imread(tmp_path / "two.png")
    three = matplotlib.image.imread(tmp_path / "three.png")
    assert three.shape[1] > two.shape[1]  # the third panel

"""The shared elementwise functions: accurate to a few ulps over the whole range, on every backend."""

import numpy as np
import pytest

import xpnet
from xpnet import functional

pytestmark = pytest.mark.usefixtures("on_device")  # helpers compute on the current device (CuPy)

# float32: down to where σ(z) is still a normal number (σ(−80) ≈ 1.8e-35); float64: σ(−700) ≈ 1e-304
TAILS = {"float32": 80.0, "float64": 700.0}
ULPS = {"float32": 8 * 2.0**-24, "float64": 8 * 2.0**-53}


def _logits(dtype):
    far = TAILS[dtype]
    return np.array([-far, -30.0, -17.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 17.0, 30.0, far])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_keeps_its_relative_accuracy_in_both_tails(backend, dtype):
    z = _logits(dtype)
    expected = 1.0 / (1.0 + np.exp(-z))  # float64: exact to an ulp for these z
    got = functional.sigmoid(backend.asarray(z, dtype), xp=backend.xp)
    assert got.dtype == backend.dtype(dtype)
    np.testing.assert_allclose(xpnet.to_numpy(got), expected, rtol=ULPS[dtype], atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_and_softplus_are_exact_at_extreme_logits(backend, dtype):
    big, tiny = float(np.finfo(dtype).max), float(np.finfo(dtype).smallest_normal)
    z = backend.asarray(np.array([-big, -1e4, 1e4, big]), dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # (exp underflows to 0: fine)
        s = xpnet.to_numpy(functional.sigmoid(z, xp=backend.xp))
        sp, s2 = map(xpnet.to_numpy, functional.softplus_and_sigmoid(z, xp=backend.xp))
    # sigmoid's exponent stops at −log(tiny): a true σ below the normal numbers comes out as about
    # tiny (a hair under it, subnormal: 0 on XLA:CPU, which flushes subnormals to zero)
    assert np.all((0.0 <= s[:2]) & (s[:2] <= 2 * tiny)) and np.all(s[2:] == 1.0)
    np.testing.assert_array_equal(s2, [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(sp, np.array([0.0, 0.0, 1e4, big], dtype=dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_below_the_normal_numbers_is_tiny_and_never_overflows(backend, dtype):
    tiny = float(np.finfo(dtype).smallest_normal)
    edge = -np.log(tiny)  # 87.3 in float32: σ(−edge) = tiny
    z = np.array([-edge - 50.0, -edge - 1.0, -edge + 1e-3, -edge + 1.0, -edge + 5.0], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = xpnet.to_numpy(functional.sigmoid(backend.asarray(z, dtype), xp=backend.xp))
    with np.errstate(over="ignore"):  # float64's own reference overflows to inf: σ = 0, right
        expected = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))  # of the logits the dtype holds
    assert np.all(got >= 0.0) and np.all(np.abs(got - expected) <= 2 * tiny)
    normal = expected >= tiny
    np.testing.assert_allclose(got[normal], expected[normal], rtol=ULPS[dtype], atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softplus_and_sigmoid_match_logaddexp_and_sigmoid(backend, dtype):
    z = _logits(dtype)
    sp, s = functional.softplus_and_sigmoid(backend.asarray(z, dtype), xp=backend.xp)
    np.testing.assert_allclose(xpnet.to_numpy(sp), np.logaddexp(0.0, z), rtol=ULPS[dtype], atol=0)
    np.testing.assert_allclose(xpnet.to_numpy(s), 1.0 / (1.0 + np.exp(-z)), rtol=ULPS[dtype], atol=0)


@pytest.mark.parametrize("m", [1, 7, 1000])
def test_batch_sum_is_the_sum_over_the_batch(backend, m):
    dZ = np.random.default_rng(m).normal(size=(m, 5))
    for dtype, rtol in (("float64", 1e-12), ("float32", 1e-5)):
        got = functional.batch_sum(backend.asarray(dZ, dtype), xp=backend.xp)
        assert tuple(got.shape) == (5,) and got.dtype == backend.dtype(dtype)
        np.testing.assert_allclose(xpnet.to_numpy(got), dZ.sum(axis=0), rtol=rtol, atol=1e-6)


def test_batch_sum_keeps_few_vectors_of_ones(backend):
    for m in range(1, 70):  # every batch size of a long run with many sizes
        functional.batch_sum(backend.asarray(np.ones((m, 2)), "float64"), xp=backend.xp)
    assert len(functional._CONSTANTS) <= 32

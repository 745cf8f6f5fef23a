"""Dask arrays as data: ``predict`` returns a lazy result computed block by block."""

import numpy as np
import pytest

import xpnet

da = pytest.importorskip("dask.array")


def test_predict_on_a_dask_array_is_lazy_and_computed_block_by_block(backend):
    model = xpnet.mlp([3, 6, 2], activation="tanh", output="softmax", seed=0, backend=backend,
                      dtype="float64")
    X = np.random.default_rng(0).normal(size=(50, 3))
    seen = []
    forward = model.forward

    def counting(rows, *args, **kwargs):
        seen.append(rows.shape[0])
        return forward(rows, *args, **kwargs)

    expected = xpnet.to_numpy(model.predict(X))
    model.forward = counting  # sees each block the lazy result computes
    lazy = model.predict(da.from_array(X, chunks=(16, 2)))
    assert isinstance(lazy, da.Array) and lazy.shape == (50, 2) and seen == []  # nothing computed
    P = lazy.compute()
    assert sorted(seen) == [2, 16, 16, 16]  # one call per row block, never the whole array
    np.testing.assert_allclose(P, expected, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="X must be 2-D"):
        model.predict(da.from_array(X[:, 0]))

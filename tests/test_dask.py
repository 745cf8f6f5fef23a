"""Scale-out: a grid search over xpnet's estimators on a real Dask cluster (two worker processes,
through joblib's Dask backend) finds exactly what the same search finds serially."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")

import joblib  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

EXAMPLE = Path(__file__).parent.parent / "examples" / "dask_grid_search.py"
GRID = {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)],
        "mlpclassifier__learning_rate_init": [1e-3, 1e-2]}


def _example():
    spec = importlib.util.spec_from_file_location("dask_grid_search", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_on_a_local_cluster_equals_the_serial_search(backend):
    example = _example()
    X, _, y, _ = example.data()
    serial = example.make_search(backend=backend, param_grid=GRID, max_iter=20).fit(X, y)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(warnings.simplefilter, "ignore", ConvergenceWarning)
        with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
            parallel = example.make_search(backend=backend, param_grid=GRID, max_iter=20,
                                           n_jobs=-1).fit(X, y)
        workers = {task["worker"] for task in tasks.data}
    assert len(workers) == 2  # the fits ran in both worker processes, not in this one
    assert parallel.best_params_ == serial.best_params_
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(parallel.predict(X), serial.predict(X))

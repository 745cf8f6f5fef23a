"""A grid search over xpnet's scikit-learn estimators on a Dask cluster, through joblib's Dask backend.

    python examples/dask_grid_search.py                        # a local cluster of 2 worker processes
    python examples/dask_grid_search.py tcp://scheduler:8786   # a running cluster, of any size

Every (candidate, fold) pair is one fit that joblib ships to a worker: the pickled estimator (host
arrays only) and the data. With ``backend="auto"`` each worker resolves the backend itself, so a
worker with a CUDA GPU and CuPy trains there and one without trains on NumPy; the results do not
depend on where a fit ran. Needs ``pip install "xpnet[sklearn,dask]"`` (scikit-learn,
dask[distributed]) on the client and on every worker.
"""

import contextlib
import sys
import time
import warnings

try:
    import joblib
    from distributed import Client, LocalCluster
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xpnet.sklearn import MLPClassifier
except ImportError as err:  # one line saying what to install, not a traceback
    sys.exit(f"dask_grid_search.py needs scikit-learn and dask: pip install 'xpnet[sklearn,dask]' "
             f"({err})")

PARAM_GRID = {
    "mlpclassifier__hidden_layer_sizes": [(32,), (64,)],
    "mlpclassifier__alpha": [1e-4, 1e-1],
    "mlpclassifier__learning_rate_init": [1e-3, 1e-2],
}


def data():
    """scikit-learn's 8x8 digits (1797 images, 10 classes): a stratified 75/25 split."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def make_search(backend="auto", n_jobs=None, param_grid=None, max_iter=40):
    """A 3-fold GridSearchCV over a standardising pipeline ending in xpnet's MLPClassifier."""
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(max_iter=max_iter, random_state=0,
                                                             backend=backend))
    return GridSearchCV(pipeline, param_grid or PARAM_GRID, cv=3, n_jobs=n_jobs)


def main(address=None, n_workers=2):
    X_train, X_test, y_train, y_test = data()
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True) \
        if address is None else contextlib.nullcontext(address)
    with cluster as target, Client(target) as client:
        print(f"cluster: {client}")
        # 40 epochs keep the demo short: fits stop before converging, which scikit-learn reports
        # with a ConvergenceWarning — silenced here and, by client.run, in every worker process.
        client.run(warnings.simplefilter, "ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        with joblib.parallel_config(backend="dask"):  # GridSearchCV's fits run on the workers
            search = make_search(n_jobs=-1).fit(X_train, y_train)
    seconds = time.perf_counter() - start
    results = search.cv_results_
    print(f"\n{'hidden':>8} {'alpha':>7} {'lr':>7}  mean CV accuracy")
    for params, score in zip(results["params"], results["mean_test_score"], strict=True):
        print(f"{params['mlpclassifier__hidden_layer_sizes'][0]:>8} "
              f"{params['mlpclassifier__alpha']:>7g} {params['mlpclassifier__learning_rate_init']:>7g}"
              f"  {score:.4f}")
    print(f"\nbest: {search.best_params_} (CV accuracy {search.best_score_:.4f}); "
          f"test accuracy {search.score(X_test, y_test):.4f}; "
          f"{len(results['params']) * 3} fits + refit in {seconds:.1f} s")
    return search


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

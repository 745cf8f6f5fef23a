"""Data-parallel training on a Dask cluster: the data stays on the workers, gradients move.

``model.fit(X, y, ..., client=client)`` (or :func:`fit`) trains on dask arrays whose row blocks
live on the workers. Every step is the single-process step: the batch is the next slice of the
host-drawn permutation of all rows (the same seed, the same batches as :func:`xpnet.train.fit`);
each row block that holds rows of the batch computes, where it lives, the gradient of those rows on
a replica of the model; the per-block gradients are summed by a binary tree of Dask tasks in block
order; the sum comes back to this process, the optimizer steps once, and the next step sends the
new parameters out. The epoch loop is :func:`xpnet.train._train` itself, so History, callbacks,
metrics, validation, DivergenceError's replay, Ctrl-C and checkpoints behave as in ``fit``.

Why a tree of ``client.submit`` tasks over persisted blocks (no actors, no graph per step): the
scheduler places each block's task where the block is, re-runs it elsewhere when a worker dies
(Dask recomputes a lost block from its source), and the sum's order depends only on the blocks,
never on which worker ran what, so a run with a killed worker ends bit for bit where an
uninterrupted one does, and 1, 2 or 3 workers give the same numbers.
"""

from __future__ import annotations

import mmap
import threading
import time

import numpy as np

from . import backend as _backend
from . import train as _train
from ._validation import check_X, check_y
from .backend import check_known_rows, on_model_device, to_numpy
from .grad import forward_and_backward, fuse
from .layers import n_outputs as _n_outputs


class WorkerLostError(RuntimeError):
    """No worker finished a training step within ``timeout`` seconds (workers lost and not
    replaced). The model holds the parameters after the last completed step."""


@on_model_device
def fit(model, X, y, *, client, loss, optimizer="adam", epochs=100, batch_size=32,
        validation_data=None, validation_split=0.0, shuffle=True, seed=None, callbacks=(),
        metrics=("accuracy",), verbose=1, initial_epoch=0, timeout=300.0, worker_backend="auto"):
    """Train ``model`` on dask arrays ``(X, y)`` with the workers of ``client``.

    Parameters
    ----------
    model : Sequential
        Trained in place; it stays where it is (its optimizer steps here), and each worker keeps a
        replica on ``worker_backend``.
    X : dask.array.Array, shape (m, n_in)
        Row blocks on the workers (persisted here when they are not yet). For data larger than the
        workers' memory, use ``dask.array.from_npy_stack(path, mmap_mode="r")``: a block is then a
        memory map, and each step reads only its batch rows.
    y : dask.array.Array or array-like, shape (m,) or (m, n_out)
        Rechunked to ``X``'s row blocks.
    client : distributed.Client
    timeout : float
        Seconds a step may wait for workers (lost ones replaced, lost blocks recomputed) before
        :class:`WorkerLostError` ends the fit.
    worker_backend : str
        The replicas' backend on each worker: ``"auto"`` is CuPy where the worker sees a GPU (one
        worker per GPU under ``dask_cuda.LocalCUDACluster``), else NumPy.
    loss, optimizer, epochs, batch_size, validation_data, validation_split, shuffle, seed, \
callbacks, metrics, verbose, initial_epoch
        As :meth:`xpnet.Sequential.fit`. ``validation_data`` may be dask arrays (evaluated on the
        workers) or host arrays (evaluated here).

    Returns
    -------
    History

    Raises
    ------
    WorkerLostError
        When a step cannot finish within ``timeout``.

    Notes
    -----
    Per step, the parameters go to the workers and one summed gradient comes back. With
    ``metrics``, each step also brings back the batch's outputs and targets (``n_out`` numbers per
    row) to compute the epoch's metrics exactly as ``fit`` does; ``metrics=()`` avoids it.
    """
    import dask.array as da
    from distributed import Client

    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array with client=, got {type(X).__name__} "
                        "(fit host data without client=)")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    _backend.get(worker_backend)  # a name this process knows; the worker resolves it again
    loss, optimizer, metric_fns, callbacks, random, epochs, batch_size, initial_epoch, shuffle = \
        _train._options(loss, optimizer, epochs, batch_size, initial_epoch, shuffle, verbose,
                        metrics, callbacks, seed)
    if len(_train._random_sources(model, random)) > 1:
        raise ValueError("models with Dropout cannot be trained with client= yet: the masks are "
                         "drawn per batch in one process")
    X, y = _dask_pair(X, y, "X", "y")
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_split:
        if not _backend.is_finite_number(validation_split) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be a number in [0, 1), got "
                             f"{validation_split!r}")
        n_val = int(X.shape[0] * validation_split)
        if not 0 < n_val < X.shape[0]:
            raise ValueError(f"validation_split={validation_split} of {X.shape[0]} samples "
                             "leaves an empty split")
        cut = X.shape[0] - n_val
        validation_data = (X[cut:], y[cut:])
        X, y = X[:cut], y[:cut]
    n_out = _n_outputs(model)
    if n_out is None:  # a custom last layer: ask the model, on one row
        first = model.backend.asarray(np.asarray(X[:1].compute()), model.dtype)
        n_out = model.forward(first)[0].shape[1]
    _setup(client)
    # a task's result, not scattered data: Dask can make it again for a worker that joins late
    replica = client.submit(_given, _Replica(model, loss, n_out, worker_backend), pure=False)
    client.replicate([replica])
    train = _ClusterData(client, replica, model, X, y, timeout)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        if isinstance(validation_data[0], da.Array):
            val = _ClusterData(client, replica, model,
                               *_dask_pair(*validation_data, "X_val", "y_val"), timeout,
                               names=("X_val", "y_val"))
        else:
            val = _train._Data(model, loss, *validation_data, n_out, name="X_val",
                               y_name="y_val")
    _train._check_monitors(callbacks, metric_fns, val is not None)
    return _train._train(model, loss, optimizer, train, val, epochs=epochs,
                         batch_size=batch_size, shuffle=shuffle, random=random,
                         metric_fns=metric_fns, callbacks=callbacks, verbose=verbose,
                         initial_epoch=initial_epoch)


def _dask_pair(X, y, x_name, y_name):
    """``X`` as 2-D row blocks (one column block) and ``y`` as a dask array on the same rows."""
    import dask.array as da

    if X.ndim != 2:
        raise ValueError(f"{x_name} must be 2-D, (m samples, n features); got shape {X.shape}")
    check_known_rows(X, x_name)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if not isinstance(y, da.Array):
        y = da.from_array(_backend.host_array(y, y_name, numeric=False), chunks=-1)
    if y.ndim not in (1, 2):
        raise ValueError(f"{y_name} must be 1-D (m,) or 2-D (m, outputs); got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{x_name} has {X.shape[0]} samples but {y_name} has {y.shape[0]}")
    if y.chunks[0] != X.chunks[0] or (y.ndim == 2 and len(y.chunks[1]) > 1):
        y = y.rechunk((X.chunks[0],) + ((-1,) if y.ndim == 2 else ()))
    return X, y


# -- on the workers -------------------------------------------------------------------------------


class _Replica:
    """The model, its loss and output width, as each worker receives them once per fit; the
    worker's copy moves itself to ``backend`` on first use."""

    def __init__(self, model, loss, n_out, backend):
        self.model = model.copy().to("numpy")
        self.loss, self.n_out, self.backend, self.moved = loss, n_out, backend, False

    def __getstate__(self):
        return {**self.__dict__, "moved": False}

    def ready(self, params=None):
        if not self.moved:
            self.model.to(_backend.get(self.backend))
            self.moved = True
        model = self.model
        if params is not None:
            model._assign({k: model.backend.asarray(v, model.dtype) for k, v in params.items()})
        return model


_LOCK = threading.Lock()  # a worker's threads share its replica


def _rows(block, idx):
    """``block[idx]`` copied out; a memory-mapped block's pages are released after the read, so a
    worker's memory holds batches, not the file."""
    rows = block[idx]
    if _release(block):
        rows = np.array(rows)
    return rows


def _release(block) -> bool:
    """Drop a memory-mapped block's pages from this process (clean file pages: re-read on the
    next touch, from the page cache); True when ``block`` is a memory map."""
    handle = getattr(block, "_mmap", None)
    if isinstance(handle, mmap.mmap):
        handle.madvise(mmap.MADV_DONTNEED)
        return True
    return False


def _inputs(replica, params, Xb, yb, idx, names):
    """The replica at ``params`` and the rows ``idx`` of the block (all rows: None) as it takes
    them; the checks of ``check_X`` run on whole blocks (validation), not on every step's rows."""
    model = replica.ready(params)
    if idx is None:
        X, yr = check_X(model, Xb, names[0]), yb
    else:
        X, yr = model.backend.asarray(_rows(Xb, idx), model.dtype), _rows(yb, idx)
    return model, X, check_y(model, replica.loss, yr, X.shape[0], replica.n_out, names[1])


def _check_block(replica, Xb, yb, start, names):
    """Validate one block (the boundary's ValueError, rows counted from ``start``), a slice of
    rows at a time: a memory-mapped block is never in memory whole."""
    with _LOCK:
        for first in range(0, Xb.shape[0], _CHECKED_ROWS):
            part = slice(first, first + _CHECKED_ROWS)
            try:
                _inputs(replica, None, Xb[part], yb[part], None, names)
            except ValueError as err:
                raise ValueError(f"{err} (row {start + first} of {names[0]} is the first of "
                                 "the rows checked)") from None
            finally:
                _release(Xb), _release(yb)
    return Xb.shape[0]


_CHECKED_ROWS = 16384


def _block_step(replica, params, Xb, yb, idx, batch_rows, keep_outputs):
    """This block's share of a step: the batch loss and gradients over its rows ``idx``, each
    weighted by ``len(idx) / batch_rows`` so that the blocks' shares add up to the batch's."""
    with _LOCK:
        model, X, Y = _inputs(replica, params, Xb, yb, idx, ("X", "y"))
        network, head = fuse(model, replica.loss)
        pred, value, grads = forward_and_backward(network, head, X, Y, True)
        share = len(idx) / batch_rows
        return {"value": float(value) * share,
                "grads": {k: to_numpy(g) * share for k, g in grads.items()},
                "outputs": [(to_numpy(pred), to_numpy(Y))] if keep_outputs else []}


def _block_forward(replica, params, Xb, yb):
    with _LOCK:
        model, X, Y = _inputs(replica, params, Xb, yb, None, ("X_val", "y_val"))
        network, head = fuse(model, replica.loss)
        pred = network.forward(X)[0]
        return {"value": float(head(pred, Y)[0]) * X.shape[0], "grads": {},
                "outputs": [(to_numpy(pred), to_numpy(Y))]}


def _add(first, *rest):
    """The sum of block results, left to right (a fixed order: the same bits on any worker)."""
    total = {"value": first["value"], "grads": dict(first["grads"]),
             "outputs": list(first["outputs"])}
    for part in rest:
        total["value"] += part["value"]
        total["grads"] = {k: g + part["grads"][k] for k, g in total["grads"].items()}
        total["outputs"] += part["outputs"]
    return total


def _setup(client):
    """Every worker (and any that joins later) counts a memory-mapped block by what it holds in
    memory, not by its file's size: otherwise Dask would spill (read) whole files to disk."""
    from distributed import WorkerPlugin

    class _MemmapSize(WorkerPlugin):
        name = "xpnet-memmap-sizeof"

        def setup(self, worker):
            _register_memmap_sizeof()

    client.register_plugin(_MemmapSize())
    _register_memmap_sizeof()  # here too: the client may receive a block (errors, gathers)


def _register_memmap_sizeof():
    """Dask counts a whole-file memory map (``np.load(mmap_mode="r")``, as ``from_npy_stack``
    makes) as the reference it is and moves it between workers as one: ``(file, dtype, shape,
    offset)``, so a block the scheduler moves is not read whole (the file must be reachable from
    both workers: one machine, or a shared file system)."""
    from dask.sizeof import sizeof
    from distributed.protocol import dask_deserialize, dask_serialize
    from distributed.protocol.numpy import deserialize_numpy_ndarray, serialize_numpy_ndarray

    def mapped(x):
        return isinstance(x.base, mmap.mmap) and x.filename is not None

    @sizeof.register(np.memmap)
    def _(x):
        return 1024 if mapped(x) else int(x.nbytes)

    @dask_serialize.register(np.memmap)
    def _(x):
        if not mapped(x):
            return serialize_numpy_ndarray(np.asarray(x))
        order = "F" if x.flags.f_contiguous and not x.flags.c_contiguous else "C"
        return {"xpnet-file": [x.filename, x.dtype.str, list(x.shape), x.offset, order]}, []

    @dask_deserialize.register(np.memmap)
    def _(header, frames):
        if "xpnet-file" not in header:
            return deserialize_numpy_ndarray(header, frames)
        filename, dtype, shape, offset, order = header["xpnet-file"]
        return np.memmap(filename, dtype, "r", offset, tuple(shape), order)


# -- in this process ------------------------------------------------------------------------------


class _ClusterData:
    """Training (or validation) data as row blocks on the workers, with :class:`xpnet.train._Data`'s
    ``steps``/``outputs``/``forward``; validated on the workers once, here."""

    streamed = False  # not a host memmap: its rows never come here

    def __init__(self, client, replica, model, X, y, timeout, names=("X", "y")):
        from distributed import futures_of, wait

        self.client, self.replica, self.model, self.timeout = client, replica, model, timeout
        self.backend, self.dtype, self.m = model.backend, model.dtype, X.shape[0]
        self.starts = np.cumsum([0, *X.chunks[0]])
        X, y = client.persist([X, y])
        wait([X, y], timeout=timeout)
        by_key = {f.key: f for f in futures_of(X) + futures_of(y)}
        self.X_blocks = [by_key[k] for k in _flat(X.__dask_keys__())]
        self.y_blocks = [by_key[k] for k in _flat(y.__dask_keys__())]
        self._collections = X, y  # holding them keeps the blocks on the workers
        self._outputs = []
        client.gather([client.submit(_check_block, replica, Xb, yb, int(start), names, pure=False)
                       for Xb, yb, start in zip(self.X_blocks, self.y_blocks, self.starts[:-1],
                                                    strict=True)])

    def steps(self, network, head, size, perm, keep_outputs):
        """As :meth:`xpnet.train._Data.steps`, the work done by the blocks' workers."""
        order = np.arange(self.m) if perm is None else perm
        self._outputs = []
        for start in range(0, self.m, size):
            rows = order[start:start + size]
            block = np.searchsorted(self.starts, rows, side="right") - 1
            parts, where = [], []
            for b in np.unique(block):  # blocks in order: the sum's order depends on nothing else
                mine = np.flatnonzero(block == b)
                parts.append((int(b), rows[mine] - self.starts[b]))
                where.append(mine)
            result = self._reduce([(_block_step, self.X_blocks[b], self.y_blocks[b], idx,
                                    len(rows), keep_outputs) for b, idx in parts])
            if keep_outputs:
                self._outputs.append((np.argsort(np.concatenate(where)), result["outputs"]))
            grads = {k: self.backend.asarray(g, self.dtype) for k, g in result["grads"].items()}
            yield len(rows), self.backend.asarray(result["value"], self.dtype), grads, None
            del result, grads  # before the next step's are gathered (as _Data.steps)

    def outputs(self):
        batches, self._outputs = self._outputs, []
        pred = np.concatenate([np.concatenate([p for p, _ in parts])[back]
                               for back, parts in batches])
        Y = np.concatenate([np.concatenate([t for _, t in parts])[back]
                            for back, parts in batches])
        return self._here(pred, Y)

    def forward(self, network, head, size):
        result = self._reduce([(_block_forward, Xb, yb)
                               for Xb, yb in zip(self.X_blocks, self.y_blocks, strict=True)])
        pred, Y = (np.concatenate(a) for a in zip(*result["outputs"], strict=True))
        return (self.backend.asarray(result["value"], self.dtype), *self._here(pred, Y))

    def _here(self, pred, Y):
        Y = self.backend.asarray(Y) if np.issubdtype(Y.dtype, np.integer) \
            else self.backend.asarray(Y, self.dtype)
        return self.backend.asarray(pred, self.dtype), Y

    def _reduce(self, tasks):
        """Run ``fn(replica, params, *args)`` per task and sum the results by a tree of Dask tasks
        (``_FAN_IN`` children a node), in task order; a step that loses its workers is redone
        until ``timeout``. The parameters travel in tasks, never scattered: Dask can always send
        them again to a worker that replaces a lost one."""
        from distributed.scheduler import KilledWorker

        client = self.client
        params = {k: to_numpy(v) for k, v in self.model.params.items()}
        deadline = time.monotonic() + self.timeout
        while True:
            # small parameters ride in each task (one scheduler hop less per step), large ones
            # go once, as a task's result the blocks' workers fetch
            sent = params if sum(p.nbytes for p in params.values()) <= _INLINE \
                else client.submit(_given, params, pure=False)
            level = [client.submit(fn, self.replica, sent, *args, pure=False)
                     for fn, *args in tasks]
            while len(level) > 1:
                level = [client.submit(_add, *level[i:i + _FAN_IN], pure=False)
                         for i in range(0, len(level), _FAN_IN)]
            try:
                return level[0].result(timeout=max(deadline - time.monotonic(), 1e-3))
            except KilledWorker:  # the task's workers kept dying: redo the step
                if time.monotonic() < deadline:
                    continue
            except TimeoutError:
                pass
            raise WorkerLostError(
                f"no worker finished the training step within timeout={self.timeout}s (workers "
                f"lost and not replaced?); the model holds the parameters after the last "
                f"completed step. With a ModelCheckpoint callback, xpnet.resume continues from "
                f"its last file.")


_INLINE = 1 << 20  # bytes of parameters sent inside each block's task
_FAN_IN = 8  # partial sums per tree node: one level up to 8 blocks, log8 levels beyond


def _given(value):
    return value


def _flat(keys):
    return [k for row in keys for k in _flat(row)] if isinstance(keys, list) else [keys]

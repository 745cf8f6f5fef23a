"""The fit loop: learning, batching, determinism, validation, callbacks, divergence, resume."""

import csv
import math

import numpy as np
import pytest

import xpnet
from xpnet import datasets, optim


def _moons(n=400, noise=0.15, seed=0):
    return datasets.two_moons(n=n, noise=noise, seed=seed)


def _params(model):
    return {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}


def test_question_network_with_adam_solves_xor(backend):
    X, y = datasets.xor()
    model = xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=1, backend=backend)
    history = model.fit(X, y, loss="binary_crossentropy", optimizer=optim.Adam(lr=0.05),
                        epochs=400, batch_size=None, verbose=0)
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < 0.05 < history["loss"][0]


def test_question_network_with_adam_learns_noisy_two_moons(backend):
    X, y = datasets.two_moons(n=1000, noise=0.15, seed=0)
    X_test, y_test = datasets.two_moons(n=1000, noise=0.15, seed=1)
    model = xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=0, backend=backend)
    model.fit(X, y, loss="binary_crossentropy", optimizer=optim.Adam(lr=0.02), epochs=100,
              batch_size=32, seed=0, verbose=0)
    assert model.evaluate(X_test, y_test)["accuracy"] >= 0.97


def test_history_has_one_float_per_epoch_for_each_name(backend):
    X, y = _moons()
    model = xpnet.mlp([2, 8, 1], "tanh", "sigmoid", seed=0, backend=backend)
    history = model.fit(X, y, loss="binary_crossentropy", epochs=3, validation_split=0.25,
                        metrics=("accuracy", "f1"), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1"}
    assert all(len(v) == 3 and all(isinstance(x, float) for x in v)
               for v in history.history.values())
    assert history.epoch == [0, 1, 2] and model.history is history


def test_epoch_loss_is_the_mean_over_samples(backend):
    # lr = 0: parameters never move, so the epoch loss must equal evaluate()'s loss exactly
    X, y = _moons(n=50)
    model = xpnet.mlp([2, 4, 1], "relu", "sigmoid", seed=0, backend=backend, dtype="float64")
    history = model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=0.0), epochs=1,
                        batch_size=7, metrics=(), verbose=0)
    expected = model.evaluate(X, y, metrics=())["loss"]
    assert history["loss"][0] == pytest.approx(expected, rel=1e-12)


def test_full_batch_fit_is_gradient_descent(backend):
    X, y = _moons(n=64)
    model = xpnet.mlp([2, 4, 1], "tanh", "sigmoid", seed=3, backend=backend, dtype="float64")
    by_hand = model.copy()
    model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=0.5), epochs=5,
              batch_size=None, metrics=(), verbose=0)
    for _ in range(5):
        _, grads = xpnet.value_and_grad(by_hand, "binary_crossentropy", X, y)
        with backend.context():  # hand-written array math runs on the model's device (CuPy)
            params = by_hand.params  # assignment writes through: immutable arrays (JAX) too
            for key in params:
                params[key] = params[key] - 0.5 * grads[key]
    for key, value in _params(model).items():
        np.testing.assert_allclose(value, _params(by_hand)[key], rtol=1e-12)


def test_same_seed_same_history_bit_for_bit(backend):
    X, y = _moons()
    runs = []
    for seed in (9, 9, 10):  # the third run differs only in fit's seed: its shuffle
        model = xpnet.mlp([2, 8, 1], "relu", "sigmoid", seed=0, backend=backend)
        model.layers.insert(2, xpnet.Dropout(0.2, seed=5))
        runs.append(model.fit(X, y, loss="binary_crossentropy", epochs=4, batch_size=16, seed=seed,
                              verbose=0).history)
    assert runs[0] == runs[1]
    assert runs[2]["loss"] != runs[0]["loss"]


def test_shuffle_is_numpys_permutation_on_every_backend(backend):
    """Each epoch's batches follow ``numpy.random.default_rng(seed).permutation``, drawn anew per
    epoch from one generator: a manual SGD loop over those batches on NumPy is the oracle."""
    X, y = _moons(n=100)
    model = xpnet.mlp([2, 6, 1], "tanh", "sigmoid", seed=0, backend=backend, dtype="float64")
    manual = xpnet.mlp([2, 6, 1], "tanh", "sigmoid", seed=0, backend="numpy", dtype="float64")
    curve = model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=0.5), epochs=5,
                      batch_size=10, seed=4, metrics=(), verbose=0)["loss"]
    opt, rng, expected = optim.SGD(lr=0.5), np.random.default_rng(4), []
    for _ in range(5):
        order, total = rng.permutation(len(X)), 0.0
        for start in range(0, len(X), 10):
            rows = order[start:start + 10]
            value, grads = xpnet.value_and_grad(manual, "binary_crossentropy", X[rows], y[rows])
            opt.step(manual.params, grads)
            total += float(value) * len(rows)
        expected.append(total / len(X))
    np.testing.assert_allclose(curve, expected, rtol=1e-9)
    for key, value in _params(model).items():
        np.testing.assert_allclose(value, _params(manual)[key], rtol=1e-9, atol=1e-12)


def test_validation_split_holds_out_the_last_rows(backend):
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 4, 1], "tanh", "sigmoid", seed=0, backend=backend, dtype="float64")
    # lr = 0: the parameters never move, so each logged loss is evaluate()'s on its rows
    history = model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=0.0), epochs=1,
                        validation_split=0.25, metrics=(), verbose=0)
    held_out = model.evaluate(X[30:], y[30:], metrics=())["loss"]
    trained_on = model.evaluate(X[:30], y[:30], metrics=())["loss"]
    assert abs(held_out - trained_on) > 1e-3  # else the check below could not tell them apart
    assert history["val_loss"][0] == pytest.approx(held_out, rel=1e-12)
    assert history["loss"][0] == pytest.approx(trained_on, rel=1e-12)


def test_multiclass_with_integer_labels_and_metrics(backend):
    X, y = datasets.spirals(n=300, n_classes=3, noise=0.05, seed=0)
    model = xpnet.mlp([2, 32, 32, 3], "relu", "softmax", seed=0, backend=backend)
    history = model.fit(X, y, loss="crossentropy", optimizer=optim.Adam(lr=0.01), epochs=150,
                        batch_size=64, seed=0, metrics=("accuracy", "f1"), verbose=0)
    assert history["accuracy"][-1] > 0.9
    P = model.predict(X)
    assert tuple(P.shape) == (300, 3)
    np.testing.assert_allclose(xpnet.to_numpy(P).sum(axis=1), 1.0, rtol=1e-5)


def test_predict_in_batches_equals_all_at_once(backend):
    X, _ = _moons(n=103)
    model = xpnet.mlp([2, 5, 1], "relu", "sigmoid", seed=0, backend=backend)
    np.testing.assert_allclose(xpnet.to_numpy(model.predict(X, batch_size=10)),
                               xpnet.to_numpy(model.predict(X)), rtol=1e-6)


def test_memmap_data_is_streamed_and_gives_the_same_result(backend, tmp_path):
    X, y = _moons(n=120)
    mapped = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64,
                                       shape=X.shape)
    mapped[:] = X
    mapped.flush()
    results = []
    for data in (X, mapped):
        model = xpnet.mlp([2, 6, 1], "tanh", "sigmoid", seed=0, backend=backend, dtype="float64")
        results.append(model.fit(data, y, loss="binary_crossentropy", epochs=3, batch_size=25,
                                 seed=1, verbose=0).history)
        results.append(xpnet.to_numpy(model.predict(data, batch_size=50)))
    assert results[0] == results[2]
    np.testing.assert_array_equal(results[1], results[3])


def test_early_stopping_restores_the_best_weights(backend):
    X, y = _moons(n=200)
    model = xpnet.mlp([2, 16, 1], "relu", "sigmoid", seed=0, backend=backend, dtype="float64")
    snapshots = []

    class Record(xpnet.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(_params(self.model))

    stop = xpnet.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # a learning rate so high that the validation loss soon stops improving
    history = model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=40.0),
                        epochs=100, batch_size=None, validation_split=0.3,
                        callbacks=[Record(), stop], verbose=0)
    val = history["val_loss"]
    best = int(np.argmin(val))
    assert len(val) == best + 1 + 3 < 100  # stopped patience + 1 epochs after the best
    assert stop.best_epoch == best
    for key, value in _params(model).items():
        np.testing.assert_array_equal(value, snapshots[best][key])


class _Scripted(xpnet.Callback):
    """Overwrites each epoch's ``val_loss`` with the next scripted value (callbacks after it see
    the script) and records the parameters the epoch ended with."""

    def __init__(self, values):
        self.values, self.snapshots = list(values), []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        self.snapshots.append(_params(self.model))


@pytest.mark.parametrize("patience, stopped", [(0, 3), (1, 4), (2, 5), (3, 10)])
def test_early_stopping_waits_patience_epochs_without_improvement(backend, patience, stopped):
    # best at epoch 2 (epoch 3 only equals it); epochs 3-5 do not beat it, 6 does, 7-11 do not
    script = _Scripted([3.0, 2.0, 1.0, 1.0, 1.5, 1.2, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    stop = xpnet.EarlyStopping(patience=patience)
    history = model.fit(X, y, loss="binary_crossentropy", epochs=12, validation_split=0.25,
                        callbacks=[script, stop], verbose=0)
    # it stops at the (patience + 1)-th epoch in a row that does not improve on the best
    assert len(history["loss"]) == stopped + 1 and stop.stopped_epoch == stopped
    assert stop.best_epoch == (2 if stopped < 6 else 6)


@pytest.mark.parametrize("restore", [True, False])
def test_restore_best_weights_puts_back_the_best_epochs_parameters(backend, restore):
    script = _Scripted([3.0, 1.0, 2.0, 2.5, 2.0])
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=0.5), epochs=5,
              validation_split=0.25, verbose=0,
              callbacks=[script, xpnet.EarlyStopping(patience=10, restore_best_weights=restore)])
    best, last = script.snapshots[1], script.snapshots[-1]
    assert any(not np.array_equal(a, best[k]) for k, a in last.items())  # training moved on
    expected = best if restore else last
    for key, value in _params(model).items():
        np.testing.assert_array_equal(value, expected[key])


@pytest.mark.parametrize("flag", ["model.stop_training", "state.stop_training"])
def test_a_callback_stops_training_after_the_epoch_it_sets_the_flag(backend, flag):
    # Keras users write self.model.stop_training = True; xpnet's own callbacks set the state's
    class StopAtEpoch2(xpnet.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                (self.model if flag.startswith("model") else self.state).stop_training = True

    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    history = model.fit(X, y, loss="binary_crossentropy", epochs=10, callbacks=[StopAtEpoch2()],
                        verbose=0)
    assert history.epoch == [0, 1, 2]
    assert model.stop_training and model.fit_state.stop_training  # both spellings say so
    history = model.fit(X, y, loss="binary_crossentropy", epochs=4, verbose=0)  # a new run
    assert history.epoch == [0, 1, 2, 3] and not model.stop_training
    assert not model.fit_state.stop_training


def test_fit_state_is_what_the_run_leaves_and_what_its_callbacks_see(backend):
    seen = []

    class Watch(xpnet.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((self.state, self.state.epoch, epoch, len(self.state.history.epoch)))

    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    optimizer = optim.SGD(lr=0.1)
    loss = xpnet.losses.BinaryCrossEntropy()
    history = model.fit(X, y, loss=loss, optimizer=optimizer, epochs=3, batch_size=8,
                        validation_split=0.25, callbacks=[Watch()], metrics=("accuracy",),
                        verbose=0)
    state = model.fit_state
    assert isinstance(state, xpnet.callbacks.FitState)
    assert state.loss is loss and state.optimizer is optimizer and state.history is history
    assert model.history is history
    assert (state.epochs, state.initial_epoch, state.epoch, state.completed_epochs) == (3, 0, 2, 3)
    assert state.options == {"batch_size": 8, "shuffle": True, "validation_split": 0.25,
                             "validation_data": False, "metrics": ["accuracy"]}
    assert not state.stop_training
    # one state for the run, its epoch counter set before on_epoch_begin
    assert [(s is state, e, epoch, done) for s, e, epoch, done in seen] == \
        [(True, 0, 0, 0), (True, 1, 1, 1), (True, 2, 2, 2)]


def test_the_callbacks_keep_their_names_in_xpnet_train_and_xpnet():
    for name in ("Callback", "CSVLogger", "EarlyStopping", "History", "LearningRateScheduler",
                 "ModelCheckpoint"):
        assert getattr(xpnet.train, name) is getattr(xpnet.callbacks, name) \
            is getattr(xpnet, name), name
    assert xpnet.train.FitState is xpnet.callbacks.FitState


def test_early_stopping_names_a_monitor_that_is_not_measured(backend):
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    with pytest.raises(ValueError, match=r"monitor='val_loss' is not measured; available: "
                                         r"\['accuracy', 'loss'\]"):
        model.fit(X, y, loss="binary_crossentropy", epochs=2,
                  callbacks=[xpnet.EarlyStopping()], verbose=0)


def test_learning_rate_scheduler_and_csv_logger(backend, tmp_path):
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    opt = optim.SGD(lr=0.8)
    path = tmp_path / "log.csv"
    model.fit(X, y, loss="binary_crossentropy", optimizer=opt, epochs=5, verbose=0,
              callbacks=[xpnet.LearningRateScheduler(optim.StepLR(2, gamma=0.5)),
                         xpnet.CSVLogger(path)])
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [float(r["lr"]) for r in rows] == [0.8, 0.8, 0.4, 0.4, 0.2]
    assert opt.lr == 0.2 and math.isfinite(float(rows[-1]["loss"]))


def test_reduce_on_plateau_through_the_scheduler(backend):
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    opt = optim.SGD(lr=0.0)  # the parameters never move: the loss never improves after epoch 1
    plateau = optim.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.0)
    opt.lr = 1e-30  # effectively frozen yet positive so the reductions are visible
    history = model.fit(X, y, loss="binary_crossentropy", optimizer=opt, epochs=7, shuffle=False,
                        verbose=0, callbacks=[xpnet.LearningRateScheduler(plateau, monitor="loss")])
    assert len(set(history["loss"])) == 1
    # epoch 1 sets the best; the rate is cut on every 2nd (patience + 1) epoch that does not beat
    # it, and ``lr`` logs the rate each epoch trained with
    assert history["lr"] == [1e-30, 1e-30, 1e-30, 5e-31, 5e-31, 2.5e-31, 2.5e-31]


def _diverging(backend):
    X, y = _moons(n=64)
    X = X * 1e6  # unscaled inputs
    model = xpnet.mlp([2, 8, 1], "relu", "identity", seed=0, backend=backend)
    return model, X, y


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_keeps_the_last_finite_parameters(backend):
    model, X, y = _diverging(backend)
    seen = []

    class Record(xpnet.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(_params(self.model))

    with pytest.raises(xpnet.DivergenceError, match=r"training diverged at epoch \d+, step \d+: "
                                                    r"non-finite .*likely cause") as info:
        model.fit(X, y, loss="mse", optimizer=optim.SGD(lr=10.0), epochs=50, batch_size=8,
                  callbacks=[Record()], verbose=0)
    error = info.value
    assert isinstance(error, FloatingPointError)
    assert error.epoch == len(seen)  # the epochs before it completed, and were logged
    assert "standardise X" in str(error)
    assert all(np.isfinite(v).all() for v in _params(model).values())


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_replay_is_exact(backend):
    # fit for the epochs that completed, then compare with an uninterrupted run stopped there
    model, X, y = _diverging(backend)
    with pytest.raises(xpnet.DivergenceError) as info:
        model.fit(X, y, loss="mse", optimizer=optim.SGD(lr=10.0), epochs=50, batch_size=8,
                  seed=0, metrics=(), verbose=0)
    epoch, step = info.value.epoch, info.value.step
    manual, X2, _ = _diverging(backend)
    opt = optim.SGD(lr=10.0)
    random = xpnet.backend.Random(0)
    for e in range(epoch + 1):
        perm = random.permutation(len(X2))
        for s, start in enumerate(range(0, len(X2), 8)):
            if (e, s) == (epoch, step):
                break
            rows = perm[start:start + 8]
            _, grads = xpnet.value_and_grad(manual, "mse", X2[rows], y[rows])
            opt.step(manual.params, grads)
    for key, value in _params(model).items():
        np.testing.assert_array_equal(value, _params(manual)[key])


def test_checkpoint_and_resume_reproduce_the_uninterrupted_run(backend, tmp_path):
    X, y = _moons(n=120)
    def build():
        model = xpnet.mlp([2, 8, 1], "relu", "sigmoid", seed=0, backend=backend)
        model.layers.insert(2, xpnet.Dropout(0.25, seed=3))
        return model

    options = dict(loss="binary_crossentropy", batch_size=16, validation_split=0.2, verbose=0)
    full = build()
    full_history = full.fit(X, y, optimizer=optim.Adam(lr=0.01), epochs=6, seed=1, **options)

    first = build()
    path = tmp_path / "ckpt-{epoch}.xpnet"
    first.fit(X, y, optimizer=optim.Adam(lr=0.01), epochs=3, seed=1,
              callbacks=[xpnet.ModelCheckpoint(path, save_best_only=False)], **options)
    options.pop("loss")
    resumed, history = xpnet.resume(tmp_path / "ckpt-3.xpnet", X, y, epochs=6,
                                    backend=backend, **options)
    exact = backend.name == "numpy"
    for key, values in full_history.history.items():
        if exact:
            assert history[key] == values, key
        else:
            np.testing.assert_allclose(history[key], values, rtol=1e-5)
    for key, value in _params(full).items():
        np.testing.assert_allclose(_params(resumed)[key], value, rtol=0 if exact else 1e-5)


def test_a_resumed_run_carries_the_earlier_epochs_and_a_later_fit_starts_afresh(backend, tmp_path):
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    model.fit(X, y, loss="binary_crossentropy", epochs=2, seed=0, verbose=0,
              callbacks=[xpnet.ModelCheckpoint(tmp_path / "first.xpnet")])
    resumed, _ = xpnet.resume(tmp_path / "first.xpnet", X, y, epochs=4, backend=backend,
                              callbacks=[xpnet.ModelCheckpoint(tmp_path / "second.xpnet")])
    state = resumed.fit_state
    assert (state.initial_epoch, state.completed_epochs, len(state.prior_history["loss"])) == \
        (2, 4, 2)
    _, _, extra = xpnet.load_checkpoint(tmp_path / "second.xpnet")
    assert extra["epoch"] == 4 and len(extra["history"]["loss"]) == 4  # every epoch from the first
    resumed.fit(X, y, loss="binary_crossentropy", epochs=1, verbose=0)  # a run of its own
    assert resumed.fit_state.prior_history == {} and resumed.fit_state.completed_epochs == 1


def test_progress_is_one_line_per_epoch_off_a_terminal(backend, capsys):
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    model.fit(X, y, loss="binary_crossentropy", epochs=3, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3 - loss ")
    assert "accuracy" in lines[-1]
    model.fit(X, y, loss="binary_crossentropy", epochs=3, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_on_a_terminal(backend, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    X, y = _moons(n=40)
    model = xpnet.mlp([2, 3, 1], "relu", "sigmoid", seed=0, backend=backend)
    model.fit(X, y, loss="binary_crossentropy", epochs=3, verbose=1)
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err and "epoch" in err


def test_save_load_round_trip_of_a_fitted_model(backend, tmp_path):
    X, y = _moons(n=60)
    model = xpnet.mlp([2, 5, 1], "tanh", "sigmoid", seed=0, backend=backend)
    model.fit(X, y, loss="binary_crossentropy", epochs=2, verbose=0)
    model.save(tmp_path / "m.xpnet")
    assert [p.name for p in tmp_path.iterdir()] == ["m.xpnet"]
    again = xpnet.load(tmp_path / "m.xpnet", backend=backend)
    np.testing.assert_array_equal(xpnet.to_numpy(again.predict(X)), xpnet.to_numpy(model.predict(X)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_twenty_epochs_give_numpys_history_on_every_backend(backend, dtype, monkeypatch):
    """Same seed, same initial weights and batches: the History equals NumPy's (float64: to 1e-12;
    float32: to float32 rounding). On jax the whole step runs compiled (jax.jit)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 4)), None
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    histories, initial = {}, {}
    traces = []  # the steps that ran on traced arrays (jax.jit compiling the step), by batch size
    plain = xpnet.train.forward_and_backward

    def counted(network, head, X, Y, *args, **kwargs):
        if type(X).__name__.endswith("Tracer"):  # jax's DynamicJaxprTracer and kin
            traces.append(X.shape[0])
        return plain(network, head, X, Y, *args, **kwargs)

    monkeypatch.setattr(xpnet.train, "forward_and_backward", counted)
    for where in ("numpy", backend):  # keys: "numpy" and the backend's str, e.g. "jax:cpu:0"
        model = xpnet.mlp([4, 8, 8, 1], activation="relu", output="sigmoid", seed=0, backend=where,
                          dtype=dtype)
        initial[str(where)] = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
        histories[str(where)] = model.fit(
            X[:80], y[:80], loss="binary_crossentropy", optimizer=optim.Adam(lr=0.01, clip_norm=5.0),
            epochs=20, batch_size=24, seed=1, validation_data=(X[80:], y[80:]), verbose=0).history
    if backend.name == "jax":
        compiled = xpnet.train._COMPILED[model]
        assert len(compiled) == 2  # one compiled step (and its optimizer slot)
        # traced once per batch shape (24 rows, and the last batch's 8) for all 80 steps: Adam's
        # bias corrections, new every step, are inputs of the compiled step, not constants of it
        # (counted at trace time: jit's own cache may be evicted by the rest of the suite)
        assert sorted(traces) == [8, 24]
    else:
        assert traces == []
    ours, reference = histories[str(backend)], histories["numpy"]
    for key, value in initial[str(backend)].items():
        np.testing.assert_array_equal(value, initial["numpy"][key])
    rtol = {"float32": 1e-5, "float64": 1e-12}[dtype]
    assert set(ours) == set(reference) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in ours:
        np.testing.assert_allclose(ours[key], reference[key], rtol=rtol, atol=rtol)
    assert reference["loss"][-1] < 0.8 * reference["loss"][0]


@pytest.mark.parametrize("size", ["small", "large"])  # joined into one check, or one per array
def test_the_epoch_finiteness_check_sees_one_bad_element_in_any_array(backend, size):
    from xpnet import train as _train

    n = 4 if size == "small" else _train._JOIN_ELEMENTS
    shapes = [(n, 3), (3,), (3, 1), (1,)]
    with backend.context():  # as in fit, the model's device is current (CuPy)
        for index, shape in enumerate(shapes):
            for bad in (np.nan, np.inf, -np.inf):
                arrays = [np.ones(s) for s in shapes]
                arrays[index].reshape(-1)[-1] = bad
                arrays = [backend.asarray(a, "float64") for a in arrays]
                assert not bool(_train._all_finite(arrays, xp=backend.xp)), (shape, bad)
        ones = [backend.asarray(np.ones(s), "float64") for s in shapes]
        assert bool(_train._all_finite(ones, xp=backend.xp))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_trained_model_copies_and_trains_on(backend, optimizer):
    """After fit, model.copy() is an independent model that predicts the same and trains on. On
    jax the compiled step left tracers in the optimizer's step coefficients, which the copy (it
    copies fit_state, optimizer included) met as an UnexpectedTracerError."""
    X, y = _moons(n=64)
    model = xpnet.mlp([2, 8, 1], output="sigmoid", seed=0, backend=backend)
    model.fit(X, y, loss="binary_crossentropy", optimizer=optimizer, epochs=2, verbose=0)
    twin = model.copy()
    np.testing.assert_array_equal(xpnet.to_numpy(twin.predict(X)), xpnet.to_numpy(model.predict(X)))
    twin.fit(X, y, loss="binary_crossentropy", optimizer=optimizer, epochs=1, verbose=0)
    assert not np.array_equal(_params(twin)["0.W"], _params(model)["0.W"])


def test_a_regression_fit_scores_no_accuracy_and_refuses_classification_metrics(backend):
    """The default metrics, ("accuracy",), apply where the loss classifies: with MSE they
    recorded a silent accuracy of 0.0 every epoch. Asked for explicitly with MSE, a
    classification metric is refused before training; a single callback not in a list is
    refused naming the argument."""
    X, _ = _moons(n=64)
    target = 3.0 * X[:, 0]
    model = xpnet.mlp([2, 4, 1], seed=0, backend=backend)
    history = model.fit(X, target, loss="mse", epochs=2, verbose=0)
    assert set(history.history) == {"loss"}
    assert set(model.evaluate(X, target, loss="mse")) == {"loss"}
    before = _params(model)
    with pytest.raises(ValueError, match=r"metrics \['accuracy', 'f1'\] score class labels, but "
                                         r"loss='mse'"):
        model.fit(X, target, loss="mse", metrics=("accuracy", "f1", "r2"), epochs=1, verbose=0)
    with pytest.raises(TypeError, match=r"callbacks must be a list .* got EarlyStopping"):
        model.fit(X, target, loss="mse", callbacks=xpnet.callbacks.EarlyStopping("loss"),
                  epochs=1, verbose=0)
    assert all(np.array_equal(v, before[k]) for k, v in _params(model).items())
    assert "r2" in model.fit(X, target, loss="mse", metrics=("r2",), epochs=1, verbose=0).history


def test_metrics_the_targets_cannot_give_are_refused_before_training(backend):
    """A regression metric on cross-entropy's class labels, and ROC AUC on validation rows of
    one class, failed after the first epoch had trained; now before it, the model unchanged."""
    X, y = _moons(n=64)
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    model = xpnet.mlp([2, 4, 3], output="softmax", seed=0, backend=backend)
    before = _params(model)
    with pytest.raises(ValueError, match=r"metrics \['r2'\] compare the outputs with targets of "
                                         r"their shape, but y holds class labels for 3 outputs"):
        model.fit(X, labels, loss="crossentropy", metrics=("accuracy", "r2"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"metric 'roc_auc' is not defined on y_val: it holds "
                                         r"only class\(es\) \[0\] of 3"):
        model.fit(X, labels, loss="crossentropy", metrics=("roc_auc",), epochs=1, verbose=0,
                  validation_data=(X[:8], np.zeros(8, dtype=int)))
    assert all(np.array_equal(v, before[k]) for k, v in _params(model).items())
    history = model.fit(X, labels, loss="crossentropy", metrics=("roc_auc",), epochs=1,
                        verbose=0, validation_data=(X, labels))
    assert set(history.history) == {"loss", "roc_auc", "val_loss", "val_roc_auc"}


@pytest.mark.parametrize("bad", ["0.1x", None, float("nan"), -0.5])
def test_a_schedule_that_returns_no_learning_rate_is_named(backend, bad):
    """A LearningRateScheduler whose function returns no valid learning rate: a ValueError naming
    the schedule and what it returned (a string gave "could not convert string to float")."""
    X, y = _moons(n=32)
    model = xpnet.mlp([2, 4, 1], output="sigmoid", seed=0, backend=backend)
    schedule = xpnet.LearningRateScheduler(lambda epoch, lr: bad)
    with pytest.raises(ValueError, match=r"^schedule\(epoch=0, base_lr=0\.001\) must return the "
                                         r"learning rate, a finite number >= 0; got "):
        model.fit(X, y, loss="binary_crossentropy", callbacks=[schedule], epochs=2, verbose=0)

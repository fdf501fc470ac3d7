"""Per-epoch checkpoints: atomic, pickle-free, tied to one job, and a resumed loop equals an uninterrupted one.

The end-to-end version (a real `linear-learner train` killed by SIGTERM, then restarted in the same
/opt/ml tree) is tests/integration/test_faults.py; here the epoch loop runs in-process on real data so
every optimizer and the early-stopping state can be compared bit for bit.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from linear_learner.errors import TrainingInterrupted
from linear_learner.learner.grid import build_grid
from linear_learner.learner.losses import make_loss
from linear_learner.learner.scaler import fit_scaler
from linear_learner.training import checkpoint as ckpt
from linear_learner.training.data_feed import InMemoryFeed
from linear_learner.training.trainer import Trainer, TrainSettings
from support.settings import train_settings

SETTINGS = train_settings(
    predictor_type="binary_classifier",
    epochs=6,
    mini_batch_size=50,
    momentum=0.9,
    lr_scheduler_step=7,
    early_stopping_patience=3,
)


def _data():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X.astype(np.float32), y.astype(np.float32)
    scaler = fit_scaler(
        X, None, normalize_data=True, unbias_data=True, normalize_label=False, unbias_label=False
    )
    return scaler.transform_inplace(X[:450].copy()), y[:450], X[450:], y[450:], scaler


def _trainer(settings: TrainSettings, scaler, checkpointer=None, should_stop=lambda: False) -> Trainer:
    grid = build_grid(
        4, learning_rate=0.02, wd=1e-4, l1=1e-4, vary_learning_rate=True, vary_wd=True, vary_l1=False
    )
    loss = make_loss("logistic")
    return Trainer(
        settings, grid, loss, loss, scaler, should_stop=should_stop, n_features=30, checkpointer=checkpointer
    )


def _run(settings, tmp: Path | None, stop_after_batches: int | None = None):
    Xt, yt, Xv, yv, scaler = _data()
    feed = InMemoryFeed(Xt, yt, np.ones((len(yt), 1), np.float32))
    calls = iter(range(10**9))
    stop = (lambda: next(calls) >= stop_after_batches) if stop_after_batches is not None else (lambda: False)
    checkpointer = ckpt.Checkpointer(tmp, "job-key") if tmp is not None else None
    return _trainer(settings, scaler, checkpointer, stop).fit(feed, Xv, yv)


def _same_result(a, b) -> None:
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.b, b.b)
    np.testing.assert_array_equal(a.best_values, b.best_values)
    assert a.epochs_run == b.epochs_run
    assert [r.epoch for r in a.history] == [r.epoch for r in b.history]
    for ra, rb in zip(a.history, b.history, strict=True):
        np.testing.assert_allclose(ra.train_loss, rb.train_loss, rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("stop_after", [3, 10, 21])  # 9 batches per epoch: inside epochs 0, 1 and 2
def test_interrupted_then_resumed_loop_equals_uninterrupted(tmp_path: Path, optimizer: str, stop_after: int):
    settings = dataclasses.replace(SETTINGS, optimizer=optimizer)
    reference = _run(settings, None)
    with pytest.raises(TrainingInterrupted):
        _run(settings, tmp_path, stop_after_batches=stop_after)
    completed = stop_after // 9  # epochs finished before the stop
    if completed:
        meta = json.loads(zipfile.ZipFile(tmp_path / ckpt.FILE_NAME).read("state.json"))
        assert meta["epoch"] == completed - 1 and not meta["finished"]
    else:
        assert not (tmp_path / ckpt.FILE_NAME).exists()
    _same_result(_run(settings, tmp_path), reference)


def test_early_stopped_job_resumes_as_finished(tmp_path: Path):
    settings = dataclasses.replace(
        SETTINGS, epochs=40, early_stopping_patience=1, early_stopping_tolerance=0.5
    )
    reference = _run(settings, tmp_path)
    assert reference.epochs_run < 40
    meta = json.loads(zipfile.ZipFile(tmp_path / ckpt.FILE_NAME).read("state.json"))
    assert meta["finished"]
    _same_result(_run(settings, tmp_path), reference)  # no further epochs after a finished loop


def _state() -> ckpt.TrainerState:
    arrays = {"W": np.arange(6, dtype=np.float32).reshape(3, 2), "b": np.ones(2, np.float32)}
    return ckpt.TrainerState(2, False, arrays, {"stopper": {"best": 0.5}})


def test_save_is_atomic_and_pickle_free(tmp_path: Path):
    store = ckpt.Checkpointer(tmp_path, "k")
    store.save(_state())
    store.save(_state())  # replaces the previous one
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.FILE_NAME]  # no temp file left behind
    with zipfile.ZipFile(tmp_path / ckpt.FILE_NAME) as zf:
        assert sorted(zf.namelist()) == ["W.npy", "b.npy", "state.json"]
        for name in ("W.npy", "b.npy"):
            np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
    loaded = store.load({"W": (3, 2), "b": (2,)})
    assert loaded is not None and loaded.epoch == 2
    np.testing.assert_array_equal(loaded.arrays["W"], _state().arrays["W"])


def test_checkpoint_of_another_job_or_shape_is_ignored(tmp_path: Path):
    ckpt.Checkpointer(tmp_path, "k").save(_state())
    assert ckpt.Checkpointer(tmp_path, "other").load({"W": (3, 2)}) is None
    assert ckpt.Checkpointer(tmp_path, "k").load({"W": (4, 2)}) is None


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip", b"PK\x03\x04" + b"\0" * 40],
    ids=["empty", "garbage", "truncated-zip"],
)
def test_unreadable_checkpoint_is_ignored(tmp_path: Path, content: bytes):
    (tmp_path / ckpt.FILE_NAME).write_bytes(content)
    assert ckpt.Checkpointer(tmp_path, "k").load({"W": (3, 2)}) is None


def test_object_array_in_checkpoint_is_refused_not_unpickled(tmp_path: Path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    meta = {
        "format": ckpt.FORMAT_VERSION,
        "key": "k",
        "epoch": 0,
        "finished": False,
        "scalars": {},
        "arrays": ["W"],
    }
    with zipfile.ZipFile(tmp_path / ckpt.FILE_NAME, "w") as zf:
        zf.writestr("W.npy", buf.getvalue())
        zf.writestr("state.json", json.dumps(meta))
    assert ckpt.Checkpointer(tmp_path, "k").load({"W": (1,)}) is None


def test_fingerprint_changes_with_data_and_configuration():
    X = np.ones((3, 2), np.float32)
    base = ckpt.fingerprint({"epochs": "3"}, X)
    assert base == ckpt.fingerprint({"epochs": "3"}, X.copy())
    assert base != ckpt.fingerprint({"epochs": "4"}, X)
    X2 = X.copy()
    X2[2, 1] = 2
    assert base != ckpt.fingerprint({"epochs": "3"}, X2)

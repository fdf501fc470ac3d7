"""File-mode streaming end to end: `linear-learner train` over a channel larger than the memory budget."""

from __future__ import annotations

import json

import numpy as np

from linear_learner.model.artifact import load_artifact
from support.opt_ml import CSV, RECORDIO, OptMl, write_csv, write_recordio

STREAM = {"LINEAR_LEARNER_MEMORY_BUDGET": "20K", "LINEAR_LEARNER_SHUFFLE_BUFFER": "32K"}
HP = {"predictor_type": "multiclass_classifier", "num_classes": 3, "epochs": 4, "num_models": 4}


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    y = np.argmax(X[:, :3] + 0.2 * rng.normal(size=(n, 3)), axis=1).astype(np.float32)
    order = np.argsort(y, kind="stable")  # label-sorted files
    return X[order], y[order]


def _accuracy(model_dir, X, y) -> float:
    art = load_artifact(model_dir)
    return float(np.mean(np.argmax(X @ art.weights + art.bias, axis=1) == y))


def test_streamed_train_validation_and_test_channels(tmp_path):
    X, y = _data(4000)
    Xv, yv = _data(600, seed=1)
    opt = OptMl(tmp_path)
    opt.write_config(HP, {"train": CSV, "validation": CSV, "test": RECORDIO})
    write_csv(opt.channel("train") / "part-0.csv", X[:2500], y[:2500])
    write_csv(opt.channel("train") / "nested" / "part-1.csv", X[2500:], y[2500:])
    write_csv(opt.channel("validation") / "v.csv", Xv, yv)
    write_recordio(opt.channel("test") / "t.pbr", Xv, yv)
    run = opt.train(timeout=300, extra_env=STREAM)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "channel 'train' exceeds the memory budget" in run.stdout
    assert "channel 'test': 600 records, 5 features, scored by streaming" in run.stdout
    assert ", test multiclass_accuracy <score>=" in run.stdout
    assert _accuracy(opt.model_dir, Xv, yv) > 0.85
    metrics = json.loads((opt.base / "output" / "data" / "metrics.json").read_text())
    assert "test" in json.dumps(metrics)


def test_streaming_and_in_memory_reach_the_same_quality(tmp_path):
    X, y = _data(3000)
    Xv, yv = _data(600, seed=1)
    accs = []
    for name, env in (("mem", {}), ("stream", STREAM)):
        opt = OptMl(tmp_path / name)
        opt.write_config(HP, {"train": RECORDIO})
        write_recordio(opt.channel("train") / "t.pbr", X, y)
        run = opt.train(timeout=300, extra_env=env)
        assert run.returncode == 0, run.stdout[-3000:]
        accs.append(_accuracy(opt.model_dir, Xv, yv))
    assert abs(accs[0] - accs[1]) < 0.03, accs


def test_empty_sharded_optional_channel_is_skipped_with_a_message(tmp_path):
    X, y = _data(800)
    opt = OptMl(tmp_path)
    opt.write_config(HP, {"train": CSV, "validation": CSV})
    cfg = opt.base / "input" / "config" / "inputdataconfig.json"
    idc = json.loads(cfg.read_text())
    idc["validation"]["S3DistributionType"] = "ShardedByS3Key"
    idc["train"]["S3DistributionType"] = "ShardedByS3Key"
    cfg.write_text(json.dumps(idc))
    write_csv(opt.channel("train") / "t.csv", X, y)
    opt.channel("validation")  # this host's shard: no objects
    run = opt.train(timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (
        "channel 'validation': this host's ShardedByS3Key shard is empty; carrying on without it"
        in run.stdout
    )
    assert opt.model_files()


def test_empty_streamed_train_channel_is_a_client_error(tmp_path):
    opt = OptMl(tmp_path)
    opt.write_config(HP, {"train": CSV})
    (opt.channel("train") / "blank.csv").write_bytes(b"\n\n\n")
    run = opt.train(timeout=120, extra_env={"LINEAR_LEARNER_MEMORY_BUDGET": "10"})
    assert run.returncode == 1
    line = opt.failure_line()
    assert "channel 'train' file 'blank.csv': 0 records (byte 0)" in line, line
    assert opt.model_files() == []
    in_memory = OptMl(tmp_path / "mem")
    in_memory.write_config(HP, {"train": CSV})
    (in_memory.channel("train") / "blank.csv").write_bytes(b"\n\n\n")
    assert in_memory.train(timeout=120).returncode == 1
    assert "file(s) 'blank.csv': 0 records (byte 0)" in in_memory.failure_line()

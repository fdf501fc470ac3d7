"""Training speed and quality on a covtype-shaped data set, against baselines measured in the same run.

Sections (each prints a table; everything also goes to bench/results/bench_train.json):
  step    GFLOP/s of the multi-model training step (forward + backward GEMMs counted, everything else is
          overhead) vs numpy's own large float32 GEMM, on batches gathered beforehand and over whole
          epochs (shuffle and row gather included); epoch time num_models=32 vs 1.
          Targets: >= 40% of the GEMM's GFLOP/s; 32 models <= 3x one model.
  e2e     `linear-learner train` as a process on RecordIO-protobuf (default hyperparameters, 7 classes)
          vs scikit-learn LogisticRegression(lbfgs, standardised), SGDClassifier(log_loss) for the same
          epochs, and Vowpal Wabbit --oaa 7 (logistic, same passes). Targets: accuracy within 0.3 points
          of LogisticRegression in no more wall time; num_models=1 at least 3x faster than SGDClassifier.
  stream  a CSV channel of --csv-gb GB trained with epochs=2 in File streaming mode (peak RSS, target
          < 1.5 GB for 4 GB) and the same channel in Pipe mode through local_test/pipe_feeder.py
          (rows/s, target >= 80% of File mode).

The machine is shared: figures are medians where repeated, and ratios compare runs made minutes apart.
`--quick` shrinks everything (100k rows, 0.25 GB CSV); `--only step,e2e,stream` picks sections.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "local_test"))
import covtype_like  # noqa: E402
from timing import median_time  # noqa: E402

RESULTS = HERE / "results"
REUSE = False  # --reuse: keep linear-learner results already in --work (the baselines always rerun)
ACC = re.compile(r"#quality_metric: host=\S+, test multiclass_accuracy <score>=(\S+)")
EPOCHS_RUN = re.compile(r'"epochs": \{[^}]*"sum": ([0-9.]+)')
THROUGHPUT = re.compile(r"train throughput=(\S+) records/second")


def split(X, y, seed: int = 0):
    idx = np.random.default_rng(seed).permutation(len(y))
    a, b = int(0.8 * len(y)), int(0.9 * len(y))
    return (X[idx[:a]], y[idx[:a]]), (X[idx[a:b]], y[idx[a:b]]), (X[idx[b:]], y[idx[b:]])


# ---- step -------------------------------------------------------------------------------------------
class GatheredFeed:
    """One epoch's shuffled batches gathered beforehand and replayed every epoch: the Trainer's loop
    with no data-feeding cost, which is what 'the training step' measures."""

    def __init__(self, feed) -> None:
        self.n_rows = feed.n_rows
        self._batches = list(feed.batches(0, 1000))

    def batches(self, epoch: int, batch_size: int):
        return iter(self._batches)


def trainer_epoch_seconds(
    X: np.ndarray, y: np.ndarray, num_models: int, epochs: int = 5, *, pre_gathered: bool = False
) -> float:
    """Median seconds per epoch of the real Trainer on in-memory scaled rows (softmax, adam, batch 1000).

    pre_gathered: replay batches gathered beforehand (the step alone), instead of shuffling and
    gathering each epoch's rows as training does (the whole epoch)."""
    from linear_learner.learner.grid import build_grid
    from linear_learner.learner.losses import make_loss
    from linear_learner.learner.scaler import fit_scaler
    from linear_learner.training.data_feed import InMemoryFeed
    from linear_learner.training.trainer import Trainer, TrainSettings, sample_weights

    scaler = fit_scaler(
        X[:10000], None, normalize_data=True, unbias_data=True, normalize_label=False, unbias_label=False
    )
    Xs = scaler.transform_inplace(X.copy())
    s = TrainSettings(
        predictor_type="multiclass_classifier", num_outputs=7, epochs=epochs, mini_batch_size=1000,
        optimizer="adam", momentum=0.0, beta_1=0.9, beta_2=0.999, bias_lr_mult=10.0, bias_wd_mult=0.0,
        use_bias=True, init_method="uniform", init_scale=0.07, init_sigma=0.01, init_bias=0.0,
        use_lr_scheduler=True, lr_scheduler_step=100, lr_scheduler_factor=0.99, lr_scheduler_minimum_lr=1e-5,
        early_stopping_patience=epochs + 1, early_stopping_tolerance=0.0, criterion="loss",
    )  # fmt: skip
    grid = build_grid(
        num_models, learning_rate=0.01, wd=1e-4, l1=0.0, vary_learning_rate=True, vary_wd=True, vary_l1=True
    )
    loss = make_loss("softmax_loss")
    trainer = Trainer(s, grid, loss, loss, scaler, n_features=X.shape[1])
    feed = InMemoryFeed(Xs, y, sample_weights("multiclass_classifier", y, grid, None))
    result = trainer.fit(GatheredFeed(feed) if pre_gathered else feed)
    return statistics.median(r.seconds for r in result.history)


def section_step(X, y, quick: bool) -> dict:
    from threadpoolctl import threadpool_info, threadpool_limits

    size = 2048 if quick else 4096
    A = np.random.default_rng(0).random((size, size), dtype=np.float32)
    A @ A
    gemm = 2 * size**3 / median_time(lambda: A @ A, 3) / 1e9
    with threadpool_limits(1, user_api="blas"):
        gemm1 = 2 * size**3 / median_time(lambda: A @ A, 3) / 1e9
    kernel = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()]
    n, F = X.shape
    t32 = trainer_epoch_seconds(X, y, 32)
    t1 = trainer_epoch_seconds(X, y, 1)
    t32_step = trainer_epoch_seconds(X, y, 32, pre_gathered=True)
    flops = 4.0 * n * F * 7 * 32  # forward X W and backward X^T G per epoch
    step = flops / t32_step / 1e9
    epoch = flops / t32 / 1e9
    out = {
        "blas": kernel,
        "gemm_gflops_default_threads": gemm,
        "gemm_gflops_1_thread": gemm1,
        "step_gflops_32_models": step,
        "step_vs_gemm": step / gemm,
        "epoch_gflops_32_models": epoch,
        "epoch_vs_gemm": epoch / gemm,
        "epoch_s_32_models": t32,
        "epoch_s_1_model": t1,
        "ratio_32_vs_1": t32 / t1,
        "rows": n,
    }
    print(f"\n== step ({n} rows x {F} features, 7 classes, batch 1000, adam)   BLAS: {kernel}")
    print(f"numpy float32 GEMM {size}^3: {gemm:.1f} GFLOP/s (default threads), {gemm1:.1f} (1 thread)")
    print(
        f"multi-model step, 32 models (forward, loss, backward, adam; batches gathered beforehand): "
        f"{step:.1f} GFLOP/s = {step / gemm:.0%} of the GEMM  [target >= 40%]"
    )
    print(f"whole epoch incl. per-epoch shuffle and row gather: {epoch:.1f} GFLOP/s = {epoch / gemm:.0%}")
    print(f"epoch: 32 models {t32:.3f} s, 1 model {t1:.3f} s, ratio {t32 / t1:.2f}x  [target <= 3x]")
    return out


# ---- e2e --------------------------------------------------------------------------------------------
def run_job(base: Path, hp: dict, channels: dict[str, str], env: dict | None = None, pipe=None) -> dict:
    """Run `linear-learner train` as a process; wall time, peak RSS (wait4), stdout."""
    cfg = base / "input" / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hp.items()}))
    mode = "Pipe" if pipe else "File"
    idc = {
        c: {"ContentType": ct, "TrainingInputMode": mode, "S3DistributionType": "FullyReplicated"}
        for c, ct in channels.items()
    }
    (cfg / "inputdataconfig.json").write_text(json.dumps(idc))
    done = base / "result.json"
    if REUSE and done.exists():
        return json.loads(done.read_text())
    full_env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), **(env or {})}
    feeders = pipe() if pipe else []
    t0 = time.perf_counter()
    out_path = base / "stdout.log"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "linear_learner.cli", "train"],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for f in feeders:
        f.stop()
    text = out_path.read_text(errors="replace")
    if status != 0:
        raise RuntimeError(f"linear-learner train failed ({status}):\n{text[-3000:]}")
    acc = ACC.search(text)
    tp = [float(v) for v in THROUGHPUT.findall(text)]
    result = {
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "test_accuracy": float(acc.group(1)) if acc else None,
        "epochs_run": int(float(EPOCHS_RUN.search(text).group(1))) if EPOCHS_RUN.search(text) else None,
        "rows_per_s": statistics.median(tp) if tp else None,
    }
    done.write_text(json.dumps(result))
    return result


def write_vw(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    with open(path, "w") as fh:
        for xi, yi in zip(X.tolist(), y.astype(int).tolist(), strict=True):
            fh.write(f"{yi + 1} | " + " ".join(f"{j}:{v:.7g}" for j, v in enumerate(xi) if v != 0) + "\n")


def section_e2e(X, y, quick: bool, work: Path) -> dict:
    from sagemaker.amazon.common import write_numpy_to_dense_tensor
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    (Xtr, ytr), (Xva, yva), (Xte, yte) = split(X, y)
    data = work / "e2e_data"
    for name, (A, b) in {"train": (Xtr, ytr), "validation": (Xva, yva), "test": (Xte, yte)}.items():
        (data / name).mkdir(parents=True, exist_ok=True)
        with open(data / name / "data.pbr", "wb") as fh:
            write_numpy_to_dense_tensor(fh, A, b)

    def job(tag: str, extra: dict) -> dict:
        base = work / f"e2e_{tag}"
        (base / "input").mkdir(parents=True, exist_ok=True)
        link = base / "input" / "data"
        if not link.exists():
            link.symlink_to(data)
        hp = {"predictor_type": "multiclass_classifier", "num_classes": 7, "feature_dim": 54, **extra}
        ch = {c: "application/x-recordio-protobuf" for c in ("train", "validation", "test")}
        return run_job(base, hp, ch)

    rows = {}
    rows["linear-learner (defaults, 32 models)"] = job("m32", {})
    epochs = rows["linear-learner (defaults, 32 models)"]["epochs_run"] or 15
    rows["linear-learner num_models=1"] = m1 = job("m1", {"num_models": 1})
    epochs_m1 = m1["epochs_run"] or 15

    def timed(fn):
        t0 = time.perf_counter()
        model = fn()
        return model, time.perf_counter() - t0

    # Baselines run with numpy's default BLAS threads (every core), as our training step uses both
    # cores (training/step.py); SGDClassifier and Vowpal Wabbit are single-threaded learners anyway.
    lr, t = timed(lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(Xtr, ytr))
    rows["sklearn LogisticRegression lbfgs"] = {"wall_s": t, "test_accuracy": lr.score(Xte, yte)}
    sgd, t = timed(
        lambda: make_pipeline(
            StandardScaler(), SGDClassifier(loss="log_loss", max_iter=epochs_m1, tol=None, random_state=0)
        ).fit(Xtr, ytr)
    )
    rows[f"sklearn SGDClassifier log_loss, {epochs_m1} epochs"] = {
        "wall_s": t,
        "test_accuracy": sgd.score(Xte, yte),
    }
    try:
        import vowpalwabbit

        write_vw(work / "train.vw", Xtr, ytr)
        write_vw(work / "test.vw", Xte, yte)
        cache = work / "train.vw.cache"
        cache.unlink(missing_ok=True)
        t0 = time.perf_counter()
        vw = vowpalwabbit.Workspace(
            f"--oaa 7 --loss_function logistic --passes {epochs} -c -k --cache_file {cache} "
            f"-d {work / 'train.vw'} -f {work / 'vw.model'} --quiet"
        )
        vw.run_parser()
        vw.finish()
        t = time.perf_counter() - t0
        pred = vowpalwabbit.Workspace(f"-i {work / 'vw.model'} -t --quiet")
        with open(work / "test.vw") as fh:
            p = np.array([pred.predict(line) for line in fh]) - 1
        pred.finish()
        rows[f"Vowpal Wabbit --oaa 7, {epochs} passes (train only)"] = {
            "wall_s": t,
            "test_accuracy": float(np.mean(p == yte)),
        }
    except ImportError:
        print("vowpalwabbit not installed: pip install vowpalwabbit")
    lr_row = rows["sklearn LogisticRegression lbfgs"]
    sgd_row = rows[f"sklearn SGDClassifier log_loss, {epochs_m1} epochs"]
    ll = rows["linear-learner (defaults, 32 models)"]
    print(
        f"\n== end to end ({len(ytr)} train / {len(yte)} test rows; linear-learner as a process reading RecordIO)"
    )
    print(f"{'learner':<48} {'wall s':>8} {'test acc':>9} {'epochs':>7}")
    for name, r in rows.items():
        print(f"{name:<48} {r['wall_s']:8.2f} {r['test_accuracy']:9.4f} {r.get('epochs_run') or '':>7}")
    gap = 100 * (lr_row["test_accuracy"] - ll["test_accuracy"])
    print(
        f"accuracy gap to LogisticRegression: {gap:+.2f} points [target <= 0.3]; wall ratio {ll['wall_s'] / lr_row['wall_s']:.2f}x [target <= 1]"
    )
    print(
        f"num_models=1 vs SGDClassifier same epochs: {sgd_row['wall_s'] / m1['wall_s']:.2f}x faster [target >= 3x]"
    )
    return rows


# ---- stream -----------------------------------------------------------------------------------------
def write_big_csv(path: Path, X: np.ndarray, y: np.ndarray, gigabytes: float) -> int:
    """Label (class 1 vs rest) + 54 features, repeated blocks until the size; returns rows written."""
    text = io.StringIO()
    np.savetxt(text, np.column_stack([(y == 1).astype(np.float32), X]), delimiter=",", fmt="%.6g")
    block = text.getvalue().encode()
    block_rows = len(y)
    target = int(gigabytes * (1 << 30))
    rows = 0
    with open(path, "wb") as fh:
        written = 0
        while written < target:
            fh.write(block)
            written += len(block)
            rows += block_rows
    return rows


def section_stream(X, y, quick: bool, work: Path, gigabytes: float) -> dict:
    from pipe_feeder import PipeFeeder

    data = work / "stream_data"
    (data / "train").mkdir(parents=True, exist_ok=True)
    csv = data / "train" / "big.csv"
    if not csv.exists() or abs(csv.stat().st_size - gigabytes * (1 << 30)) > 0.1 * (1 << 30):
        rows = write_big_csv(csv, X, y, gigabytes)
    else:
        rows = None
    size_gb = csv.stat().st_size / (1 << 30)
    hp = {"predictor_type": "binary_classifier", "epochs": 2, "feature_dim": 54}
    env = {}
    if quick:  # make the small file stream too, as the 4 GB one does under the default budget
        env["LINEAR_LEARNER_MEMORY_BUDGET"] = str(int(0.5 * csv.stat().st_size))
    base = work / "stream_file"
    (base / "input").mkdir(parents=True, exist_ok=True)
    if not (base / "input" / "data").exists():
        (base / "input" / "data").symlink_to(data)
    file_run = run_job(base, hp, {"train": "text/csv"}, env)
    pbase = work / "stream_pipe"
    (pbase / "input" / "data").mkdir(parents=True, exist_ok=True)
    pipe_run = run_job(
        pbase, hp, {"train": "text/csv"}, env,
        pipe=lambda: [PipeFeeder(pbase / "input" / "data", "train", [csv]).start()],
    )  # fmt: skip
    ratio = pipe_run["rows_per_s"] / file_run["rows_per_s"]
    print(f"\n== streaming ({size_gb:.2f} GB CSV, binary, epochs=2, default num_models)")
    print(f"{'mode':<10} {'wall s':>8} {'peak RSS MB':>12} {'rows/s (epoch median)':>22}")
    for name, r in (("File", file_run), ("Pipe", pipe_run)):
        print(f"{name:<10} {r['wall_s']:8.1f} {r['peak_rss_mb']:12.0f} {r['rows_per_s']:22.0f}")
    print(
        f"peak RSS File {file_run['peak_rss_mb']:.0f} MB [target < 1536 MB for 4 GB]; Pipe/File rows/s {ratio:.2f} [target >= 0.8]"
    )
    return {"csv_gb": size_gb, "rows": rows, "file": file_run, "pipe": pipe_run, "pipe_vs_file": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="step,e2e,stream")
    parser.add_argument("--csv-gb", type=float, default=None)
    parser.add_argument("--work", type=Path, default=None, help="keep generated data here between runs")
    parser.add_argument("--reuse", action="store_true", help="reuse finished linear-learner runs in --work")
    args = parser.parse_args()
    global REUSE
    REUSE = args.reuse
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    n = 100_000 if args.quick else covtype_like.N_ROWS
    X, y = covtype_like.make(n)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_train_"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"rows": n, "quick": args.quick}
    only = set(args.only.split(","))
    if "step" in only:
        (Xtr, ytr), _, _ = split(X, y)
        results["step"] = section_step(Xtr, ytr, args.quick)
    if "e2e" in only:
        results["e2e"] = section_e2e(X, y, args.quick, work)
    if "stream" in only:
        gb = args.csv_gb or (0.25 if args.quick else 4.0)
        results["stream"] = section_stream(X, y, args.quick, work, gb)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("bench_train_quick.json" if args.quick else "bench_train.json")).write_text(
        json.dumps(results, indent=1, default=str)
    )


if __name__ == "__main__":
    _ = threading  # feeders run in threads
    main()

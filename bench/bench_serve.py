"""Serving throughput next to a bare Flask route under the same gunicorn settings (issue 3).

Measures, in one run on this machine and over loopback only:
  * requests/s and p50/p99 latency for 1-row text/csv and application/json requests,
  * rows/s for 1,000-row text/csv and application/x-recordio-protobuf requests,
  * the same for a bare Flask route answering 200 to the same bodies, served by gunicorn with exactly the
    options `linear-learner serve` uses (serving.server.gunicorn_options), so the ratio isolates our work.

Targets (issue 3): 1-row requests >= 70% of the bare route's rate; 1,000-row CSV >= 200,000 rows/s on
2 cores. Nothing is asserted: the figures are printed for a person to read.

    python bench/bench_serve.py [--workers 2] [--clients 4] [--requests 2000] [--big-requests 120] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linear_learner.model.artifact import ModelArtifact, save_artifact

FEATURES = 30  # the width of the breast-cancer data the binary examples use
CSV, JSON, RECORDIO = "text/csv", "application/json", "application/x-recordio-protobuf"

BARE_APP = """
import sys
from flask import Flask, request
from linear_learner.env import ServingSettings
from linear_learner.serving.server import gunicorn_options, serve

def build():
    app = Flask("bare")

    @app.post("/invocations")
    def invocations():
        request.get_data()  # the body must be consumed for the keep-alive connection to be reused
        return "", 200

    @app.get("/ping")
    def ping():
        return "", 200

    return app

settings = ServingSettings(port=int(sys.argv[1]), workers=int(sys.argv[2]))
sys.exit(serve(build, gunicorn_options(settings)))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_model(base: Path, rng: np.random.Generator) -> None:
    """A binary logistic model with random weights: serving cost does not depend on the values."""
    w = rng.normal(size=(FEATURES, 1)).astype(np.float32)
    b = np.zeros(1, np.float32)
    save_artifact(
        ModelArtifact(
            predictor_type="binary_classifier",
            loss="logistic",
            feature_dim=FEATURES,
            num_classes=None,
            weights=w,
            bias=b,
            scaled_weights=w,
            scaled_bias=b,
            feature_mean=np.zeros(FEATURES, np.float32),
            feature_std=np.ones(FEATURES, np.float32),
            threshold=0.5,
        ),
        base / "model",
    )


def start(cmd: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def client(
    port: int, body: bytes, content_type: str, n: int, warmup: int
) -> tuple[float, float, list[float]]:
    """One keep-alive connection sending n requests back to back; (start, end, latencies in s)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    latencies = []
    start = 0.0
    for i in range(warmup + n):
        if i == warmup:
            start = time.perf_counter()
        t0 = time.perf_counter()
        conn.request("POST", "/invocations", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        if i >= warmup:
            latencies.append(time.perf_counter() - t0)
    end = time.perf_counter()
    conn.close()
    return start, end, latencies


@dataclass
class Result:
    name: str
    rows: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows


def measure(
    pool: ProcessPoolExecutor,
    name: str,
    port: int,
    body: bytes,
    content_type: str,
    rows: int,
    total: int,
    clients: int,
) -> Result:
    per_client = max(1, total // clients)
    warmup = max(5, per_client // 20)
    futures = [pool.submit(client, port, body, content_type, per_client, warmup) for _ in range(clients)]
    parts = [f.result() for f in futures]
    lat = np.concatenate([p[2] for p in parts]) * 1000
    seconds = max(p[1] for p in parts) - min(p[0] for p in parts)
    return Result(
        name,
        rows,
        per_client * clients,
        seconds,
        float(np.percentile(lat, 50)),
        float(np.percentile(lat, 99)),
    )


def bodies(rng: np.random.Generator) -> dict[str, bytes]:
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    one = np.round(rng.normal(size=(1, FEATURES)), 6)
    big = np.round(rng.normal(size=(1000, FEATURES)), 6)
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, big)  # what the SDK's RecordSerializer sends (Float64)
    return {
        "csv1": ",".join(map(repr, one[0].tolist())).encode(),
        "json1": json.dumps({"instances": [{"features": one[0].tolist()}]}).encode(),
        "csv1000": "\n".join(",".join(map(repr, r)) for r in big.tolist()).encode(),
        "rec1000": buf.getvalue(),
    }


#: (key, label, server, body key, content type, rows per request, big?)
CASES = (
    ("bare1", "bare Flask route, 1-row body", "bare", "csv1", CSV, 1, False),
    ("csv1", "text/csv, 1 row", "ll", "csv1", CSV, 1, False),
    ("json1", "application/json, 1 row", "ll", "json1", JSON, 1, False),
    ("bare1000", "bare Flask route, 1,000-row CSV body", "bare", "csv1000", CSV, 1000, True),
    ("csv1000", "text/csv, 1,000 rows", "ll", "csv1000", CSV, 1000, True),
    ("rec1000", "recordio-protobuf, 1,000 rows", "ll", "rec1000", RECORDIO, 1000, True),
)


def cpu_ms_per_request(base: Path, body: dict[str, bytes], repeats: int = 100) -> dict[str, float]:
    """CPU milliseconds per request inside the app (Flask test client, one BLAS thread, no HTTP).

    process_time counts only this process's CPU, so on a shared, loaded machine this stays close to
    what an idle core would do, where the wall-clock rates above do not.
    """
    from threadpoolctl import threadpool_limits

    from linear_learner.env import ServingSettings
    from linear_learner.model.artifact import load_artifact
    from linear_learner.model.predictor import Predictor
    from linear_learner.serving.app import create_app

    threadpool_limits(1)
    client = create_app(Predictor(load_artifact(base / "model")), ServingSettings()).test_client()
    out = {}
    for key, _, server, body_key, ctype, _, _ in CASES:
        if server != "ll":
            continue

        def call(data: bytes = body[body_key], content_type: str = ctype) -> None:
            response = client.post("/invocations", data=data, content_type=content_type)
            assert response.status_code == 200

        call()
        start = time.process_time()
        for _ in range(repeats):
            call()
        out[key] = (time.process_time() - start) / repeats * 1000
    return out


CASES_ROWS = {case[0]: case[5] for case in CASES}


def median_result(results: list[Result]) -> Result:
    """The round with the median rate: on a shared machine one round can be hit by someone else's load."""
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000, help="1-row requests per case and round")
    parser.add_argument("--big-requests", type=int, default=120, help="1,000-row requests per case and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all cases; the median is shown")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    body = bodies(rng)
    runs: dict[str, list[Result]] = {case[0]: [] for case in CASES}
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.clients) as pool:
        base = Path(tmp)
        write_model(base, rng)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
        ports = {"ll": free_port(), "bare": free_port()}
        ll_env = {
            **env,
            "SAGEMAKER_BASE_DIR": str(base),
            "SAGEMAKER_BIND_TO_PORT": str(ports["ll"]),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(args.workers),
        }
        script = Path(sys.executable).with_name("linear-learner")
        serve_cmd = (
            [str(script), "serve"]
            if script.exists()
            else [sys.executable, "-m", "linear_learner.cli", "serve"]
        )
        bare_cmd = [sys.executable, "-c", BARE_APP, str(ports["bare"]), str(args.workers)]
        servers = [
            start(serve_cmd, ll_env, ports["ll"], base / "ll.log"),
            start(bare_cmd, env, ports["bare"], base / "bare.log"),
        ]
        try:
            # Rounds interleave bare and real cases so drift (thermal, other load) hits both alike.
            for _ in range(args.rounds):
                for key, label, server, body_key, ctype, rows, big in CASES:
                    total = args.big_requests if big else args.requests
                    runs[key].append(
                        measure(pool, label, ports[server], body[body_key], ctype, rows, total, args.clients)
                    )
        finally:
            for proc in servers:
                proc.terminate()
            for proc in servers:
                proc.wait(timeout=35)
        cpu = cpu_ms_per_request(base, body)

    med = {key: median_result(results) for key, results in runs.items()}
    print(
        f"\nbench_serve: {args.workers} gunicorn workers (gthread), {args.clients} keep-alive client processes, "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), {FEATURES} features, "
        f"Accept application/json, median of {args.rounds} rounds\n"
    )
    header = f"{'case':38s} {'requests':>8s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'rows/s':>10s} {'vs bare':>7s}"
    print(header)
    print("-" * len(header))
    for key, *_ in CASES:
        r = med[key]
        ref = med["bare1000" if r.rows > 1 else "bare1"]
        print(
            f"{r.name:38s} {r.requests:8d} {r.rps:8.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.rows_per_s:10.0f} "
            f"{r.rps / ref.rps:7.0%}"
        )
    print(
        "\nper round req/s: "
        + "; ".join(f"{k} " + "/".join(f"{r.rps:.0f}" for r in v) for k, v in runs.items())
    )
    print(f"1-row CSV  / bare: {med['csv1'].rps / med['bare1'].rps:.0%}   (target >= 70%)")
    print(f"1-row JSON / bare: {med['json1'].rps / med['bare1'].rps:.0%}   (target >= 70%)")
    print(f"1,000-row CSV: {med['csv1000'].rows_per_s:,.0f} rows/s   (target >= 200,000 on 2 cores)")
    print(f"1,000-row RecordIO: {med['rec1000'].rows_per_s:,.0f} rows/s")
    print(
        "\nin-process CPU per request (app only, no HTTP): "
        + "; ".join(
            f"{key} {ms:.2f} ms ({CASES_ROWS[key] / ms * 1000:,.0f} rows per CPU-second)"
            for key, ms in cpu.items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

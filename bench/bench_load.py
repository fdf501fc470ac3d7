"""Load test of the real gunicorn server on loopback: mixed valid and invalid requests at saturation.

    python bench/bench_load.py                   # 300 s, 8 client threads, 2 workers
    python bench/bench_load.py --duration 30 --threads 4

A model is trained with `linear-learner train` in a temp /opt/ml tree and served by `linear-learner
serve` on 127.0.0.1 (never another address). Client threads with keep-alive sessions send a fixed mix:
valid CSV / JSON / JSON Lines / RecordIO-protobuf (SDK-serialised), and invalid bodies, content types,
Accept headers and an over-limit body. Every response is checked: the expected status, a Content-Type
naming the body, the right number of predictions for valid requests, a short text/plain reason for
errors. Half way through, one worker is SIGKILLed: gunicorn must replace it, /ping must answer, and
only requests in flight on that worker may fail. Printed: requests by class and status, malformed
responses, p50/p99 latency of valid requests, worker RSS at start and end, the worker-kill outcome.
Bounded by --duration and --max-requests. Exit status 1 when a valid request got a 5xx or a response
was malformed (outside the kill window).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "robustness")]
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

from robust_server import FEATURES, start_server, train_small_model  # noqa: E402


def _requests(rng: np.random.Generator) -> list[tuple[str, str, dict, bytes, int, int]]:
    """(name, kind, headers, body, expected status, rows) — kind is 'valid' or 'invalid'."""
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    X = rng.normal(size=(20, FEATURES)).round(4)
    csv = "\n".join(",".join(map(str, r)) for r in X).encode()
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X.astype(np.float32))
    ct = "Content-Type"
    return [
        ("csv", "valid", {ct: "text/csv"}, csv, 200, 20),
        ("csv-accept-csv", "valid", {ct: "text/csv", "Accept": "text/csv"}, csv, 200, 20),
        (
            "json",
            "valid",
            {ct: "application/json"},
            json.dumps({"instances": [{"features": list(r)} for r in X]}).encode(),
            200,
            20,
        ),
        (
            "jsonl",
            "valid",
            {ct: "application/jsonlines", "Accept": "application/jsonlines"},
            "\n".join(json.dumps({"features": list(r)}) for r in X).encode(),
            200,
            20,
        ),
        (
            "recordio",
            "valid",
            {ct: "application/x-recordio-protobuf", "Accept": "application/json"},
            buf.getvalue(),
            200,
            20,
        ),
        ("empty", "valid", {ct: "text/csv"}, b"\n\n", 204, 0),
        ("bad-number", "invalid", {ct: "text/csv"}, b"1,2,abc\n", 400, 0),
        ("wrong-width", "invalid", {ct: "text/csv"}, b"1,2\n", 400, 0),
        ("bad-json", "invalid", {ct: "application/json"}, b'{"instances": [', 400, 0),
        ("nested-json", "invalid", {ct: "application/json"}, b"[" * 50_000, 400, 0),
        (
            "bad-recordio",
            "invalid",
            {ct: "application/x-recordio-protobuf"},
            b"\x0a\x23\xd7\xce\xff\xff\xff\x1f",
            400,
            0,
        ),
        ("no-content-type", "invalid", {}, csv, 415, 0),
        ("bad-accept", "invalid", {ct: "text/csv", "Accept": "image/png"}, csv, 406, 0),
        ("too-large", "invalid", {ct: "text/csv"}, b"1,2,3\n" * ((7 << 20) // 6), 413, 0),
    ]


WEIGHTS = {"too-large": 1, "nested-json": 5}  # others 20: the 7 MB body is rare, as in real traffic


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status: Counter = Counter()
        self.errors: Counter = Counter()
        self.malformed: list[str] = []
        self.latencies: list[float] = []
        self.failures_at: list[float] = []  # times of connection errors / 5xx
        self.sent = 0


def _check(name: str, headers: dict, status: int, rows: int, resp: requests.Response) -> str | None:
    """A reason the response is malformed, or None."""
    if resp.status_code != status:
        return f"{name}: status {resp.status_code}, want {status}: {resp.text[:120]!r}"
    ctype = resp.headers.get("Content-Type", "")
    if status == 204:
        return None if not resp.content else f"{name}: 204 with a body"
    if status >= 400:
        ok = ctype.startswith("text/plain") and resp.text.strip() and len(resp.content) < 2000
        return None if ok else f"{name}: error body {ctype!r} {resp.content[:80]!r}"
    want = headers.get("Accept", "application/json")
    if not ctype.startswith(want):
        return f"{name}: Content-Type {ctype!r}, want {want}"
    if want == "application/json":
        n = len(resp.json()["predictions"])
    else:
        n = resp.content.count(b"\n")
    return None if n == rows else f"{name}: {n} predictions for {rows} rows"


def _client(url: str, mix: list, deadline: float, limit: int, res: Results, seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = np.array([WEIGHTS.get(m[0], 20) for m in mix], float)
    weights /= weights.sum()
    session = requests.Session()
    while time.monotonic() < deadline:
        with res.lock:
            if res.sent >= limit:
                return
            res.sent += 1
        name, kind, headers, body, status, rows = mix[rng.choice(len(mix), p=weights)]
        t0 = time.monotonic()
        try:
            resp = session.post(f"{url}/invocations", data=body, headers=headers, timeout=60)
        except requests.RequestException as exc:
            with res.lock:
                res.errors[(kind, type(exc).__name__)] += 1
                res.failures_at.append(time.monotonic())
            session = requests.Session()
            continue
        elapsed = time.monotonic() - t0
        problem = _check(name, headers, status, rows, resp)
        with res.lock:
            res.status[(kind, resp.status_code)] += 1
            if kind == "valid" and resp.status_code < 300:
                res.latencies.append(elapsed)
            if resp.status_code >= 500:
                res.failures_at.append(time.monotonic())
            if problem:
                res.malformed.append(f"{time.monotonic():.2f} {problem}")


def _rss(pids) -> dict[int, int]:
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            out[pid] = psutil.Process(pid).memory_info().rss
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--max-requests", type=int, default=2_000_000, help="request cap (default 2,000,000)")
    parser.add_argument("--no-kill", action="store_true", help="do not kill a worker half way")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-load-"))
    train_small_model(base)
    server = start_server(
        base, base / "server.log", workers=args.workers, payload_mb=6
    )  # the SageMaker default
    mix = _requests(np.random.default_rng(0))
    res = Results()
    try:
        for name, _, headers, body, status, rows in mix:  # warm-up: every request once, checked
            problem = _check(
                name,
                headers,
                status,
                rows,
                requests.post(f"{server.url}/invocations", data=body, headers=headers, timeout=60),
            )
            assert problem is None, problem
        workers = sorted(server.workers())
        rss_start = _rss(workers)
        deadline = time.monotonic() + args.duration
        threads = [
            threading.Thread(
                target=_client, args=(server.url, mix, deadline, args.max_requests, res, i), daemon=True
            )
            for i in range(args.threads)
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        kill = None
        if not args.no_kill:
            time.sleep(args.duration / 2)
            victim = workers[0]
            before = len(res.failures_at)
            kill_time = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            replaced_in = None
            while time.monotonic() - kill_time < 30:
                current = server.workers()
                if victim not in current and len(current) == args.workers:
                    replaced_in = time.monotonic() - kill_time
                    break
                time.sleep(0.05)
            kill = (victim, kill_time, replaced_in, before)
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        end_workers = sorted(server.workers())
        rss_end = _rss(end_workers)
        ping = requests.get(f"{server.url}/ping", timeout=5).status_code
    finally:
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=40)

    total = sum(res.status.values()) + sum(res.errors.values())
    print(
        f"requests: {total:,} in {wall:.0f} s ({total / wall:,.0f}/s), {args.threads} client threads, {args.workers} workers"
    )
    for (kind, code), n in sorted(res.status.items()):
        print(f"  {kind:<8} HTTP {code}: {n:,}")
    for (kind, err), n in sorted(res.errors.items()):
        print(f"  {kind:<8} {err}: {n:,}")
    lat = np.array(res.latencies) * 1000
    if lat.size:
        print(
            f"valid-request latency: p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms"
        )
    mb = 1 << 20
    print("worker RSS start: " + ", ".join(f"{p}={v / mb:.0f} MB" for p, v in rss_start.items()))
    print("worker RSS end:   " + ", ".join(f"{p}={v / mb:.0f} MB" for p, v in rss_end.items()))
    survivors = [p for p in rss_start if p in rss_end]
    for p in survivors:
        print(f"  surviving worker {p}: {(rss_end[p] - rss_start[p]) / mb:+.1f} MB over the run")
    window_fail = 0
    if kill is not None:
        victim, kill_time, replaced_in, _ = kill
        window_fail = sum(1 for t in res.failures_at if kill_time - 1 <= t <= kill_time + 5)
        print(
            f"worker kill: SIGKILL {victim}; replaced in {replaced_in if replaced_in is None else round(replaced_in, 2)} s; "
            f"{window_fail} request(s) failed around the kill (<= {args.threads} in flight); /ping after: {ping}"
        )
    outside = [
        m for m in res.malformed if kill is None or not (kill[1] - 1 <= float(m.split()[0]) <= kill[1] + 5)
    ]
    failures_outside = len(res.failures_at) - window_fail
    print(f"malformed responses: {len(res.malformed)} ({len(outside)} outside the kill window)")
    for m in outside[:10]:
        print("  " + m)
    valid_5xx = sum(n for (kind, code), n in res.status.items() if kind == "valid" and code >= 500)
    bad = (
        valid_5xx
        or outside
        or failures_outside
        or ping != 200
        or (kill is not None and (kill[2] is None or window_fail > args.threads))
    )
    print(
        f"valid 5xx: {valid_5xx}; failures outside the kill window: {failures_outside}; verdict: {'FAIL' if bad else 'OK'}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

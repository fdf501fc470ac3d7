"""Decode speed of the training codecs against the baselines users would otherwise have, in one run.

- RecordIO-protobuf dense float32 (covtype-shaped rows written by the SDK's write_numpy_to_dense_tensor):
  our vectorised decode vs the SDK's read_records + conversion to numpy (target: >= 30x and >= 300 MB/s),
  plus our protobuf-library fallback and the chunked streaming reader.
- Sparse float32 (write_spmatrix_to_sparse_tensor): fast path vs fallback.
- Numeric CSV: our decode_csv and chunked streaming reader vs pandas.read_csv (C engine) on the same bytes
  (target: at least as fast).

Medians over repeats (the machine is shared and noisy); ratios are against baselines measured here.
Results go to bench/results/bench_codecs.json. `--quick` uses fewer rows.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sagemaker.amazon.common import read_records, write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor
from timing import median_time

from linear_learner.codecs import csv as csv_codec
from linear_learner.codecs import protobuf as pb
from linear_learner.data.chunks import iter_csv, iter_recordio

RESULTS = Path(__file__).resolve().parent / "results"


def sdk_to_numpy(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """What a user of the SDK does: read_records, then each record's values into a numpy matrix."""
    records = read_records(io.BytesIO(data))
    X = np.array([r.features["values"].float32_tensor.values for r in records], dtype=np.float32)
    y = np.array([r.label["values"].float32_tensor.values[0] for r in records], dtype=np.float32)
    return X, y


def covtype_like(n: int, d: int = 54, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, 10:] = (X[:, 10:] > 1.0).astype(np.float32)  # covtype: 10 numeric + 44 binary columns
    y = rng.integers(0, 7, size=n).astype(np.float32)
    return X, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 50_000 if args.quick else 200_000
    n_sdk = 10_000 if args.quick else 30_000
    repeats = 3 if args.quick else 5
    X, y = covtype_like(n)
    rows: list[dict] = []

    def add(case: str, what: str, seconds: float, nbytes: int, baseline: float | None, nrows: int) -> None:
        rows.append(
            {
                "case": case,
                "decoder": what,
                "seconds": seconds,
                "MB/s": nbytes / seconds / 1e6,
                "rows/s": nrows / seconds,
                "x baseline": None if baseline is None else baseline / seconds * 1.0,
            }
        )

    # ---- dense RecordIO-protobuf ---------------------------------------------------------------------
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X, y)
    data = buf.getvalue()
    small = data[: len(data) * n_sdk // n]  # the SDK is slow: time it on a prefix, compare per byte
    t_sdk = median_time(lambda: sdk_to_numpy(small), max(1, repeats // 2)) * (len(data) / len(small))
    X_sdk, y_sdk = sdk_to_numpy(small)
    batch = pb.decode_records(data, source="bench", require_label=True)
    assert np.array_equal(batch.X[:n_sdk], X_sdk) and np.array_equal(batch.y[:n_sdk], y_sdk)
    add("dense f32 recordio", "SDK read_records + numpy (baseline)", t_sdk, len(data), t_sdk, n)
    t = median_time(lambda: pb.decode_records(data, source="bench", require_label=True), repeats)
    add("dense f32 recordio", "ours: decode_records (vectorised)", t, len(data), t_sdk, n)
    t = median_time(lambda: list(iter_recordio(io.BytesIO(data), "bench", None)), repeats)
    add("dense f32 recordio", "ours: streaming iter_recordio (8 MiB chunks)", t, len(data), t_sdk, n)
    t_slow = median_time(
        lambda: pb.decode_records(small, source="bench", require_label=True, fast=False), 1
    ) * (len(data) / len(small))
    add("dense f32 recordio", "ours: protobuf-library fallback", t_slow, len(data), t_sdk, n)

    # ---- sparse RecordIO-protobuf --------------------------------------------------------------------
    S = sp.random(n // 2, 1000, density=0.02, format="csr", dtype=np.float32, random_state=0)
    buf = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buf, S, y[: n // 2])
    sdata = buf.getvalue()
    t_fb = median_time(lambda: pb.decode_records(sdata, source="bench", require_label=True, fast=False), 1)
    add("sparse f32 recordio", "ours: protobuf-library fallback (baseline)", t_fb, len(sdata), t_fb, n // 2)
    t = median_time(lambda: pb.decode_records(sdata, source="bench", require_label=True), repeats)
    add("sparse f32 recordio", "ours: fast path", t, len(sdata), t_fb, n // 2)

    # ---- CSV -------------------------------------------------------------------------------------------
    text = io.StringIO()
    np.savetxt(text, np.column_stack([y, X]), delimiter=",", fmt="%.7g")
    cdata = text.getvalue().encode()
    t_pd = median_time(
        lambda: pd.read_csv(io.BytesIO(cdata), header=None, engine="c", dtype=np.float32).to_numpy(), repeats
    )
    add("numeric csv", "pandas.read_csv C engine (baseline)", t_pd, len(cdata), t_pd, n)
    t = median_time(lambda: csv_codec.decode_csv(cdata, source="bench", has_label=True), repeats)
    add("numeric csv", "ours: decode_csv", t, len(cdata), t_pd, n)
    t = median_time(lambda: list(iter_csv(io.BytesIO(cdata), "bench", None)), repeats)
    add("numeric csv", "ours: streaming iter_csv (8 MiB chunks)", t, len(cdata), t_pd, n)

    print(f"{'case':<22} {'decoder':<46} {'s':>8} {'MB/s':>8} {'rows/s':>11} {'x base':>8}")
    for r in rows:
        ratio = "" if r["x baseline"] is None else f"{r['x baseline']:.2f}"
        print(
            f"{r['case']:<22} {r['decoder']:<46} {r['seconds']:8.3f} {r['MB/s']:8.1f} {r['rows/s']:11.0f} {ratio:>8}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_codecs.json").write_text(
        json.dumps({"rows": n, "quick": args.quick, "results": rows}, indent=1)
    )


if __name__ == "__main__":
    main()

"""Multi-host training glue: setup, shard discovery, statistics over all hosts, equal step counts.

Everything here speaks only the Comm protocol (allreduce_sum), so single-host runs pass SingleHost
and never import torch; torch_comm.py is loaded only when resourceconfig names several hosts.

Why each reduction exists:
- Shards differ (ShardedByS3Key may give a host no files at all), so the first round learns every
  host's row count, feature count and sparsity; a host without data still takes part.
- Errors are agreed: after each reading phase every host learns every host's outcome, and all raise
  the same error class, so every host exits with the same status and nobody waits in a collective
  for a host that already failed.
- Scaler moments, class counts and calibration samples are combined over hosts, so the model sees
  the statistics of the whole data set rather than of one shard (what single-host training sees).
- Gradient averaging needs every host to run the same number of mini-batches per epoch; SyncedFeed
  pads a short shard with empty batches (zero gradient, zero count).

Settings (environment, read when the job starts, never at import):
  OLL_DIST_PORT                 rendezvous port on hosts[0] (default 29500)
  OLL_DIST_TIMEOUT              seconds any host waits in one collective (default 600)
  OLL_DIST_RENDEZVOUS_TIMEOUT   seconds all hosts have to start (default 600)
  OLL_DIST_RESOLVE_TIMEOUT      seconds peer names have to resolve (default 300)
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..batch import Batch
from ..config.channels import Cluster
from ..data.sources import list_channel_files
from ..errors import AlgorithmError, ClientError
from ..learner.scaler import Scaler
from .comm import Comm, SingleHost
from .data_feed import EpochFeed
from .torch_comm import DistSettings

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install PyTorch for torch.distributed: pip install 'open-linear-learner[distributed]' "
    "(torch==2.13.0, CPU build), or set instance_count=1"
)
MESSAGE_BYTES = 512


class HostFailed(AlgorithmError):
    """Another host hit an internal error; raised on every host so all exit with status 2."""


def torch_missing_reason() -> str | None:
    """Why torch.distributed with gloo cannot be used here, or None when it can."""
    try:
        import torch.distributed as dist
    except ModuleNotFoundError:
        return "the 'torch' package is not installed"
    except ImportError as exc:
        return f"torch cannot be imported ({exc})"
    if not dist.is_available() or not dist.is_gloo_available():
        return "this torch build has no torch.distributed gloo backend"
    return None


def settings_from_env(environ: Mapping[str, str]) -> DistSettings:
    """DistSettings from OLL_DIST_* variables; every bad value named in one ClientError."""
    d, problems, values = DistSettings(), [], {}
    names = {
        "port": "OLL_DIST_PORT",
        "op_timeout": "OLL_DIST_TIMEOUT",
        "rendezvous_timeout": "OLL_DIST_RENDEZVOUS_TIMEOUT",
        "resolve_timeout": "OLL_DIST_RESOLVE_TIMEOUT",
    }
    for field, var in names.items():
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        try:
            value = int(raw) if field == "port" else float(raw)
        except ValueError:
            value = None
        ok = value is not None and (1 <= value <= 65535 if field == "port" else 0 < value < 1e7)
        if ok:
            values[field] = value
        else:
            allowed = "an integer port 1..65535" if field == "port" else "a positive number of seconds"
            problems.append(f"{var}={raw!r} must be {allowed}")
    if problems:
        raise ClientError("invalid distributed settings: " + "; ".join(problems))
    return DistSettings(**{**d.__dict__, **values})


def connect(
    cluster: Cluster,
    should_stop: Callable[[], bool] = lambda: False,
    environ: Mapping[str, str] | None = None,
) -> Comm:
    """SingleHost for one host (torch never imported); otherwise a TorchComm joined with all hosts."""
    if not cluster.is_multi_host:
        return SingleHost()
    settings = settings_from_env(os.environ if environ is None else environ)
    reason = torch_missing_reason()
    if reason is not None:
        raise ClientError(
            f"resourceconfig.json names {len(cluster.hosts)} hosts, and multi-host training needs "
            f"torch.distributed, but {reason}: {INSTALL_HINT}"
        )
    from .torch_comm import TorchComm

    return TorchComm.connect(cluster, settings, should_stop)


# ---- generic collectives built on allreduce_sum -----------------------------------------------------
def allgather_rows(comm: Comm, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Concatenate each array's rows over hosts in rank order (arrays share their first dimension).

    Implemented as an allreduce of a zero buffer where each host fills its own slice: the payloads
    here (calibration samples, test scores) are small next to training, and it needs no other op.
    """
    n = arrays[0].shape[0] if arrays else 0
    counts = np.zeros(comm.world_size, np.int64)
    counts[comm.rank] = n
    comm.allreduce_sum(counts)
    start = int(counts[: comm.rank].sum())
    out = []
    for a in arrays:
        dtype = np.float32 if a.dtype == np.float32 else (np.int64 if a.dtype.kind in "biu" else np.float64)
        buf = np.zeros((int(counts.sum()), *a.shape[1:]), dtype)
        buf[start : start + n] = a
        comm.allreduce_sum(buf)
        out.append(buf.astype(a.dtype, copy=False))
    return tuple(out)


def agree(comm: Comm, error: BaseException | None, phase: str, hosts: tuple[str, ...]) -> None:
    """Exchange every host's outcome of `phase`; if any failed, raise the same kind of error everywhere.

    A ClientError anywhere becomes a ClientError on all hosts naming the host and its message; any
    other failure becomes HostFailed (exit 2) on all hosts. The local exception is chained.
    """
    table = np.zeros((comm.world_size, MESSAGE_BYTES + 1), np.int64)
    if error is not None:
        table[comm.rank, 0] = 1 if isinstance(error, ClientError) else 2
        text = f"{type(error).__name__}: {error}" if not isinstance(error, ClientError) else str(error)
        raw = text.encode("utf-8", "replace")[:MESSAGE_BYTES]
        table[comm.rank, 1 : 1 + len(raw)] = np.frombuffer(raw, np.uint8)
    comm.allreduce_sum(table)
    failed = np.flatnonzero(table[:, 0])
    if not failed.size:
        return
    parts = []
    for r in failed:
        msg = bytes(table[r, 1:].astype(np.uint8)).rstrip(b"\0").decode("utf-8", "replace")
        parts.append(f"host {hosts[r]}: {msg}")
    summary = f"{phase} failed on {len(failed)} of {comm.world_size} hosts; " + " | ".join(parts)
    if np.any(table[failed, 0] == 2):
        raise HostFailed(summary) from error
    raise ClientError(summary) from error


def sum_counts(comm: Comm, *values: float) -> tuple[float, ...]:
    """Sum a few scalars over hosts (class counts, row counts)."""
    buf = np.array(values, np.float64)
    comm.allreduce_sum(buf)
    return tuple(float(v) for v in buf)


def share(total: int, comm: Comm) -> int:
    """A host's part of a sample budget such as num_point_for_scaler or num_calibration_samples."""
    return max(1, math.ceil(total / comm.world_size))


# ---- reading sharded channels -----------------------------------------------------------------------
@dataclass
class Shards:
    train: Batch
    validation: Batch | None
    test: Batch | None
    any_sparse: bool


def _empty(n_features: int, sparse: bool, name: str) -> Batch:
    X = sp.csr_matrix((0, n_features), dtype=np.float32) if sparse else np.zeros((0, n_features), np.float32)
    return Batch(X, np.zeros(0, np.float32), origin=f"channel '{name}' (empty shard)")


def shard_reader(
    read: Callable[[str, int | None], Batch | None], channel_dir: Callable[[str], Path], channels
) -> Callable[[str, int | None], Batch | None]:
    """`read` that turns a declared channel without local files into an empty shard (None width)."""

    def read_shard(name: str, feature_dim: int | None) -> Batch | None:
        if name not in channels:
            return None
        try:
            list_channel_files(channel_dir(name), name)
        except ClientError:
            return Batch(np.zeros((0, 0), np.float32), np.zeros(0, np.float32), origin=f"channel '{name}'")
        return read(name, feature_dim)

    return read_shard


def _read_phase(comm, hosts, read, name, feature_dim):
    """Read one channel's local shard, then agree on errors and learn every host's shape."""
    batch, error = None, None
    try:
        batch = read(name, feature_dim)
    except Exception as exc:  # agreed below, so every host raises the same kind
        error = exc
    agree(comm, error, f"reading channel '{name}'", hosts)
    row = np.array([[0 if batch is None else batch.n_rows, 0, 0]], np.int64)
    if batch is not None and batch.n_rows:
        row[0, 1:] = batch.n_features, int(batch.is_sparse)
    (table,) = allgather_rows(comm, row)
    return batch, table


def read_shards(
    comm: Comm,
    hosts: tuple[str, ...],
    read: Callable[[str, int | None], Batch | None],
    feature_dim: int | None,
) -> Shards:
    """Local shards of train/validation/test; empty shards become 0-row batches of the agreed width.

    `read(name, feature_dim)` returns a channel's local rows, None for a channel the job lacks, and
    an empty Batch for a channel whose local folder is empty (sharded data may leave a host nothing).
    """
    train, table = _read_phase(comm, hosts, read, "train", feature_dim)
    counts = dict(zip(hosts, table[:, 0].tolist(), strict=True))
    log.info("Training rows per host: %s", counts)
    holders = np.flatnonzero(table[:, 0])
    if not holders.size:
        raise ClientError(f"channel 'train': no host received any records (rows per host: {counts})")
    dims = {hosts[r]: int(table[r, 1]) for r in holders}
    if len(set(dims.values())) > 1:
        raise ClientError(f"channel 'train': hosts disagree on the number of features: {dims}")
    F = next(iter(dims.values()))
    any_sparse = bool(table[:, 2].any())
    if train is None or train.n_rows == 0:
        log.warning("Host %s has no training data; it takes part with zero gradients", hosts[comm.rank])
        train = _empty(F, any_sparse, "train")
    others: dict[str, Batch | None] = {}
    for name in ("validation", "test"):
        batch, table = _read_phase(comm, hosts, read, name, F)
        total = int(table[:, 0].sum())
        if batch is None and total == 0:
            others[name] = None  # the job has no such channel (inputdataconfig is the same everywhere)
            continue
        if total == 0:
            raise ClientError(f"channel '{name}': no host received any records")
        others[name] = batch if batch is not None and batch.n_rows else _empty(F, any_sparse, name)
    return Shards(train, others["validation"], others["test"], any_sparse)


# ---- statistics over all hosts ------------------------------------------------------------------------
def fit_scaler_all(
    comm: Comm,
    X,
    y: np.ndarray | None,
    *,
    any_sparse: bool,
    normalize_data: bool,
    unbias_data: bool,
    normalize_label: bool,
    unbias_label: bool,
) -> Scaler:
    """learner.scaler.fit_scaler's rules on the union of every host's scaler sample.

    Two rounds (sums, then centred squares) give the exact two-pass mean and population std.
    """
    F = X.shape[1]
    n = X.shape[0]
    y64 = None if y is None else np.asarray(y, np.float64)
    first = np.zeros(F + 3, np.float64)
    first[:F] = np.asarray(X.sum(axis=0), np.float64).ravel()
    first[F] = n
    if y64 is not None:
        first[F + 1] = y64.sum()
        first[F + 2] = y64.size
    comm.allreduce_sum(first)
    total = max(first[F], 1.0)
    mean = first[:F] / total
    label_mean_all = first[F + 1] / max(first[F + 2], 1.0)
    second = np.zeros(F + 1, np.float64)
    if sp.issparse(X):
        sq = np.asarray(X.multiply(X).sum(axis=0), np.float64).ravel()
        sx = np.asarray(X.sum(axis=0), np.float64).ravel()
        second[:F] = sq - 2 * mean * sx + n * mean * mean
    elif n:
        second[:F] = ((np.asarray(X, np.float64) - mean) ** 2).sum(axis=0)
    if y64 is not None:
        second[F] = ((y64 - label_mean_all) ** 2).sum()
    comm.allreduce_sum(second)
    std = np.sqrt(np.maximum(second[:F], 0.0) / total)
    std = np.where(std > 1e-12, std, 1.0)
    label_mean, label_std = 0.0, 1.0
    if y64 is not None and first[F + 2] > 0:
        if unbias_label:
            label_mean = float(label_mean_all)
        if normalize_label:
            s = float(np.sqrt(second[F] / first[F + 2]))
            label_std = s if s > 1e-12 else 1.0
    centre = unbias_data and not any_sparse
    return Scaler(
        mean=(mean if centre else np.zeros(F)).astype(np.float32),
        std=(std if normalize_data else np.ones(F)).astype(np.float32),
        label_mean=label_mean,
        label_std=label_std,
    )


# ---- equal mini-batch counts --------------------------------------------------------------------------
class SyncedFeed:
    """A host's feed padded with empty batches so every host runs `steps` mini-batches per epoch."""

    def __init__(self, inner: EpochFeed, steps: int, empty: tuple) -> None:
        self.inner = inner
        self.n_rows = inner.n_rows
        self.steps = steps
        self._empty = empty

    def batches(self, epoch: int, batch_size: int) -> Iterator[tuple[object, np.ndarray, np.ndarray]]:
        done = 0
        for batch in self.inner.batches(epoch, batch_size):
            done += 1
            if done > self.steps:
                raise AlgorithmError(
                    f"feed gave more than the {self.steps} mini-batches agreed with other hosts"
                )
            yield batch
        for _ in range(self.steps - done):
            yield self._empty


def synced_feed(comm: Comm, feed: EpochFeed, mini_batch_size: int, X_template, w_cols: int) -> SyncedFeed:
    """Steps per epoch = the largest shard's batch count (mini_batch_size is per host, reference D9)."""
    mine = math.ceil(feed.n_rows / mini_batch_size) if feed.n_rows else 0
    (steps,) = allgather_rows(comm, np.array([mine], np.int64))
    empty_X = X_template[:0]
    empty = (empty_X, np.zeros(0, np.float32), np.zeros((0, w_cols), np.float32))
    log.info("Mini-batches per epoch per host: %s (padded to %d)", steps.tolist(), int(steps.max()))
    return SyncedFeed(feed, int(steps.max()), empty)

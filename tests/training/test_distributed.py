"""Reductions and rendezvous of training/distributed.py and torch_comm.py on real gloo groups.

Several hosts run as threads of this process (TorchComm uses a bare ProcessGroupGloo, no global
state), each bound to its own loopback address 127.0.0.x; tests needing torch skip without it.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

from linear_learner.config.channels import Cluster
from linear_learner.errors import ClientError
from linear_learner.learner.scaler import fit_scaler
from linear_learner.training import distributed as D
from linear_learner.training.comm import SingleHost
from linear_learner.training.data_feed import InMemoryFeed
from linear_learner.training.torch_comm import DistSettings, HostLost, TorchComm, resolve_host

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch not installed (pip install torch==2.13.0)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_hosts(n: int, fn, op_timeout: float = 20.0) -> list:
    """fn(comm) on n hosts 127.0.0.1..n as threads; returns each host's result or exception."""
    hosts = tuple(f"127.0.0.{i + 1}" for i in range(n))
    settings = DistSettings(port=free_port(), rendezvous_timeout=20, op_timeout=op_timeout, resolve_timeout=5)
    results: list = [None] * n

    def host(rank: int) -> None:
        comm = None
        try:
            comm = TorchComm.connect(Cluster(hosts[rank], hosts), settings)
            results[rank] = fn(comm)
        except Exception as exc:  # returned to the test, which asserts on it
            results[rank] = exc
        finally:
            if comm is not None:
                comm.close()

    threads = [threading.Thread(target=host, args=(r,)) for r in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


# ---- no torch needed ---------------------------------------------------------------------------------
def test_one_host_gets_the_no_op_comm():
    assert isinstance(D.connect(Cluster("algo-1", ("algo-1",))), SingleHost)


def test_settings_default_and_override_and_every_bad_value_named():
    assert D.settings_from_env({}) == DistSettings()
    s = D.settings_from_env({"OLL_DIST_PORT": "31000", "OLL_DIST_TIMEOUT": "45"})
    assert (s.port, s.op_timeout, s.rendezvous_timeout) == (31000, 45.0, 600.0)
    with pytest.raises(ClientError) as exc:
        D.settings_from_env({"OLL_DIST_PORT": "70000", "OLL_DIST_TIMEOUT": "soon"})
    assert "OLL_DIST_PORT='70000'" in str(exc.value) and "OLL_DIST_TIMEOUT='soon'" in str(exc.value)


def test_unresolvable_peer_fails_after_bounded_backoff():
    delays: list[float] = []
    t0 = time.monotonic()
    with pytest.raises(HostLost, match="could not resolve host 'algo-9.invalid'"):
        resolve_host("algo-9.invalid", timeout=0.5, sleep=lambda d: (delays.append(d), time.sleep(d)))
    assert time.monotonic() - t0 < 5
    assert delays[:2] == [0.1, 0.2]  # exponential backoff; the last sleep is cut to the deadline
    assert resolve_host("127.0.0.2", timeout=1) == "127.0.0.2"


def test_multi_host_without_torch_is_a_client_error_naming_the_extra(monkeypatch):
    monkeypatch.setattr(D, "torch_missing_reason", lambda: "the 'torch' package is not installed")
    with pytest.raises(ClientError, match=r"open-linear-learner\[distributed\]"):
        D.connect(Cluster("algo-1", ("algo-1", "algo-2")), environ={})


def test_synced_feed_pads_short_shards_with_empty_batches():
    X = np.arange(10, dtype=np.float32).reshape(5, 2)
    feed = InMemoryFeed(X, np.zeros(5, np.float32), np.ones((5, 1), np.float32))
    synced = D.SyncedFeed(feed, 4, (X[:0], np.zeros(0, np.float32), np.zeros((0, 1), np.float32)))
    sizes = [xb.shape[0] for xb, _, _ in synced.batches(0, 2)]
    assert sizes == [2, 2, 1, 0]


# ---- real gloo groups ------------------------------------------------------------------------------
@needs_torch
def test_allgather_rows_concatenates_uneven_shards_in_rank_order():
    shards = [np.arange(4.0).reshape(2, 2), np.zeros((0, 2)), np.full((3, 2), 7.0)]

    def fn(comm):
        a = shards[comm.rank].astype(np.float32)
        labels = np.full(len(a), comm.rank, np.int64)
        return D.allgather_rows(comm, a, labels)

    results = run_hosts(3, fn)
    for got, labels in results:
        np.testing.assert_array_equal(got, np.concatenate(shards).astype(np.float32))
        assert got.dtype == np.float32 and labels.tolist() == [0, 0, 2, 2, 2]


@needs_torch
def test_one_hosts_client_error_becomes_the_same_client_error_everywhere():
    def fn(comm):
        error = ClientError("channel 'train' file 'x.csv' line 3: bad label") if comm.rank == 1 else None
        D.agree(comm, error, "reading channel 'train'", comm.hosts)

    results = run_hosts(3, fn)
    assert all(isinstance(r, ClientError) for r in results)
    assert len({str(r) for r in results}) == 1
    assert "host 127.0.0.2: channel 'train' file 'x.csv' line 3: bad label" in str(results[0])


@needs_torch
@pytest.mark.parametrize("sparse", [False, True])
def test_scaler_over_hosts_equals_scaler_on_the_union(sparse):
    rng = np.random.default_rng(0)
    X = (rng.normal(3.0, 2.0, size=(40, 5)) * (rng.random((40, 5)) < 0.6)).astype(np.float32)
    X[:, 4] = 1.0  # constant column keeps std 1
    y = rng.normal(10, 4, size=40).astype(np.float32)
    parts = [slice(0, 25), slice(25, 25), slice(25, 40)]  # the middle host has no rows
    flags = dict(normalize_data=True, unbias_data=True, normalize_label=True, unbias_label=True)
    conv = sp.csr_matrix if sparse else np.asarray
    want = fit_scaler(conv(X), y, **flags)

    def fn(comm):
        part = parts[comm.rank]
        return D.fit_scaler_all(comm, conv(X[part]), y[part], any_sparse=sparse, **flags)

    for got in run_hosts(3, fn):
        np.testing.assert_allclose(got.mean, want.mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.std, want.std, rtol=1e-5)
        assert got.label_mean == pytest.approx(want.label_mean) and got.label_std == pytest.approx(
            want.label_std
        )


@needs_torch
def test_a_silent_host_makes_the_others_fail_within_the_timeout():
    def fn(comm):
        if comm.rank == 1:
            time.sleep(4)  # alive but never joins the collective
            return "silent"
        t0 = time.monotonic()
        try:
            comm.allreduce_sum(np.ones(3, np.float32))
        except HostLost as exc:
            return exc, time.monotonic() - t0
        return "no error"

    (exc, seconds), silent = run_hosts(2, fn, op_timeout=1.5)
    assert silent == "silent"
    assert isinstance(exc, HostLost) and "lost contact with the other hosts during allreduce" in str(exc)
    assert seconds < 4

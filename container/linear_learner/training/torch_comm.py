"""The Comm protocol over torch.distributed's gloo backend: the only module that imports torch.

Why gloo, and why a bare ProcessGroupGloo instead of `init_process_group`: the job needs nothing but
CPU allreduce/broadcast on small float arrays, and a process group object (not torch's global
default group) keeps this module free of process-wide state, so tests can run several hosts as
threads of one process.

Rendezvous (like SageMaker XGBoost's distributed.py): every host resolves every peer's name with
bounded exponential backoff (SageMaker's DNS entries can appear late), hosts[0] runs the TCPStore
on `port`, rank = index of current_host in the sorted hosts. Each host binds its gloo device to the
address its own name resolves to (or to `network_interface_name` when resourceconfig gives one and
the interface exists), so loopback addresses 127.0.0.1/2/3 work as three "hosts" on one machine.

Failure within bounded time: a peer process that dies closes its sockets and the next collective
fails at once; a peer that hangs or whose machine vanishes trips the per-operation timeout. Either
way the error becomes HostLost, naming the operation, so no host waits forever.

torch is imported inside functions only: `import linear_learner.training.torch_comm` never loads it.
"""

from __future__ import annotations

import datetime
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..config.channels import Cluster
from ..errors import AlgorithmError, TrainingInterrupted

log = logging.getLogger(__name__)


class HostLost(AlgorithmError):
    """Another host stopped answering (died, failed, or its network went away)."""


@dataclass(frozen=True)
class DistSettings:
    """port: TCP port of the rendezvous store on hosts[0]; timeouts in seconds."""

    port: int = 29500
    rendezvous_timeout: float = 600.0  # hosts may start minutes apart on SageMaker
    op_timeout: float = 600.0  # longest any host may wait in one collective for the others
    resolve_timeout: float = 300.0  # how long peer names may take to appear in DNS


def resolve_host(name: str, timeout: float, sleep: Callable[[float], None] = time.sleep) -> str:
    """IPv4 address of `name`, retried with exponential backoff (0.1 s doubling to 5 s) up to `timeout`.

    Raises HostLost naming the host when it never resolves: that is the platform's problem, not the
    user's, and the message says which name failed.
    """
    deadline = time.monotonic() + timeout
    delay, attempts = 0.1, 0
    while True:
        attempts += 1
        try:
            return socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        except OSError as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HostLost(
                    f"could not resolve host '{name}' after {attempts} attempts in {timeout:.0f} s ({exc}); "
                    "check resourceconfig.json hosts and the cluster's name resolution"
                ) from exc
            log.info("host '%s' does not resolve yet (%s); retrying in %.1f s", name, exc, delay)
            sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)


class TorchComm:
    """Comm over a gloo process group; arrays are reduced in place through zero-copy tensors."""

    def __init__(self, pg, store, cluster: Cluster, settings: DistSettings, should_stop) -> None:
        self._pg = pg
        self._store = store  # kept alive: hosts[0] serves the store until close()
        self.cluster = cluster
        self.hosts = cluster.hosts
        self.rank = cluster.rank
        self.world_size = len(cluster.hosts)
        self.settings = settings
        self._should_stop = should_stop
        self.bytes_sent = 0  # payload bytes handed to collectives (for the benchmark)
        self.seconds = 0.0  # wall time spent inside collectives

    @property
    def is_master(self) -> bool:
        return self.rank == 0

    @classmethod
    def connect(
        cls,
        cluster: Cluster,
        settings: DistSettings,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> TorchComm:
        """Resolve peers, rendezvous at hosts[0]:port, build the gloo group; HostLost on failure."""
        import torch.distributed as dist

        t0 = time.monotonic()
        addresses = {h: resolve_host(h, settings.resolve_timeout) for h in cluster.hosts}
        master = addresses[cluster.hosts[0]]
        rank, world = cluster.rank, len(cluster.hosts)
        log.info(
            "Distributed training: host %s is rank %d of %d; rendezvous at %s:%d (hosts %s)",
            cluster.current_host,
            rank,
            world,
            master,
            settings.port,
            list(cluster.hosts),
        )
        rendezvous = datetime.timedelta(seconds=settings.rendezvous_timeout)
        try:
            store = dist.TCPStore(master, settings.port, world, rank == 0, timeout=rendezvous)
            opts = dist.ProcessGroupGloo._Options()
            opts._timeout = rendezvous
            opts._devices = [_device(dist, cluster, addresses[cluster.current_host])]
            pg = dist.ProcessGroupGloo(store, rank, world, opts)
        except Exception as exc:  # torch raises RuntimeError / DistNetworkError / DistStoreError
            raise HostLost(
                f"rendezvous of {world} hosts at {cluster.hosts[0]} ({master}:{settings.port}) failed after "
                f"{time.monotonic() - t0:.1f} s: {_first_line(exc)}. Every host in resourceconfig.json must "
                f"start 'train' within OLL_DIST_RENDEZVOUS_TIMEOUT={settings.rendezvous_timeout:g} s and "
                f"reach port {settings.port} (OLL_DIST_PORT) on the first host"
            ) from exc
        pg._set_default_timeout(datetime.timedelta(seconds=settings.op_timeout))
        log.info("Rendezvous complete in %.2f s", time.monotonic() - t0)
        return cls(pg, store, cluster, settings, should_stop)

    # ---- collectives -------------------------------------------------------------------------------
    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        """Sum `array` over all hosts, in place (float32, float64 or int64); returns it."""
        import torch.distributed as dist

        self._run("allreduce", array, lambda t: self._pg.allreduce([t], dist.AllreduceOptions()))
        return array

    def broadcast(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        import torch.distributed as dist

        opts = dist.BroadcastOptions()
        opts.rootRank, opts.rootTensor = root, 0
        self._run("broadcast", array, lambda t: self._pg.broadcast([t], opts))
        return array

    def barrier(self) -> None:
        self.allreduce_sum(np.zeros(1, np.float32))

    def close(self) -> None:
        """Release sockets; safe to call twice."""
        pg, self._pg = self._pg, None
        if pg is not None:
            try:
                pg.shutdown()
            except Exception as exc:  # closing must never mask the job's own outcome
                log.debug("gloo shutdown: %s", exc)
        self._store = None

    def _run(self, op: str, array: np.ndarray, call) -> None:
        import torch

        if self._pg is None:
            raise AlgorithmError(f"{op} after the distributed group was closed")
        target = array if array.flags.c_contiguous and array.flags.writeable else np.ascontiguousarray(array)
        tensor = torch.from_numpy(target)
        t0 = time.perf_counter()
        try:
            call(tensor).wait()
        except Exception as exc:  # gloo reports a lost peer as RuntimeError/DistBackendError
            if self._should_stop():
                raise TrainingInterrupted(f"SIGTERM while in {op} with the other hosts") from exc
            raise HostLost(
                f"host {self.cluster.current_host} (rank {self.rank} of {self.world_size}) lost contact with the "
                f"other hosts during {op} after {time.perf_counter() - t0:.1f} s: {_first_line(exc)}. Another "
                "host stopped (its log says why) or the network between hosts failed; a silent host is given "
                f"up after OLL_DIST_TIMEOUT={self.settings.op_timeout:g} s"
            ) from exc
        self.seconds += time.perf_counter() - t0
        self.bytes_sent += array.nbytes
        if target is not array:
            array[...] = target


def _device(dist, cluster: Cluster, address: str):
    """Bind gloo to resourceconfig's network interface when present here, else to our own address."""
    nic = cluster.network_interface_name
    if nic and nic in {name for _, name in socket.if_nameindex()}:
        return dist.ProcessGroupGloo.create_device(interface=nic)
    return dist.ProcessGroupGloo.create_device(hostname=address)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]

"""Collective operations between training hosts; the single-host implementation does nothing.

The trainer calls these at fixed points (gradient averaging, epoch statistics), so multi-host
training (training/torch_comm.py, torch.distributed gloo) plugs in without touching the maths.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Comm(Protocol):
    rank: int
    world_size: int

    @property
    def is_master(self) -> bool: ...

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        """Sum `array` over all hosts, in place; returns it."""
        ...

    def broadcast(self, array: np.ndarray, root: int = 0) -> np.ndarray: ...

    def barrier(self) -> None: ...

    def close(self) -> None: ...


class SingleHost:
    """The no-op Comm used whenever resourceconfig names one host."""

    rank = 0
    world_size = 1

    @property
    def is_master(self) -> bool:
        return True

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        return array

    def broadcast(self, array: np.ndarray, root: int = 0) -> np.ndarray:  # noqa: ARG002
        return array

    def barrier(self) -> None:
        return None

    def close(self) -> None:
        return None

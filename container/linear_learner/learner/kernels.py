"""Execution policy for the training hot loop.

Why one BLAS thread: a mini-batch step multiplies (B x F) by (F x K*M), e.g. 1000 x 55 by 55 x 224 —
about 25 MFLOP, a fraction of a millisecond. OpenBLAS's thread hand-off costs as much as the product on
a quiet 2-core machine and, measured on a shared one, up to 100x more (0.15 ms -> 20-30 ms per call)
whenever the second core is busy. One thread is also deterministic: with two, OpenBLAS splits X^T G
differently and the last bits of the gradient change, so File- and Pipe-mode runs could disagree.
A numba-fused softmax + gradient was measured too and did not beat numpy's vectorised exp, so the
element-wise work stays in numpy (learner/losses.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (no-op when threadpoolctl is unavailable)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield

"""How much memory a training configuration needs, checked before anything that size is allocated.

The parameters of all models live in one float32 matrix of feature_dim x (num_classes * num_models)
values (trainer.py). `num_classes=1000000` with a wide `feature_dim` asks for terabytes: numpy would
either raise MemoryError deep inside the loop (an AlgorithmError to the user) or, with overcommit,
let the kernel's OOM killer end the job without any failure reason. So the job estimates its peak
first and fails in seconds with a ClientError that names the product of the three numbers and what
to reduce. The estimate is deliberately on the high side of what the loop holds at once:

- PARAMETER_COPIES[optimizer] float32 (F, K*M) matrices: weights, best-epoch weights, gradient,
  optimizer state (momentum, adam/rmsprop second moment), the adam step temporaries, and the float64
  folded weights used for validation (counted as two float32 copies);
- BATCH_COPIES float32 (mini_batch_size, K*M) score/gradient buffers;
- EVAL_COPIES float32 (validation rows, K*M) score tensors for selection and calibration;
- the decoded data already in memory (passed in by the job).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import ClientError

log = logging.getLogger(__name__)

FLOAT32 = 4
PARAMETER_COPIES = {"sgd": 9, "rmsprop": 11, "adam": 12}
BATCH_COPIES = 4
EVAL_COPIES = 3
#: The share of the machine (or cgroup) memory a job may plan to use: the rest is the OS, Python,
#: numpy/numba and the allocator's slack.
USABLE_FRACTION = 0.8
LIMIT_ENV = "LINEAR_LEARNER_MEMORY_LIMIT"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes the configuration needs at its peak, split by purpose (for the log and the message)."""

    parameters: int
    batches: int
    evaluation: int
    data: int

    @property
    def total(self) -> int:
        return self.parameters + self.batches + self.evaluation + self.data


def estimate(
    *,
    feature_dim: int,
    num_outputs: int,
    num_models: int,
    optimizer: str,
    mini_batch_size: int,
    eval_rows: int = 0,
    data_bytes: int = 0,
) -> MemoryEstimate:
    """Peak bytes for F=feature_dim, K=num_outputs, M=num_models (Python ints: no overflow at 2^64)."""
    columns = int(num_outputs) * int(num_models)
    copies = PARAMETER_COPIES.get(optimizer, max(PARAMETER_COPIES.values()))
    return MemoryEstimate(
        parameters=copies * int(feature_dim) * columns * FLOAT32,
        batches=BATCH_COPIES * int(mini_batch_size) * columns * FLOAT32,
        evaluation=EVAL_COPIES * int(eval_rows) * columns * FLOAT32,
        data=int(data_bytes),
    )


def available_memory(total: int, environ: dict[str, str] | None = None) -> int:
    """USABLE_FRACTION of `total`, or LINEAR_LEARNER_MEMORY_LIMIT bytes when set (tests, shared hosts)."""
    raw = (environ if environ is not None else os.environ).get(LIMIT_ENV, "").strip()
    if raw:
        try:
            return int(float(raw))
        except ValueError:
            raise ClientError(f"{LIMIT_ENV}={raw[:40]!r} is not a number of bytes") from None
    return int(USABLE_FRACTION * total)


def _gib(n: int) -> str:
    return f"{n / (1 << 30):,.1f} GiB" if n < (1 << 60) else f"{n:.3g} bytes"


def check_fits(
    need: MemoryEstimate,
    available: int,
    *,
    feature_dim: int,
    num_outputs: int,
    num_models: int,
    batch_rows: int = 0,
) -> None:
    """Raise ClientError when the estimate exceeds what is available; log the estimate otherwise.

    The message leads with the largest term, so it names the hyperparameter to change."""
    if need.total <= available:
        log.info("Estimated peak memory %s of %s available", _gib(need.total), _gib(available))
        return
    head = f"this configuration needs about {_gib(need.total)} of memory but {_gib(available)} is available: "
    outputs = f"num_classes {num_outputs} x " if num_outputs > 1 else ""
    if need.batches > max(need.parameters, need.data, need.evaluation):
        raise ClientError(
            head + f"mini_batch_size {batch_rows:,} x {outputs}num_models {num_models} needs "
            f"{_gib(need.batches)} of score and gradient buffers; reduce mini_batch_size or num_models"
        )
    raise ClientError(
        head + f"feature_dim {feature_dim} x {outputs}num_models {num_models} = "
        f"{int(feature_dim) * num_outputs * num_models:,} float32 parameters "
        f"({_gib(need.parameters)} with optimizer state and copies), {_gib(need.data)} of data; "
        "reduce num_models, num_classes or the number of features, or use an instance with more memory"
    )


def check_job(hp, feature_dim: int, *, batch_rows: int = 0, eval_rows: int = 0, data_bytes: int = 0) -> None:
    """The job's check: `hp` is the resolved Hyperparameters; called before the data is read (when
    feature_dim is given) and again with the data's width and size before the trainer allocates.

    batch_rows: rows in a mini-batch, min(mini_batch_size, training rows); 0 before the data is
    read, since a mini_batch_size beyond the data is cut to it rather than allocated."""
    from ..data.streaming import machine_memory

    k = hp.num_classes if hp.predictor_type == "multiclass_classifier" and hp.num_classes else 1
    need = estimate(
        feature_dim=feature_dim,
        num_outputs=k,
        num_models=hp.num_models,
        optimizer=hp.optimizer,
        mini_batch_size=batch_rows,
        eval_rows=eval_rows,
        data_bytes=data_bytes,
    )
    check_fits(
        need,
        available_memory(machine_memory()),
        feature_dim=feature_dim,
        num_outputs=k,
        num_models=hp.num_models,
        batch_rows=batch_rows,
    )


def batch_bytes(batch) -> int:
    """Bytes held by a decoded Batch (dense array or CSR arrays, plus labels); 0 for None or streamed rows."""
    if batch is None:
        return 0
    X, y = batch.X, batch.y
    if sp.issparse(X):
        n = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    else:
        n = X.nbytes if isinstance(X, np.ndarray) else 0
    return int(n) + (int(y.nbytes) if isinstance(y, np.ndarray) else 0)

"""Atomic per-epoch checkpoints in the job's checkpoint directory, and resuming from them.

With a CheckpointConfig SageMaker syncs `/opt/ml/checkpoints` (or LocalPath) to S3 and restores it when
a job restarts (managed spot training, a retried job). After every epoch the trainer's whole state is
written here, so a restarted job continues at the next epoch and ends with the same model as a run
that was never interrupted: weights and biases, each model's best-epoch copy, the optimizer state
(update count, momentum, second moments), the early-stopping and best-model trackers and the epoch
history. The feed's shuffle order and the learning-rate schedule are functions of the epoch and the
update count, so nothing else is needed.

The file is a zip of `.npy` arrays plus `state.json`, never pickle, loaded with allow_pickle=False.
It is written to a temporary name in the same directory, flushed, fsynced and renamed over the
previous checkpoint, so a SIGTERM or SIGKILL at any moment leaves either the old or the new
checkpoint, never half of one. Each checkpoint carries a fingerprint of the configuration and the
training data; a checkpoint from a different job (other hyperparameters, other data) is ignored with
a log line instead of silently training the wrong model. An unreadable checkpoint is ignored the same
way: the job is still correct, only slower.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FILE_NAME = "linear-learner-checkpoint.zip"
FORMAT_VERSION = 1


@dataclass
class TrainerState:
    """Everything the epoch loop needs to continue after `epoch` (0-based, the last one completed)."""

    epoch: int
    finished: bool  # the loop had stopped (early stopping, divergence or last epoch) after `epoch`
    arrays: dict[str, np.ndarray]  # W, b, best_W, best_b, best_values, best_tiebreaks, opt_*
    scalars: dict[str, object] = field(default_factory=dict)  # early stopping, history


def fingerprint(*parts: object) -> str:
    """A short digest of configuration values and data arrays (contiguous bytes hashed, others repr'd)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).view(np.uint8).ravel().data)
        else:
            h.update(json.dumps(part, sort_keys=True, default=repr).encode())
        h.update(b"\0")
    return h.hexdigest()


class Checkpointer:
    """Saves and restores TrainerState under `directory` for one job configuration (`key`)."""

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = Path(directory)
        self.key = key
        self.path = self.directory / FILE_NAME

    def save(self, state: TrainerState) -> None:
        """Write atomically: temp file in the same directory, fsync, rename over the old checkpoint."""
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "key": self.key,
            "epoch": state.epoch,
            "finished": state.finished,
            "scalars": state.scalars,
            "arrays": sorted(state.arrays),
        }
        tmp = self.directory / f".{FILE_NAME}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
                    for name, array in state.arrays.items():
                        buf = io.BytesIO()
                        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
                        zf.writestr(f"{name}.npy", buf.getvalue())
                    zf.writestr("state.json", json.dumps(meta))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("Checkpoint saved after epoch %d to %s", state.epoch, self.path)

    def load(self, expected_shapes: dict[str, tuple[int, ...]]) -> TrainerState | None:
        """The saved state when it belongs to this job and every array has the expected shape, else None."""
        if not self.path.is_file():
            return None
        try:
            with zipfile.ZipFile(self.path) as zf:
                meta = json.loads(zf.read("state.json"))
                if meta.get("format") != FORMAT_VERSION or meta.get("key") != self.key:
                    log.warning(
                        "Ignoring checkpoint %s: it was written by a different job configuration", self.path
                    )
                    return None
                arrays = {
                    name: np.load(io.BytesIO(zf.read(f"{name}.npy")), allow_pickle=False)
                    for name in meta["arrays"]
                }
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            log.warning("Ignoring unreadable checkpoint %s (%s); starting from scratch", self.path, exc)
            return None
        for name, shape in expected_shapes.items():
            if name not in arrays or arrays[name].shape != shape or arrays[name].dtype.hasobject:
                log.warning("Ignoring checkpoint %s: array %s does not match this job", self.path, name)
                return None
        state = TrainerState(int(meta["epoch"]), bool(meta["finished"]), arrays, meta.get("scalars") or {})
        log.info("Resuming from checkpoint %s after epoch %d", self.path, state.epoch)
        return state


def _plain(value: object) -> object:
    if isinstance(value, np.ndarray):
        return {"__array__": value.astype(np.float64).tolist()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _restore(value: object) -> object:
    if isinstance(value, dict) and "__array__" in value:
        return np.array(value["__array__"], np.float64)
    return value


def capture(
    epoch: int, finished: bool, *, W, b, best_W, best_b, optimizer, stopper, best, history
) -> TrainerState:
    """The loop's state after `epoch` (arrays copied by np.save when written)."""
    arrays = {"W": W, "b": b, "best_W": best_W, "best_b": best_b}
    arrays.update({f"opt_{k}": v for k, v in optimizer.state().items()})
    arrays.update(best_values=best.values, best_tiebreaks=best.tiebreaks)
    scalars = {
        "stopper": {
            "best": stopper.best,
            "best_tiebreak": stopper.best_tiebreak,
            "epochs_without_improvement": stopper.epochs_without_improvement,
        },
        "history": [{k: _plain(v) for k, v in vars(r).items()} for r in history],
    }
    return TrainerState(epoch, finished, arrays, scalars)


def expected_shapes(W: np.ndarray, b: np.ndarray, optimizer) -> dict[str, tuple[int, ...]]:
    shapes = {"W": W.shape, "b": b.shape, "best_W": W.shape, "best_b": b.shape}
    shapes.update({f"opt_{k}": v.shape for k, v in optimizer.state().items()})
    return shapes


def apply(state: TrainerState, *, W, b, best_W, best_b, optimizer, stopper, best, report_type) -> list:
    """Copy `state` into the loop's objects in place; returns the epoch history as `report_type`s."""
    a = state.arrays
    W[...], b[...], best_W[...], best_b[...] = a["W"], a["b"], a["best_W"], a["best_b"]
    optimizer.load_state({k[4:]: v for k, v in a.items() if k.startswith("opt_")})
    best.values, best.tiebreaks = a["best_values"].astype(np.float64), a["best_tiebreaks"].astype(np.float64)
    s = state.scalars["stopper"]
    stopper.best, stopper.best_tiebreak = s["best"], s["best_tiebreak"]
    stopper.epochs_without_improvement = int(s["epochs_without_improvement"])
    return [report_type(**{k: _restore(v) for k, v in r.items()}) for r in state.scalars["history"]]


def _data_parts(X) -> list[np.ndarray]:
    if X is None:
        return []
    if hasattr(X, "indptr"):  # CSR
        return [X.data, X.indices, X.indptr]
    return [X] if isinstance(X, np.ndarray) else []


def for_job(paths, hp_raw: dict, shape: tuple[int, int, int], data: list) -> Checkpointer | None:
    """The job's Checkpointer when checkpointconfig.json exists, keyed by the hyperparameters, the
    (features, outputs, models) shape and the training/validation arrays in `data`; else None."""
    from ..config.channels import load_json_config, parse_checkpointconfig

    directory = parse_checkpointconfig(
        load_json_config(paths.checkpointconfig_file, required=False), paths.default_checkpoint_dir
    )
    if directory is None:
        return None
    parts = [p for X in data for p in _data_parts(X)]
    return Checkpointer(directory, fingerprint(hp_raw, list(shape), *parts))

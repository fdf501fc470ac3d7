"""Run `linear-learner train` on a real dataset and read back what a SageMaker user would see.

Integration tests compare runs that differ in one hyperparameter, so each run returns its exit code,
its log lines, the parsed `#quality_metric` values and the artifact's manifest and arrays (read with
numpy alone, as reference D8 promises a user can).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .opt_ml import RECORDIO, OptMl, write_recordio

_QUALITY = re.compile(r"#quality_metric: host=\S+, (\w+) (\S+) <(?:loss|score)>=(\S+)")
_EPOCH_QUALITY = re.compile(r"#quality_metric: host=\S+, epoch=(\d+), (\w+) (\S+) <loss>=(\S+)")


@dataclass
class Run:
    """What one training job left behind."""

    returncode: int
    log: str
    failure: str
    manifest: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def metric(self, channel: str, name: str) -> float:
        """A final `#quality_metric` value; KeyError when the line is missing."""
        for chan, metric, value in _QUALITY.findall(self.log):
            if chan == channel and metric == name:
                return float(value)
        raise KeyError(f"no final {channel} {name} line in the log")

    def metric_names(self, channel: str) -> list[str]:
        return [metric for chan, metric, _ in _QUALITY.findall(self.log) if chan == channel]

    def epoch_metrics(self, channel: str) -> list[float]:
        """Model 0's per-epoch objective on `channel`, in epoch order."""
        return [float(v) for _, chan, _, v in _EPOCH_QUALITY.findall(self.log) if chan == channel]

    def lines(self, marker: str) -> list[str]:
        return [line for line in self.log.splitlines() if marker in line]

    @property
    def extra(self) -> dict:
        return self.manifest.get("extra", {})

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """x·W + b with the folded arrays, in float64 (what the endpoint computes before the link)."""
        return np.asarray(X, np.float64) @ self.arrays["weights"].astype(np.float64) + self.arrays["bias"]


def _read_artifact(model_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    path = model_dir / "model_algo-1"
    if not path.exists():
        return {}, {}
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        arrays = {
            name[:-4]: np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
            for name in zf.namelist()
            if name.endswith(".npy")
        }
    return manifest, arrays


def train_job(base: Path, hyperparameters: dict, channels: dict[str, tuple], *, timeout: float = 300) -> Run:
    """Write each channel as SDK RecordIO (dense or scipy sparse), train, and collect the outcome."""
    opt = OptMl(base)
    opt.write_config(hyperparameters, {name: RECORDIO for name in channels})
    for name, (X, y) in channels.items():
        write_recordio(opt.channel(name) / "part-0.pbr", X, np.asarray(y, np.float32))
    proc = opt.train(timeout=timeout)
    manifest, arrays = _read_artifact(opt.model_dir)
    return Run(proc.returncode, proc.stdout + proc.stderr, opt.failure_line(), manifest, arrays)

"""A real /opt/ml-shaped tree under a temp dir, and `linear-learner train` run as a subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CSV = "text/csv"
RECORDIO = "application/x-recordio-protobuf"


def write_csv(path: Path, X: np.ndarray, y: np.ndarray | None = None) -> Path:
    """Label in column 0 (when given), no header, like SageMaker's CSV training format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = X if y is None else np.column_stack([y, X])
    buf = io.StringIO()
    np.savetxt(buf, data, delimiter=",", fmt="%.10g")
    path.write_text(buf.getvalue())
    return path


def write_recordio(path: Path, X, y: np.ndarray | None = None) -> Path:
    """Written with the SageMaker SDK's own writers (dense or scipy sparse)."""
    import scipy.sparse as sp
    from sagemaker.amazon.common import write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        if sp.issparse(X):
            write_spmatrix_to_sparse_tensor(fh, sp.csr_matrix(X), y)
        else:
            write_numpy_to_dense_tensor(fh, np.asarray(X), y)
    return path


@dataclass
class OptMl:
    base: Path

    def write_config(
        self,
        hyperparameters: dict,
        channels: dict[str, str | None],
        resourceconfig: dict | None = None,
        input_mode: str = "File",
    ) -> None:
        cfg = self.base / "input" / "config"
        cfg.mkdir(parents=True, exist_ok=True)
        (cfg / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
        idc = {}
        for name, content_type in channels.items():
            entry = {"TrainingInputMode": input_mode, "S3DistributionType": "FullyReplicated"}
            if content_type is not None:
                entry["ContentType"] = content_type
            idc[name] = entry
        (cfg / "inputdataconfig.json").write_text(json.dumps(idc))
        if resourceconfig is not None:
            (cfg / "resourceconfig.json").write_text(json.dumps(resourceconfig))

    def channel(self, name: str) -> Path:
        d = self.base / "input" / "data" / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def failure(self) -> Path:
        return self.base / "output" / "failure"

    def failure_line(self) -> str:
        return self.failure.read_text().splitlines()[0] if self.failure.exists() else ""

    def model_files(self) -> list[str]:
        return sorted(p.name for p in self.model_dir.iterdir()) if self.model_dir.exists() else []

    def train(self, timeout: float = 600, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "SAGEMAKER_BASE_DIR": str(self.base), **(extra_env or {})}
        cmd = [sys.executable, "-m", "linear_learner.cli", "train"]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def split_80_10_10(X, y, seed: int = 0):
    """Shuffled 80/10/10 split with a fixed seed (the issues' protocol)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    a, b = int(0.8 * len(y)), int(0.9 * len(y))
    tr, va, te = idx[:a], idx[a:b], idx[b:]
    return (X[tr], y[tr]), (X[va], y[va]), (X[te], y[te])

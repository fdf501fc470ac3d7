"""Reports in output/data: metrics.json (plots are added by the evaluation-report work)."""

from __future__ import annotations

import json
from pathlib import Path

from ..config.hyperparams import Hyperparameters
from ..model.artifact import ModelArtifact


def write_report(out_dir: Path, artifact: ModelArtifact, results: dict, hp: Hyperparameters) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "predictor_type": artifact.predictor_type,
        "threshold": artifact.threshold,
        "selected_model": artifact.selected_model,
        "channels": {name: {"metrics": r.metrics, **r.extra} for name, r in results.items()},
    }
    (out_dir / "metrics.json").write_text(json.dumps(doc, indent=2, sort_keys=True))

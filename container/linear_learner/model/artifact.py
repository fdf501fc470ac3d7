"""The model artifact (reference D8): a zip of manifest.json and .npy arrays, no pickle.

The weights are stored twice: as trained (scaled units) and folded back into original feature and
label units, so a user can score with numpy alone and serving never re-derives the scaling.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ClientError

FORMAT = "open-linear-learner"
FORMAT_VERSION = 1
ARTIFACT_NAME = "model_algo-1"
PREDICTOR_TYPES = ("binary_classifier", "multiclass_classifier", "regressor")
_ARRAYS = ("weights", "bias", "scaled_weights", "scaled_bias", "feature_mean", "feature_std")


class ModelLoadError(Exception):
    """The model directory or file is missing, corrupt or of an unknown format."""


@dataclass(frozen=True)
class ModelArtifact:
    """Everything serving needs. weights: (feature_dim, k) float32; bias: (k,); k = 1 or num_classes."""

    predictor_type: str
    loss: str
    feature_dim: int
    num_classes: int | None
    weights: np.ndarray
    bias: np.ndarray
    scaled_weights: np.ndarray
    scaled_bias: np.ndarray
    feature_mean: np.ndarray
    feature_std: np.ndarray
    threshold: float | None = None
    quantile: float | None = None
    label_mean: float = 0.0
    label_std: float = 1.0
    normalize_data: bool = True
    unbias_data: bool = False
    selected_model: dict = field(default_factory=dict)
    class_names: list[str] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        return int(self.weights.shape[1])

    def manifest(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "predictor_type": self.predictor_type,
            "loss": self.loss,
            "feature_dim": self.feature_dim,
            "num_classes": self.num_classes,
            "threshold": self.threshold,
            "quantile": self.quantile,
            "selected_model": self.selected_model,
            "scaler": {
                "normalize_data": self.normalize_data,
                "unbias_data": self.unbias_data,
                "label_mean": self.label_mean,
                "label_std": self.label_std,
            },
            "class_names": self.class_names,
            "extra": self.extra,
            "arrays": {name: list(getattr(self, name).shape) for name in _ARRAYS},
        }


def save_artifact(artifact: ModelArtifact, model_dir: Path) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a half-written model."""
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / ARTIFACT_NAME
    tmp = model_dir / f".{ARTIFACT_NAME}.tmp-{os.getpid()}"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(artifact.manifest(), indent=2, sort_keys=True))
        for name in _ARRAYS:
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(getattr(artifact, name), dtype=np.float32), allow_pickle=False)
            zf.writestr(f"{name}.npy", buf.getvalue())
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


def _load_array(zf: zipfile.ZipFile, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(zf.read(f"{name}.npy")), allow_pickle=False)
    except (KeyError, ValueError, OSError) as exc:
        raise ModelLoadError(f"member {name}.npy is missing or not a valid .npy array ({exc})") from exc
    if arr.dtype != np.float32:
        raise ModelLoadError(f"member {name}.npy has dtype {arr.dtype}, expected float32")
    if tuple(arr.shape) != shape:
        raise ModelLoadError(f"member {name}.npy has shape {tuple(arr.shape)}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise ModelLoadError(f"member {name}.npy contains NaN or infinite values")
    return arr


def _manifest_from(zf: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(zf.read("manifest.json"))
    except KeyError as exc:
        raise ModelLoadError("manifest.json is missing") from exc
    except ValueError as exc:
        raise ModelLoadError(f"manifest.json is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelLoadError(f"not an {FORMAT} model (manifest format {manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(f"unsupported format_version {manifest.get('format_version')!r}")
    if manifest.get("predictor_type") not in PREDICTOR_TYPES:
        raise ModelLoadError(f"unknown predictor_type {manifest.get('predictor_type')!r}")
    return manifest


def load_artifact(model_dir: Path) -> ModelArtifact:
    """Load and validate shapes, dtypes and finiteness; raise ModelLoadError with the reason."""
    path = model_dir / ARTIFACT_NAME
    if not path.is_file():
        raise ModelLoadError(f"cannot load model from {path}: file not found")
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = _manifest_from(zf)
            feature_dim = int(manifest["feature_dim"])
            num_classes = manifest.get("num_classes")
            k = int(num_classes) if manifest["predictor_type"] == "multiclass_classifier" else 1
            if feature_dim < 1 or k < 1:
                raise ModelLoadError(f"invalid feature_dim {feature_dim} or outputs {k}")
            shapes = {
                "weights": (feature_dim, k),
                "bias": (k,),
                "scaled_weights": (feature_dim, k),
                "scaled_bias": (k,),
                "feature_mean": (feature_dim,),
                "feature_std": (feature_dim,),
            }
            arrays = {name: _load_array(zf, name, shape) for name, shape in shapes.items()}
    except (zipfile.BadZipFile, OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"cannot load model from {path}: {exc}") from exc
    except ModelLoadError as exc:
        raise ModelLoadError(f"cannot load model from {path}: {exc}") from exc
    scaler = manifest.get("scaler") or {}
    threshold = manifest.get("threshold")
    return ModelArtifact(
        predictor_type=manifest["predictor_type"],
        loss=str(manifest.get("loss")),
        feature_dim=feature_dim,
        num_classes=int(num_classes) if num_classes is not None else None,
        threshold=float(threshold) if threshold is not None else None,
        quantile=manifest.get("quantile"),
        label_mean=float(scaler.get("label_mean", 0.0) or 0.0),
        label_std=float(scaler.get("label_std", 1.0) or 1.0),
        normalize_data=bool(scaler.get("normalize_data", True)),
        unbias_data=bool(scaler.get("unbias_data", False)),
        selected_model=manifest.get("selected_model") or {},
        class_names=manifest.get("class_names"),
        extra=manifest.get("extra") or {},
        **arrays,
    )


def check_feature_count(artifact: ModelArtifact, n_features: int, where: str = "input") -> None:
    """Raise the P13-style ClientError when the input's width differs from the model's."""
    if n_features != artifact.feature_dim:
        hint = ""
        if n_features == artifact.feature_dim + 1:
            hint = " (one extra column: do not send the label at inference)"
        raise ClientError(
            f"The feature dimension of the {where}: {n_features} does not match the feature dimension "
            f"of the model: {artifact.feature_dim}{hint}"
        )

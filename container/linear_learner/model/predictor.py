"""Scores and labels in original units from a ModelArtifact.

Serving, test-channel evaluation, the report and the demo all go through this one class, so the
endpoint can never disagree with the training log.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..batch import Features, Predictions
from ..learner.links import LINKS, link_for_loss
from .artifact import ModelArtifact, check_feature_count


class Predictor:
    """Applies folded weights: score = link(X @ W + b); label by threshold (binary) or argmax."""

    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        self._W = np.ascontiguousarray(artifact.weights, dtype=np.float64)
        self._b = artifact.bias.astype(np.float64)
        self._link = LINKS[link_for_loss(artifact.predictor_type, artifact.loss)]

    def raw(self, X: Features) -> np.ndarray:
        """Raw linear outputs (n, k) in float64 (float64 so serving matches offline numpy exactly)."""
        check_feature_count(self.artifact, int(X.shape[1]))
        if sp.issparse(X):
            out = np.asarray(X @ self._W)
        else:
            out = np.asarray(X, dtype=np.float64) @ self._W
        out += self._b
        return out

    def predict(self, X: Features) -> Predictions:
        f = self.raw(X)
        kind = self.artifact.predictor_type
        if kind == "multiclass_classifier":
            scores = self._link(f, axis=1).astype(np.float32)
            labels = np.argmax(scores, axis=1).astype(np.int64)
            return Predictions(scores=scores, labels=labels)
        scores = self._link(f[:, 0]).astype(np.float32)
        if kind == "binary_classifier":
            threshold = 0.5 if self.artifact.threshold is None else self.artifact.threshold
            labels = (scores > np.float32(threshold)).astype(np.int64)
            return Predictions(scores=scores, labels=labels)
        return Predictions(scores=scores, labels=None)

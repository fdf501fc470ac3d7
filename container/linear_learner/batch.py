"""The unit of data that flows between codecs, readers, the learner and the predictor.

A Batch holds rows of features (dense float32 or CSR float32), optional labels, and where the rows
came from so that any later error can still name the file and row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

Features = np.ndarray | sp.csr_matrix


@dataclass(frozen=True)
class Batch:
    """Rows of data. X: (n, d) float32 ndarray or csr_matrix; y: (n,) float32 or None (inference).

    origin names the source (e.g. "channel 'train' file 'part-0.csv'"); first_row is the 1-based line
    (CSV) or record (RecordIO) number of row 0 in that source, so row i is first_row + i unless
    row_numbers (n,) says otherwise (CSV with blank lines skipped).
    """

    X: Features
    y: np.ndarray | None
    origin: str = ""
    first_row: int = 1
    row_numbers: np.ndarray | None = None

    def row_number(self, i: int) -> int:
        """The line (CSV) or record (RecordIO) number of row i in its source, for error messages."""
        if self.row_numbers is not None:
            return int(self.row_numbers[i])
        return self.first_row + int(i)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.X)


@dataclass(frozen=True)
class Predictions:
    """What a model says about n rows, in original units.

    scores: (n,) for binary (probability or hinge margin) and regressor, (n, k) class probabilities
    for multiclass. labels: (n,) int64 for classifiers, None for regressors.
    """

    scores: np.ndarray
    labels: np.ndarray | None

    @property
    def n_rows(self) -> int:
        return int(self.scores.shape[0])


def concat_batches(batches: list[Batch], origin: str = "") -> Batch:
    """Stack batches row-wise; sparse if any input is sparse (dense rows convert without loss)."""
    if not batches:
        raise ValueError("no batches to concatenate")
    if len(batches) == 1:
        return batches[0]
    if any(b.is_sparse for b in batches):
        X = sp.vstack([sp.csr_matrix(b.X) for b in batches], format="csr", dtype=np.float32)
    else:
        X = np.concatenate([b.X for b in batches], axis=0)
    ys = [b.y for b in batches]
    y = None if any(v is None for v in ys) else np.concatenate(ys).astype(np.float32, copy=False)
    return Batch(X=X, y=y, origin=origin or batches[0].origin, first_row=batches[0].first_row)

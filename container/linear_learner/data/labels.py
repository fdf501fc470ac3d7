"""Label rules per predictor type (reference D10), checked where the rows were read.

Binary labels are exactly 0 or 1; multiclass labels integers 0..num_classes-1 (with a hint when
they look 1-based); regressor labels any finite real. The error names file and line/record.
"""

from __future__ import annotations

import numpy as np

from ..batch import Batch
from ..errors import ClientError


def _where(batch: Batch, i: int, unit: str) -> str:
    return f"{batch.origin} {unit} {batch.row_number(i)}"


def _fmt(v: float) -> str:
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))


def check_labels(batch: Batch, predictor_type: str, num_classes: int | None, *, unit: str = "line") -> None:
    """Raise a ClientError for the first label that is not valid for the predictor type."""
    y = batch.y
    if y is None:
        raise ClientError(f"{batch.origin}: the records carry no label; training data needs one")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        i = int(bad[0])
        raise ClientError(f"{_where(batch, i, unit)}: label {_fmt(y[i])} is not a finite number")
    if predictor_type == "binary_classifier":
        bad = np.flatnonzero((y != 0) & (y != 1))
        if bad.size:
            i = int(bad[0])
            raise ClientError(
                f"{_where(batch, i, unit)}: label {_fmt(y[i])} is not valid for binary_classifier "
                "(labels must be 0 or 1)"
            )
    elif predictor_type == "multiclass_classifier":
        k = int(num_classes or 0)
        bad = np.flatnonzero((y != np.round(y)) | (y < 0) | (y > k - 1))
        if bad.size:
            i = int(bad[0])
            hint = ""
            if y.min() >= 1 and y.max() == k:
                hint = "; are the labels 1-based? subtract 1 so they run 0..num_classes-1"
            elif y[i] == np.round(y[i]) and y[i] >= k:
                hint = f"; is num_classes={k} too small?"
            problem = (
                "is not an integer" if y[i] != np.round(y[i]) else f"is out of range for num_classes={k}"
            )
            raise ClientError(
                f"{_where(batch, i, unit)}: label {_fmt(y[i])} {problem} "
                f"(labels must be integers 0..{k - 1}{hint})"
            )

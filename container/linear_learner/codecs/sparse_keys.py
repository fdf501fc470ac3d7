"""The one rule every sparse row obeys in every format: a feature index appears at most once.

Why an error rather than scipy's summing: a row that names feature 3 twice is a bug in whoever
built it (a join gone wrong, keys offset by one), and summing the two values would hide it behind
plausible predictions. RecordIO-protobuf and JSON requests are checked alike.
"""

from __future__ import annotations

import numpy as np


def first_repeated_key(indices: np.ndarray, indptr: np.ndarray) -> tuple[int, int] | None:
    """(row, key) of the first row that names a feature twice, or None.

    Rows whose keys ascend, as the SageMaker SDK's writers produce them, cost one pass; only other
    orders pay for a sort.
    """
    if indices.size < 2:
        return None
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    keys = indices.astype(np.int64, copy=False)
    same_row = rows[1:] == rows[:-1]
    if not (same_row & (keys[1:] <= keys[:-1])).any():
        return None
    order = np.lexsort((keys, rows))
    r, k = rows[order], keys[order]
    repeats = np.flatnonzero((r[1:] == r[:-1]) & (k[1:] == k[:-1]))
    if not repeats.size:
        return None
    return int(r[repeats[0]]), int(k[repeats[0]])

"""first_repeated_key: the first row naming a feature twice, whatever the key order."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from linear_learner.codecs.sparse_keys import first_repeated_key


def _rows(rows: list[list[int]]):
    indptr = np.cumsum([0] + [len(r) for r in rows])
    return np.array([k for r in rows for k in r], dtype=np.uint64), indptr


def test_ascending_rows_have_no_repeat_and_a_repeat_is_found_in_any_order():
    assert first_repeated_key(*_rows([[0, 2, 5], [], [1, 4]])) is None
    assert first_repeated_key(*_rows([[5, 0, 2], [3, 1]])) is None  # unsorted but distinct
    assert first_repeated_key(*_rows([[0, 2], [7, 1, 7], [3, 3]])) == (1, 7)
    assert first_repeated_key(*_rows([[1], [1]])) is None  # the same key in two rows is fine


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 9), max_size=6), max_size=8))
def test_agrees_with_a_set_per_row(rows):
    want = next(((i, k) for i, r in enumerate(rows) for j, k in enumerate(r) if k in r[:j]), None)
    got = first_repeated_key(*_rows(rows))
    if want is None:
        assert got is None
    else:  # the first row with a repeat; within it, the smallest repeated key
        assert got is not None and got[0] == want[0]
        assert got[1] == min(k for j, k in enumerate(rows[want[0]]) if k in rows[want[0]][:j])


def test_sdk_written_csr_passes():
    X = sp.random(50, 30, density=0.2, format="csr", random_state=0)
    assert first_repeated_key(X.indices.astype(np.uint64), X.indptr) is None

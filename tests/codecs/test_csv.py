"""CSV decoding and CSV responses (reference §3, §4, D7, D11; P02, P03, P13, P17)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sagemaker.serializers import CSVSerializer

from linear_learner.batch import Predictions
from linear_learner.codecs.csv import decode_csv, encode_predictions_csv, row_line_numbers
from linear_learner.errors import ClientError

SRC = "channel 'train' file 'part-0.csv'"


def both(data: bytes, **kw):
    """Bulk and per-line decoders must agree exactly."""
    kw.setdefault("source", SRC)
    kw.setdefault("has_label", True)
    fast, slow = decode_csv(data, fast=True, **kw), decode_csv(data, fast=False, **kw)
    np.testing.assert_array_equal(fast.X, slow.X)
    assert (fast.y is None) == (slow.y is None)
    if fast.y is not None:
        np.testing.assert_array_equal(fast.y, slow.y)
    assert fast.first_row == slow.first_row and fast.origin == slow.origin
    assert fast.X.dtype == np.float32 and fast.X.flags.c_contiguous
    return fast


def error(data: bytes, **kw) -> str:
    kw.setdefault("source", SRC)
    kw.setdefault("has_label", True)
    messages = []
    for fast in (True, False):
        with pytest.raises(ClientError) as info:
            decode_csv(data, fast=fast, **kw)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    return messages[0]


def test_label_in_first_column() -> None:
    batch = both(b"1,0.5,2\n0,-1e3,3.25\n")
    np.testing.assert_array_equal(batch.y, [1, 0])
    np.testing.assert_array_equal(batch.X, [[0.5, 2], [-1000, 3.25]])
    assert batch.origin == SRC and batch.first_row == 1


def test_crlf_missing_final_newline_bom_and_whitespace() -> None:
    batch = both(b"\xef\xbb\xbf1, 0.5 ,2\r\n0,1,3", feature_dim=2)
    np.testing.assert_array_equal(batch.X, [[0.5, 2], [1, 3]])


def test_blank_lines_are_skipped_but_counted() -> None:
    data = b"\n\n1,2\n\n  \n0,3\n"
    batch = both(data, first_line=10)
    np.testing.assert_array_equal(batch.X, [[2], [3]])
    assert batch.first_row == 12
    np.testing.assert_array_equal(row_line_numbers(data, first_line=10), [12, 15])
    assert "line 15 column 2: non-numeric value 'x'" in error(b"\n\n1,2\n\n  \n0,x\n", first_line=10)


def test_empty_input_is_an_empty_batch() -> None:
    batch = both(b"\n\n", feature_dim=3)
    assert batch.X.shape == (0, 3) and batch.y.shape == (0,)
    assert decode_csv(b"", source=SRC, has_label=False).y is None


def test_inference_rows_from_sdk_csv_serializer() -> None:
    X = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    body = CSVSerializer().serialize(X)
    body = body.encode() if isinstance(body, str) else body
    batch = both(body, source="request body", has_label=False, feature_dim=5)
    np.testing.assert_array_equal(batch.X, X)
    assert batch.y is None
    single = CSVSerializer().serialize(X[0])
    np.testing.assert_array_equal(both(single.encode(), has_label=False, feature_dim=5).X, X[:1])


def test_python_float_syntax_is_accepted() -> None:
    batch = both(b"1,1_000,.5,5.,+2,-0,1E-3\n", has_label=True)
    np.testing.assert_array_equal(batch.X, np.array([[1000, 0.5, 5, 2, 0, 0.001]], dtype=np.float32))


@pytest.mark.parametrize(
    ("data", "kw", "expected"),
    [
        (
            b"0,(3,[0,2],[1.0,5.0])\n",
            {},
            f"{SRC} line 1 column 2: cannot parse '(3' as a number; expected a number (a Spark sparse vector",
        ),
        (
            b"False,54,3\n1,2,3\n",
            {},
            f"{SRC} line 1 column 1: non-numeric value 'False'; expected a number (encode booleans as 1 and 0)",
        ),
        (b"1,2,3\n0,True,3\n", {}, f"{SRC} line 2 column 2: non-numeric value 'True'"),
        (
            b"label,f1,f2\n1,2,3\n",
            {},
            f"{SRC} line 1 column 1: non-numeric value 'label'; line 1 looks like a header ('label,f1,f2'), but CSV data must not have a header",
        ),
        (b"1,2,3\nlabel,f1,f2\n", {}, f"{SRC} line 2 column 1: non-numeric value 'label'; expected a number"),
        (
            b"1;2;3\n0;1;2\n",
            {},
            f"{SRC} line 1: has no ',' but ';' between its values; expected comma-separated",
        ),
        (b"1\t2\t3\n", {}, f"{SRC} line 1: has no ',' but tabs between its values"),
        ("1,2,3\n".encode("utf-16"), {}, f"{SRC} line 1: holds NUL bytes: binary data or UTF-16 text"),
        (b"\x7fELF\x02\x01\x01\x00\x00\n", {}, f"{SRC} line 1: holds NUL bytes"),
        (b"\xe9t\xe9,caf\xe9\n", {}, f"{SRC} line 1: is not UTF-8 text (byte 1 of the line)"),
        (b"1,2,3\n1,,3\n", {}, f"{SRC} line 2 column 2: empty value; expected a number in every column"),
        (
            b"1,2,3\n1,nan,3\n",
            {},
            f"{SRC} line 2 column 2: value 'nan' is not a finite float32 number; expected finite numbers",
        ),
        (b"1,2,-inf\n", {}, f"{SRC} line 1 column 3: value '-inf' is not a finite float32 number"),
        (b"1,2,1e39\n", {}, f"{SRC} line 1 column 3: value '1e39' is not a finite float32 number"),
        (
            b"1,2,3\n0,1,2\n1,2\n",
            {},
            f"{SRC} line 3: expected 3 columns (label + 2 features) like the first row, got 2",
        ),
        (b"1,2,3\n", {"feature_dim": 30}, f"{SRC} line 1: expected 31 columns (label + 30 features), got 3"),
        (b"1\n0\n", {}, f"{SRC} line 1: expected at least 2 columns (label + features), got 1"),
        (
            b"1,2,3\n4,5,6\n",
            {"has_label": False, "feature_dim": 2},
            "line 1: expected 2 columns (2 features), got 3; inference rows must not include the label column",
        ),
        (
            b"1,2,3,4\n",
            {"has_label": False, "feature_dim": 30},
            "line 1: expected 30 columns (30 features), got 4",
        ),
        (b"1,2,3\n1,2;3\n", {}, "line 2: expected 3 columns (label + 2 features) like the first row, got 2"),
        (b"1,2,3\n1,2,0x10\n", {}, "line 2 column 3: cannot parse '0x10' as a number; expected a number"),
        (b"1,2,3\n1,2,\xff\xfe\n", {}, "line 2 column 3: cannot parse '\ufffd\ufffd' as a number"),
    ],
)
def test_error_messages(data: bytes, kw: dict, expected: str) -> None:
    assert expected in error(data, **kw)


def test_header_only_named_when_line_one_is_entirely_non_numeric() -> None:
    assert "header" not in error(b"False,54,3\n")
    assert "header" not in error(b"x,y,z\n", first_line=5)  # not the file's first line
    assert "header" in error(b"a,b\n")


def test_long_token_is_excerpted_not_echoed() -> None:
    message = error(b"1," + b"9" * 10 + b"x" * 5000 + b"\n")
    assert len(message) < 300 and "..." in message


def test_many_columns_long_fields_take_the_slow_path_correctly() -> None:
    long = b"0." + b"1" * 100
    batch = both(b"1," + long + b"\n0,2\n")
    assert batch.X[0, 0] == np.float32(float(long))


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        (np.array([11.719074249267578, -2.0]), None, b"11.719074249267578\n-2.0\n"),
        (
            np.array([0.1, 0.9], dtype=np.float32),
            np.array([0, 1]),
            b"0,0.10000000149011612\n1,0.8999999761581421\n",
        ),
        (np.array([[0.25, 0.75]], dtype=np.float32), np.array([1]), b"1,0.25,0.75\n"),
        (np.zeros(0), None, b""),
    ],
)
def test_encode_predictions_csv(scores, labels, expected) -> None:
    assert encode_predictions_csv(Predictions(scores, labels)) == expected


rows = st.lists(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=3, max_size=3),
    min_size=1,
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(rows, st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_round_trip_fast_equals_slow(values, newline: bytes, trailing: bool) -> None:
    body = newline.join(b",".join(repr(v).encode() for v in row) for row in values) + (
        newline if trailing else b""
    )
    batch = both(body)
    matrix = np.array(values, dtype=np.float32)
    np.testing.assert_array_equal(batch.y, matrix[:, 0])
    np.testing.assert_array_equal(batch.X, matrix[:, 1:])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.booleans(), st.sampled_from([None, 1, 2]))
def test_random_bytes_give_a_batch_or_client_error(
    data: bytes, has_label: bool, feature_dim: int | None
) -> None:
    results = []
    for fast in (True, False):
        try:
            results.append(
                decode_csv(data, source=SRC, has_label=has_label, feature_dim=feature_dim, fast=fast)
            )
        except ClientError as exc:
            results.append(str(exc))
    if isinstance(results[0], str) or isinstance(results[1], str):
        assert results[0] == results[1]
    else:
        np.testing.assert_array_equal(results[0].X, results[1].X)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.,-+eE\n \rnaif", max_size=60))
def test_number_like_text_fast_equals_slow(text: str) -> None:
    with contextlib.suppress(ClientError):
        both(text.encode(), has_label=False)


def test_bulk_path_is_taken_for_well_formed_data() -> None:
    """White-box: ordinary numeric CSV must not silently fall back to the per-line scan."""
    from linear_learner.codecs import csv as codec

    lines = codec._lines(b"1,2.5,3\r\n0,-4,1e-3\r\n")
    assert codec._decode_fast(lines, source=SRC, has_label=True, feature_dim=2, first_line=1) is not None

"""text/csv <-> Batch, with line and column numbers in every error (reference §3, §4.1, D7, D11; P02, P03, P13).

No header; label in column 1 when present; `\\n` or `\\r\\n`; blank lines skipped but still counted. Fields
are numbers as Python's float() reads them; NaN, infinity, values beyond float32 and empty fields are
rejected. Well-formed input is parsed in bulk by numpy; only when that fails does a per-line scan run,
which is also the reference decoder, so that the error names the first bad line, column and token.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from linear_learner.batch import Batch, Predictions
from linear_learner.errors import ClientError, excerpt

_BOM = b"\xef\xbb\xbf"
_MAX_FAST_FIELD = 64  # longer fields go to the slow path (numpy would size every string to the longest)
_SPARSE_HINT = (
    " (a Spark sparse vector such as '(3,[0,2],[1.0,5.0])' is not CSV: send dense CSV, or RecordIO-protobuf"
    " with keys, values and shape)"
)


def _lines(data: bytes) -> list[bytes]:
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _expected_columns(has_label: bool, feature_dim: int | None, first: int) -> tuple[int, str]:
    """Column count every row must have, and how to describe it."""
    if feature_dim is None:
        n = first
        features = n - 1 if has_label else n
        origin = " like the first row"
    else:
        n, features, origin = feature_dim + (1 if has_label else 0), feature_dim, ""
    what = f"label + {features} features" if has_label else f"{features} features"
    return n, f"expected {n} columns ({what}){origin}"


def _token(field: bytes) -> str:
    return excerpt(field.decode("utf-8", "replace").strip())


def _parse(field: bytes) -> float | None:
    try:
        return float(field)
    except ValueError:
        return None


def _field_error(where: str, field: bytes, value: float | None) -> ClientError:
    token = _token(field)
    if value is not None:
        return ClientError(
            f"{where}: value '{token}' is not a finite float32 number; expected finite numbers (no NaN or infinity)"
        )
    if not token:
        return ClientError(f"{where}: empty value; expected a number in every column")
    if token.isalpha():
        hint = " (encode booleans as 1 and 0)" if token.lower() in ("true", "false") else ""
        return ClientError(f"{where}: non-numeric value '{token}'; expected a number{hint}")
    hint = _SPARSE_HINT if token[:1] in "([" else ""
    return ClientError(f"{where}: cannot parse '{token}' as a number; expected a number{hint}")


_OTHER_SEPARATORS = ((b";", "';'"), (b"\t", "tabs"), (b"|", "'|'"))


def _not_csv_text(line: bytes) -> str | None:
    """Why a first line that parses as nothing is not comma-separated UTF-8 text at all, if it is not
    (binary files, UTF-16, other delimiters would otherwise all be called a header)."""
    if b"\x00" in line:
        return "holds NUL bytes: binary data or UTF-16 text; expected comma-separated numbers as UTF-8 text"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not UTF-8 text (byte {exc.start + 1} of the line); expected comma-separated numbers"
    if b"," not in line:
        for separator, name in _OTHER_SEPARATORS:
            if separator in line:
                return f"has no ',' but {name} between its values; expected comma-separated numbers"
    return None


def _decode_slow(
    lines: list[bytes], *, source: str, has_label: bool, feature_dim: int | None, first_line: int
) -> Batch:
    """The reference decoder: one line at a time, raising at the first problem with its line and column."""
    rows: list[list[float]] = []
    expected: tuple[int, str] | None = None
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        number = first_line + index
        fields = line.split(b",")
        values = [_parse(f) for f in fields]
        if number == 1 and all(v is None for v in values):
            not_csv = _not_csv_text(line)
            if not_csv:
                raise ClientError(f"{source} line 1: {not_csv}")
            raise ClientError(
                f"{source} line 1 column 1: non-numeric value '{_token(fields[0])}'; line 1 looks like a header "
                f"('{excerpt(line.decode('utf-8', 'replace'))}'), but CSV data must not have a header: "
                "expected only numbers"
            )
        if expected is None:
            expected = _expected_columns(has_label, feature_dim, len(fields))
            if has_label and len(fields) < 2:
                raise ClientError(
                    f"{source} line {number}: expected at least 2 columns (label + features), got {len(fields)}; "
                    "training CSV needs the label in column 1 followed by the features"
                )
        if len(fields) != expected[0]:
            hint = ""
            if not has_label and feature_dim is not None and len(fields) == feature_dim + 1:
                hint = "; inference rows must not include the label column"
            raise ClientError(f"{source} line {number}: {expected[1]}, got {len(fields)}{hint}")
        for column, (field, value) in enumerate(zip(fields, values, strict=True), start=1):
            if value is None or not np.isfinite(np.float32(value)):
                raise _field_error(f"{source} line {number} column {column}", field, value)
        rows.append(values)
    width = expected[0] if expected else (feature_dim or 0) + (1 if has_label else 0)
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), width).astype(np.float32)
    return _split(matrix, has_label, source, first_line + _first_row_index(lines))


def _first_row_index(lines: list[bytes]) -> int:
    return next((i for i, line in enumerate(lines) if line.strip()), 0)


def _split(matrix: np.ndarray, has_label: bool, source: str, first_row: int) -> Batch:
    if has_label:
        return Batch(
            np.ascontiguousarray(matrix[:, 1:]), matrix[:, 0].copy(), origin=source, first_row=first_row
        )
    return Batch(matrix, None, origin=source, first_row=first_row)


def _decode_fast(
    lines: list[bytes], *, source: str, has_label: bool, feature_dim: int | None, first_line: int
) -> Batch | None:
    """Bulk parse of well-formed numeric rows with numpy; None when anything needs the slow scan."""
    if not all(lines):
        return None  # blank lines: the slow path keeps the true line numbers
    commas = lines[0].count(b",")
    n_cols, _ = _expected_columns(has_label, feature_dim, commas + 1)
    if commas + 1 != n_cols or (has_label and n_cols < 2):
        return None
    if list(map(bytes.count, lines, repeat(b","))).count(commas) != len(lines):
        return None
    joined = b",".join(lines)
    if b"\0" in joined:
        return None  # numpy bytes strings drop trailing NULs: '0\x00' would read as 0 (found by fuzzing)
    fields = joined.split(b",")
    if max(map(len, fields)) > _MAX_FAST_FIELD:
        return None
    try:
        values = np.array(fields).astype(np.float64).astype(np.float32)
    except ValueError:
        return None
    if not np.isfinite(values).all():
        return None
    return _split(values.reshape(len(lines), n_cols), has_label, source, first_line)


def _decode_compiled(
    data: bytes, *, source: str, has_label: bool, feature_dim: int | None, first_line: int
) -> Batch | None:
    """The numba one-pass parser (codecs/csv_kernel.py); None when it gives up or numba is missing."""
    try:
        from linear_learner.codecs import csv_kernel
    except ImportError:
        return None
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    first = data.lstrip(b" \t\r\n")[: 1 << 16].split(b"\n", 1)[0]
    if not first:
        return None
    n_cols = feature_dim + (1 if has_label else 0) if feature_dim is not None else first.count(b",") + 1
    if has_label and n_cols < 2:
        return None
    parsed = csv_kernel.decode(data, n_cols, has_label)
    if parsed is None:
        return None
    X, y, lines = parsed
    rows = lines.shape[0]
    skipped = bool(rows) and int(lines[-1]) != rows - 1 + int(lines[0])
    first_row = first_line + (int(lines[0]) if rows else 0)
    row_numbers = first_line + lines if skipped else None
    return Batch(X, y, origin=source, first_row=first_row, row_numbers=row_numbers)


def decode_csv(
    data: bytes,
    *,
    source: str,
    has_label: bool,
    feature_dim: int | None = None,
    first_line: int = 1,
    fast: bool = True,
) -> Batch:
    """Decode CSV rows into a dense float32 Batch: X (n, d), y (n,) from column 1 when has_label, else None.

    first_line is the line number of data's first line within the source (for chunked reading); the
    Batch's first_row is the line of its first row (see row_line_numbers when blank lines were skipped).
    A UTF-8 byte-order mark at the start is ignored. fast=False uses only the per-line decoder.
    """
    kw = dict(source=source, has_label=has_label, feature_dim=feature_dim, first_line=first_line)
    if fast:
        batch = _decode_compiled(data, **kw)
        if batch is not None:
            return batch
    lines = _lines(data)
    if not lines:
        y = np.zeros(0, np.float32) if has_label else None
        return Batch(np.zeros((0, feature_dim or 0), np.float32), y, origin=source, first_row=first_line)
    batch = _decode_fast(lines, **kw) if fast else None
    return batch if batch is not None else _decode_slow(lines, **kw)


def row_line_numbers(data: bytes, *, first_line: int = 1) -> np.ndarray:
    """Line number of each decoded row (int64, shape (n,)): maps a row index back to its line for errors
    found after decoding (e.g. label checks), also when blank lines were skipped."""
    lines = _lines(data)
    return np.array([first_line + i for i, line in enumerate(lines) if line.strip()], dtype=np.int64)


def encode_predictions_csv(pred: Predictions) -> bytes:
    """One `\\n`-terminated line per row (D7): regressor `score`; binary `predicted_label,score`; multiclass
    `predicted_label,score_0,...,score_{k-1}`. Scores are float32 values printed as the repr of the double
    (as in the JSON responses), labels as integers."""
    scores = (
        np.asarray(pred.scores, dtype=np.float32)
        .astype(np.float64)
        .reshape(pred.n_rows, -1 if pred.n_rows else 1)
    )
    scores = scores.tolist()
    if pred.labels is None:
        lines = [",".join(map(repr, row)) for row in scores]
    else:
        labels = np.asarray(pred.labels).astype(np.int64).tolist()
        lines = [",".join([str(label), *map(repr, row)]) for label, row in zip(labels, scores, strict=True)]
    return "".join(line + "\n" for line in lines).encode()

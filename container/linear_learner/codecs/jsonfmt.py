"""application/json and application/jsonlines requests and responses (reference §4, D5; P13, P14, P16).

Requests: `{"instances": [X, ...]}` with X = `{"features": [...]}`, `{"data": {"features": {"values": [...]}}}`
or sparse `{"data": {"features": {"keys": [...], "shape": [d], "values": [...]}}}`; also a bare list of rows
or one row (D5). JSON Lines: one X (or bare row) per non-blank line. Only real JSON numbers count: null,
booleans, strings, NaN and infinity are rejected with the row, feature and value, because silently coercing
them (True -> 1.0, "3" -> 3.0) would score garbage. Sparse instances are never densified.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from linear_learner.batch import Batch, Predictions
from linear_learner.errors import ClientError, excerpt

SHAPES = (
    'expected {"instances": [{"features": [...]}, ...]}, {"instances": [{"data": {"features": {"values": [...]}}}]}, '
    'sparse {"instances": [{"data": {"features": {"keys": [...], "shape": [d], "values": [...]}}}]}, '
    'a list of rows [[...], ...], one instance {"features": [...]} or one row [...]'
)
LINE_SHAPES = (
    'expected one instance per line: {"features": [...]}, {"data": {"features": {"values": [...]}}}, '
    'sparse {"data": {"features": {"keys": [...], "shape": [d], "values": [...]}}} or a row [...]'
)
_NUMBER_TYPES = {int, float}


def _show(value: object) -> str:
    try:
        return excerpt(json.dumps(value))
    except (TypeError, ValueError):
        return excerpt(value)


def _loads(text: bytes, where: str) -> object:
    """json.loads that turns every failure (syntax, encoding, absurd nesting or digits) into a ClientError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ClientError(f"{where}: JSON is nested too deeply; {SHAPES}") from None
    except UnicodeDecodeError as exc:
        raise ClientError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # JSONDecodeError, and int literals with too many digits
        hint = "; the body looks like CSV: send it as text/csv" if _looks_like_csv(text) else ""
        raise ClientError(f"{where}: not valid JSON ({excerpt(str(exc), 120)}){hint}") from None


_CSV_LINE = re.compile(rb"\s*[-+.0-9][-+.0-9eE]*\s*(,\s*[-+.0-9eE]*\s*)+")


def _looks_like_csv(text: bytes) -> bool:
    """Whether the first line is comma-separated numbers (a CSV body sent as JSON)."""
    return _CSV_LINE.fullmatch(text.lstrip().split(b"\n", 1)[0].rstrip(b"\r")) is not None


def _numbers(values: object, where: str, what: str) -> list:
    if not isinstance(values, list):
        raise ClientError(f"{where}: {what} is {_show(values)}; expected a list of numbers")
    if not set(map(type, values)) <= _NUMBER_TYPES:
        i, bad = next((i, v) for i, v in enumerate(values) if type(v) not in _NUMBER_TYPES)
        raise ClientError(f"{where}: {what} item {i + 1} is {_show(bad)}; expected a number")
    return values


def _count_error(where: str, got: int, feature_dim: int) -> ClientError:
    hint = "; rows must not include the label" if got == feature_dim + 1 else ""
    return ClientError(f"{where}: got {got} features, the model expects {feature_dim}{hint}")


def _sparse(features: dict, where: str, feature_dim: int) -> tuple[list[int], list]:
    keys, shape = features.get("keys"), features.get("shape")
    values = _numbers(features.get("values"), where, "values")
    if not isinstance(keys, list) or any(type(k) is not int for k in keys):
        raise ClientError(f"{where}: sparse keys {_show(keys)}; expected a list of integer feature indices")
    if not isinstance(shape, list) or len(shape) != 1 or type(shape[0]) is not int:
        raise ClientError(f"{where}: sparse shape {_show(shape)}; expected [{feature_dim}]")
    if shape[0] != feature_dim:
        raise ClientError(
            f"{where}: sparse shape [{shape[0]}] does not match the model's {feature_dim} features"
        )
    if len(keys) != len(values):
        raise ClientError(f"{where}: {len(keys)} keys but {len(values)} values; expected one key per value")
    bad = next((k for k in keys if not 0 <= k < feature_dim), None)
    if bad is not None:
        raise ClientError(f"{where}: sparse key {bad} is out of range; expected 0 <= key < {feature_dim}")
    if len(set(keys)) != len(keys):
        seen: set[int] = set()
        repeated = next(k for k in keys if k in seen or seen.add(k))
        raise ClientError(
            f"{where}: sparse key {repeated} appears more than once; expected each feature index at most once"
        )
    return keys, values


def _instance(inst: object, where: str, feature_dim: int, shapes: str) -> list | tuple[list[int], list]:
    """One instance -> dense list of numbers or (keys, values)."""
    if isinstance(inst, list):
        row = _numbers(inst, where, "row")
    elif isinstance(inst, dict) and isinstance(inst.get("features"), list):
        row = _numbers(inst["features"], where, "features")
    elif (
        isinstance(inst, dict)
        and isinstance(inst.get("data"), dict)
        and isinstance(inst["data"].get("features"), dict)
        and "values" in inst["data"]["features"]
    ):
        features = inst["data"]["features"]
        if "keys" in features or "shape" in features:
            return _sparse(features, where, feature_dim)
        row = _numbers(features["values"], where, "values")
    else:
        raise ClientError(f"{where}: unrecognised instance {_show(inst)}; {shapes}")
    if len(row) != feature_dim:
        raise _count_error(where, len(row), feature_dim)
    return row


def _assemble(rows: list, name: Callable[[int], str], feature_dim: int, source: str) -> Batch:
    """Stack parsed instances; CSR when any is sparse. Checks every value is a finite float32."""
    n = len(rows)
    sparse = [i for i, r in enumerate(rows) if isinstance(r, tuple)]
    try:
        if not sparse:
            values = np.array(rows, dtype=np.float64).reshape(n, feature_dim).astype(np.float32)
            flat, starts = values.ravel(), np.arange(n) * feature_dim
        else:
            keys = [r[0] if isinstance(r, tuple) else range(feature_dim) for r in rows]
            vals = [r[1] if isinstance(r, tuple) else r for r in rows]
            indptr = np.cumsum([0] + [len(k) for k in keys])
            flat = np.array([v for vs in vals for v in vs], dtype=np.float64).astype(np.float32)
            indices = np.array([k for ks in keys for k in ks], dtype=np.int64)
            values = sp.csr_matrix((flat, indices, indptr), shape=(n, feature_dim))
            starts = indptr[:-1]
    except OverflowError:  # an integer literal beyond float64
        i = next(
            i
            for i, r in enumerate(rows)
            if any(abs(v) > 2**1023 for v in (r[1] if isinstance(r, tuple) else r))
        )
        raise ClientError(f"{name(i)}: an integer is too large; expected finite float32 numbers") from None
    bad = np.flatnonzero(~np.isfinite(flat))
    if bad.size:
        i = int(np.searchsorted(starts, bad[0], side="right")) - 1
        row = rows[i][1] if isinstance(rows[i], tuple) else rows[i]
        item = int(bad[0] - starts[i])
        raise ClientError(
            f"{name(i)}: value {_show(row[item])} at item {item + 1} is not a finite float32 number; "
            "expected finite numbers (no NaN or infinity)"
        )
    return Batch(values, None, origin=source)


def decode_json(body: bytes, *, feature_dim: int, source: str = "request body") -> Batch:
    """Decode an application/json request into a Batch (X dense (n, feature_dim) float32, or CSR; y None).

    A blank body, `[]` and `{"instances": []}` give 0 rows (the server answers 204).
    """
    if not body.strip():
        return Batch(np.zeros((0, feature_dim), np.float32), None, origin=source)
    doc = _loads(body, source)
    if isinstance(doc, dict) and "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise ClientError(f'{source}: "instances" is {_show(instances)}; {SHAPES}')
    elif isinstance(doc, list):
        is_single_row = bool(doc) and not isinstance(doc[0], list | dict)
        instances = [doc] if is_single_row else doc
    elif isinstance(doc, dict) and ("features" in doc or "data" in doc):
        instances = [doc]  # one instance, as a JSON Lines line would hold it
    else:
        raise ClientError(f"{source}: unrecognised JSON document {_show(doc)}; {SHAPES}")
    if not instances:
        return Batch(np.zeros((0, feature_dim), np.float32), None, origin=source)
    rows = [_instance(inst, f"{source} row {i + 1}", feature_dim, SHAPES) for i, inst in enumerate(instances)]
    return _assemble(rows, lambda i: f"{source} row {i + 1}", feature_dim, source)


def decode_jsonlines(body: bytes, *, feature_dim: int, source: str = "request body") -> Batch:
    """Decode an application/jsonlines request: one instance per non-blank line (blank lines still counted)."""
    rows, lines = [], []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{source} row {len(rows) + 1} (line {number})"
        rows.append(_instance(_loads(line, where), where, feature_dim, LINE_SHAPES))
        lines.append(number)
    if not rows:
        return Batch(np.zeros((0, feature_dim), np.float32), None, origin=source)
    return _assemble(rows, lambda i: f"{source} row {i + 1} (line {lines[i]})", feature_dim, source)


def _objects(pred: Predictions) -> list[dict]:
    """Per-row response objects: float32 scores as Python floats of the float32, labels as ints."""
    scores = np.asarray(pred.scores, dtype=np.float32).astype(np.float64).tolist()
    if pred.labels is None:
        return [{"score": s} for s in scores]
    labels = np.asarray(pred.labels).astype(np.int64).tolist()
    return [{"score": s, "predicted_label": c} for s, c in zip(scores, labels, strict=True)]


def encode_json(pred: Predictions) -> bytes:
    """`{"predictions": [{"score": ..., "predicted_label": ...}, ...]}` with json.dumps' default separators."""
    return json.dumps({"predictions": _objects(pred)}).encode()


def encode_jsonlines(pred: Predictions) -> bytes:
    """One `\\n`-terminated JSON object per row, so batch transform's AssembleWith=Line lines up with the input."""
    return "".join(json.dumps(obj) + "\n" for obj in _objects(pred)).encode()

"""Channel -> Batch: every file of a channel decoded by its codec, with the channel named in errors.

This is the in-memory path used when the data fits the memory budget; the codecs do the parsing so
training and serving share one implementation per wire format.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..batch import Batch, concat_batches
from ..codecs import protobuf as pb_codec
from ..errors import ClientError
from .labels import check_labels
from .sources import describe, list_channel_files

log = logging.getLogger(__name__)

CSV = "text/csv"
RECORDIO = "application/x-recordio-protobuf"
RECORDIO_MAGIC = b"\x0a\x23\xd7\xce"


def decode_bytes(data: bytes, content_type: str, source: str, feature_dim: int | None) -> Batch:
    """Decode one file's bytes with the codec of the channel's content type."""
    if content_type == CSV:
        from ..codecs import csv as csv_codec  # TEMP until the csv codec lands

        return csv_codec.decode_csv(data, source=source, has_label=True, feature_dim=feature_dim)
    return pb_codec.decode_records(data, source=source, require_label=True, feature_dim=feature_dim)


GZIP_MAGIC = b"\x1f\x8b"
GZIP_HINT = (
    " (the file is gzip-compressed: File mode reads files as they are, so decompress them first; "
    "CompressionType=Gzip is honoured in Pipe mode)"
)


def _content_type_hint(data: bytes, content_type: str, content_type_given: bool) -> str:
    if data[:2] == GZIP_MAGIC:
        return GZIP_HINT
    looks_like_text = data[:4] != RECORDIO_MAGIC and data[:1].isascii() and b"," in data[:4096]
    if content_type == RECORDIO and not content_type_given and looks_like_text:
        return (
            " (the channel has no ContentType, so it was read as application/x-recordio-protobuf; "
            "for CSV data set ContentType to text/csv)"
        )
    if content_type == CSV and data[:4] == RECORDIO_MAGIC:
        return (
            " (the file starts with the RecordIO magic number: it looks like RecordIO-protobuf; "
            "set the channel's ContentType to application/x-recordio-protobuf)"
        )
    return ""


def read_channel(
    channel: str,
    channel_dir: Path,
    content_type: str,
    *,
    predictor_type: str,
    num_classes: int | None,
    feature_dim: int | None,
    content_type_given: bool = True,
) -> Batch:
    """All rows of a File-mode channel in memory, labels checked, feature count consistent."""
    files = list_channel_files(channel_dir, channel)
    batches: list[Batch] = []
    unit = "line" if content_type == CSV else "record"
    for path in files:
        source = describe(channel, path, channel_dir)
        data = path.read_bytes()
        try:
            batch = decode_bytes(data, content_type, source, feature_dim)
        except ClientError as exc:
            raise ClientError(f"{exc}{_content_type_hint(data, content_type, content_type_given)}") from exc
        if batch.n_rows == 0:
            log.warning("%s: no records", source)
            continue
        if feature_dim is None:
            feature_dim = batch.n_features
        elif batch.n_features != feature_dim:
            raise ClientError(
                f"{source}: rows have {batch.n_features} features, but earlier files (or feature_dim) "
                f"say {feature_dim}"
            )
        check_labels(batch, predictor_type, num_classes, unit=unit)
        batches.append(batch)
    if not batches:
        names = ", ".join(f"'{p.relative_to(channel_dir)}'" for p in files[:5])
        raise ClientError(
            f"channel '{channel}' file(s) {names}: 0 records (byte 0); {len(files)} file(s) read"
        )
    total = concat_batches(batches, origin=f"channel '{channel}'")
    log.info(
        "channel '%s': %d file(s), %d records, %d features, %s",
        channel,
        len(files),
        total.n_rows,
        total.n_features,
        "sparse" if total.is_sparse else "dense",
    )
    return total

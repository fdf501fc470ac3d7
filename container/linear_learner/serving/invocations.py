"""What /invocations does with bytes: media-type checks, then decode and encode through dispatch tables.

Kept apart from the Flask routes so the request pipeline reads as data (media type -> codec function)
and every wire format is handled by the one codec that training also uses (architecture §1). Nothing here
knows about HTTP beyond the status codes carried by RequestError.
"""

from __future__ import annotations

from collections.abc import Callable

from ..batch import Batch, Predictions
from ..codecs import csv as csv_codec
from ..codecs import jsonfmt, protobuf
from ..codecs.mediatype import CSV, JSON, JSONLINES, RECORDIO, MediaType, parse_media_type
from ..errors import RequestError, excerpt

#: Where decoded rows say they came from in error messages ("request body line 3: ...").
SOURCE = "request body"

Decoder = Callable[[bytes, int], Batch]
Encoder = Callable[[Predictions], bytes]


def _decode_csv(body: bytes, feature_dim: int) -> Batch:
    return csv_codec.decode_csv(body, source=SOURCE, has_label=False, feature_dim=feature_dim)


def _decode_json(body: bytes, feature_dim: int) -> Batch:
    return jsonfmt.decode_json(body, feature_dim=feature_dim, source=SOURCE)


def _decode_jsonlines(body: bytes, feature_dim: int) -> Batch:
    return jsonfmt.decode_jsonlines(body, feature_dim=feature_dim, source=SOURCE)


def _decode_recordio(body: bytes, feature_dim: int) -> Batch:
    return protobuf.decode_records(body, source=SOURCE, require_label=False, feature_dim=feature_dim)


#: Request Content-Type -> decoder. The order is the order of the 415 message.
DECODERS: dict[str, Decoder] = {
    CSV: _decode_csv,
    JSON: _decode_json,
    JSONLINES: _decode_jsonlines,
    RECORDIO: _decode_recordio,
}

#: Response type -> encoder. The order is the tie-break order of negotiation and of the 406 message.
ENCODERS: dict[str, Encoder] = {
    JSON: jsonfmt.encode_json,
    JSONLINES: jsonfmt.encode_jsonlines,
    RECORDIO: protobuf.encode_predictions,
    CSV: csv_codec.encode_predictions_csv,
}

REQUEST_TYPES: tuple[str, ...] = tuple(DECODERS)
RESPONSE_TYPES: tuple[str, ...] = tuple(ENCODERS)

# Text formats are decoded as UTF-8; ASCII is a subset, anything else would be misread silently.
_TEXT_TYPES = (CSV, JSON, JSONLINES)
_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


def _unsupported(what: str) -> RequestError:
    return RequestError(f"{what}; supported: {', '.join(REQUEST_TYPES)}", status=415)


def check_request_type(header: str | None) -> MediaType:
    """Parse and vet the Content-Type; RequestError(415) names what was received and what would work.

    A missing Content-Type is refused rather than guessed (contract §10, P16). `label_size` is accepted
    only as 0 because labels are never sent at inference (P15); a charset must be UTF-8 compatible.
    """
    if header is None or not header.strip():
        raise _unsupported("missing Content-Type header")
    media = parse_media_type(header)
    if media is None or media.type not in DECODERS:
        raise _unsupported(f"Content-Type {excerpt(header, 80)!r} is not supported")
    if media.type in _TEXT_TYPES:
        charset = media.params.get("charset")
        if charset is not None and charset.strip().lower() not in _CHARSETS:
            raise RequestError(
                f"Content-Type parameter charset={excerpt(charset)!r} is not supported (allowed: utf-8)",
                status=415,
            )
    if media.type == CSV:
        label_size = media.params.get("label_size")
        if label_size is not None and label_size.strip() != "0":
            raise RequestError(
                f"Content-Type parameter label_size={excerpt(label_size)!r} is not supported at inference "
                "(allowed: label_size=0; send features only, without the label column)",
                status=415,
            )
    return media


def is_empty(body: bytes, media: MediaType) -> bool:
    """True when there is nothing to score: no bytes, or only whitespace in a text format (-> 204)."""
    if not body:
        return True
    return media.type in _TEXT_TYPES and not body.strip()


def decode(media: MediaType, body: bytes, feature_dim: int) -> Batch:
    """Rows of the request as a Batch; the codec raises ClientError naming the row on bad input."""
    return DECODERS[media.type](body, feature_dim)


def encode(accept: str, predictions: Predictions) -> bytes:
    """The response body for a negotiated type: one output per input row, in order."""
    return ENCODERS[accept](predictions)

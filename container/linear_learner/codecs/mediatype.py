"""Content-Type parsing and Accept negotiation (contract §10).

A small RFC 9110-style parser instead of `cgi.parse_header` (gone in Python 3.13, contract §13.5): type,
subtype and parameter names are case-insensitive, whitespace around `;`, `=` and `,` is optional and
parameter values may be quoted. Negotiation happens before any parsing or predicting, so a client asking
for a format we cannot produce learns it immediately (406) with the list of what we can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from linear_learner.errors import RequestError, excerpt

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
RECORDIO = "application/x-recordio-protobuf"

# Wildcard ranges that mean "any of this family": the family's conventional type (contract §10).
_FAMILY_DEFAULTS = {"application/*": JSON, "text/*": CSV}


@dataclass(frozen=True)
class MediaType:
    """A parsed media type: `type` is lower-case "type/subtype"; `params` maps lower-case names to values."""

    type: str
    params: dict[str, str] = field(default_factory=dict)


def _split_unquoted(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes (a quoted parameter value may contain `;` or `,`)."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner, out, escaped = value[1:-1], [], False
        for ch in inner:
            if escaped or ch != "\\":
                out.append(ch)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


def parse_media_type(header: str | None) -> MediaType | None:
    """Parse a Content-Type (or one Accept element); None when absent, blank or not `type/subtype`.

    `Text/CSV; Charset="utf-8"` -> MediaType("text/csv", {"charset": "utf-8"}). Parameters without `=`
    are ignored rather than rejected: they carry no meaning we could act on.
    """
    if header is None:
        return None
    pieces = _split_unquoted(header, ";")
    mtype = pieces[0].strip().lower()
    main, slash, sub = mtype.partition("/")
    if not slash or not main.strip() or not sub.strip() or " " in mtype:
        return None
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        name = name.strip().lower()
        if eq and name:
            params[name] = _unquote(value)
    return MediaType(mtype, params)


def _quality(params: dict[str, str]) -> float | None:
    """The q parameter as a float in [0, 1] (1 when absent); None when malformed (the element is skipped)."""
    raw = params.get("q")
    if raw is None:
        return 1.0
    try:
        q = float(raw)
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


def negotiate_accept(accept: str | None, supported: Sequence[str], default: str) -> str:
    """Choose the response type for an Accept header.

    Absent, blank or `*/*` -> `default`; otherwise the supported type with the highest q (ties go to the
    element listed first); `application/*` stands for application/json and `text/*` for text/csv; q=0
    means "not this". Raises RequestError(406) naming what was asked for and what is supported.
    """
    if accept is None or not accept.strip():
        return default
    elements = [parse_media_type(element) for element in _split_unquoted(accept, ",")]
    parsed = [(m, _quality(m.params)) for m in elements if m is not None]
    refused = {m.type for m, q in parsed if q == 0.0}
    best: tuple[float, int, str] | None = None
    for position, (media, q) in enumerate(parsed):
        if q is None or q <= 0.0:
            continue
        if media.type == "*/*":
            candidate: str | None = default
        elif media.type in _FAMILY_DEFAULTS:
            candidate = _FAMILY_DEFAULTS[media.type]
        else:
            candidate = media.type
        if candidate not in supported or candidate in refused:
            continue
        if best is None or q > best[0]:
            best = (q, position, candidate)
    if best is None:
        raise RequestError(
            f"Accept {excerpt(accept, 80)!r} names no supported response type; supported: {', '.join(supported)}",
            status=406,
        )
    return best[2]

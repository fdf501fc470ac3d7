"""Content-Type parsing and Accept negotiation (contract §10, P14, P15)."""

from __future__ import annotations

import pytest

from linear_learner.codecs.mediatype import (
    CSV,
    JSON,
    JSONLINES,
    RECORDIO,
    MediaType,
    negotiate_accept,
    parse_media_type,
)
from linear_learner.errors import RequestError

SUPPORTED = (JSON, JSONLINES, RECORDIO, CSV)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/csv", MediaType("text/csv", {})),
        ("Text/CSV", MediaType("text/csv", {})),
        ("text/csv; charset=utf-8", MediaType("text/csv", {"charset": "utf-8"})),
        ("text/csv;label_size=0", MediaType("text/csv", {"label_size": "0"})),
        (
            '  TEXT/csv ;  Label_Size = 1 ; CHARSET="UTF-8"',
            MediaType("text/csv", {"label_size": "1", "charset": "UTF-8"}),
        ),
        ('application/json; x="a;b\\"c"', MediaType("application/json", {"x": 'a;b"c'})),
        ("application/x-recordio-protobuf;", MediaType(RECORDIO, {})),
        ("text/csv; flag", MediaType("text/csv", {})),
    ],
)
def test_parse_media_type(header: str, expected: MediaType) -> None:
    assert parse_media_type(header) == expected


@pytest.mark.parametrize("header", [None, "", "   ", "csv", "text/", "/csv", "text /csv", ";charset=utf-8"])
def test_parse_media_type_rejects_non_types(header: str | None) -> None:
    assert parse_media_type(header) is None


def test_constants() -> None:
    assert (CSV, JSON, JSONLINES, RECORDIO) == (
        "text/csv",
        "application/json",
        "application/jsonlines",
        "application/x-recordio-protobuf",
    )


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSONLINES),
        ("", JSONLINES),
        ("*/*", JSONLINES),
        ("text/csv", CSV),
        ("Application/JSON", JSON),
        ("application/*", JSON),
        ("text/*", CSV),
        ("text/html, application/jsonlines", JSONLINES),
        ("application/json;q=0.5, text/csv;q=0.9", CSV),
        ("application/json;q=0.9, text/csv;q=0.9", JSON),
        ("text/csv;q=0.9, application/json;q=0.9", CSV),
        ("text/csv;q=0, */*;q=0.1", JSONLINES),
        ("application/json;q=bogus, text/csv", CSV),
        ("application/x-recordio-protobuf; q=1.0", RECORDIO),
    ],
)
def test_negotiate_accept(accept: str | None, expected: str) -> None:
    assert negotiate_accept(accept, SUPPORTED, default=JSONLINES) == expected


def test_refused_default_is_not_chosen_by_wildcard() -> None:
    with pytest.raises(RequestError):
        negotiate_accept("application/json;q=0, */*", SUPPORTED, default=JSON)


@pytest.mark.parametrize(
    "accept", ["text/html", "image/png, text/plain", "text/csv;q=0", "application/*;q=0"]
)
def test_nothing_acceptable_is_406_listing_supported(accept: str) -> None:
    with pytest.raises(RequestError) as info:
        negotiate_accept(accept, SUPPORTED, default=JSON)
    assert info.value.status == 406
    message = str(info.value)
    assert accept.split(",")[0] in message
    for media in SUPPORTED:
        assert media in message


def test_family_wildcard_needs_its_type_supported() -> None:
    with pytest.raises(RequestError) as info:
        negotiate_accept("text/*", (JSON,), default=JSON)
    assert info.value.status == 406

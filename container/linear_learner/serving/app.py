"""The Flask application: /ping, /invocations and /execution-parameters (contract §9-§11).

Built by a factory from an already loaded Predictor, so a worker only ever answers with a model that
passed validation (P19), and settings arrive as arguments instead of being read from the environment.
Every failure ends here as a short text/plain answer with the right status; a traceback only ever goes
to the log (contract §13.4), and an unexpected error never takes the worker down.
"""

from __future__ import annotations

import json
import logging

import numpy as np
from flask import Flask, Response, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from ..codecs import protobuf
from ..codecs.mediatype import CSV, JSON, JSONLINES, RECORDIO, negotiate_accept, parse_media_type
from ..env import ServingSettings
from ..errors import ClientError, RequestError
from ..model.predictor import Predictor
from .invocations import RESPONSE_TYPES, check_request_type, decode, encode, is_empty

log = logging.getLogger(__name__)

TEXT_PLAIN = "text/plain; charset=utf-8"
#: Error messages are for people; a bounded length keeps echoed input from bloating a response.
MAX_MESSAGE_CHARS = 2000
#: A body we refuse is still read and discarded up to this many times the limit, so the client gets a
#: clean answer on a connection it can reuse (P16), without the server reading forever.
DRAIN_FACTOR = 4
_READ_CHUNK = 1 << 20
#: The batch-transform limit on MaxConcurrentTransforms x MaxPayloadInMB (contract §11).
_BATCH_MB_BUDGET = 100
_STRATEGIES = {"MULTIRECORD": "MULTI_RECORD", "SINGLERECORD": "SINGLE_RECORD"}


def resolve_default_accept(value: str) -> str:
    """The response type used when Accept is absent or */*; ValueError if we could never produce it.

    Checked at start-up so a typo in SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT stops the server instead of
    failing every request.
    """
    media = parse_media_type(value)
    if media is None or media.type not in RESPONSE_TYPES:
        raise ValueError(
            f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={value!r} is not a supported response type "
            f"({', '.join(RESPONSE_TYPES)})"
        )
    return media.type


def execution_parameters(settings: ServingSettings) -> dict[str, object]:
    """What batch transform should send us when the job does not say (contract §9, §11).

    Values set on the job (the SAGEMAKER_* variables) are echoed; otherwise one transform per worker,
    capped so that MaxConcurrentTransforms x MaxPayloadInMB stays within SageMaker's 100 MB budget.
    """
    payload_mb = settings.max_payload_mb
    concurrent = settings.max_concurrent_transforms
    if concurrent is None:
        concurrent = max(1, min(settings.workers, _BATCH_MB_BUDGET // max(1, payload_mb)))
    strategy = settings.batch_strategy or "MULTI_RECORD"
    strategy = _STRATEGIES.get(strategy.replace("_", "").upper(), strategy.upper())
    return {"MaxConcurrentTransforms": concurrent, "BatchStrategy": strategy, "MaxPayloadInMB": payload_mb}


def _text(message: str, status: int) -> Response:
    message = message.replace("\r", " ")
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return Response(message + "\n", status=status, content_type=TEXT_PLAIN)


def _no_body(status: int) -> Response:
    """An empty response without a Content-Type: there is no body for one to describe."""
    response = Response(b"", status=status)
    del response.headers["Content-Type"]
    return response


def _too_large(size: int, limit: int, *, at_least: bool = False) -> RequestError:
    amount = f"more than {size}" if at_least else str(size)
    return RequestError(f"payload of {amount} bytes exceeds limit of {limit} bytes", status=413)


def read_body(limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes with 413.

    A declared Content-Length is checked before anything is read. A chunked body is read up to
    limit + 1 bytes; the rest is drained (bounded) only to report its size, never kept in memory.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(declared, limit)
    stream = request.stream
    parts: list[bytes] = []
    remaining = limit + 1
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    body = b"".join(parts)
    if len(body) <= limit:
        return body
    size, cap = len(body), DRAIN_FACTOR * limit
    while size <= cap:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            raise _too_large(size, limit)
        size += len(chunk)
    raise _too_large(size, limit, at_least=True)


def discard_unread_body(max_bytes: int) -> None:
    """Read and drop what is left of the request body, at most about `max_bytes`.

    A 406/415/413 is decided before the body is read; left unread, gunicorn closes the keep-alive
    connection under a client that was told "keep-alive". A client that went away is not an error.
    """
    stream = request.stream
    seen = 0
    try:
        while seen <= max_bytes:
            chunk = stream.read(_READ_CHUNK)
            if not chunk:
                return
            seen += len(chunk)
    except (ClientDisconnected, OSError):
        return


def create_app(predictor: Predictor, settings: ServingSettings) -> Flask:
    """A Flask app serving `predictor` under `settings`; raises ValueError for an unusable default Accept."""
    app = Flask("linear_learner.serving")
    default_accept = resolve_default_accept(settings.default_accept)
    limit = settings.max_payload_bytes
    feature_dim = predictor.artifact.feature_dim
    # Batch transform with AssembleWith=Line expects each response to end with a newline (contract §11).
    terminate_json = settings.is_batch
    exec_params = json.dumps(execution_parameters(settings))

    @app.get("/ping")
    def ping() -> Response:
        return _no_body(200)

    @app.get("/execution-parameters")
    def execution_parameters_route() -> Response:
        return Response(exec_params, status=200, content_type=JSON)

    @app.post("/invocations")
    def invocations() -> Response:
        # Order matters: negotiate before reading or parsing, so a 406/415 costs nothing (contract §10).
        accept = negotiate_accept(request.headers.get("Accept"), RESPONSE_TYPES, default_accept)
        media = check_request_type(request.headers.get("Content-Type"))
        body = read_body(limit)
        if is_empty(body, media):
            return _no_body(204)
        batch = decode(media, body, feature_dim)
        if batch.n_rows == 0:
            return _no_body(204)
        payload = encode(accept, predictor.predict(batch.X))
        if terminate_json and accept == JSON and not payload.endswith(b"\n"):
            payload += b"\n"
        return Response(payload, status=200, content_type=accept)

    @app.errorhandler(ClientError)
    def client_error(exc: ClientError) -> Response:
        status = exc.status if isinstance(exc, RequestError) else 400
        discard_unread_body(DRAIN_FACTOR * limit)
        log.info("%d %s %s: %s", status, request.method, request.path, exc)
        return _text(str(exc), status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        return _text(f"{status} {exc.name}: {request.method} {request.path}", status)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("internal error answering %s %s", request.method, request.path)
        return _text(f"internal server error ({type(exc).__name__}); the details are in the server log", 500)

    return app


def warm_up(app: Flask, feature_dim: int) -> None:
    """Score one zero row in every request format with every response format, in-process.

    Compiled codec paths (numba) and lazy imports cost about a second on first use: paying it here,
    before the worker accepts connections, keeps the first real request as fast as the others and proves
    the whole pipeline works with this model before /ping can answer. RuntimeError if any step fails.
    """
    row = [0.0] * feature_dim
    bodies = {
        CSV: ",".join(["0"] * feature_dim).encode(),
        JSON: json.dumps({"instances": [{"features": row}]}).encode(),
        JSONLINES: json.dumps({"features": row}).encode(),
        RECORDIO: protobuf.encode_batch(np.zeros((1, feature_dim), np.float32)),
    }
    client = app.test_client()
    for content_type, body in bodies.items():
        for accept in RESPONSE_TYPES:
            response = client.post(
                "/invocations", data=body, content_type=content_type, headers={"Accept": accept}
            )
            if response.status_code != 200:
                raise RuntimeError(
                    f"warm-up request {content_type} -> {accept} answered {response.status_code}: "
                    f"{response.get_data(as_text=True)[:200]}"
                )

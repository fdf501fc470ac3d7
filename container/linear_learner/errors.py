"""The three kinds of failure and the exit codes they map to.

Code that knows the user is at fault raises ClientError with everything it knows about *where*
(channel, file, line/record, byte offset, field, value) and *what was expected*. Serving wraps the
same messages in RequestError with an HTTP status. Anything else is a bug and surfaces as
AlgorithmError at the single boundary in cli.py / the Flask error handler.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CLIENT_ERROR = 1
EXIT_ALGORITHM_ERROR = 2
EXIT_SIGTERM = 143


class ClientError(Exception):
    """The user's data, configuration or request is wrong; the message says where and how to fix it."""


class RequestError(ClientError):
    """A ClientError at inference time, carrying the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class AlgorithmError(Exception):
    """An internal fault (a bug or an environment problem that is not the user's)."""


class TrainingInterrupted(Exception):
    """SIGTERM arrived; training stops at the next mini-batch boundary."""


def excerpt(value: object, limit: int = 40) -> str:
    """A short, printable excerpt of user input for error messages (never echo whole payloads)."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."

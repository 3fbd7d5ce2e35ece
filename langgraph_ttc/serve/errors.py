"""Errors the server answers with, in OpenAI's JSON shape.

Every refusal is an :class:`APIError`: a status, a one-line message that says what to change,
and OpenAI's ``type`` / ``param`` / ``code`` fields, so any OpenAI client raises its usual
exception (``openai.BadRequestError``, ``AuthenticationError``, ``RateLimitError``, ...).

Example:
    >>> err = bad_request("n must be between 1 and 8; got 9.", param="n")
    >>> err.status, err.body()["error"]["param"]
    (400, 'n')
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["APIError", "bad_request", "error_body"]

# OpenAI's error types by status (what its API sends, which its SDKs map to exceptions).
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    503: "server_overloaded",
}


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None):
    """OpenAI's error JSON: ``{"error": {"message", "type", "param", "code"}}``.

    Example:
        >>> error_body(401, "Missing API key.", code="invalid_api_key")["error"]["type"]
        'authentication_error'
    """
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "invalid_request_error"),
            "param": param,
            "code": code,
        }
    }


@dataclass
class APIError(Exception):
    """A refusal the app turns into an HTTP reply (status, OpenAI error JSON, headers)."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict:
        return error_body(self.status, self.message, param=self.param, code=self.code)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 for input the server cannot take."""
    return APIError(400, message, param=param, code=code)

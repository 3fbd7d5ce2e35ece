"""What to do when a request to an OpenAI-compatible server fails: retry it, give up on it, or
give up on the endpoint; how long to wait; and how to describe the failure without secrets.

Pure functions over one family of failures: aiohttp's (``ClientError``, ``TimeoutError``) and
:class:`~langgraph_ttc.backends.http_client.HTTPStatusError` (a user's ``openai`` client's
errors are said in the same terms by :class:`~langgraph_ttc.backends.http_client.SDKWire`).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from collections.abc import Mapping

import aiohttp

from langgraph_ttc.backends.http_client import ConnectFailed, HTTPStatusError, ReplyTooLarge

MAX_RETRY_AFTER_S = 60.0  # Never sleep longer than this on a server's Retry-After hint.
MAX_ERROR_CHARS = 500

__all__ = [
    "DeadlineExceeded",
    "EmptyReply",
    "backoff_seconds",
    "describe_failure",
    "is_connect_failure",
    "is_endpoint_failure",
    "is_retryable",
    "redact",
    "retry_after_seconds",
    "status_code",
]


class EmptyReply(Exception):
    """The server answered 200 but with no choices."""


class DeadlineExceeded(Exception):
    """The caller's time budget ran out before the request could be sent or retried."""


# No connection was made: refused, unknown host, TLS failure, connect timeout (aiohttp names
# them so; a user's openai client's as ConnectFailed).
_CONNECT_FAILURES = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, ConnectFailed)
_TIMEOUTS = (asyncio.TimeoutError, TimeoutError)


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an error reply, else ``None``.

    Example:
        >>> status_code(HTTPStatusError(503, {}, b"busy")), status_code(ValueError())
        (503, None)
    """
    if isinstance(exc, HTTPStatusError):
        return exc.status_code
    return None


def is_connect_failure(exc: BaseException) -> bool:
    """Connection refused, unknown host, TLS failure or connect timeout: nothing (right)
    listens at the URL."""
    return isinstance(exc, _CONNECT_FAILURES)


def is_endpoint_failure(exc: BaseException) -> bool:
    """Before any success: nothing listens, or the URL, key or model name is wrong."""
    status = status_code(exc)
    if status is not None:
        return status in (401, 403, 404)
    return is_connect_failure(exc)


def is_retryable(exc: BaseException) -> bool:
    """Rate limits (429), 408/409, 5xx, timeouts, dropped connections, malformed or empty
    replies are worth another attempt; other 4xx are not.

    Example:
        >>> is_retryable(EmptyReply()), is_retryable(ValueError())
        (True, False)
    """
    if isinstance(exc, (EmptyReply, aiohttp.ClientError, *_TIMEOUTS)):
        # aiohttp: dropped connections, bodies cut short, read and connect timeouts.
        return not isinstance(exc, (aiohttp.InvalidURL, ReplyTooLarge))
    status = status_code(exc)
    if status is not None:
        return status in (408, 409, 429) or status >= 500
    return isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError))


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a server asks for via ``retry-after-ms`` or ``Retry-After`` (seconds or a date).

    Example:
        >>> retry_after_seconds({"retry-after-ms": "250"}), retry_after_seconds({"retry-after": "2"})
        (0.25, 2.0)
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(float(lowered["retry-after-ms"]) / 1000.0, 0.0)
        if "retry-after" in lowered:
            value = lowered["retry-after"]
            try:
                return max(float(value), 0.0)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                return max(when.timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def backoff_seconds(exc: BaseException | None, attempt: int, initial: float) -> float:
    """The wait before retry number ``attempt`` (1-based): the server's Retry-After hint
    (capped at ``MAX_RETRY_AFTER_S``), else exponential backoff up to 16x with jitter.

    Example:
        >>> backoff_seconds(None, 1, 0.0), backoff_seconds(None, 9, 0.0)
        (0.0, 0.0)
    """
    headers = getattr(exc, "headers", None)
    hinted = retry_after_seconds(headers)
    if hinted is not None:
        return min(hinted, MAX_RETRY_AFTER_S)
    return initial * 2 ** min(attempt - 1, 4) + random.uniform(0, initial)


def describe_failure(exc: BaseException, timeout_s: float) -> str:
    """A short description of a failed request (not yet redacted: see :func:`redact`).

    Example:
        >>> describe_failure(EmptyReply(), 60)
        'the server replied with no choices'
    """
    if isinstance(exc, HTTPStatusError):
        return str(exc)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connection error: could not connect ({exc or 'connect timeout'})"
    if isinstance(exc, _TIMEOUTS):
        return f"timed out after {timeout_s:g}s"
    if isinstance(exc, aiohttp.ClientError):
        return f"connection error: {exc or type(exc).__name__}"
    if isinstance(exc, EmptyReply):
        return "the server replied with no choices"
    if isinstance(exc, DeadlineExceeded):
        return "the time budget ran out before the request could finish"
    return f"{type(exc).__name__}: {exc}"


def redact(text: str, api_key: str | None) -> str:
    """``text`` without the API key or any bearer/authorization value, cut to a readable length.

    Example:
        >>> redact("bad key sk-12345; Authorization: Bearer abc; bearer xyz", "sk-12345")
        'bad key ***; Authorization: Bearer ***; bearer ***'
    """
    if api_key and api_key != "EMPTY" and len(api_key) >= 4:
        text = text.replace(api_key, "***")
    # "Authorization: Bearer <token>" and a bare "Bearer <token>": the token goes, the words stay.
    text = re.sub(r"(?i)(authorization:?\s*(?:bearer\s+)?|bearer\s+)[^\s'\",};]+", r"\1***", text)
    return text[:MAX_ERROR_CHARS]

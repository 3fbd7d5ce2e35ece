"""What one request may spend and how many may run: server-wide caps, API keys, admission.

:class:`Limits` holds the server's caps. A request's own options (``n``, a budget) may ask for
less, never more: out-of-range values are refused with a 400 naming the cap, so a client learns
the limit instead of being silently cut. :class:`Admission` bounds the requests running at once
and those waiting for a slot; past both, a request gets 503 with ``Retry-After``.
API keys are compared in constant time and never logged.

Example:
    >>> limits = Limits(max_calls=16)
    >>> limits.calls_per_choice(2)
    8
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.serve.errors import APIError

__all__ = ["Admission", "Limits", "check_api_key"]


@dataclass(frozen=True)
class Limits:
    """Server-wide caps; request options may lower them, never raise them.

    Attributes:
        max_calls: model calls one request may make in all (every choice, every purpose).
        max_tokens: prompt + completion tokens one request may spend in all (None: no cap).
        max_seconds: wall-clock seconds one request's run may take (None: no cap).
        max_choices: most choices (``n``) one request may ask for.
        max_prompts: most prompts in one completions request's list prompt (each its own
            run, or one batch); the calls of all of them stay within ``max_calls``.
        max_body_bytes: largest request body accepted (413 above it).
        max_running: requests running at once; more wait for a slot.
        max_waiting: requests waiting for a slot; past it, 503 with ``Retry-After``.
        retry_after_s: the ``Retry-After`` sent with 429/503 when the upstream gives none.

    Example:
        >>> Limits(max_calls=16, max_choices=2).max_calls
        16
    """

    max_calls: int = 64
    max_tokens: int | None = None
    max_seconds: float | None = 600.0
    max_choices: int = 8
    max_prompts: int = 64
    max_body_bytes: int = 4 * 1024 * 1024
    max_running: int = 64
    max_waiting: int = 1024
    retry_after_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_choices", "max_prompts", "max_body_bytes", "max_running"):
            if getattr(self, name) < 1:
                raise TTCConfigError(f"Limits.{name} must be >= 1; got {getattr(self, name)}.")
        if self.max_waiting < 0:
            raise TTCConfigError(f"Limits.max_waiting must be >= 0; got {self.max_waiting}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise TTCConfigError(f"Limits.max_tokens must be >= 1 or None; got {self.max_tokens}.")

    def calls_per_choice(self, choices: int) -> int:
        """The call cap of each of ``choices`` runs (the request's cap, shared equally)."""
        return self.max_calls // max(choices, 1)

    def tokens_per_choice(self, choices: int) -> int | None:
        return None if self.max_tokens is None else self.max_tokens // max(choices, 1)


def check_api_key(authorization: str | None, keys: Iterable[str]) -> None:
    """Raise a 401 unless ``Authorization: Bearer <key>`` names one of ``keys``.

    Example:
        >>> check_api_key("Bearer s3cret", ["s3cret"])
        >>> check_api_key("Bearer nope", ["s3cret"])
        Traceback (most recent call last):
        ...
        langgraph_ttc.serve.errors.APIError: Incorrect API key provided.
    """
    if not authorization:
        raise APIError(
            401,
            "Missing API key: send 'Authorization: Bearer <key>' (the openai SDK's api_key=).",
            code="invalid_api_key",
        )
    scheme, _, given = authorization.partition(" ")
    given = given.strip().encode()
    ok = False
    for key in keys:  # every key compared, in constant time: no timing hint of a near miss
        ok |= hmac.compare_digest(given, key.encode())
    if scheme.lower() != "bearer" or not ok:
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")


class Admission:
    """At most ``running`` requests at once and ``waiting`` more in line; the rest get 503.

    Use ``async with admission.slot():`` around a request's work. Made lazily per event loop
    (an ``asyncio.Semaphore`` belongs to the loop that first waits on it).
    """

    def __init__(self, running: int, waiting: int, retry_after_s: float) -> None:
        self.running = running
        self.waiting = waiting
        self.retry_after_s = retry_after_s
        self._slots: asyncio.Semaphore | None = None
        self.in_line = 0
        self.busy = 0

    def full_error(self) -> APIError:
        """The 503 a request gets when every slot is taken and the line is full."""
        return APIError(
            503,
            f"The server is full ({self.running} requests running, {self.in_line} waiting); "
            "retry later.",
            code="queue_full",
            headers={"Retry-After": f"{self.retry_after_s:g}"},
        )

    def slot(self) -> _Slot:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.running)
        return _Slot(self)


class _Slot:
    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    async def __aenter__(self) -> None:
        adm = self.admission
        assert adm._slots is not None
        if adm._slots.locked() and adm.in_line >= adm.waiting:
            raise adm.full_error()
        adm.in_line += 1
        try:
            await adm._slots.acquire()
        finally:
            adm.in_line -= 1
        adm.busy += 1

    async def __aexit__(self, *exc) -> None:
        adm = self.admission
        adm.busy -= 1
        assert adm._slots is not None
        adm._slots.release()

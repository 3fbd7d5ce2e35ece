"""A plain model name: the request goes straight to the upstream, as one call, and its reply
(streamed or whole) comes back as it arrives.

An OpenAI-compatible upstream gets the client's own body (only ``model`` rewritten to the
upstream's name), so every field it understands (tools, ``response_format``, logprobs, ``n``)
keeps its meaning, and its stream is relayed chunk by chunk. Closing the relay (a client that
went away) closes the upstream connection, which stops the generation on vLLM and llama.cpp.

A LangChain chat model streams its own chunks (``astream``, one choice). Any other backend
(the embedded model, a custom :class:`Backend`) answers one draw of ``n`` samples
(:meth:`Backend.asample`), sent as one reply (one chunk per choice when streamed): the
embedded model has no public token stream.

Requests use aiohttp, one session per event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from langgraph_ttc.serve.errors import APIError

__all__ = ["Relay", "UpstreamReply"]

# Upstream response headers worth relaying to the client.
_KEEP = ("retry-after", "retry-after-ms", "x-request-id")


class UpstreamReply:
    """An upstream response being read: status, headers to relay, and its body."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status: int = response.status
        self.headers = {k: v for k, v in response.headers.items() if k.lower() in _KEEP}
        self.content_type = response.headers.get("Content-Type", "application/json")

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        finally:
            self.close()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; closing the iterator closes the upstream connection."""
        try:
            async for piece in self._response.content.iter_any():
                yield piece
        finally:
            self.close()

    def close(self) -> None:
        # close(), not release(): an unfinished stream must end at the upstream too.
        self._response.close()


class Relay:
    """Sends requests to an OpenAI-compatible upstream (``base_url`` ends in ``/v1``)."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout_s = timeout_s
        self._sessions: dict[Any, Any] = {}

    def _session(self):
        import aiohttp  # the [serve] extra

        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            headers = {"Authorization": f"Bearer {self._api_key or 'EMPTY'}"}
            session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=10, sock_read=self.timeout_s
                ),
                connector=aiohttp.TCPConnector(limit=0),
            )
            self._sessions[loop] = session
        return session

    async def post(self, path: str, body: dict) -> UpstreamReply:
        """POST ``body`` to ``base_url + path``; a failure to connect is a 502."""
        import aiohttp

        try:
            response = await self._session().post(self.base_url + path, json=body)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise APIError(
                502,
                f"The upstream at {self.base_url} did not answer: {type(exc).__name__}.",
                code="upstream_unreachable",
                headers={"Retry-After": "1"},
            ) from None
        return UpstreamReply(response)

    async def models(self) -> list[dict]:
        """The upstream's ``/models`` list (empty when it has none)."""
        with contextlib.suppress(Exception):
            reply = await self._session().get(self.base_url + "/models")
            async with reply:
                if reply.status == 200:
                    data = await reply.json(content_type=None)
                    return [
                        m for m in data.get("data") or [] if isinstance(m, dict) and m.get("id")
                    ]
        return []

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            with contextlib.suppress(Exception):
                await session.close()

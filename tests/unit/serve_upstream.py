"""A test upstream that notices clients leaving: an OpenAI-compatible Starlette app whose
answers take ``delay_s`` (whole replies) or ``token_delay_s`` per token (streams), polling for
the client's disconnect meanwhile, and counting requests in flight. Served by uvicorn on a free
127.0.0.1 port (BackgroundServer), so "no upstream request keeps running" is checked where it
happens."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from langgraph_ttc.serve.background import BackgroundServer


class SlowUpstream:
    def __init__(self, *, delay_s: float = 0.0, token_delay_s: float = 0.0, tokens: int = 20):
        self.delay_s = delay_s
        self.token_delay_s = token_delay_s
        self.tokens = tokens
        self.lock = threading.Lock()
        self.in_flight = 0
        self.started = 0
        self.finished = 0
        self.abandoned = 0  # requests whose client left before the answer
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )
        self.server = BackgroundServer(self.app)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def __enter__(self) -> SlowUpstream:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def wait_idle(self, timeout_s: float = 10.0) -> int:
        """Requests still in flight once they stop changing (or after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.in_flight

    def _count(self, delta: int) -> None:
        with self.lock:
            self.in_flight += delta
            if delta > 0:
                self.started += 1

    async def models(self, request: Request):
        return JSONResponse({"object": "list", "data": [{"id": "slow", "object": "model"}]})

    async def chat(self, request: Request):
        body = await request.json()
        self._count(+1)
        if body.get("stream"):
            return StreamingResponse(self._stream(request), media_type="text/event-stream")
        try:
            deadline = time.monotonic() + self.delay_s
            while time.monotonic() < deadline:
                if await request.is_disconnected():
                    self.abandoned += 1
                    return JSONResponse({}, status_code=499)
                await asyncio.sleep(0.01)
            self.finished += 1
            text = "The answer is 4."
            return JSONResponse(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": "slow",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
                }
            )
        finally:
            self._count(-1)

    async def _stream(self, request: Request):
        try:
            for i in range(self.tokens):
                await asyncio.sleep(self.token_delay_s)
                piece = {"choices": [{"index": 0, "delta": {"content": f"t{i} "}}]}
                yield f"data: {json.dumps(piece)}\n\n".encode()
            self.finished += 1
            yield b"data: [DONE]\n\n"
        except BaseException:
            self.abandoned += 1
            raise
        finally:
            self._count(-1)

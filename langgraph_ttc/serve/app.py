"""The ASGI app: ``create_app(backend=...)`` serves test-time compute behind OpenAI's API.

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streamed or not),
``GET /v1/models`` (the upstream's models and their method-qualified names), ``GET /health``
and ``GET /metrics`` (Prometheus). A Starlette app: run it with uvicorn
(``langgraph-ttc serve``), mount it in LangGraph Server (``langgraph.json``'s ``http.app``), or
wrap it in any ASGI host. Its arguments are plain values (a backend spec string, numbers), so a
host can rebuild it in another process.

Example:
    >>> from starlette.testclient import TestClient
    >>> from langgraph_ttc.testing import FakeBackend
    >>> app = create_app(FakeBackend(), api_keys=[])
    >>> with TestClient(app) as client:
    ...     reply = client.post("/v1/chat/completions", json={
    ...         "model": "majority@3", "messages": [{"role": "user", "content": "2+2?"}]})
    >>> reply.status_code, reply.json()["ttc"]["calls"]
    (200, 3)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from langgraph_ttc.extras import require

require("starlette", "serve", "langgraph-ttc serve")

from langchain_core.language_models import BaseChatModel  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.background import BackgroundTask  # noqa: E402
from starlette.requests import ClientDisconnect, Request  # noqa: E402
from starlette.responses import JSONResponse, Response, StreamingResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from langgraph_ttc.backends import ChatModelBackend, SamplingParams  # noqa: E402
from langgraph_ttc.errors import TTCError  # noqa: E402
from langgraph_ttc.serve.batching import (  # noqa: E402
    batch_allocation,
    batch_choices,
    batch_summary,
    run_batch,
)
from langgraph_ttc.serve.engine import Decided, Engine, check_prompts  # noqa: E402
from langgraph_ttc.serve.errors import APIError  # noqa: E402
from langgraph_ttc.serve.limits import Admission, Limits, check_api_key  # noqa: E402
from langgraph_ttc.serve.methods import Method, resolve_method  # noqa: E402
from langgraph_ttc.serve.metrics import Metrics  # noqa: E402
from langgraph_ttc.serve.passthrough import Relay  # noqa: E402
from langgraph_ttc.serve.replies import (  # noqa: E402
    Choice,
    completion_body,
    new_id,
    total_usage,
    ttc_extension,
)
from langgraph_ttc.serve.requests import (  # noqa: E402
    TTCRequest,
    parse_chat,
    parse_completion,
    parse_json,
)
from langgraph_ttc.serve.streaming import DONE, choice_of, method_stream, sse  # noqa: E402
from langgraph_ttc.strategies import strategy_names  # noqa: E402

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

API_KEYS_ENV = "TTC_SERVE_API_KEYS"  # comma-separated keys a client may send
HEARTBEAT_S = 15.0  # an SSE comment this often while a stream waits for its runs


def create_app(
    backend: Any = "local",
    *,
    model: str | None = None,
    strategy: str | None = None,
    n: int | None = None,
    budget_calls: int | None = None,
    budget_tokens: int | None = None,
    thinking_budget: int | None = None,
    policy: Any = None,
    limits: Limits | None = None,
    api_keys: Sequence[str] | None = None,
    upstream_api_key: str | None = None,
    progress: bool = False,
    callbacks: Sequence[Any] | None = None,
):
    """An OpenAI-compatible ASGI app that runs test-time-compute methods per request.

    Args:
        backend: ``"local"`` (the embedded Gemma 3 270M), an OpenAI-compatible URL
            (``"http://127.0.0.1:8000/v1"``), ``"openai:<model>"``, a LangChain chat model or a
            :class:`~langgraph_ttc.backends.Backend`.
        model: the model served at a URL backend (default: the one it lists).
        strategy: the method of requests that name none (default: none, so a plain model name
            passes straight through); ``n``, ``budget_calls``, ``budget_tokens`` and
            ``thinking_budget`` are its defaults (see :mod:`langgraph_ttc.serve.methods`).
        policy: the router's policy (a Policy or a JSON path) for ``adaptive``.
        limits: server-wide caps (:class:`~langgraph_ttc.serve.limits.Limits`).
        api_keys: keys clients must send (``Authorization: Bearer``); ``None``: from
            ``$TTC_SERVE_API_KEYS`` (comma-separated), none set = no key needed.
        upstream_api_key: the key sent upstream (default ``$OPENAI_API_KEY``).
        progress: stream progress events unless a request says otherwise.
        callbacks: LangChain callback handlers that see each request's run tree.

    Example:
        >>> from starlette.testclient import TestClient
        >>> from langgraph_ttc.testing import FakeBackend
        >>> with TestClient(create_app(FakeBackend())) as client:
        ...     reply = client.post("/v1/chat/completions", json={
        ...         "model": "majority@3", "messages": [{"role": "user", "content": "2+3?"}]})
        >>> reply.status_code, reply.json()["ttc"]["calls"]
        (200, 3)
    """
    limits = limits or Limits()
    if api_keys is None:
        api_keys = [k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
    default: dict[str, Any] = {"progress": progress}
    for key, value in (("strategy", strategy), ("n", n), ("thinking_budget", thinking_budget)):
        if value is not None:
            default[key] = value
    budget = {k: v for k, v in (("calls", budget_calls), ("tokens", budget_tokens)) if v}
    if budget:
        default["budget"] = budget
    resolve_method("none", {}, None, default)  # a bad default fails here, not per request
    engine = Engine(
        backend,
        model=model,
        api_key=upstream_api_key,
        limits=limits,
        callbacks=callbacks,
        policy=policy,
    )
    upstream_key = upstream_api_key or os.environ.get("OPENAI_API_KEY")
    relay = Relay(engine.base_url, upstream_key) if engine.base_url else None
    server = _Server(engine, relay, limits, list(api_keys), default, Metrics())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await server.aclose()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", server.chat, methods=["POST"]),
            Route("/v1/completions", server.completions, methods=["POST"]),
            Route("/v1/models", server.models, methods=["GET"]),
            Route("/health", server.health, methods=["GET"]),
            Route("/metrics", server.metrics_page, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.ttc = server
    return app


class _ClientGone(Exception):
    """The client closed the connection before its reply."""


class _Server:
    """The handlers of one app and what they share."""

    def __init__(self, engine, relay, limits, api_keys, default, metrics) -> None:
        self.engine: Engine = engine
        self.relay: Relay | None = relay
        self.limits: Limits = limits
        self.api_keys: list[str] = api_keys
        self.default: dict = default
        self.metrics: Metrics = metrics
        self.admission = Admission(limits.max_running, limits.max_waiting, limits.retry_after_s)
        self._upstream_model: str | None = None

    async def aclose(self) -> None:
        if self.relay is not None:
            await self.relay.aclose()
        await self.engine.aclose()

    # -- endpoints ------------------------------------------------------------------------------
    async def chat(self, request: Request) -> Response:
        return await self._handle(request, "chat", parse_chat)

    async def completions(self, request: Request) -> Response:
        return await self._handle(request, "completions", parse_completion)

    async def models(self, request: Request) -> Response:
        try:
            self._authorize(request)
        except APIError as exc:
            return _error(exc)
        if self.relay is not None:
            upstream = await self.relay.models()
        else:
            upstream = [{"id": self.engine.base.model_id}]
        names = [m["id"] for m in upstream] or [self.engine.base.model_id]
        data = [
            {**m, "object": "model", "owned_by": m.get("owned_by", "upstream")} for m in upstream
        ]
        if not upstream:
            data = [{"id": names[0], "object": "model", "created": 0, "owned_by": "upstream"}]
        for strategy in strategy_names():
            for name in names:
                data.append(
                    {
                        "id": f"{strategy}/{name}",
                        "object": "model",
                        "created": 0,
                        "owned_by": "langgraph-ttc",
                    }
                )
        return JSONResponse({"object": "list", "data": data})

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "model": self.engine.base.model_id,
                "running": self.admission.busy,
                "waiting": self.admission.in_line,
            }
        )

    async def metrics_page(self, request: Request) -> Response:
        self.metrics.running.set(self.admission.busy)
        self.metrics.waiting.set(self.admission.in_line)
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    # -- one request ------------------------------------------------------------------------
    async def _handle(self, request: Request, endpoint: str, parse) -> Response:
        began = time.perf_counter()
        label = "invalid"
        try:
            self._authorize(request)
            body = parse_json(await self._body(request))
            ttc_request = parse(body)
            method = resolve_method(
                ttc_request.model, request.headers, ttc_request.ttc, self.default
            )
            label = method.strategy or "passthrough"
            check_prompts(ttc_request, self.limits)
            if method.batch_budget is not None:
                label = "batch"
                response = await self._batch(request, ttc_request, method)
            elif method.passthrough:
                response = await self._passthrough(request, ttc_request, method, began)
            else:
                response = await self._method(request, ttc_request, method, began)
        except APIError as exc:
            self.metrics.request(endpoint, label, exc.status, time.perf_counter() - began)
            return _error(exc)
        except (_ClientGone, ClientDisconnect):
            self.metrics.disconnects.inc()
            self.metrics.request(endpoint, label, 499, time.perf_counter() - began)
            return Response(status_code=499)
        if not isinstance(response, StreamingResponse):
            self.metrics.request(endpoint, label, response.status_code, time.perf_counter() - began)
        return response

    def _authorize(self, request: Request) -> None:
        if self.api_keys:
            check_api_key(request.headers.get("authorization"), self.api_keys)

    async def _body(self, request: Request) -> bytes:
        cap = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise _too_large(cap)
        chunks, size = [], 0
        async for piece in request.stream():
            size += len(piece)
            if size > cap:
                raise _too_large(cap)
            chunks.append(piece)
        return b"".join(chunks)

    async def _method(self, request: Request, req: TTCRequest, method: Method, began: float):
        graphs = self.engine.prepare(req, method)
        progress = method.progress
        model = req.model
        if req.stream:
            self._check_room()
            endpoint = "chat" if req.chat else "completions"
            return StreamingResponse(
                self._streamed(req, method, graphs, progress, model, endpoint, began),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        async with self.admission.slot():
            events = self.engine.events(req, method, graphs, progress=False)
            results = await self._until_disconnect(request, _decisions(events, req.choices))
        for _, result, _message in results:
            self.metrics.run(result)
        choices = [choice_of(i, result, message) for i, result, message in results]
        ordered = [result for _, result, _ in results]
        body = completion_body(
            reply_id=new_id(req.chat),
            model=model,
            choices=choices,
            usage=total_usage(ordered).to_dict(),
            chat=req.chat,
            ttc=ttc_extension(method.describe() or model, ordered),
        )
        return JSONResponse(body)

    async def _batch(self, request: Request, req: TTCRequest, method: Method) -> Response:
        """A list prompt under a batch budget: one batch allocation over all its prompts
        (:mod:`langgraph_ttc.serve.batching`), holding one slot; one choice per prompt."""
        allocation, prior = batch_allocation(req, method, self.limits, self.engine.policy)
        name = method.describe() or req.model
        async with self.admission.slot():
            results, usage = await self._until_disconnect(
                request, run_batch(self.engine, req, method, allocation, prior)
            )
        self.metrics.run({"usage": usage.to_dict()})
        body = completion_body(
            reply_id=new_id(False),
            model=req.model,
            choices=batch_choices(results),
            usage=usage.to_dict(),
            chat=False,
            ttc=batch_summary(method, name, allocation, results, usage),
        )
        return JSONResponse(body)

    async def _streamed(self, req, method, graphs, progress, model, endpoint, began):
        label = method.strategy or "passthrough"
        status = 200
        try:
            async with self.admission.slot():
                events = self.engine.events(
                    req, method, graphs, progress=progress, heartbeat_s=HEARTBEAT_S
                )
                stream = method_stream(
                    events,
                    reply_id=new_id(req.chat),
                    model=model,
                    chat=req.chat,
                    choices=req.runs,
                    include_usage=req.include_usage,
                    progress=progress,
                    on_result=self.metrics.run,
                    on_answer=lambda: self.metrics.first_token.labels(label).observe(
                        time.perf_counter() - began
                    ),
                )
                try:
                    async for piece in stream:
                        yield piece
                finally:
                    await stream.aclose()
                    await events.aclose()
        except APIError as exc:
            status = exc.status
            yield sse(exc.body())
        except BaseException:
            status = 499
            self.metrics.disconnects.inc()
            raise
        finally:
            self.metrics.request(endpoint, label, status, time.perf_counter() - began)

    def _check_room(self) -> None:
        """503 now, while a status can still be sent, when the queue is full."""
        adm = self.admission
        if adm.busy >= adm.running and adm.in_line >= adm.waiting:
            raise adm.full_error()

    # -- pass-through -----------------------------------------------------------------------
    async def _passthrough(self, request: Request, req: TTCRequest, method: Method, began):
        if self.relay is None:
            return await self._one_draw(request, req, method)
        body = dict(req.body)
        body.pop("ttc", None)
        body["model"] = await self._upstream_name(method.model)
        path = "/chat/completions" if req.chat else "/completions"
        if len(req.inputs) > 1:
            return await self._relay_prompts(request, req, path, body)
        if req.stream:
            endpoint = "chat" if req.chat else "completions"
            return await self._relay_stream(request, path, body, endpoint, began)
        async with self.admission.slot():
            reply, content = await self._until_disconnect(request, self._relay_whole(path, body))
        if reply.status == 200:
            with contextlib.suppress(ValueError):
                self.metrics.passthrough(json.loads(content).get("usage"))
        else:
            self.metrics.upstream_errors.labels(str(reply.status)).inc()
        return Response(
            content, status_code=reply.status, headers=reply.headers, media_type=reply.content_type
        )

    async def _relay_whole(self, path: str, body: dict):
        """One upstream call; when it returns fewer choices than ``n`` (llama.cpp ignores
        ``n``), the rest are asked for one per request, at once, and merged in."""
        reply = await self.relay.post(path, body)
        content = await reply.read()
        wanted = body.get("n") or 1
        if reply.status != 200 or wanted <= 1:
            return reply, content
        try:
            whole = json.loads(content)
            got = len(whole["choices"])
        except (ValueError, KeyError, TypeError):
            return reply, content
        if got >= wanted:
            return reply, content
        seed = body.get("seed")
        more = [
            {**body, "n": 1, **({"seed": seed + i} if isinstance(seed, int) else {})}
            for i in range(got, wanted)
        ]
        replies = await asyncio.gather(*(self._relay_one(path, b) for b in more))
        for extra in replies:
            if extra is None:  # a failed top-up: the client gets the choices that came back
                continue
            for choice in extra.get("choices") or []:
                whole["choices"].append({**choice, "index": len(whole["choices"])})
            for key, value in (extra.get("usage") or {}).items():
                if isinstance(value, int) and isinstance(whole.get("usage", {}).get(key), int):
                    whole["usage"][key] += value
        return reply, json.dumps(whole).encode()

    async def _relay_prompts(self, request: Request, req: TTCRequest, path: str, body: dict):
        """A plain list prompt: one upstream request per prompt (llama-cpp-python's server takes
        one prompt per request), each with its ``n`` choices, merged in order (prompt p's choice
        c at index ``p * n + c``) with their usage summed; a stream gets the merged reply as
        chunks. The first failed prompt's reply is relayed as it came."""
        one = {k: v for k, v in body.items() if k != "stream_options"}
        one["stream"] = False
        async with self.admission.slot():
            replies = await self._until_disconnect(
                request,
                asyncio.gather(
                    *(self._relay_whole(path, {**one, "prompt": p}) for p in body["prompt"])
                ),
            )
        merged: dict[str, Any] = {}
        for reply, content in replies:
            if reply.status != 200:
                self.metrics.upstream_errors.labels(str(reply.status)).inc()
                return Response(
                    content,
                    status_code=reply.status,
                    headers=reply.headers,
                    media_type=reply.content_type,
                )
            try:
                whole = json.loads(content)
                choices = sorted(whole["choices"], key=lambda c: c.get("index", 0))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise APIError(
                    502, "The upstream's reply is not a completion.", code="upstream_bad_reply"
                ) from None
            self.metrics.passthrough(whole.get("usage"))
            if not merged:
                merged = {**whole, "choices": [], "usage": {}}
            for choice in choices:
                merged["choices"].append({**choice, "index": len(merged["choices"])})
            for key, value in (whole.get("usage") or {}).items():
                if isinstance(value, int):
                    merged["usage"][key] = merged["usage"].get(key, 0) + value
        merged.setdefault("id", new_id(False))
        merged.setdefault("created", int(time.time()))
        merged.setdefault("model", req.model)
        if not req.stream:
            return JSONResponse(merged)
        return StreamingResponse(
            _whole_as_stream(merged, False, req.include_usage), media_type="text/event-stream"
        )

    async def _relay_one(self, path: str, body: dict) -> dict | None:
        try:
            reply = await self.relay.post(path, body)
            content = await reply.read()
            return json.loads(content) if reply.status == 200 else None
        except (APIError, ValueError):
            return None

    async def _relay_stream(self, request: Request, path: str, body: dict, endpoint: str, began):
        """A streamed plain call: the upstream's status decides ours (a 429 stays a 429, with
        its Retry-After), then its chunks are relayed as they arrive."""
        self._check_room()
        slot = self.admission.slot()
        await slot.__aenter__()
        released = False

        async def release() -> None:
            nonlocal released
            if not released:
                released = True
                await slot.__aexit__(None, None, None)

        try:
            reply = await self._until_disconnect(request, self.relay.post(path, body))
        except BaseException:
            await release()
            raise
        if reply.status != 200:
            await release()
            self.metrics.upstream_errors.labels(str(reply.status)).inc()
            content = await reply.read()
            return Response(
                content,
                status_code=reply.status,
                headers=reply.headers,
                media_type=reply.content_type,
            )
        self.metrics.passthrough(None)

        async def relayed():
            status = 200
            chunks = reply.chunks()
            try:
                async for piece in chunks:
                    yield piece
            except BaseException:
                status = 499
                self.metrics.disconnects.inc()
                raise
            finally:
                await chunks.aclose()
                await release()
                self.metrics.request(endpoint, "passthrough", status, time.perf_counter() - began)

        async def cleanup() -> None:  # the stream may never start (a client gone at once)
            reply.close()
            await release()

        return StreamingResponse(
            relayed(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(cleanup),
        )

    async def _upstream_name(self, model: str | None) -> str:
        if model:
            return model
        name = self.engine.base.model_id
        if name != "auto":
            return name
        if self._upstream_model is None:
            listed = await self.relay.models() if self.relay else []
            if not listed:
                raise APIError(
                    502, "The upstream lists no model; name one.", code="upstream_no_model"
                )
            self._upstream_model = listed[0]["id"]
        return self._upstream_model

    async def _one_draw(self, request: Request, req: TTCRequest, method: Method) -> Response:
        """A plain call to a backend that is no HTTP server: one draw of ``n`` samples."""
        backend = self.engine.backend_for(method.model)
        if req.tools or req.response_format:
            raise APIError(
                400,
                f"{type(backend).__name__} takes no tools or response_format on a plain call; "
                "name a method (majority/...) to vote over tool calls.",
                param="tools" if req.tools else "response_format",
            )
        if req.stream and req.runs == 1 and isinstance(backend, ChatModelBackend):
            self._check_room()
            return StreamingResponse(
                self._chat_model_stream(backend, req), media_type="text/event-stream"
            )
        params = SamplingParams(
            temperature=0.7 if req.temperature is None else req.temperature,
            max_tokens=req.max_tokens or 256,
            seed=req.seed,
        )
        async with self.admission.slot():  # a list prompt: n choices per prompt, in order
            draws = await self._until_disconnect(
                request,
                asyncio.gather(*(backend.asample(m, req.choices, params) for m in req.inputs)),
            )
        completions = [c for draw in draws for c in draw.completions]
        failed = [c for c in completions if not c.ok]
        if failed and len(failed) == len(completions):
            raise APIError(
                503, f"The model failed: {failed[0].error}", headers={"Retry-After": "1"}
            )
        choices = [
            Choice(i, c.text, list(c.tool_calls), c.finish_reason or "stop", c.thinking)
            for i, c in enumerate(completions)
        ]
        usage = {
            key: sum(getattr(draw, key) for draw in draws)
            for key in ("prompt_tokens", "completion_tokens", "thinking_tokens", "cached_tokens")
        }
        self.metrics.passthrough(usage)
        body = completion_body(
            reply_id=new_id(req.chat), model=req.model, choices=choices, usage=usage, chat=req.chat
        )
        if not req.stream:
            return JSONResponse(body)
        return StreamingResponse(
            _whole_as_stream(body, req.chat, req.include_usage), media_type="text/event-stream"
        )

    async def _chat_model_stream(self, backend: ChatModelBackend, req: TTCRequest):
        """A LangChain chat model's own stream, chunk by chunk, in OpenAI's format."""
        model = backend.model
        updates = {"temperature": req.temperature, "max_tokens": req.max_tokens}
        updates = {k: v for k, v in updates.items() if v is not None}
        if isinstance(model, BaseChatModel) and updates:
            declared = type(model).model_fields
            model = model.model_copy(update={k: v for k, v in updates.items() if k in declared})
        reply_id, created = new_id(True), int(time.time())
        base = {"id": reply_id, "created": created, "model": req.model}
        kind = {"object": "chat.completion.chunk"}
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        try:
            async with self.admission.slot():
                first = {"role": "assistant", "content": ""}
                yield sse({**base, **kind, "choices": [_delta(first)]})
                async for piece in model.astream(req.messages):
                    text = piece.content if isinstance(piece.content, str) else ""
                    if text:
                        yield sse({**base, **kind, "choices": [_delta({"content": text})]})
                    meta = getattr(piece, "usage_metadata", None) or {}
                    usage["prompt_tokens"] += meta.get("input_tokens", 0)
                    usage["completion_tokens"] += meta.get("output_tokens", 0)
            yield sse({**base, **kind, "choices": [_delta({}, "stop")]})
            self.metrics.passthrough(usage)
            if req.include_usage:
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                yield sse({**base, **kind, "choices": [], "usage": usage})
            yield DONE
        except (TTCError, ValueError) as exc:
            yield sse(APIError(503, f"The model failed: {type(exc).__name__}.").body())

    async def _until_disconnect(self, request: Request, awaitable):
        """``awaitable``'s result; cancelled at once if the client goes away (its upstream
        requests with it)."""
        work = asyncio.ensure_future(awaitable)
        watcher = asyncio.ensure_future(_disconnected(request))
        try:
            done, _ = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            work.cancel()
            watcher.cancel()
            raise
        if work in done:
            watcher.cancel()
            return work.result()
        work.cancel()
        with contextlib.suppress(BaseException):
            await work
        raise _ClientGone


def _delta(delta: dict, finish_reason: str | None = None) -> dict:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _decisions(events, choices: int) -> list[tuple[int, dict, Any]]:
    found: dict[int, tuple[int, dict, Any]] = {}
    try:
        async for event in events:
            if isinstance(event, Decided):
                found[event.index] = (event.index, event.result, event.message)
    finally:
        await events.aclose()
    return [found[i] for i in sorted(found)]


async def _whole_as_stream(body: dict, chat: bool, include_usage: bool):
    base = {"id": body["id"], "created": body["created"], "model": body["model"]}
    kind = "chat.completion.chunk" if chat else "text_completion"
    for choice in body["choices"]:
        if chat:
            message = choice["message"]
            delta = {k: v for k, v in message.items() if v is not None}
            if "tool_calls" in delta:
                delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(delta["tool_calls"])]
            piece = {
                "index": choice["index"],
                "delta": delta,
                "logprobs": None,
                "finish_reason": None,
            }
            end = {"index": choice["index"], "delta": {}, "logprobs": None}
        else:
            piece = {
                "index": choice["index"],
                "text": choice["text"],
                "logprobs": None,
                "finish_reason": None,
            }
            end = {"index": choice["index"], "text": "", "logprobs": None}
        yield sse({**base, "object": kind, "choices": [piece]})
        yield sse(
            {**base, "object": kind, "choices": [{**end, "finish_reason": choice["finish_reason"]}]}
        )
    if include_usage:
        yield sse({**base, "object": kind, "choices": [], "usage": body["usage"]})
    yield DONE


def _too_large(cap: int) -> APIError:
    return APIError(
        413,
        f"The request body is larger than this server's limit of {cap} bytes.",
        code="too_large",
    )


def _error(exc: APIError) -> Response:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

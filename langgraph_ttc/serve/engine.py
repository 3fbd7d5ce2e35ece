"""Runs a request's method: the backend for the named model, the compiled graph for the
method (built once, cached), one graph run per choice, and its events as they happen.

Each request is one run tree for LangChain callbacks (LangSmith when configured): a root
``ttc-serve`` chain run whose children are the choices' graph runs, their nodes, and the model
calls of backends that report them. Cancelling :meth:`Engine.events` (a client that went away)
cancels every graph run of the request, and with them the upstream requests in flight: the
budget stops counting at once.

Example:
    >>> from langgraph_ttc.testing import FakeBackend
    >>> engine = Engine(FakeBackend())
    >>> engine.backend_for(None).model_id
    'fake'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManager
from langchain_core.messages import AIMessage

from langgraph_ttc.backends import Backend, OpenAICompatibleBackend, resolve_backend
from langgraph_ttc.budget import Budget
from langgraph_ttc.errors import BudgetExhausted, TTCConfigError, TTCError
from langgraph_ttc.graph import create_ttc_graph
from langgraph_ttc.policy import Policy
from langgraph_ttc.serve.errors import APIError, bad_request
from langgraph_ttc.serve.limits import Limits
from langgraph_ttc.serve.methods import Method
from langgraph_ttc.serve.requests import TTCRequest
from langgraph_ttc.strategies import get_strategy
from langgraph_ttc.verifiers import LLMJudge

__all__ = [
    "Decided",
    "Engine",
    "Heartbeat",
    "Progress",
    "backend_from_spec",
    "check_prompts",
    "check_size",
]

logger = logging.getLogger(__name__)

GRAPH_CACHE = 256  # compiled graphs kept (one per method, options, tools and model)
SEED_STRIDE = 1_000_003  # choice i of a seeded request runs with seed + i * stride


@dataclass(frozen=True)
class Progress:
    """A progress event of one choice's run (a sample drawn, a critique, the router's plan)."""

    index: int
    data: dict


@dataclass(frozen=True)
class Heartbeat:
    """Nothing happened for a while (a stream sends an SSE comment so proxies keep it open)."""


@dataclass(frozen=True)
class Decided:
    """One choice's run has decided: its result and the chosen message."""

    index: int
    result: dict
    message: AIMessage


def backend_from_spec(spec: Any = "local", *, model: str | None = None, api_key=None) -> Backend:
    """The backend a spec names: ``"local"``, an OpenAI-compatible URL (``model`` served there,
    default ``"auto"``: the server's own), ``"openai:<model>"``, a LangChain chat model or a
    :class:`Backend`.

    Example:
        >>> backend_from_spec("http://127.0.0.1:9/v1", model="m").model_id
        'm'
    """
    if isinstance(spec, str) and spec.startswith(("http://", "https://")):
        return resolve_backend(model or "auto", base_url=spec, api_key=api_key)
    if spec is None or spec == "local":
        return resolve_backend("local")
    return resolve_backend(spec)


class Engine:
    """The backends and graphs of one server, and the runs of its requests.

    Args:
        backend: a backend spec (see :func:`backend_from_spec`) or instance.
        model: the model served at a URL backend (default: ask the server).
        api_key: the upstream's key (default ``$OPENAI_API_KEY``).
        limits: the server's caps.
        callbacks: LangChain callback handlers every request's run tree reports to (LangSmith's
            tracer joins by itself when ``LANGSMITH_TRACING`` is set).
        policy: the router's policy (a :class:`Policy` or JSON path) for ``adaptive`` requests
            that send none.
    """

    def __init__(
        self,
        backend: Any = "local",
        *,
        model: str | None = None,
        api_key: str | None = None,
        limits: Limits | None = None,
        callbacks: Sequence[Any] | None = None,
        policy: Any = None,
    ) -> None:
        self.spec = backend
        self.api_key = api_key
        self.base = backend_from_spec(backend, model=model, api_key=api_key)
        self.limits = limits or Limits()
        self.callbacks = list(callbacks or [])
        self.policy = policy
        self._backends: dict[str, Backend] = {}
        self._graphs: OrderedDict[str, Any] = OrderedDict()

    # -- models -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str | None:
        """The upstream's URL when it is an OpenAI-compatible server (pass-through goes there)."""
        if isinstance(self.base, OpenAICompatibleBackend) and self.base.mode == "chat":
            return self.base.base_url
        return None

    def backend_for(self, model: str | None) -> Backend:
        """The backend serving ``model`` (None: the server's own).

        Raises:
            APIError: 404 when a backend that serves one model is asked for another.
        """
        base = self.base
        if model is None or model == base.model_id:
            return base
        if self.base_url is not None:
            if model not in self._backends:
                self._backends[model] = resolve_backend(
                    model, base_url=self.base_url, api_key=self.api_key
                )
            return self._backends[model]
        raise APIError(
            404,
            f"The model {model!r} does not exist here; this server runs {base.model_id!r} "
            "(name it, or leave the model out: majority@8).",
            param="model",
            code="model_not_found",
        )

    # -- graphs -----------------------------------------------------------------------------
    def graph(self, request: TTCRequest, method: Method, backend: Backend, budget: Budget, seed):
        """The compiled graph of a method with a request's options (cached by those)."""
        tools = _tools_for(request, method)
        key = json.dumps(
            [
                id(backend),
                method.strategy,
                method.n,
                request.temperature,
                request.max_tokens,
                seed,
                method.thinking_budget,
                method.policy,
                [budget.max_calls, budget.max_tokens, budget.max_seconds],
                tools,
                request.tool_choice,
            ],
            sort_keys=True,
            default=str,
        )
        graph = self._graphs.get(key)
        if graph is not None:
            self._graphs.move_to_end(key)
            return graph
        try:
            strategy = get_strategy(
                method.strategy,
                n=method.n,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                seed=seed,
                thinking_budget=method.thinking_budget,
            )
            if tools is not None:
                backend = _with_tools(backend, tools, request.tool_choice)
            policy = Policy.from_json(json.dumps(method.policy)) if method.policy else self.policy
            graph = create_ttc_graph(
                backend,
                strategy,
                budget=budget,
                verifier=LLMJudge() if strategy.needs_verifier else None,
                policy=policy,
                name=f"ttc_{strategy.name}",
            )
        except (TTCConfigError, ValueError, TypeError, KeyError) as exc:
            raise bad_request(f"Cannot run {method.describe()!r}: {exc}", param="model") from None
        self._graphs[key] = graph
        if len(self._graphs) > GRAPH_CACHE:
            self._graphs.popitem(last=False)
        return graph

    def budget_for(self, request: TTCRequest, method: Method) -> Budget:
        """Each run's budget (a choice of a prompt): the request's own, within the server's
        caps (400 beyond); the runs of every prompt and choice share the request's caps."""
        limits = self.limits
        check_size(request, limits)
        choices = request.runs
        calls = limits.calls_per_choice(choices)
        if method.n is not None and method.n > calls:
            raise bad_request(
                f"The method's n={method.n} x {choices} run(s) (prompts x n) exceeds this "
                f"server's cap of {limits.max_calls} calls per request; ask for n <= {calls}.",
                param="ttc.n",
                code="n_out_of_range",
            )
        if method.budget_calls is not None:
            if method.budget_calls * choices > limits.max_calls:
                raise bad_request(
                    f"budget.calls={method.budget_calls} x {choices} run(s) (prompts x n) "
                    f"exceeds this server's cap of {limits.max_calls} calls per request.",
                    param="ttc.budget.calls",
                    code="budget_out_of_range",
                )
            calls = method.budget_calls
        tokens = limits.tokens_per_choice(choices)
        if method.budget_tokens is not None:
            if tokens is not None and method.budget_tokens > tokens:
                raise bad_request(
                    f"budget.tokens={method.budget_tokens} exceeds this server's cap of {tokens} "
                    f"tokens per run ({limits.max_tokens} per request).",
                    param="ttc.budget.tokens",
                    code="budget_out_of_range",
                )
            tokens = method.budget_tokens
        seconds = limits.max_seconds
        if method.budget_seconds is not None:
            if seconds is not None and method.budget_seconds > seconds:
                raise bad_request(
                    f"budget.seconds={method.budget_seconds:g} exceeds this server's cap of "
                    f"{seconds:g} s per request.",
                    param="ttc.budget.seconds",
                    code="budget_out_of_range",
                )
            seconds = method.budget_seconds
        return Budget(max_calls=calls, max_tokens=tokens, max_seconds=seconds)

    def prepare(self, request: TTCRequest, method: Method) -> list[Any]:
        """The compiled graph of each run, prompt by prompt and choice by choice (checked now,
        so a bad request fails with a 400 before a stream starts)."""
        if request.passthrough_only:
            raise bad_request(
                f"{', '.join(request.passthrough_only)} cannot be honoured under a method (the "
                "samples are drawn and voted by the server); drop them, or send a plain model "
                "name to pass the request straight through.",
                param=request.passthrough_only[0],
            )
        fmt = (request.response_format or {}).get("type", "text")
        if fmt != "text":
            raise bad_request(
                f"response_format {fmt!r} is passed through for plain model names only; a "
                "method votes over free-text answers. Drop it, or send a plain model name.",
                param="response_format",
            )
        backend = self.backend_for(method.model)
        budget = self.budget_for(request, method)
        graphs = []
        for i in range(request.choices):
            seed = None if request.seed is None else request.seed + i * SEED_STRIDE
            graphs.append(self.graph(request, method, backend, budget, seed))
        return graphs * len(request.inputs)  # choice c of every prompt: the same graph

    # -- runs -------------------------------------------------------------------------------
    async def events(
        self,
        request: TTCRequest,
        method: Method,
        graphs: list[Any],
        *,
        progress: bool,
        metadata: dict | None = None,
        heartbeat_s: float | None = None,
    ) -> AsyncIterator[Progress | Decided | Heartbeat]:
        """The runs' events as they happen: progress (when asked), each choice's decision, and
        a :class:`Heartbeat` after ``heartbeat_s`` seconds without either.

        Closing or cancelling the iterator cancels every run still going.
        """
        manager = AsyncCallbackManager.configure(
            inheritable_callbacks=self.callbacks or None,
            inheritable_tags=["ttc:serve"],
            inheritable_metadata={"ttc_method": method.describe(), **(metadata or {})},
        )
        inputs = request.inputs
        root = await manager.on_chain_start(
            {"name": "ttc-serve"},
            {"messages": [m.model_dump() for m in request.messages]}
            if len(inputs) == 1
            else {"prompts": [[m.model_dump() for m in p] for p in inputs]},
            name="ttc-serve",
        )
        queue: asyncio.Queue = asyncio.Queue()
        per_prompt = max(1, len(graphs) // len(inputs))
        tasks = [
            asyncio.create_task(
                self._run(
                    i, graph, inputs[i // per_prompt], root.get_child(), queue.put_nowait, progress
                )
            )
            for i, graph in enumerate(graphs)
        ]
        outputs: list[dict] = []
        try:
            for _ in range(len(graphs)):
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), heartbeat_s)
                    except asyncio.TimeoutError:
                        yield Heartbeat()
                        continue
                    if isinstance(event, BaseException):
                        raise event
                    yield event
                    if isinstance(event, Decided):
                        outputs.append(event.result)
                        break
        except BaseException as exc:
            await root.on_chain_error(exc)
            raise
        else:
            await root.on_chain_end({"answers": [o.get("answer") for o in outputs]})
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(
        self,
        index: int,
        graph,
        messages: list,
        callbacks,
        put: Callable[[Any], None],
        progress: bool,
    ) -> None:
        config = {"callbacks": callbacks, "run_name": f"choice {index}"}
        modes = ["custom", "values"] if progress else ["values"]
        final: dict | None = None
        try:
            async for mode, data in graph.astream(
                {"messages": messages}, config, stream_mode=modes
            ):
                if mode == "custom":
                    if isinstance(data, dict) and "ttc_event" in data:
                        put(Progress(index, data))
                elif "ttc_result" in data:
                    final = data
            if final is None:
                raise APIError(500, "The run ended without a result.", code="no_result")
            result = final["ttc_result"]
            candidates = result.get("candidates") or []
            if candidates and not any(c.get("ok") for c in candidates):
                # Every call failed after its retries: the upstream's trouble, not an answer.
                put(upstream_error(TTCError(f"all {len(candidates)} calls failed, first: "
                                            f"{candidates[0].get('error')}")))  # fmt: skip
                return
            put(Decided(index, result, final["messages"][-1]))
        except asyncio.CancelledError:
            raise
        except APIError as exc:
            put(exc)
        except BudgetExhausted as exc:
            put(bad_request(str(exc), param="ttc.budget", code="budget_out_of_range"))
        except TTCError as exc:
            put(upstream_error(exc))
        except Exception as exc:  # a bug or an upstream failure
            # Where it failed, never the message: it may quote the prompt.
            where = "".join(traceback.format_tb(exc.__traceback__, limit=-3))
            logger.error("run failed: %s\n%s", type(exc).__name__, where)
            put(APIError(500, f"The run failed: {type(exc).__name__}.", code="run_failed"))

    async def aclose(self) -> None:
        for backend in [self.base, *self._backends.values()]:
            closer = getattr(backend, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()


def check_size(request: TTCRequest, limits: Limits) -> None:
    """400 for more choices or prompts than the server takes."""
    if request.choices > limits.max_choices:
        raise bad_request(
            f"n must be between 1 and {limits.max_choices} on this server; got {request.choices}.",
            param="n",
            code="n_out_of_range",
        )
    check_prompts(request, limits)


def check_prompts(request: TTCRequest, limits: Limits) -> None:
    """400 for a list prompt longer than the server takes."""
    if len(request.inputs) > limits.max_prompts:
        raise bad_request(
            f"This server takes at most {limits.max_prompts} prompts per request; got "
            f"{len(request.inputs)}. Split them over several requests.",
            param="prompt",
            code="too_many_prompts",
        )


def upstream_error(exc: BaseException) -> APIError:
    """A failure of the upstream as the reply the client gets: 429 when it was rate limited,
    else 503, both with ``Retry-After``."""
    text = str(exc)
    status = 429 if "429" in text or "rate limit" in text.lower() else 503
    return APIError(
        status,
        f"The upstream model failed: {text}",
        code="upstream_overloaded" if status == 429 else "upstream_unavailable",
        headers={"Retry-After": "1"},
    )


def _tools_for(request: TTCRequest, method: Method) -> list[dict] | None:
    if not request.tools or request.tool_choice == "none":
        return None
    return request.tools


def _with_tools(backend: Backend, tools: list[dict], choice: Any) -> Backend:
    """The backend offering ``tools`` to every sample (the samples then vote on tool calls)."""
    with_tools = getattr(backend, "with_tools", None)
    if with_tools is None:
        raise bad_request(
            f"Tools need an upstream that calls tools; {type(backend).__name__} does not. Serve "
            "an OpenAI-compatible server or a LangChain chat model.",
            param="tools",
        )
    if choice in (None, "auto"):
        return with_tools(tools)
    if isinstance(backend, OpenAICompatibleBackend):
        clone = with_tools(tools)
        clone.extra_body = {**clone.extra_body, "tool_choice": choice}
        return clone
    try:
        return with_tools(tools, tool_choice=choice)
    except TypeError:
        raise bad_request(
            f"tool_choice {choice!r} cannot be passed to {type(backend).__name__}; use 'auto'.",
            param="tool_choice",
        ) from None

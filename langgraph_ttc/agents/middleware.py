"""Test-time compute inside a LangChain agent: ``create_agent(..., middleware=[TTCMiddleware()])``.

On every model call of the agent loop the middleware draws several candidate replies through
the wrapped handler (so the other middleware, the tools and the response format stay as the
agent set them), votes on their tool calls (name plus normalised arguments) or final text, and
returns the winning ``AIMessage``: the agent's tool node then runs the winning calls once, so a
side-effecting tool never runs per sample. When the samples agree less than ``min_agreement``
the escalations run in order (:class:`SampleMore`, :class:`Fallback`, :class:`AskHuman`).

Every sample is counted in one ledger per thread, kept in the agent's state under
``ttc_ledger`` (it checkpoints and resumes with the thread); the ``budget`` caps the thread's
calls, tokens and dollars, and once it cannot pay for a vote each step makes the one plain call
the agent needs. Tallies, escalations and budget notes go out on LangGraph's custom stream
(``stream_mode="custom"``); each sample is a run named ``ttc:generate`` (``ttc:fallback``)
tagged the same, with its step, index and seed in the metadata.

Example:
    >>> from langchain.agents import create_agent
    >>> from langgraph_ttc.testing import FakeToolCallingModel
    >>> agent = create_agent(FakeToolCallingModel(), middleware=[TTCMiddleware(n=3, seed=0)])
    >>> out = agent.invoke({"messages": [("human", "2+2?")]})
    >>> out["messages"][-1].response_metadata["ttc"]["samples"], out["ttc_ledger"]["usage"]["calls"]
    (3, 3)
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping, Sequence
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.constants import TAG_NOSTREAM
from langgraph.types import Command, interrupt
from typing_extensions import NotRequired

from langgraph_ttc.agents._step import Outcome, Step, StepDraw
from langgraph_ttc.agents.escalation import (
    AskHuman,
    Escalation,
    apply_decisions,
    decisions_of,
    review_request,
)
from langgraph_ttc.agents.ledger import Ledger, new_ledger, record
from langgraph_ttc.agents.tool_votes import IgnoreArgs, answers_only, ignored_args
from langgraph_ttc.budget import Budget
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import require

_types = require(
    "langchain.agents.middleware.types", "agents", "TTCMiddleware (create_agent middleware)"
)
AgentMiddleware = _types.AgentMiddleware
AgentState = _types.AgentState
ExtendedModelResponse = _types.ExtendedModelResponse
ModelResponse = _types.ModelResponse
OmitFromSchema = _types.OmitFromSchema

__all__ = ["TTCAgentState", "TTCMiddleware"]


class TTCAgentState(AgentState):
    """The agent's state with the middleware's keys: the thread's ledger (in the output, not
    the input) and a pending review (private)."""

    ttc_ledger: NotRequired[Annotated[Ledger, OmitFromSchema(input=True, output=False)]]
    ttc_review: NotRequired[Annotated[dict | None, OmitFromSchema(input=True, output=True)]]


class TTCMiddleware(AgentMiddleware):
    """Votes over several samples of every agent model call; the winner's tool calls run once.

    Args:
        n: samples per step (the first ``k`` when :class:`SampleMore` adds more on disagreement).
        min_agreement: the leader's share of the samples below which the escalations run.
        escalate: an :class:`Escalation` or a list, applied in order until the samples agree;
            :class:`AskHuman` comes last.
        budget: caps on the whole thread (calls, tokens, dollars; ``max_seconds`` is not
            supported: a thread can wait for a person for days).
        ignore_args: argument names left out when comparing tool calls: a list for every tool
            or a dict per tool name (``{"send_email": ["body"], "*": ["request_id"]}``).
        answer_key: maps a final text answer to its vote (default: the text, case-folded and
            with spaces collapsed), e.g. ``lambda t: extract_answer(t)`` for math answers.
        aggregator: a registered aggregator that needs only answers (``"majority"``).
        seed: base seed; sample ``i`` of step ``s`` gets ``sample_seed(seed, s, i)``. Default:
            a fresh random base per step.
        seed_setting: the model setting that carries each sample's seed (``"seed"`` for OpenAI
            and most servers); ``None`` for providers that reject one (the samples then differ
            by temperature alone).
        sample_settings: model settings for every sample, e.g. ``{"temperature": 0.8}`` when
            the agent's model runs at temperature 0 (identical samples cannot disagree).
        max_concurrency: most samples in flight at once (default: all of a draw).

    Example:
        >>> TTCMiddleware(n=3, escalate=AskHuman()).escalate
        (AskHuman(allowed_decisions=('approve', 'edit', 'reject'), description='The samples disagree on this call; please review it.'),)
    """

    state_schema = TTCAgentState

    def __init__(
        self,
        n: int = 3,
        *,
        min_agreement: float = 0.6,
        escalate: Escalation | Sequence[Escalation] = (),
        budget: Budget | None = None,
        ignore_args: IgnoreArgs = (),
        answer_key: Callable[[str], Hashable | None] | None = None,
        aggregator: str = "majority",
        seed: int | None = None,
        seed_setting: str | None = "seed",
        sample_settings: Mapping[str, Any] | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        super().__init__()
        escalate = (escalate,) if isinstance(escalate, Escalation) else tuple(escalate)
        _check(n, min_agreement, escalate, budget, max_concurrency)
        ignored_args("", ignore_args)  # fails now, not mid-run, on a malformed value
        answers_only(aggregator)
        self.n = n
        self.min_agreement = min_agreement
        self.escalate = escalate
        self.budget = budget or Budget()
        self.ignore_args = ignore_args
        self.answer_key = answer_key
        self.aggregator = aggregator
        self.seed = seed
        self.seed_setting = seed_setting
        self.sample_settings = dict(sample_settings or {})
        self.max_concurrency = max_concurrency

    # -- the model call, sync and async -------------------------------------------------
    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        step = self._step(request)
        plan = self._decide(step)
        outcomes: list[Outcome] | None = None
        while True:
            try:
                draw = plan.send(outcomes)
            except StopIteration:
                return self._finish(step)
            outcomes = self._draw(request, handler, draw, step.number)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        step = self._step(request)
        plan = self._decide(step)
        outcomes: list[Outcome] | None = None
        while True:
            try:
                draw = plan.send(outcomes)
            except StopIteration:
                return self._finish(step)
            outcomes = await self._adraw(request, handler, draw, step.number)

    # -- a person's review, after the model step (a resume does not draw again) ----------
    def after_model(self, state: Mapping, runtime: Any) -> dict | None:
        review = state.get("ttc_review")
        if not review:
            return None
        message = next(
            (m for m in reversed(state["messages"]) if getattr(m, "type", None) == "ai"), None
        )
        if message is None or message.id != review["ttc"]["message_id"]:
            return {"ttc_review": None}  # the reviewed message is gone: nothing to apply
        decisions = decisions_of(interrupt(review), len(message.tool_calls))
        allowed = review["review_configs"][0]["allowed_decisions"]
        revised, replies = apply_decisions(message, {"decisions": decisions}, allowed)
        kinds = dict(Counter(str(d.get("type")) for d in decisions))
        _writer(runtime)({"ttc": "review", "step": review["ttc"]["step"], "decisions": kinds})
        ledger = record(state.get("ttc_ledger") or new_ledger(self.budget), "", [], decisions=kinds)
        return {"messages": [revised, *replies], "ttc_review": None, "ttc_ledger": ledger}

    async def aafter_model(self, state: Mapping, runtime: Any) -> dict | None:
        return self.after_model(state, runtime)

    # -- the step -----------------------------------------------------------------------
    def _step(self, request: Any) -> Step:
        ledger = (request.state or {}).get("ttc_ledger") or new_ledger(self.budget)
        ledger = {**ledger, "budget": self.budget.to_dict()}  # the middleware's caps govern
        number = ledger["steps"] + 1
        return Step(
            number=number,
            ledger=ledger,
            min_agreement=self.min_agreement,
            seed=secrets.randbits(31) if self.seed is None else self.seed,
            prompt_chars=_prompt_chars(request),
            ignore_args=self.ignore_args,
            answer_key=self.answer_key,
            aggregator=self.aggregator,
            emit=_writer(request.runtime),
        )

    def _decide(self, step: Step) -> Generator[StepDraw, list[Outcome], None]:
        """The first draw (or the one plain call a spent budget leaves), then the escalations
        in order until the samples agree."""
        if step.room(self.n) < min(self.n, 2):
            yield from step.single_call()
        else:
            yield from step.draw(self.n)
        for escalation in self.escalate:
            if step.agrees():
                break
            yield from escalation.apply(step)

    def _finish(self, step: Step) -> Any:
        winner = step.winner()
        summary = step.summary()
        message = winner.message.model_copy(
            update={
                "id": winner.message.id or f"ttc-{uuid.uuid4()}",
                "response_metadata": {**winner.message.response_metadata, "ttc": summary},
            }
        )
        result = [message if m is winner.message else m for m in winner.response.result]
        review = None
        if isinstance(step.review, AskHuman):
            review = review_request(message, step.voters(), summary, step.review)
        ledger = record(
            step.ledger,
            "generate",
            [],
            steps=1,
            single_calls=int(step.single),
            escalations=step.escalations,
        )
        total = ledger["usage"]
        spent = {
            "calls": total["calls"],
            "tokens": total["prompt_tokens"] + total["completion_tokens"],
            "usd": total["usd"],
        }
        step.emit(
            {
                "ttc": "step",
                **summary,
                "winner": step.vote.key,
                "review": bool(review),
                "spent": spent,
            }
        )
        return ExtendedModelResponse(
            model_response=ModelResponse(
                result=result, structured_response=winner.response.structured_response
            ),
            command=Command(update={"ttc_ledger": ledger, "ttc_review": review}),
        )

    # -- drawing through the handler ----------------------------------------------------
    def _requests(self, request: Any, draw: StepDraw) -> list[Any]:
        out = []
        for seed in draw.seeds:
            if seed is None:  # the plain call: the request as the agent made it
                out.append(request)
                continue
            settings = {**request.model_settings, **self.sample_settings}
            if self.seed_setting:
                settings[self.seed_setting] = seed
            overrides: dict[str, Any] = {"model_settings": settings}
            if draw.model is not None:
                overrides["model"] = draw.model
            out.append(request.override(**overrides))
        return out

    def _configs(self, draw: StepDraw, step: int) -> list[RunnableConfig]:
        """One traced run per sample: LangSmith groups them by name and ``ttc:<purpose>`` tag;
        ``nostream`` keeps the losing samples' tokens off ``stream_mode="messages"``."""
        return [
            RunnableConfig(
                run_name=f"ttc:{draw.purpose}",
                tags=[f"ttc:{draw.purpose}", TAG_NOSTREAM],
                metadata={
                    "ttc_step": step,
                    "ttc_sample": draw.first_index + i,
                    "ttc_seed": seed,
                },
                max_concurrency=self.max_concurrency,
            )
            for i, seed in enumerate(draw.seeds)
        ]

    def _draw(self, request: Any, handler: Callable, draw: StepDraw, step: int) -> list[Outcome]:
        requests = self._requests(request, draw)
        seconds: dict[int, float] = {}

        def one(index: int) -> Any:
            began = time.perf_counter()
            try:
                return handler(requests[index])
            finally:
                seconds[index] = time.perf_counter() - began

        results = RunnableLambda(one).batch(
            list(range(len(requests))), self._configs(draw, step), return_exceptions=True
        )
        return _outcomes(results, seconds)

    async def _adraw(
        self, request: Any, handler: Callable, draw: StepDraw, step: int
    ) -> list[Outcome]:
        requests = self._requests(request, draw)
        seconds: dict[int, float] = {}

        async def one(index: int) -> Any:
            began = time.perf_counter()
            try:
                return await handler(requests[index])
            finally:
                seconds[index] = time.perf_counter() - began

        results = await RunnableLambda(one).abatch(
            list(range(len(requests))), self._configs(draw, step), return_exceptions=True
        )
        return _outcomes(results, seconds)


def _outcomes(results: Sequence[Any], seconds: Mapping[int, float]) -> list[Outcome]:
    return [
        Outcome(error=r, seconds=seconds.get(i, 0.0))
        if isinstance(r, BaseException)
        else Outcome(response=r, seconds=seconds.get(i, 0.0))
        for i, r in enumerate(results)
    ]


def _prompt_chars(request: Any) -> int:
    """The request's size in characters: contents and tool calls (what tokens scale with)."""
    size = 0
    for message in [request.system_message, *request.messages]:
        if message is None:
            continue
        content = message.content
        size += len(content if isinstance(content, str) else json.dumps(content, default=str))
        if calls := getattr(message, "tool_calls", None):
            size += len(json.dumps(calls, default=str))
    return size


def _writer(runtime: Any) -> Callable[[dict], None]:
    """The custom stream's writer (a no-op outside a graph or when nobody streams it)."""
    writer = getattr(runtime, "stream_writer", None)
    return writer if callable(writer) else (lambda event: None)


def _check(
    n: int,
    min_agreement: float,
    escalate: tuple[Escalation, ...],
    budget: Budget | None,
    max_concurrency: int | None,
) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TTCConfigError(f"TTCMiddleware n must be an integer >= 1; got {n!r}.")
    if not 0 < min_agreement <= 1:
        raise TTCConfigError(f"min_agreement must be in (0, 1]; got {min_agreement!r}.")
    for i, escalation in enumerate(escalate):
        if not isinstance(escalation, Escalation):
            raise TTCConfigError(
                f"escalate takes SampleMore, Fallback or AskHuman objects; got {escalation!r}."
            )
        if isinstance(escalation, AskHuman) and i != len(escalate) - 1:
            raise TTCConfigError(
                "AskHuman must be the last escalation: the person reviews the final vote."
            )
    if budget is not None and budget.max_seconds is not None:
        raise TTCConfigError(
            "TTCMiddleware budgets cap calls, tokens and dollars, not seconds (a thread can wait "
            "for a person for days); drop max_seconds."
        )
    if max_concurrency is not None and max_concurrency < 1:
        raise TTCConfigError(f"max_concurrency must be >= 1 or None; got {max_concurrency}.")

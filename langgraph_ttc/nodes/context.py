"""What every node needs besides state: the backend, strategy, budget, task and verifier.

Models and callables live here, never in graph state (state stays checkpointable). Build one
:class:`TTCContext` and hand it to the nodes you add to your own graph.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langgraph_ttc.backends import resolve_backend
from langgraph_ttc.backends.base import Backend, Completion, SamplingParams
from langgraph_ttc.backends.thinking import with_thinking
from langgraph_ttc.budget import Budget, Meter, Usage
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.parsing import extract_answer, normalize_answer
from langgraph_ttc.prompts import GENERIC_EXEMPLARS, THINKING_EXEMPLARS
from langgraph_ttc.state import Candidate
from langgraph_ttc.strategies import Strategy, get_strategy
from langgraph_ttc.tasks.base import Task
from langgraph_ttc.verifiers import Verifier

__all__ = ["TTCContext", "candidate_from", "seed_of", "tool_call_key"]


@dataclass(frozen=True)
class TTCContext:
    """The non-state inputs of the test-time-compute nodes.

    Args:
        backend: the model (a :class:`~langgraph_ttc.backends.Backend`; see :meth:`create`
            for the other ways to name one).
        strategy: the strategy config whose plan the prepare node makes.
        budget: caps on one run (calls, tokens, dollars, seconds).
        task: supplies few-shot exemplars and answer extraction.
        verifier: scores candidates (best-of-N, revisions, the router's verifier statistic).
        confidence: read each sample's token confidence (what confidence votes, DeepConf and the
            router's confidence statistic need); ``None``: no log-probabilities are asked for.
        keep_thinking: keep each candidate's thinking text (its length and token count are
            always kept); off by default, as a reasoning trace can be thousands of tokens.
        judges_see_thinking: show critiques and LLM judges the thinking before the answer
            (votes, critiques and judges see only the final answer otherwise); implies
            ``keep_thinking``.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> ctx = TTCContext.create(FakeBackend(), "filter_vote", n=8)
        >>> ctx.strategy.plan().width
        4
    """

    backend: Backend
    strategy: Strategy
    budget: Budget = Budget()
    task: Task | None = None
    verifier: Verifier | None = None
    confidence: ConfidenceSpec | None = None
    keep_thinking: bool = False
    judges_see_thinking: bool = False

    @classmethod
    def create(
        cls,
        model="local",
        strategy: str | Strategy = "majority",
        *,
        n: int | None = None,
        budget: Budget | None = None,
        task: Task | None = None,
        verifier: Verifier | None = None,
        confidence: ConfidenceSpec | None = None,
        keep_thinking: bool = False,
        judges_see_thinking: bool = False,
    ) -> TTCContext:
        """A context from a model as :func:`~langgraph_ttc.backends.resolve_backend` takes it
        and a strategy name or config (``n`` overrides its ``n``); a strategy that needs the
        samples' confidence gets the default :class:`ConfidenceSpec` unless one is given."""
        config = get_strategy(strategy, n=n)
        if confidence is None and config.needs_confidence:
            confidence = ConfidenceSpec()
        return cls(
            backend=resolve_backend(model),
            strategy=config,
            budget=budget or Budget(),
            task=task,
            verifier=verifier,
            confidence=confidence,
            keep_thinking=keep_thinking,
            judges_see_thinking=judges_see_thinking,
        )

    @property
    def params(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.strategy.temperature,
            max_tokens=self.strategy.max_tokens,
            top_logprobs=0 if self.confidence is None else self.confidence.top_k,
            thinking_budget=getattr(self.strategy, "thinking_budget", None),
        )

    def params_for(self, plan: Mapping | None) -> SamplingParams:
        """The sampling params of a plan's samples: the plan's thinking budget, when the
        router's plan sets one (a plan state dict or a :class:`~langgraph_ttc.plan.Plan`).

        Example:
            >>> from langgraph_ttc.testing import FakeBackend
            >>> ctx = TTCContext.create(FakeBackend(), "adaptive")
            >>> ctx.params_for({"width": 4, "thinking_budget": 512}).thinking_budget
            512
        """
        params = self.params
        budget = (
            plan.get("thinking_budget")
            if isinstance(plan, Mapping)
            else getattr(plan, "thinking_budget", None)
        )
        return params if budget is None else replace(params, thinking_budget=budget)

    @property
    def verify_calls(self) -> int:
        """Model calls the verifier makes per candidate (0 for a programmatic one)."""
        return 0 if self.verifier is None else self.verifier.calls_per_answer

    def messages_for(self, question: str, history: Sequence[BaseMessage] = ()) -> list[BaseMessage]:
        """The prompt: the task's few-shot prompt, the conversation, or generic exemplars for
        base models (which need examples to learn the answer format)."""
        if self.task is not None:
            return self.task.messages(question)
        needs_exemplars = getattr(self.backend, "needs_exemplars", False)
        if history and not needs_exemplars:
            return list(history)
        shots: list[BaseMessage] = []
        if needs_exemplars:
            # A base model prompted to think learns the <think> ... </think> format from examples.
            thinks = getattr(self.backend, "reasoning", False)
            for q, a in THINKING_EXEMPLARS if thinks else GENERIC_EXEMPLARS:
                shots += [HumanMessage(q), AIMessage(a)]
        return [*shots, HumanMessage(question)]

    def prompt(self, state: Mapping) -> list[BaseMessage]:
        """The run's prompt, rebuilt from state (the question and, for a conversation, its
        messages): prompts stay out of graph state, so few-shot exemplars never reach a
        parent's ``messages`` stream or the checkpoints."""
        history = [] if state.get("question") else list(state.get("messages") or [])
        return self.messages_for(state["ttc_question"], history)

    def answer_of(self, completion: Completion) -> str | None:
        """The comparable final answer: a tool-call signature, the task's extraction, or ours.

        Read from the final answer only (``completion.text``), never from the thinking; a
        sample cut off inside its thinking has none.
        """
        if completion.tool_calls:
            return tool_call_key(completion.tool_calls)
        if not completion.ok or completion.truncated_in_thinking:
            return None  # failed, or cut off inside its thinking
        if completion.finish_reason == "stopped":
            return None  # stopped mid-trace (DeepConf online): no answer to vote
        if self.task is not None:
            return self.task.extract_answer(completion.text)
        found = extract_answer(completion.text)
        return None if found is None else normalize_answer(found)

    def meter(self, state: Mapping) -> Meter:
        """A meter for one node of this run: the budget, net of what the run already spent."""
        return Meter(
            self.budget,
            spent=Usage.from_dict(state.get("ttc_usage")),
            started_at=state.get("ttc_started_at"),
        )


def tool_call_key(tool_calls: Sequence[dict]) -> str:
    """A canonical key for a set of tool calls: names plus normalised JSON arguments.

    Example:
        >>> tool_call_key([{"name": "add", "args": {"b": 2, "a": 1}}])
        'tool:add({"a":1,"b":2})'
    """
    parts = []
    for call in tool_calls:
        args = call.get("args", {})
        if isinstance(args, str):
            with contextlib.suppress(ValueError):
                args = json.loads(args)
        parts.append(
            f"{call.get('name')}({json.dumps(args, sort_keys=True, separators=(',', ':'))})"
        )
    return "tool:" + ";".join(sorted(parts))


def candidate_from(
    ctx: TTCContext,
    completion: Completion,
    *,
    run_id: str,
    index: int,
    chain: int,
    step: int,
    purpose: str,
) -> Candidate:
    """A candidate (graph-state record) for one sampled completion: the final answer as
    ``text``, the thinking's size (``thinking_tokens``, ``thinking_chars``) and, when the context
    keeps it, its text (``thinking``)."""
    completion = with_thinking(completion)
    keep = ctx.keep_thinking or ctx.judges_see_thinking
    trace = (
        None
        if ctx.confidence is None
        else ctx.confidence.summarize(
            completion.top_logprobs,
            completion.logprobs,
            getattr(ctx.backend, "vocab_size", None) if completion.top_logprobs else None,
        )
    )
    return Candidate(
        id=f"{run_id}:{index}",
        index=index,
        chain=chain,
        step=step,
        purpose=purpose,
        text=completion.text.strip(),
        answer=ctx.answer_of(completion),
        ok=completion.ok,
        error=completion.error,
        seed=completion.seed,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency_s=round(completion.latency_s, 4),
        tool_calls=[dict(c) for c in completion.tool_calls],
        verdict=None,
        critique=None,
        score=None,
        finish_reason=completion.finish_reason,
        confidence=None if trace is None else ctx.confidence.value(trace),
        lowest_group=None if trace is None else trace.lowest_group,
        thinking_tokens=completion.thinking_tokens,
        thinking_chars=len(completion.thinking or ""),
        thinking=completion.thinking if keep else None,
        truncated_in_thinking=completion.truncated_in_thinking,
    )


def seed_of(run_seed: int, index: int) -> int:
    """A distinct, reproducible seed per candidate index (31-bit for every backend).

    Example:
        >>> seed_of(1, 0) == seed_of(1, 0) != seed_of(1, 1)
        True
    """
    digest = hashlib.sha256(f"{run_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

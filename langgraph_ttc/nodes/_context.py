"""What every node needs besides state: the backend, task, verifier, budget and strategy.

Models and callables live here, never in graph state (state stays checkpointable).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.constants import TAG_NOSTREAM

from langgraph_ttc.backends.base import Backend, Completion, SamplingParams
from langgraph_ttc.budget import Budget, Meter, Usage
from langgraph_ttc.parsing import extract_answer, normalize_answer
from langgraph_ttc.prompts import GENERIC_EXEMPLARS
from langgraph_ttc.state import Candidate
from langgraph_ttc.strategies import Strategy
from langgraph_ttc.tasks.base import Task
from langgraph_ttc.verifiers import Verifier


@dataclass(frozen=True)
class NodeContext:
    """The non-state inputs of the TTC nodes."""

    backend: Backend
    strategy: Strategy
    budget: Budget
    task: Task | None = None
    verifier: Verifier | None = None
    policy: object | None = None

    @property
    def params(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.strategy.temperature, max_tokens=self.strategy.max_tokens
        )

    def messages_for(self, question: str, history: Sequence[BaseMessage] = ()) -> list[BaseMessage]:
        """The prompt: the task's few-shot prompt, the conversation, or generic exemplars for
        base models (which need examples to learn the answer format)."""
        if self.task is not None:
            return self.task.messages(question)
        if history and not getattr(self.backend, "needs_exemplars", False):
            return list(history)
        shots: list[BaseMessage] = []
        if getattr(self.backend, "needs_exemplars", False):
            for q, a in GENERIC_EXEMPLARS:
                shots += [HumanMessage(q), AIMessage(a)]
        return [*shots, HumanMessage(question)]

    def backend_for(self, config: dict | None, purpose: str) -> Backend:
        """The backend with the node's callbacks and a ``ttc:<purpose>`` tag, where it takes a
        LangChain config (chat-model backends), so traces group calls by purpose."""
        with_config = getattr(self.backend, "with_config", None)
        if with_config is None:
            return self.backend
        config = dict(config or {})
        # Samples are not the answer: keep them out of LangGraph's "messages" stream mode.
        config["tags"] = [*(config.get("tags") or []), f"ttc:{purpose}", TAG_NOSTREAM]
        return with_config(config)

    def answer_of(self, completion: Completion) -> str | None:
        """The comparable final answer: a tool-call signature, the task's extraction, or ours."""
        if completion.tool_calls:
            return tool_call_key(completion.tool_calls)
        if not completion.ok:
            return None
        if self.task is not None:
            return self.task.extract_answer(completion.text)
        found = extract_answer(completion.text)
        return None if found is None else normalize_answer(found)

    def meter(self, state: dict, share: int = 1) -> Meter:
        """A meter for one node (or one of ``share`` parallel branches) of this run."""
        spent = Usage.from_dict(state.get("ttc_usage"))
        budget = self.budget
        if share > 1:
            left = budget.minus(spent)
            budget = replace(left, max_seconds=budget.max_seconds).split(share)
            spent = Usage()
        return Meter(budget, spent=spent, started_at=state.get("ttc_started_at"))


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
    ctx: NodeContext,
    completion: Completion,
    *,
    run_id: str,
    index: int,
    chain: int,
    step: int,
    purpose: str,
) -> Candidate:
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
    )


def seed_of(run_seed: int, index: int) -> int:
    """A distinct, reproducible seed per candidate index (31-bit for every backend)."""
    digest = hashlib.sha256(f"{run_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def emit(event: str, **data) -> None:
    """Send a progress event on LangGraph's ``custom`` stream (no-op outside a graph run)."""
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except Exception:  # outside a runnable context there is nothing to stream to
        return
    writer({"ttc_event": event, **data})

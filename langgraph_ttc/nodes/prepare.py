"""The entry node: find the question, reset per-run channels, fix the run's seed and plan."""

from __future__ import annotations

import random
import time
import uuid

from langchain_core.messages import HumanMessage
from langchain_core.prompt_values import PromptValue
from langgraph.types import Overwrite

from langgraph_ttc.backends.transcript import message_text
from langgraph_ttc.budget import Usage
from langgraph_ttc.errors import TTCInputError
from langgraph_ttc.nodes.base import StateNode
from langgraph_ttc.nodes.context import TTCContext

__all__ = ["PrepareNode", "as_question_input", "question_of"]


def question_of(state: dict) -> str:
    """The question: ``question`` if given, else the text of the last human message.

    Example:
        >>> question_of({"messages": [HumanMessage("  What is 2 + 2? ")]})
        'What is 2 + 2?'
    """
    question = state.get("question")
    if question is None:
        question = last_human_text(state)
        if question is None:
            raise TTCInputError(
                "No question: pass {'question': '...'} or messages ending with a human message."
            )
    if not isinstance(question, str) or not question.strip():
        raise TTCInputError("The question is empty: pass a question with some text in it.")
    return question.strip()


def last_human_text(state: dict) -> str | None:
    """The text of the conversation's last human message (None without one).

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> last_human_text({"messages": [HumanMessage("2+2?"), AIMessage("4")]})
        '2+2?'
    """
    for message in reversed(state.get("messages") or []):
        if getattr(message, "type", None) == "human":
            return message_text(message)
    return None


def left_from_an_earlier_run(state: dict) -> bool:
    """Whether ``question`` is an earlier run's, kept by a checkpointed thread: the run before
    read it (``ttc_question``) and the conversation has moved on since (its last human message
    is another), so this run was asked by ``messages``.

    Example:
        >>> state = {"question": "1+1?", "ttc_question": "1+1?",
        ...          "messages": [HumanMessage("1+1?"), HumanMessage("5+5?")]}
        >>> left_from_an_earlier_run(state), left_from_an_earlier_run({"question": "1+1?"})
        (True, False)
    """
    question = state.get("question")
    if not isinstance(question, str) or question.strip() != state.get("ttc_question"):
        return False
    last = last_human_text(state)
    return last is not None and last.strip() != question.strip()


class PrepareNode(StateNode):
    """Start of a run: resets candidates and usage (so a checkpointed thread can ask again),
    fixes the seed, builds the prompt and makes the plan from the strategy and the budget.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> prepare = PrepareNode(TTCContext.create(FakeBackend(), "majority", n=3))
        >>> prepare({"question": "2+2?"})["ttc_plan"]["width"]
        3
    """

    def __init__(self, ctx: TTCContext) -> None:
        self.ctx = ctx

    def __call__(self, state: dict) -> dict:
        ctx = self.ctx
        stale = left_from_an_earlier_run(state)
        if stale:  # asked by messages: the question is their last human message
            state = {**state, "question": None}
        question = question_of(state)
        seed = ctx.strategy.seed
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        plan = ctx.strategy.plan(ctx.budget.max_calls, ctx.verifier)
        update = {
            "ttc_question": question,
            "ttc_run_id": uuid.uuid4().hex[:12],
            "ttc_seed": seed,
            "ttc_started_at": time.time(),
            "ttc_candidates": Overwrite([]),
            "ttc_usage": Overwrite(Usage().to_dict()),
            "ttc_plan": plan.to_state(),
            "ttc_difficulty": {},
            "ttc_round": 0,
        }
        if stale:
            update["question"] = None  # later nodes build the prompt from the conversation
        elif state.get("question") and not _ends_with(state.get("messages"), question):
            # A run asked with {"question": ...} keeps the question in the thread's history.
            update["messages"] = [HumanMessage(question, id=f"ttc-q-{update['ttc_run_id']}")]
        return update


def _ends_with(messages, question: str) -> bool:
    """Whether the conversation's last message is the human turn asking ``question``."""
    last = (messages or [None])[-1]
    return getattr(last, "type", None) == "human" and message_text(last).strip() == question


def as_question_input(value) -> dict:
    """Turn a str, a prompt value (``prompt | ...``), a message list or a dict into graph input.

    Example:
        >>> as_question_input("2+2?")["messages"][0].content
        '2+2?'
    """
    if isinstance(value, str):
        return {"messages": [HumanMessage(value)]}
    if isinstance(value, PromptValue):
        return {"messages": value.to_messages()}
    if isinstance(value, dict):
        return value
    return {"messages": list(value)}

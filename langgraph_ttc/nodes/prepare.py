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
        humans = [m for m in state.get("messages") or [] if getattr(m, "type", None) == "human"]
        if not humans:
            raise TTCInputError(
                "No question: pass {'question': '...'} or messages ending with a human message."
            )
        question = message_text(humans[-1])
    if not isinstance(question, str) or not question.strip():
        raise TTCInputError("The question is empty: pass a question with some text in it.")
    return question.strip()


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
        if state.get("question") and not state.get("messages"):
            # A run started with {"question": ...} keeps the question in the thread's history.
            update["messages"] = [HumanMessage(question, id=f"ttc-q-{update['ttc_run_id']}")]
        return update


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

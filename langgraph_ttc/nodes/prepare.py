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
from langgraph_ttc.nodes._context import NodeContext


def question_of(state: dict) -> str:
    """The question: ``question`` if given, else the text of the last human message."""
    question = state.get("question")
    if not question:
        humans = [m for m in state.get("messages") or [] if getattr(m, "type", None) == "human"]
        if not humans:
            raise TTCInputError(
                "No question: pass {'question': '...'} or messages ending with a human message."
            )
        question = message_text(humans[-1])
    if not isinstance(question, str) or not question.strip():
        raise TTCInputError("The question is empty; pass a non-empty question.")
    return question.strip()


class PrepareNode:
    """Start of a run: resets candidates and usage so a checkpointed thread can ask again."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def __call__(self, state: dict) -> dict:
        question = question_of(state)
        seed = self.ctx.strategy.seed
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        verifier_uses_model = bool(self.ctx.verifier and self.ctx.verifier.uses_model)
        plan = self.ctx.strategy.plan(self.ctx.budget.max_calls, verifier_uses_model)
        if plan.get("aggregator") == "revise":
            plan["verify"] = self.ctx.verifier is not None
        history = [] if state.get("question") else list(state.get("messages") or [])
        return {
            "ttc_question": question,
            "ttc_prompt": self.ctx.messages_for(question, history),
            "ttc_run_id": uuid.uuid4().hex[:12],
            "ttc_seed": seed,
            "ttc_started_at": time.time(),
            "ttc_candidates": Overwrite([]),
            "ttc_usage": Overwrite(Usage().to_dict()),
            "ttc_plan": plan,
            "ttc_difficulty": {},
            "ttc_round": 0,
        }


def as_question_input(value) -> dict:
    """Turn a str, a prompt value (``prompt | ...``), a message list or a dict into graph input."""
    if isinstance(value, str):
        return {"messages": [HumanMessage(value)]}
    if isinstance(value, PromptValue):
        return {"messages": value.to_messages()}
    if isinstance(value, dict):
        return value
    return {"messages": list(value)}

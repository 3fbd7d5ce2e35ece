"""Verify: score candidates in [0, 1] with a programmatic check, unit tests or an LLM judge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Steps
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.base import TTCNode, emit
from langgraph_ttc.nodes.context import TTCContext
from langgraph_ttc.nodes.critique import judged_text

__all__ = ["VerifyNode", "score_steps"]


def score_steps(ctx: TTCContext, question: str, candidates: Sequence[Mapping]) -> Steps[list]:
    """``{"id", "score"}`` updates for ``candidates`` (concurrently); failed or answerless ones
    score 0 without a call."""
    scored = [c for c in candidates if c.get("ok") and c.get("answer") is not None]
    verifier = ctx.verifier
    # Model judges may be shown the thinking (ctx.judges_see_thinking); programmatic checks
    # always read the final answer alone.
    calls = [
        verifier.steps(
            question, judged_text(ctx, c) if verifier.uses_model else c["text"], backend=ctx.backend
        )
        for c in scored
    ]
    verdicts = (yield calls) if calls else []
    by_id = {c["id"]: v.score for c, v in zip(scored, verdicts, strict=True)}
    updates = []
    for candidate in candidates:
        score = float(by_id.get(candidate["id"], 0.0))
        if candidate["id"] in by_id:
            emit("verify", id=candidate["id"], score=score)
        updates.append({"id": candidate["id"], "score": score})
    return updates


class VerifyNode(TTCNode):
    """Scores every candidate that has no score yet. Failed or answerless candidates score 0."""

    default_name = "verify"

    def __init__(self, ctx: TTCContext, **kwargs) -> None:
        if ctx.verifier is None:
            raise TTCConfigError(
                f"Strategy {ctx.strategy.name!r} needs a verifier: pass verifier=LLMJudge() or "
                "ProgrammaticVerifier(fn) (see langgraph_ttc.verifiers)."
            )
        super().__init__(ctx, **kwargs)

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        pending = [c for c in state.get("ttc_candidates") or [] if c.get("score") is None]
        updates = yield from score_steps(self.ctx, state["ttc_question"], pending)
        return {"ttc_candidates": updates}

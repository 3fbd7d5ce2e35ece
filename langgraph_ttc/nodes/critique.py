"""Critique: the filter of Filter-Vote (Chen et al. 2024): one judging call per candidate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps
from langgraph_ttc.nodes.base import TTCNode, emit
from langgraph_ttc.nodes.context import seed_of
from langgraph_ttc.prompts import critique_messages, shown_with_thinking
from langgraph_ttc.verifiers import parse_verdict

__all__ = ["CRITIQUE_SEED_OFFSET", "CritiqueNode", "judged_text"]

CRITIQUE_SEED_OFFSET = 1_000_003  # keeps critique seeds apart from sample seeds


def judged_text(ctx, candidate) -> str:
    """What a critique or a model judge reads of a candidate: its final answer, with the
    thinking before it when the context shows judges the thinking."""
    if ctx.judges_see_thinking:
        return shown_with_thinking(candidate["text"], candidate.get("thinking"))
    return candidate["text"]


class CritiqueNode(TTCNode):
    """Judges every answered, not-yet-judged candidate; ``verdict`` True keeps it.

    A verdict that cannot be parsed, or a critique the budget did not allow, leaves
    ``verdict=None`` (not kept); Filter-Vote's fallback then votes over all answers.
    """

    default_name = "critique"

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        ctx = self.ctx
        pending = [
            c
            for c in state.get("ttc_candidates") or []
            if c.get("ok") and c.get("answer") is not None and c.get("verdict") is None
        ]
        calls = [
            Sample(
                ctx.backend,
                critique_messages(ctx.backend, state["ttc_question"], judged_text(ctx, c)),
                1,
                "critique",
                ctx.params.with_seed(seed_of(state["ttc_seed"], CRITIQUE_SEED_OFFSET + c["index"])),
            )
            for c in pending
        ]
        draws = (yield calls) if calls else []
        updates = []
        for candidate, draw in zip(pending, draws, strict=True):
            completion = draw.completions[0] if draw.completions else None
            if completion is None:
                rationale, verdict = "not judged: budget exhausted", None
            elif not completion.ok:
                rationale, verdict = f"critique failed: {completion.error}", None
            else:
                rationale = completion.text.strip()
                score = parse_verdict(rationale)
                verdict = None if score is None else score >= 0.5
            emit("critique", id=candidate["id"], verdict=verdict)
            updates.append({"id": candidate["id"], "verdict": verdict, "critique": rationale})
        return {"ttc_candidates": updates}

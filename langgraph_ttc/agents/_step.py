"""One agent step as a generator of draws: the middleware's sync and async shells fulfil each
:class:`StepDraw` (several calls through the wrapped handler) and send the outcomes back, so the
vote, the budget and the escalations are written once for both.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.errors import GraphBubbleUp

from langgraph_ttc.agents.ledger import Ledger, needs_estimate, record, room, sample_counters
from langgraph_ttc.agents.tool_votes import IgnoreArgs, StepVote, reply_key, vote
from langgraph_ttc.budget import Budget, Counters
from langgraph_ttc.nodes.context import seed_of
from langgraph_ttc.stopping import AgreementAtLeast, Votes

__all__ = ["Outcome", "Step", "StepCandidate", "StepDraw", "sample_seed"]


def sample_seed(seed: int, step: int, index: int) -> int:
    """The seed of sample ``index`` of the thread's model step ``step`` (distinct per sample,
    reproducible across a checkpoint and resume).

    Example:
        >>> sample_seed(0, 1, 0) == sample_seed(0, 1, 0) != sample_seed(0, 1, 1)
        True
    """
    return seed_of(seed_of(seed, step), index)


@dataclass(frozen=True)
class StepDraw:
    """What the step asks its shell for: one call per seed (``None``: the request as it came,
    the plain call a spent budget leaves), through ``model`` when set (a fallback model)."""

    seeds: tuple[int | None, ...]
    purpose: str = "generate"
    model: Any = None
    first_index: int = 0


@dataclass(frozen=True)
class Outcome:
    """One call's result as the shell saw it: the handler's response or the exception."""

    response: Any = None
    seconds: float = 0.0
    error: BaseException | None = None


@dataclass
class StepCandidate:
    """One sampled reply of the step, with its vote and cost."""

    index: int
    purpose: str
    seed: int | None
    response: Any
    message: AIMessage | None
    key: str | None
    counters: Counters
    error: str | None = None


def _ai_message(response: Any) -> AIMessage | None:
    result = getattr(response, "result", None)
    if result is None and isinstance(response, AIMessage):
        return response
    return next((m for m in result or () if isinstance(m, AIMessage)), None)


@dataclass
class Step:
    """The state of one model step while it is voted: candidates, the running ledger, the
    escalations applied and the review asked for. Escalations drive it through :meth:`draw`.
    """

    number: int
    ledger: Ledger
    min_agreement: float
    seed: int
    prompt_chars: int = 0
    ignore_args: IgnoreArgs = ()
    answer_key: Callable[[str], Hashable | None] | None = None
    aggregator: str = "majority"
    emit: Callable[[dict], None] = lambda event: None
    candidates: list[StepCandidate] = field(default_factory=list)
    pool: str = "generate"
    pool_model: Any = None
    escalations: dict[str, int] = field(default_factory=dict)
    review: Any = None
    single: bool = False

    # -- the vote -----------------------------------------------------------------------
    def voters(self) -> list[StepCandidate]:
        """The candidates the vote is over (the fallback model's alone once it answered)."""
        return [c for c in self.candidates if c.purpose == self.pool]

    @property
    def vote(self) -> StepVote:
        return vote([c.key for c in self.voters()], self.aggregator)

    def agrees(self) -> bool:
        """Whether the leader holds at least ``min_agreement`` of the votes drawn."""
        return AgreementAtLeast(self.min_agreement)(Votes(tuple(c.key for c in self.voters())))

    def winner(self) -> StepCandidate:
        voters = self.voters()
        index = self.vote.winner
        if index is not None:
            return voters[index]
        return next(c for c in [*voters, *self.candidates] if c.response is not None)

    # -- drawing ------------------------------------------------------------------------
    def room(self, k: int) -> int:
        """How many of ``k`` more samples the thread's budget allows now."""
        return room(self.ledger, k, self.prompt_chars)

    def draw(
        self, k: int, purpose: str = "generate", model: Any = None
    ) -> Generator[StepDraw, list[Outcome], int]:
        """Draw up to ``k`` samples (fewer when the budget is short); returns how many."""
        allowed = self.room(k)
        if allowed < k:
            self.emit(
                {
                    "ttc": "budget",
                    "step": self.number,
                    "wanted": k,
                    "allowed": allowed,
                    "reason": "the thread's budget is short",
                }
            )
        drawn = 0
        if allowed > 1 and needs_estimate(self.ledger):
            # No sample has shown what one costs: draw one alone before spending more.
            drawn += yield from self._draw(1, purpose, model)
            allowed = min(allowed - 1, self.room(allowed - 1))
        if allowed > 0:
            drawn += yield from self._draw(allowed, purpose, model)
        return drawn

    def single_call(self) -> Generator[StepDraw, list[Outcome], int]:
        """The one call the agent needs when the budget cannot pay for a vote."""
        self.single = True
        self.emit(
            {
                "ttc": "budget",
                "step": self.number,
                "wanted": 1,
                "allowed": 0,
                "reason": "the thread's budget is spent: one plain call, no vote",
            }
        )
        request = StepDraw(seeds=(None,), first_index=len(self.candidates))
        outcomes = yield request
        self._add(outcomes, request)
        self.emit(self.tally_event(request.purpose))
        return len(outcomes)

    def _draw(self, k: int, purpose: str, model: Any) -> Generator[StepDraw, list[Outcome], int]:
        start = len(self.candidates)
        request = StepDraw(
            seeds=tuple(sample_seed(self.seed, self.number, start + i) for i in range(k)),
            purpose=purpose,
            model=model,
            first_index=start,
        )
        outcomes = yield request
        self._add(outcomes, request)
        self.emit(self.tally_event(purpose))
        return k

    def _add(self, outcomes: Sequence[Outcome], request: StepDraw) -> None:
        prices = Budget.from_dict(self.ledger["budget"]).prices
        added = []
        for offset, outcome in enumerate(outcomes):
            if isinstance(outcome.error, GraphBubbleUp):
                raise outcome.error
            message = None if outcome.error else _ai_message(outcome.response)
            counters = (
                sample_counters(message, outcome.seconds, prices)
                if message is not None
                else Counters(calls=1, failed=1, requests=1, seconds=round(outcome.seconds, 4))
            )
            added.append(
                StepCandidate(
                    index=request.first_index + offset,
                    purpose=request.purpose,
                    seed=request.seeds[offset],
                    response=None if outcome.error else outcome.response,
                    message=message,
                    key=None
                    if message is None
                    else reply_key(message, self.ignore_args, self.answer_key),
                    counters=counters,
                    error=None
                    if outcome.error is None
                    else f"{type(outcome.error).__name__}: {outcome.error}"[:500],
                )
            )
        self.candidates += added
        self.ledger = record(
            self.ledger, request.purpose, [c.counters for c in added], self.prompt_chars
        )
        if not any(c.response is not None for c in self.candidates):
            # Every call failed: the agent gets the error it would have got from one call.
            raise next(o.error for o in outcomes if o.error is not None)

    # -- reporting ----------------------------------------------------------------------
    def escalated(self, kind: str) -> None:
        """Count an escalation and say so on the custom stream."""
        self.escalations[kind] = self.escalations.get(kind, 0) + 1
        current = self.vote
        self.emit(
            {
                "ttc": "escalate",
                "step": self.number,
                "kind": kind,
                "agreement": round(current.agreement, 4),
                "min_agreement": self.min_agreement,
                "samples": current.samples,
            }
        )

    def tally_event(self, purpose: str) -> dict:
        current = self.vote
        return {
            "ttc": "tally",
            "step": self.number,
            "purpose": purpose,
            "samples": current.samples,
            "tally": dict(current.tally),
            "winner": current.key,
            "agreement": round(current.agreement, 4),
        }

    def summary(self) -> dict:
        """What the winning message's metadata and the stream keep of the step."""
        current = self.vote
        return {
            "step": self.number,
            "samples": len(self.candidates),
            "voters": self.pool,
            "tally": dict(current.tally),
            "agreement": round(current.agreement, 4),
            "min_agreement": self.min_agreement,
            "escalations": dict(self.escalations),
            "single_call": self.single,
        }


# The former names: the core's Draw (backends) and Candidate (state) are other things.
Draw = StepDraw
Candidate = StepCandidate

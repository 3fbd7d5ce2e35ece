"""GenSelect: the model reads the candidate solutions and names the best one.

Generative selection (arXiv 2507.17797; part of the AIMO-2 winning recipe, arXiv 2504.16891):
after N samples, one prompt lists the answered candidates and asks which is best; the answer is
the named candidate's. Where each rule comes from:

* ``group_size=8`` solutions per prompt, shuffled first (position bias), a judgment parsed as
  the last ``Judgment: IDX`` (0-based), and a seeded random candidate when it cannot be parsed:
  NVIDIA NeMo-Skills (``nemo_skills/inference/model/parallel_thinking.py``: ``window_size=8``,
  ``Judg[e]?ment: (\\d+)``, ``local_random`` fallback) and its ``generic/genselect`` prompt.
* ``select_temperature=0.6``: NeMo-Skills' ``temperature`` of the selection call (optillm's
  ``genselect`` plugin uses 0.3 and four candidates).
* A knockout when N candidates do not fit one prompt: balanced groups of at most
  ``group_size``, whose winners meet in the next round until one is left (the project brief,
  sec. 5; NeMo-Skills compares one window only).
* Only answered candidates take part (NeMo-Skills filters incomplete solutions).

Cost: N samples plus one ``select`` call per group per round (``knockout_calls``); ``n`` is the
whole call budget, so ``GenSelect(n=8)`` draws 7 samples and makes one selection.

Example:
    >>> from langgraph_ttc.graph import create_ttc_graph
    >>> from langgraph_ttc.testing import FakeBackend
    >>> result = create_ttc_graph(FakeBackend(), "genselect", n=8).invoke({"question": "2+2?"})
    >>> result["ttc_result"]["usage"]["by_purpose"]["select"]["calls"]
    1
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langgraph_ttc.aggregators import Aggregate, Aggregator, Ballots, register_aggregator
from langgraph_ttc.aggregators.majority import majority_vote
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.base import TTCNode, emit
from langgraph_ttc.nodes.context import seed_of
from langgraph_ttc.nodes.critique import judged_text
from langgraph_ttc.nodes.stages import Stage, register_stage
from langgraph_ttc.plan import Plan
from langgraph_ttc.strategies import Strategy, register_strategy
from langgraph_ttc.verifiers import Verifier

__all__ = [
    "GenSelect",
    "GenSelectNode",
    "GenSelectVote",
    "genselect_messages",
    "knockout_calls",
    "knockout_groups",
    "parse_judgment",
]

GROUP_SIZE = 8  # NeMo-Skills window_size
SELECT_TEMPERATURE = 0.6  # NeMo-Skills parallel thinking temperature
SELECT_SEED_OFFSET = 2_000_003  # keeps selection seeds apart from sample and critique seeds
JUDGMENT = re.compile(r"Judg[e]?ment:\s*\[?(\d+)")

GENSELECT_PROMPT = (
    "You will be given a problem followed by an enumerated list of {count} candidate "
    "solutions. Analyze them systematically and identify the best solution among them.\n\n"
    "Problem: {problem}\n\n"
    "Solutions:\n{solutions}\n\n"
    "End your evaluation with exactly:\nJudgment: [IDX]\n"
    "where IDX is the index 0-{last} of the best solution."
)

# A worked selection for base models, which learn the judgment format from an example.
GENSELECT_EXEMPLAR = (
    GENSELECT_PROMPT.format(
        count=3,
        problem="What is 6 + 7?",
        solutions="Solution 0:\n6 + 7 = 12. The answer is 12.\n\n"
        "Solution 1:\n6 + 7 = 13. The answer is 13.\n\n"
        "Solution 2:\n6 * 7 = 42. The answer is 42.",
        last=2,
    ),
    "6 + 7 is 13; solution 0 miscounts and solution 2 multiplies. Judgment: 1",
)


def knockout_groups(n: int, group_size: int) -> list[int]:
    """Sizes of one knockout round's groups: ``n`` contenders in as few groups of at most
    ``group_size`` as fit, as even as possible.

    Example:
        >>> knockout_groups(9, 8), knockout_groups(8, 8), knockout_groups(20, 8)
        ([5, 4], [8], [7, 7, 6])
    """
    if n <= 0:
        return []
    groups = math.ceil(n / group_size)
    base, extra = divmod(n, groups)
    return [base + (1 if i < extra else 0) for i in range(groups)]


def knockout_calls(n: int, group_size: int) -> int:
    """Selection calls a knockout over ``n`` candidates makes: one per group per round, until
    one candidate is left (none for a single candidate).

    Example:
        >>> [knockout_calls(n, 8) for n in (1, 2, 8, 9, 64, 65)], knockout_calls(3, 2)
        ([0, 1, 1, 3, 9, 12], 2)
    """
    calls = 0
    while n > 1:
        groups = knockout_groups(n, group_size)
        calls += sum(1 for size in groups if size > 1)  # a group of one has no choice to make
        n = len(groups)
    return calls


def parse_judgment(text: str, count: int) -> int | None:
    """The 0-based index the last ``Judgment: IDX`` names, if it names one of ``count``.

    Example:
        >>> parse_judgment("1 is wrong. Judgment: 0 ... no, Judgment: 2", 3)
        2
        >>> parse_judgment("Judgment: 7", 3) is None, parse_judgment("the first", 3) is None
        (True, True)
    """
    found = JUDGMENT.findall(text or "")
    if not found:
        return None
    index = int(found[-1])
    return index if 0 <= index < count else None


def genselect_messages(backend, problem: str, solutions: Sequence[str]) -> list[BaseMessage]:
    """The selection prompt (NeMo-Skills' ``generic/genselect``), after a worked selection for
    base models.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> print(genselect_messages(FakeBackend(), "1+1?", ["2", "3"])[-1].content[-48:])
        where IDX is the index 0-1 of the best solution.
    """
    listed = "\n\n".join(f"Solution {i}:\n{text.strip()}" for i, text in enumerate(solutions))
    prompt = GENSELECT_PROMPT.format(
        count=len(solutions), problem=problem, solutions=listed, last=len(solutions) - 1
    )
    shots: list[BaseMessage] = []
    if getattr(backend, "needs_exemplars", False):
        shots = [HumanMessage(GENSELECT_EXEMPLAR[0]), AIMessage(GENSELECT_EXEMPLAR[1])]
    return [*shots, HumanMessage(prompt)]


class GenSelectVote(Aggregator):
    """The knockout's winner: the candidate that won the most rounds (``selected``); with no
    selection made (a single answered candidate, or none), the majority vote.

    Example:
        >>> GenSelectVote().vote(Ballots(("4", "5", "5"), columns=(("selected", (None, 2, 1)),)))
        Aggregate(answer='5', index=1, tally={'4': 1.0, '5': 2.0}, confidence=0.6666666666666666, method='genselect')
    """

    name = "genselect"
    extra_stages = ("select",)
    columns = ("selected", "selection")  # the vote reads the first; results show both
    not_replayable = (
        "GenSelect asks the model to choose among the candidates (a 'select' call per group), "
        "which a pool of independent samples does not hold: run it live"
    )

    def vote(self, ballots: Ballots) -> Aggregate:
        majority = majority_vote(ballots.answers)
        rounds = [r or 0 for r in ballots.column("selected")]
        best = max(rounds, default=0)
        if best == 0:
            return Aggregate(
                majority.answer, majority.index, majority.tally, majority.confidence, self.name
            )
        index = next(
            i for i, r in enumerate(rounds) if r == best and ballots.answers[i] is not None
        )
        answer = ballots.answers[index]
        mass = sum(majority.tally.values())
        return Aggregate(answer, index, majority.tally, majority.tally[answer] / mass, self.name)

    def run_calls(self, width: int, options: Mapping | None = None) -> int:
        return knockout_calls(width, int((options or {}).get("group_size", GROUP_SIZE)))


register_aggregator(GenSelectVote())


class GenSelectNode(TTCNode):
    """The knockout: every round, the contenders are shuffled, split into groups, and one
    ``select`` call per group names its winner; winners meet until one is left. Writes each
    candidate's ``selected`` (the rounds it won) and ``selection`` (what the judge wrote)."""

    default_name = "select"

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        ctx = self.ctx
        plan = Plan.from_state(state["ttc_plan"])
        group_size = int(plan.option("group_size", GROUP_SIZE))
        params = replace(
            ctx.params_for(plan), temperature=plan.option("temperature", SELECT_TEMPERATURE)
        )
        candidates = sorted(state.get("ttc_candidates") or [], key=lambda c: c.get("index", 0))
        contenders = [c for c in candidates if c.get("ok") and c.get("answer") is not None]
        rng = random.Random(seed_of(state["ttc_seed"], SELECT_SEED_OFFSET))
        won: dict[str, int] = {}
        notes: dict[str, str] = {}
        round_, call = 0, 0
        while len(contenders) > 1:
            round_ += 1
            rng.shuffle(contenders)  # NeMo-Skills shuffles: the order must not decide
            groups, start = [], 0
            for size in knockout_groups(len(contenders), group_size):
                groups.append(contenders[start : start + size])
                start += size
            calls = []
            for group in groups:
                if len(group) == 1:
                    continue  # passes through: nothing to choose
                texts = [judged_text(ctx, c) for c in group]
                seed = seed_of(state["ttc_seed"], SELECT_SEED_OFFSET + 1 + call)
                call += 1
                messages = genselect_messages(ctx.backend, state["ttc_question"], texts)
                calls.append(Sample(ctx.backend, messages, 1, "select", params.with_seed(seed)))
            draws = iter((yield calls))
            winners = []
            for group in groups:
                if len(group) == 1:
                    winners.append(group[0])
                    continue
                draw = next(draws)
                completion = draw.completions[0] if draw.completions else None
                text = completion.text if completion is not None and completion.ok else ""
                pick = parse_judgment(text, len(group))
                if pick is None:  # unparsed, failed or not allowed by the budget: NeMo's rule
                    pick = rng.randrange(len(group))
                    text = text or "not judged: the call failed or the budget was spent"
                    text = f"{text}\n[unparsed judgment: candidate {pick} drawn at random]"
                winner = group[pick]
                won[winner["id"]] = round_
                notes[winner["id"]] = text.strip()
                winners.append(winner)
            emit("select", round=round_, winners=[w["id"] for w in winners])
            contenders = winners
        updates = [{"id": i, "selected": r, "selection": notes[i]} for i, r in won.items()]
        return {"ttc_candidates": updates}


@dataclass(frozen=True)
class GenSelect(Strategy):
    """N samples, then the model selects the best (GenSelect; see the module docstring).

    Attributes:
        n: the whole call budget: samples plus the knockout's selection calls.
        group_size: most candidates shown in one selection prompt (NeMo-Skills: 8).
        select_temperature: sampling temperature of the selection calls (NeMo-Skills: 0.6).

    Example:
        >>> plan = GenSelect(n=8).plan()
        >>> plan.width, plan.stages, plan.worst_case_calls()
        (7, ('select',), 8)
        >>> GenSelect(n=16, group_size=4).plan().width  # 12 samples, 3 + 1 selections
        12
    """

    name: ClassVar[str] = "genselect"
    aggregator: ClassVar[str] = "genselect"

    group_size: int = GROUP_SIZE
    select_temperature: float = SELECT_TEMPERATURE

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.group_size, int) or self.group_size < 2:
            raise TTCConfigError(f"genselect: group_size must be >= 2; got {self.group_size!r}.")
        if self.select_temperature < 0:
            raise TTCConfigError(
                f"genselect: select_temperature must be >= 0; got {self.select_temperature}."
            )

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        calls = self.calls(calls_left) or 0
        width = 0
        while width + 1 + knockout_calls(width + 1, self.group_size) <= calls:
            width += 1
        return Plan(
            width=width,
            aggregator=self.aggregator,
            options={"group_size": self.group_size, "temperature": self.select_temperature},
            reason=self.describe(),
        )

    def describe(self) -> str:
        return f"genselect n={self.n} group_size={self.group_size}"


register_stage(Stage("select", GenSelectNode))
register_strategy(GenSelect)

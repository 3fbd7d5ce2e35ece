"""Recursive self-aggregation, RSA (Venkatraman et al. 2025, arXiv 2509.26626; code
github.com/HyperPotatoNeo/RSA, ``eval_loop.py``).

A population of N solutions is drawn; at each of T steps, N aggregation prompts each show K
members drawn from the current population (without replacement, ``random.sample``) and ask for
one improved solution; the N answers are the next population; the answer is the majority vote
of the last population. No verifier. Defaults are the authors' command line: ``--population 16
--k 4 --loops 10`` (in ``eval_loop.py`` loop 0 has no candidates and only samples, so T = 9
aggregation steps) and ``--temperature 1.0``. The paper agrees: its plots count the first
population as RSA step 1 (steps 1-10), and its ARC-AGI "High" setting is N = 16, K = 4, T = 9. The aggregation prompt follows theirs (``aggregate_prompt``): one
candidate is "refined", several are "aggregated", and either may be abandoned for a new
approach when all are wrong.

Cost: N x (T + 1) calls, N of them ``generate`` and N x T ``aggregate``. ``n`` (default: the
full N x (T + 1)) caps it: fewer steps first, then a smaller population.

Example:
    >>> from langgraph_ttc.graph import create_ttc_graph
    >>> from langgraph_ttc.testing import FakeBackend
    >>> graph = create_ttc_graph(FakeBackend(), RSA(population=4, k=2, steps=2))
    >>> usage = graph.invoke({"question": "2+2?"})["ttc_result"]["usage"]["by_purpose"]
    >>> usage["generate"]["calls"], usage["aggregate"]["calls"]
    (4, 8)
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from langgraph_ttc.aggregators import Aggregate, Aggregator, Ballots, register_aggregator
from langgraph_ttc.aggregators.majority import majority_vote
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.base import TTCNode, emit
from langgraph_ttc.nodes.context import candidate_from, seed_of
from langgraph_ttc.nodes.stages import Stage, register_stage
from langgraph_ttc.plan import Plan
from langgraph_ttc.strategies import Strategy, register_strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["RSA", "RSAVote", "RecombineNode", "recombine_prompt"]

POPULATION = 16  # authors' --population
K = 4  # authors' --k
STEPS = 9  # authors' --loops 10, the first of which only draws the population (eval_loop.py)
TEMPERATURE = 1.0  # authors' --temperature
RSA_SEED_OFFSET = 3_000_017  # keeps aggregation seeds apart from the others

ONE_CANDIDATE = (
    "You are given a problem and a candidate solution. The candidate may be incomplete or "
    "wrong. Refine it into a better solution; if it is entirely wrong, try a new approach."
)
SEVERAL_CANDIDATES = (
    "You are given a problem and several candidate solutions. Some may be wrong. Combine "
    "their useful ideas into one better solution; where they disagree, decide which is right; "
    "if all are wrong, try a different approach."
)


def recombine_prompt(problem: str, solutions: Sequence[str]) -> str:
    """One aggregation prompt (after the authors' ``aggregate_prompt``), ending with the
    problem again, so a few-shot prompt around it still reads as a question to answer.

    Example:
        >>> print(recombine_prompt("What is 2 + 3?", ["2 + 3 = 6. The answer is 6."]))
        ... # doctest: +NORMALIZE_WHITESPACE
        You are given a problem and a candidate solution. The candidate may be incomplete or
        wrong. Refine it into a better solution; if it is entirely wrong, try a new approach.
        Candidate solution: 2 + 3 = 6. The answer is 6.
        Problem: What is 2 + 3?
    """
    head = ONE_CANDIDATE if len(solutions) == 1 else SEVERAL_CANDIDATES
    if len(solutions) == 1:
        listed = f"Candidate solution: {solutions[0].strip()}"
    else:
        listed = "\n".join(f"Solution {i + 1}: {s.strip()}" for i, s in enumerate(solutions))
    return f"{head}\n{listed}\nProblem: {problem.strip()}"


class RSAVote(Aggregator):
    """Majority over the last population (the candidates of the highest ``step``); if none of
    them has an answer, over the latest population that has one.

    Example:
        >>> RSAVote().vote(Ballots(("4", "4", "5", "5"), columns=(("step", (0, 0, 1, 1)),))).answer
        '5'
    """

    name = "rsa"
    extra_stages = ("recombine",)
    columns = ("step",)
    not_replayable = (
        "RSA asks the model to write new solutions from groups of earlier ones ('aggregate' "
        "calls), which a pool of independent samples does not hold: run it live"
    )

    def vote(self, ballots: Ballots) -> Aggregate:
        steps = [s or 0 for s in ballots.column("step")]
        for step in sorted(set(steps), reverse=True):
            answers = [
                a if s == step else None for a, s in zip(ballots.answers, steps, strict=True)
            ]
            if any(a is not None for a in answers):
                picked = majority_vote(answers)
                return Aggregate(
                    picked.answer, picked.index, picked.tally, picked.confidence, self.name
                )
        return Aggregate(None, None, {}, 0.0, self.name)

    def run_calls(self, width: int, options: Mapping | None = None) -> int:
        return width * int((options or {}).get("steps", STEPS))


register_aggregator(RSAVote())


def _generation(candidates: Sequence[Mapping]) -> int:
    return max((c.get("step", 0) for c in candidates), default=0)


def more_steps(state: Mapping[str, Any]) -> bool:
    """Whether RSA has steps left: the last population is younger than the plan's ``steps``."""
    plan = Plan.from_state(state["ttc_plan"])
    return _generation(state.get("ttc_candidates") or []) < int(plan.option("steps", STEPS))


class RecombineNode(TTCNode):
    """One RSA step: N aggregation calls, each over K members drawn from the last population;
    their outputs are the next population (``step`` one higher). A step that draws nothing
    (an empty population, or a spent budget) ends the loop by lowering the plan's ``steps``."""

    default_name = "recombine"

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        ctx = self.ctx
        plan = Plan.from_state(state["ttc_plan"])
        candidates = sorted(state.get("ttc_candidates") or [], key=lambda c: c.get("index", 0))
        step = _generation(candidates)
        if step >= int(plan.option("steps", STEPS)):
            return {}
        population = [
            c for c in candidates if c.get("step", 0) == step and c.get("ok") and c.get("text")
        ]
        k = int(plan.option("k", K))
        rng = random.Random(seed_of(state["ttc_seed"], RSA_SEED_OFFSET + step))
        params = ctx.params_for(plan)
        calls = []
        for i in range(plan.width if population else 0):
            members = rng.sample(population, min(k, len(population)))
            prompt = recombine_prompt(state["ttc_question"], [m["text"] for m in members])
            seed = seed_of(state["ttc_seed"], RSA_SEED_OFFSET + (step + 1) * plan.width + i)
            calls.append(
                Sample(
                    ctx.backend, ctx.messages_for(prompt), 1, "aggregate", params.with_seed(seed)
                )
            )
        draws = (yield calls) if calls else []
        index = len(candidates)
        new = []
        for chain, draw in enumerate(draws):
            for completion in draw.completions:
                new.append(
                    candidate_from(
                        ctx,
                        completion,
                        run_id=state["ttc_run_id"],
                        index=index + len(new),
                        chain=chain,
                        step=step + 1,
                        purpose="aggregate",
                    )
                )
        update: dict[str, Any] = {"ttc_candidates": new}
        if not new:  # nothing drawn: this population is the last
            options = {**plan.options, "steps": step}
            closed = replace(plan, options=options, reason=f"{plan.reason}: stopped at step {step}")
            update["ttc_plan"] = closed.to_state()
        emit("recombine", step=step + 1, population=len(new))
        return update


@dataclass(frozen=True)
class RSA(Strategy):
    """Recursive self-aggregation (see the module docstring).

    Attributes:
        population: N, solutions per population (authors: 16).
        k: K, population members shown in one aggregation prompt (authors: 4).
        steps: T, aggregation steps after the first population (authors: 9, ``--loops 10``).
        n: the call budget; ``None``: N x (T + 1). A smaller one keeps N and drops steps,
            then shrinks N once no step is left.

    Example:
        >>> plan = RSA().plan()
        >>> plan.width, plan.options, plan.worst_case_calls()
        (16, {'k': 4, 'steps': 9}, 160)
        >>> RSA(n=40).plan().options["steps"], RSA(n=8).plan().width
        (1, 8)
    """

    name: ClassVar[str] = "rsa"
    aggregator: ClassVar[str] = "rsa"

    n: int | None = None
    temperature: float = TEMPERATURE
    population: int = POPULATION
    k: int = K
    steps: int = STEPS

    def __post_init__(self) -> None:
        super().__post_init__()
        for field_name, least in (("population", 1), ("k", 1), ("steps", 0)):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise TTCConfigError(
                    f"rsa: {field_name} must be an integer >= {least}; got {value!r}."
                )

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        cap = self.calls(calls_left)
        width, steps = self.population, self.steps
        if cap is not None and cap < width * (steps + 1):
            width = min(width, cap)
            steps = 0 if width == 0 else min(steps, cap // width - 1)
        return Plan(
            width=width,
            aggregator=self.aggregator,
            options={"k": self.k, "steps": steps},
            reason=self.describe(),
        )

    def describe(self) -> str:
        return f"rsa N={self.population} K={self.k} T={self.steps}"


register_stage(Stage("recombine", RecombineNode, again=more_steps))
register_strategy(RSA)

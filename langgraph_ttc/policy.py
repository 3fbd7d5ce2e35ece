"""Routing policies: for a difficulty bin and a call budget, the plan to run.

A :class:`Policy` holds the bin edges on an easiness statistic (probe agreement or mean
verifier score) and a plan per (bin, budget). The default policy is a hand-set prior:
stop when probes agree, spend the budget on contested questions, and spend little where no
probe produced an answer (those look hopeless, and Chen et al. 2024 show more calls can hurt).
Calibrated policies are fitted from sample pools (``langgraph-ttc calibrate``,
:mod:`langgraph_ttc.scaling.calibrate`) and saved as JSON with a record of the model, tasks and
problems they were fitted on.

A policy's budgets are calls per question (``unit="calls"``), or, for a reasoning model whose
plans also choose how long each sample may think, tokens per question (``unit="tokens"``:
generated tokens, thinking included; fitted from pools drawn at several thinking budgets,
:mod:`langgraph_ttc.scaling.thinking_axis`): longer thinking costs no extra call, so only a
token budget can trade width against thinking length.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from langgraph_ttc.aggregators import get_aggregator
from langgraph_ttc.difficulty import DEFAULT_AGREEMENT_EDGES, bin_of
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.stopping import AgreementAtLeast, StopRule, stop_rule_from_dict

logger = logging.getLogger(__name__)

# Easiness statistics a router can see at run time: probe agreement, mean verifier score, and
# the probes' mean token confidence (no extra call).
STATISTICS = ("agreement", "verifier", "confidence")
# What a policy's budgets count: calls per question, or generated tokens per question.
UNITS = ("calls", "tokens")


@dataclass(frozen=True)
class PlanSpec:
    """What to do in one (bin, budget) cell. ``width`` is the total number of first attempts
    (probes included); when ``None``, ``fraction`` of the remaining calls is spent.

    ``stop_rule`` makes a plan sequential: first attempts are drawn ``step`` at a time, and
    drawing stops once the rule fires on the samples so far (e.g. :class:`AgreementAtLeast`,
    adaptive consistency); ``width`` is then the most it may draw.

    ``thinking_budget`` caps the thinking of every sample drawn after the probes (``None``: the
    strategy's own, which the probes use too).

    Example:
        >>> PlanSpec(fraction=0.5).resolve(probes=4, calls_left=12).width
        10
        >>> PlanSpec(width=3, thinking_budget=1024).resolve(probes=2, calls_left=None).reason
        'majority width=3 depth=1 thinking<=1024'
    """

    width: int | None = None
    fraction: float = 1.0
    depth: int = 1
    aggregator: str = "majority"
    stop: bool = False
    stop_rule: StopRule | None = None
    step: int = 1
    thinking_budget: int | None = None

    def __post_init__(self) -> None:
        if self.thinking_budget is not None and self.thinking_budget < 0:
            raise TTCConfigError(
                f"PlanSpec thinking_budget must be >= 0 or None; got {self.thinking_budget}."
            )
        get_aggregator(self.aggregator)  # an unknown name raises, listing the known ones
        if not 0.0 <= self.fraction <= 1.0 or self.depth < 1 or self.step < 1:
            raise TTCConfigError("PlanSpec needs 0 <= fraction <= 1, depth >= 1 and step >= 1.")
        if self.stop_rule is not None and self.depth != 1:
            raise TTCConfigError("A stop rule applies to plans of depth 1 (first attempts).")

    @property
    def stop_at(self) -> float | None:
        """The agreement share of a sequential-majority rule (``None`` for other plans)."""
        return self.stop_rule.share if isinstance(self.stop_rule, AgreementAtLeast) else None

    def attempt_calls(self, verify_calls: int = 0) -> int:
        """Most calls one attempt costs (see :meth:`Aggregator.attempt_calls
        <langgraph_ttc.aggregators.Aggregator.attempt_calls>`).

        Example:
            >>> PlanSpec(aggregator="filter_vote").attempt_calls(), PlanSpec().attempt_calls(1)
            (2, 1)
        """
        return get_aggregator(self.aggregator).attempt_calls(verify_calls)

    def resolve(self, probes: int, calls_left: int | None, verify_calls: int = 0) -> Plan:
        """A concrete plan after ``probes`` first attempts, with ``calls_left`` calls remaining.

        The plan's worst case fits ``calls_left``: each extra chain costs ``depth`` attempts
        (each critiqued under filter-vote, each scored under best-of-N at ``verify_calls``
        model calls), and the probes' own critiques, scores and revisions come first.

        Example:
            >>> PlanSpec(width=8, aggregator="filter_vote").resolve(probes=4, calls_left=12).width
            8
            >>> PlanSpec(width=16, aggregator="filter_vote").resolve(4, 12).width
            8
        """
        if self.stop:  # the probes decide, by the plan's vote (majority unless it says)
            voted = "" if self.aggregator == "majority" else f" by {self.aggregator}"
            return Plan(
                width=probes,
                stop=True,
                aggregator=self.aggregator,
                reason=f"stop: probes decide{voted}",
            )
        per_chain = self.depth * self.attempt_calls(verify_calls)
        if self.width is not None:
            extra = max(self.width - probes, 0)
        elif calls_left is None:
            extra = 0
        else:
            extra = math.floor(self.fraction * calls_left) // per_chain
        if calls_left is not None:
            # What the probes still cost (their critiques, scores and revisions) comes first.
            probe_calls = probes * (per_chain - 1)
            extra = min(extra, max(calls_left - probe_calls, 0) // per_chain)
        width = probes + extra
        if calls_left is not None:
            # A method that calls the model to aggregate (GenSelect) pays per run too.
            run_calls = get_aggregator(self.aggregator).run_calls
            while width > probes and (
                probe_calls + (width - probes) * per_chain + run_calls(width) > calls_left
            ):
                width -= 1
        thinks = "" if self.thinking_budget is None else f" thinking<={self.thinking_budget}"
        if self.stop_rule is not None:
            # Start from the probes; the generate node draws `step` more until the rule fires.
            return Plan(
                width=probes,
                max_width=width,
                stop_rule=self.stop_rule,
                step=self.step,
                aggregator=self.aggregator,
                thinking_budget=self.thinking_budget,
                reason=f"{self.aggregator} up to {width}, stop at {self.stop_rule.describe()}"
                + thinks,
            )
        return Plan(
            width=width,
            depth=self.depth,
            aggregator=self.aggregator,
            thinking_budget=self.thinking_budget,
            reason=f"{self.aggregator} width={width} depth={self.depth}{thinks}",
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stop_rule"] = None if self.stop_rule is None else self.stop_rule.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> PlanSpec:
        data = dict(data)
        stop_at = data.pop("stop_at", None)  # policies written before stop rules
        rule = stop_rule_from_dict(data.pop("stop_rule", None))
        if rule is None and stop_at is not None:
            rule = AgreementAtLeast(stop_at)
        return cls(**data, stop_rule=rule)


@dataclass(frozen=True)
class Policy:
    """Bin edges and a plan per bin (and per budget: the largest budget key <= the run's budget).

    ``unit`` says what the budget keys count: ``"calls"`` per question (the strategy's ``n``),
    or ``"tokens"`` per question (``Adaptive(token_budget=...)``), for a policy whose plans
    also choose a thinking budget.

    ``edges`` default to the agreement prior's (they fit the verifier's 0-1 scores too); a
    ``statistic="confidence"`` policy must be given its edges (``calibrate`` fits them), since
    a confidence measure's scale has no default.

    Example:
        >>> Policy.default().choose(value=1.0, probes=4, budget=16, calls_left=12).stop
        True
    """

    edges: tuple[float, ...] | None = None
    plans: dict[int, dict[int, PlanSpec]] = field(default_factory=dict)
    statistic: str = "agreement"
    meta: dict = field(default_factory=dict)
    unit: str = "calls"

    @property
    def needs_confidence(self) -> bool:
        """Whether the router reads its probes' confidence, or some plan votes by it or stops
        by it (a posterior stop that takes confidence as evidence)."""
        plans = [s for by_budget in self.plans.values() for s in by_budget.values()]
        return self.statistic == "confidence" or any(
            "confidences" in get_aggregator(s.aggregator).needs
            or getattr(s.stop_rule, "slope", 0.0) != 0.0
            for s in plans
        )

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise TTCConfigError(
                f"Policy statistic must be one of {STATISTICS}; got {self.statistic!r}."
            )
        if self.unit not in UNITS:
            raise TTCConfigError(f"Policy unit must be one of {UNITS}; got {self.unit!r}.")
        if self.edges is None:
            if self.statistic == "confidence":
                # Agreement's edges on a confidence (DeepConf's measures run to ~20, mean
                # log-probabilities are negative) would put every question in one bin.
                raise TTCConfigError(
                    "A confidence policy needs bin edges on its confidence measure's scale, "
                    "which has no default: fit them with `langgraph-ttc calibrate --statistic "
                    "confidence`, or pass Policy(edges=(...), statistic='confidence')."
                )
            # agreement and mean verifier score both run from 0 to 1
            object.__setattr__(self, "edges", DEFAULT_AGREEMENT_EDGES)

    @classmethod
    def default(cls) -> Policy:
        return cls(
            plans={
                1: {0: PlanSpec(stop=True)},
                2: {0: PlanSpec(fraction=0.5)},
                3: {0: PlanSpec(fraction=1.0)},
                4: {0: PlanSpec(fraction=1.0)},
                5: {0: PlanSpec(fraction=0.25)},
            },
            meta={"source": "default prior (not calibrated)"},
        )

    def bin(self, statistic: float) -> int:
        return bin_of(statistic, self.edges)

    def spec(self, difficulty_bin: int, budget: int | None) -> PlanSpec:
        by_budget = self.plans.get(difficulty_bin) or {0: PlanSpec()}
        keys = sorted(by_budget)
        fitting = [k for k in keys if budget is None or k <= budget]
        return by_budget[fitting[-1] if fitting else keys[0]]

    def vote_below_probes(self, budget: int | None) -> str:
        """The vote of a run whose budget cannot pay for the probes: the aggregator of the
        stop plan fitted at that budget, when it needs nothing beyond the samples' confidence
        (no extra call); majority otherwise.

        Example:
            >>> Policy(plans={1: {2: PlanSpec(stop=True, aggregator="confidence_weighted")}}
            ...        ).vote_below_probes(2)
            'confidence_weighted'
        """
        spec = self.spec(1, budget)
        if spec.stop and get_aggregator(spec.aggregator).needs <= {"confidences"}:
            return spec.aggregator
        return "majority"

    def choose(
        self,
        value: float,
        probes: int,
        budget: int | None,
        calls_left: int | None,
        verify_calls: int = 0,
    ) -> Plan:
        difficulty_bin = self.bin(value)
        plan = self.spec(difficulty_bin, budget).resolve(probes, calls_left, verify_calls)
        return replace(plan, reason=f"bin {difficulty_bin}: {plan.reason}")

    def question_prior(self, question: str) -> tuple[float, ...] | None:
        """The prior over ``question``'s single-sample accuracy from the zero-probe difficulty
        predictor a calibrated policy carries (``meta["difficulty_prior"]``, see
        :class:`~langgraph_ttc.scaling.prior.DifficultyPrior`); ``None`` without one.

        Example:
            >>> Policy().question_prior("What is 2 + 2?") is None
            True
        """
        data = self.meta.get("difficulty_prior")
        if not data:
            return None
        from langgraph_ttc.scaling.prior import DifficultyPrior  # numpy maths, loaded on use

        key = id(data)
        if _PREDICTORS.get(key, (None,))[0] is not data:
            _PREDICTORS[key] = (data, DifficultyPrior.from_dict(data))
        return _PREDICTORS[key][1].prior_for(question)

    # -- persistence ------------------------------------------------------------------------
    def to_json(self) -> str:
        data = {
            "edges": list(self.edges),
            "statistic": self.statistic,
            "unit": self.unit,
            "meta": self.meta,
            "plans": {
                str(b): {str(k): s.to_dict() for k, s in v.items()} for b, v in self.plans.items()
            },
        }
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        try:
            data = json.loads(text)
            plans = {
                int(b): {int(k): PlanSpec.from_dict(s) for k, s in v.items()}
                for b, v in data["plans"].items()
            }
            return cls(
                tuple(data["edges"]),
                plans,
                data.get("statistic", "agreement"),
                data.get("meta", {}),
                data.get("unit", "calls"),  # policies written before token budgets
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TTCConfigError(
                f"Not a valid policy JSON: {exc}. Create one with `langgraph-ttc calibrate`."
            ) from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        path = Path(path)
        if not path.exists():
            raise TTCConfigError(f"Policy file {path} does not exist.")
        return cls.from_json(path.read_text())


def resolve_policy(policy: Policy | str | Path | None, model_id: str | None = None) -> Policy:
    """A policy object from a Policy, a JSON path or None (the default); warns when the
    policy was fitted on another model."""
    if policy is None:
        return Policy.default()
    if not isinstance(policy, Policy):
        policy = Policy.load(policy)
    fitted_on = policy.meta.get("model")
    if model_id and fitted_on and fitted_on != model_id:
        logger.warning("policy was fitted on model %r but is used with %r", fitted_on, model_id)
    return policy


_PREDICTORS: dict[int, tuple] = {}  # a policy's stored predictor, rebuilt once per meta dict

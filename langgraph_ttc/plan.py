"""The plan of one run: how many calls to spend and how, as one frozen value.

A :class:`Plan` is made in one place per strategy (:meth:`Strategy.plan
<langgraph_ttc.strategies.Strategy.plan>`) or by the router's policy (:meth:`PlanSpec.resolve
<langgraph_ttc.policy.PlanSpec.resolve>`); the nodes read it and the edge conditions route on
it. Which stages run follows from the aggregator (:attr:`Plan.stages`): a critique of every
attempt when it needs verdicts (filter-vote), a verifier score when it needs scores (best-of-N),
then the stages of a method that aggregates with the model (GenSelect's ``select``, RSA's
``recombine``), revision rounds when ``depth > 1``. A method's own knobs travel in
``options`` (plain values). It travels in graph state as a plain dict (:meth:`Plan.to_state`).

Example:
    >>> plan = Plan(width=4, aggregator="filter_vote")
    >>> plan.critique, plan.verify, plan.stages, plan.worst_case_calls()
    (True, False, ('critique',), 8)
    >>> Plan.from_state(plan.to_state()) == plan
    True
    >>> Plan(width=2, thinking_budget=1024).describe()
    'majority over 2, thinking <= 1024 tokens'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from langgraph_ttc.aggregators import get_aggregator
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.stopping import StopRule, stop_rule_from_dict

__all__ = ["Plan"]


@dataclass(frozen=True)
class Plan:
    """``width`` parallel chains of ``depth`` attempts, chosen among by ``aggregator``.

    Attributes:
        width: first attempts to draw (for a sequential plan: to draw so far).
        depth: attempts per chain; beyond the first they are revisions.
        aggregator: a registered aggregator's name (see :mod:`langgraph_ttc.aggregators`).
        stop: the router answers from what it has drawn (its probes); nothing more is drawn.
        stop_rule: a sequential plan draws ``step`` more first attempts per round until this
            rule fires on them or ``max_width`` are drawn; ``None`` once closed (or never open).
        max_width: the most first attempts a sequential plan may draw.
        step: first attempts drawn per round of a sequential plan.
        method: the method whose hooks run while the first attempts are drawn (a registered
            :class:`~langgraph_ttc.nodes.hooks.GenerationHook`: ``deepconf_online`` stops traces
            below a confidence threshold, ``adaptive_consistency`` cancels the draw once its Beta
            criterion fires); ``""``: none.
        thinking_budget: most tokens a reasoning model may think per sample drawn under this
            plan (``None``: the strategy's own): the router trades width against thinking
            length (Snell et al. 2024's parallel vs sequential compute, in its reasoning-model
            form; s1, Muennighoff et al. 2025, scales by thinking length).
        options: the method's own knobs, plain JSON values (GenSelect's group size, RSA's
            steps and K), read by its stages and its cost (:meth:`Aggregator.run_calls
            <langgraph_ttc.aggregators.Aggregator.run_calls>`).
        reason: why this plan (shown in results).
    """

    width: int
    depth: int = 1
    aggregator: str = "majority"
    stop: bool = False
    stop_rule: StopRule | None = None
    max_width: int | None = None
    step: int = 1
    method: str = ""
    thinking_budget: int | None = None
    reason: str = ""
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        get_aggregator(self.aggregator)  # fail early on an unknown name
        if self.width < 0 or self.depth < 1 or self.step < 1:
            raise TTCConfigError(
                f"A plan needs width >= 0, depth >= 1 and step >= 1; got {self.width}, "
                f"{self.depth}, {self.step}."
            )
        if self.thinking_budget is not None and self.thinking_budget < 0:
            raise TTCConfigError(
                f"A plan's thinking_budget must be >= 0 tokens or None; got {self.thinking_budget}."
            )

    @property
    def critique(self) -> bool:
        """Whether every attempt is critiqued (the aggregator needs verdicts)."""
        return "verdicts" in get_aggregator(self.aggregator).needs

    @property
    def verify(self) -> bool:
        """Whether every attempt is scored by the verifier (the aggregator needs scores)."""
        return "scores" in get_aggregator(self.aggregator).needs

    @property
    def stages(self) -> tuple[str, ...]:
        """The stages between the first attempts and the vote, in order (from the aggregator)."""
        return get_aggregator(self.aggregator).stages

    def option(self, name: str, default: Any = None) -> Any:
        """One of the method's options (``default`` when the plan does not set it)."""
        return self.options.get(name, default)

    @property
    def is_open(self) -> bool:
        """Whether a sequential plan still draws more rounds."""
        return self.stop_rule is not None

    def worst_case_calls(self, verify_calls: int = 0) -> int:
        """The most calls the plan can make (every attempt answered, judged and scored).

        Example:
            >>> Plan(width=4, max_width=8, stop_rule=None).worst_case_calls()
            4
            >>> Plan(width=2, depth=3, aggregator="best_of_n").worst_case_calls(verify_calls=1)
            12
        """
        width = self.width if self.max_width is None or not self.is_open else self.max_width
        aggregator = get_aggregator(self.aggregator)
        return width * self.depth * aggregator.attempt_calls(verify_calls) + aggregator.run_calls(
            width, self.options
        )

    def describe(self) -> str:
        """One line: what runs.

        Example:
            >>> Plan(width=2, depth=4).describe()
            'majority over 2 chains x 4 attempts'
        """
        if self.stop:
            return "stop: answer from the probes"
        shape = (
            f"{self.width} chains x {self.depth} attempts" if self.depth > 1 else f"{self.width}"
        )
        text = f"{self.aggregator} over {shape}"
        if self.options:
            text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(self.options.items())) + ")"
        if self.is_open:
            text += f", up to {self.max_width} until {self.stop_rule.describe()}"
        if self.method:
            text += f", {self.method}"
        if self.thinking_budget is not None:
            text += f", thinking <= {self.thinking_budget} tokens"
        return text

    def widened(self, width: int) -> Plan:
        return replace(self, width=width)

    def closed(self, note: str) -> Plan:
        """The plan with its sequential drawing ended (``note`` says why)."""
        return replace(self, stop_rule=None, reason=f"{self.reason}: {note}")

    # -- graph state --------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A plain dict for graph state and results (with the derived stages, for reading)."""
        return {
            "width": self.width,
            "depth": self.depth,
            "aggregator": self.aggregator,
            "stop": self.stop,
            "stop_rule": None if self.stop_rule is None else self.stop_rule.to_dict(),
            "max_width": self.max_width,
            "step": self.step,
            "method": self.method,
            "thinking_budget": self.thinking_budget,
            "reason": self.reason,
            "options": dict(self.options),
            "critique": self.critique,
            "verify": self.verify,
            "stages": list(self.stages),
        }

    @classmethod
    def from_state(cls, data: dict[str, Any] | None) -> Plan:
        if not data:
            raise TTCConfigError("The run has no plan yet: the prepare node makes it first.")
        return cls(
            width=data["width"],
            depth=data.get("depth", 1),
            aggregator=data.get("aggregator", "majority"),
            stop=bool(data.get("stop", False)),
            stop_rule=stop_rule_from_dict(data.get("stop_rule")),
            max_width=data.get("max_width"),
            step=data.get("step", 1),
            method=data.get("method") or "",
            thinking_budget=data.get("thinking_budget"),
            reason=data.get("reason", ""),
            options=dict(data.get("options") or {}),
        )

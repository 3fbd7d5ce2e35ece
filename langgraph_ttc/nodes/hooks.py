"""A method's hooks into drawing the first attempts, found by the name the plan gives
(``Plan.method``), so the generate and aggregate nodes hold no method's code.

A hook can watch the draw (a per-trace ``stop_trace``, a draw-wide ``until`` that cancels the
requests still running: the backend's cancellation, or one request at a time where it has none),
update the plan after each round (DeepConf online's threshold once the warm-up is in), say which
first attempts a stop rule counts (``votes``) and which vote at the end (``voters``). Built-in
hooks: :mod:`langgraph_ttc.methods.deepconf_online`, :mod:`langgraph_ttc.methods.
adaptive_consistency`.

Example:
    >>> from langgraph_ttc.plan import Plan
    >>> generation_hook(Plan(width=2)).name
    ''
    >>> generation_hook(Plan(width=2, method="adaptive_consistency")).name
    'adaptive_consistency'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.plugins import load_methods
from langgraph_ttc.stopping import Votes

__all__ = ["GENERATION_HOOKS", "GenerationHook", "generation_hook", "register_generation_hook"]


class GenerationHook:
    """The hooks of a plan without a method: no watch, the plan unchanged, every first
    attempt counts and votes."""

    name = ""

    def check_backend(self, backend) -> str | None:
        """A warning when ``backend`` lacks what the hook uses (the run goes on without it)."""
        return None

    def watch(self, ctx, plan: Plan, earlier: Sequence[Mapping]) -> dict[str, Any]:
        """``stop_trace`` and/or ``until`` for the draw (see :class:`~langgraph_ttc.calls.Sample`)."""
        return {}

    def after_draw(self, plan: Plan, drawn: Sequence[Mapping]) -> Plan:
        """The plan after a round of first attempts (``drawn``: all of them so far)."""
        return plan

    def votes(self, plan: Plan, drawn: Sequence[Mapping]) -> Votes:
        """What a stop rule sees of the first attempts: their answers and confidences.

        Example:
            >>> GenerationHook().votes(Plan(width=2), [{"answer": "4"}, {"answer": "5"}]).answers
            ('4', '5')
        """
        answers = tuple(c.get("answer") for c in drawn)
        confidences = tuple(c.get("confidence") for c in drawn)
        return Votes(answers, None if any(x is None for x in confidences) else confidences)

    def voters(self, plan: Mapping[str, Any], candidates: list[dict]) -> list[dict]:
        """The candidates as they vote at the end (``plan`` as state)."""
        return candidates


GENERATION_HOOKS: dict[str, GenerationHook] = {"": GenerationHook()}


def register_generation_hook(hook: GenerationHook) -> GenerationHook:
    """Add ``hook`` under its ``name`` (a plan names it in ``Plan.method``)."""
    if not hook.name:
        raise TTCConfigError(f"{type(hook).__name__} needs a name to be registered.")
    GENERATION_HOOKS[hook.name] = hook
    return hook


def generation_hook(plan: Plan | Mapping[str, Any]) -> GenerationHook:
    """The hooks of ``plan``'s method (a :class:`Plan` or its state dict)."""
    name = plan.get("method", "") if isinstance(plan, Mapping) else plan.method
    name = name or ""
    if name not in GENERATION_HOOKS:
        load_methods()
    return GENERATION_HOOKS.get(name, GENERATION_HOOKS[""])

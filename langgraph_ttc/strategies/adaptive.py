"""The router: probe a few samples, estimate difficulty, let a policy choose the plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.strategies.base import Strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["Adaptive"]


@dataclass(frozen=True)
class Adaptive(Strategy):
    """Router + policy: a few probe samples estimate difficulty; the policy picks the plan.

    ``n`` is the call budget per question (probes included); with ``n`` below ``probes`` the
    router spends the whole budget on probes and answers by their majority. ``policy`` is a
    :class:`~langgraph_ttc.policy.Policy`, a path to a policy JSON file (``langgraph-ttc
    calibrate``), or ``None`` for the default policy. Probes are kept as candidates, never wasted.

    A policy fitted on a reasoning model's thinking axis (``unit="tokens"``) reads its plan at
    ``token_budget``, the generated tokens per question (thinking included, probes too); its
    plans set the thinking budget of the samples after the probes, which think within this
    strategy's ``thinking_budget``. ``n`` still caps the calls.

    Example:
        >>> Adaptive(n=2, probes=4).plan().width
        2
    """

    name: ClassVar[str] = "adaptive"

    n: int = 16
    probes: int = 4
    policy: object = field(default=None, compare=False)
    token_budget: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.probes < 1:
            raise TTCConfigError(f"adaptive: probes must be >= 1; got {self.probes}.")
        if self.token_budget is not None and self.token_budget < 1:
            raise TTCConfigError(
                f"adaptive: token_budget must be >= 1 tokens or None; got {self.token_budget}."
            )

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        """The probe step; the route node makes the real plan once the probes are in."""
        probes = min(self.probes, self.calls(calls_left))
        return Plan(width=probes, reason="probe")

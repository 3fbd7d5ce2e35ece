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

    Example:
        >>> Adaptive(n=2, probes=4).plan().width
        2
    """

    name: ClassVar[str] = "adaptive"

    n: int = 16
    probes: int = 4
    policy: object = field(default=None, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.probes < 1:
            raise TTCConfigError(f"adaptive: probes must be >= 1; got {self.probes}.")

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        """The probe step; the route node makes the real plan once the probes are in."""
        probes = min(self.probes, self.calls(calls_left))
        return Plan(width=probes, reason="probe")

"""Prometheus metrics of one app (its own registry, so several apps in a process never mix):
requests, samples and tokens by purpose, latency histograms, budget stops, upstream errors,
clients that left, and the requests running and waiting.

Example:
    >>> metrics = Metrics()
    >>> metrics.request("chat", "majority", 200, 0.01)
    >>> b"ttc_requests_total" in metrics.render()[0]
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph_ttc.budget import Usage
from langgraph_ttc.extras import require

__all__ = ["Metrics"]

# Seconds: a pass-through call takes tens of milliseconds, a method run up to minutes.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """The app's counters, histograms and gauges (``prometheus_client``)."""

    def __init__(self) -> None:
        prom = require("prometheus_client", "serve", "langgraph-ttc serve's /metrics")
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.requests = prom.Counter(
            "ttc_requests", "Requests answered", ["endpoint", "method", "status"], registry=r
        )
        self.latency = prom.Histogram(
            "ttc_request_seconds",
            "Seconds from request to the end of the reply",
            ["endpoint", "method"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.first_token = prom.Histogram(
            "ttc_time_to_answer_seconds",
            "Seconds from request to the first answer token of a stream",
            ["method"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.calls = prom.Counter(
            "ttc_calls", "Model calls (samples) made, by purpose", ["purpose"], registry=r
        )
        self.tokens = prom.Counter(
            "ttc_tokens",
            "Tokens spent, by purpose and kind (prompt, completion, reasoning)",
            ["purpose", "kind"],
            registry=r,
        )
        self.budget_stops = prom.Counter(
            "ttc_budget_stops", "Runs the budget stopped before their plan was drawn", registry=r
        )
        self.upstream_errors = prom.Counter(
            "ttc_upstream_errors", "Failed upstream calls (after retries)", ["kind"], registry=r
        )
        self.disconnects = prom.Counter(
            "ttc_client_disconnects", "Requests whose client left before the reply", registry=r
        )
        self.running = prom.Gauge("ttc_requests_running", "Requests running", registry=r)
        self.waiting = prom.Gauge("ttc_requests_waiting", "Requests waiting for a slot", registry=r)

    def request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint, method).observe(seconds)

    def run(self, result: Mapping[str, Any]) -> None:
        """Count one finished run: its calls and tokens by purpose, failures, budget stop."""
        usage = Usage.from_dict(result.get("usage"))
        for purpose, c in usage.by_purpose.items():
            self.calls.labels(purpose).inc(c.calls)
            self.tokens.labels(purpose, "prompt").inc(c.prompt_tokens)
            self.tokens.labels(purpose, "completion").inc(c.completion_tokens)
            self.tokens.labels(purpose, "reasoning").inc(c.thinking_tokens)
            if c.failed:
                self.upstream_errors.labels("sample").inc(c.failed)
        plan = result.get("plan") or {}
        planned = plan.get("max_width") or plan.get("width") or 0
        drawn = sum(1 for c in result.get("candidates") or () if c.get("step", 0) == 0)
        if drawn < planned and not plan.get("stop_rule"):
            self.budget_stops.inc()

    def passthrough(self, usage: Mapping[str, Any] | None) -> None:
        """Count a pass-through call (its usage, when the upstream reported it)."""
        self.calls.labels("passthrough").inc()
        if usage:
            self.tokens.labels("passthrough", "prompt").inc(usage.get("prompt_tokens") or 0)
            self.tokens.labels("passthrough", "completion").inc(usage.get("completion_tokens") or 0)
            details = usage.get("completion_tokens_details") or {}
            self.tokens.labels("passthrough", "reasoning").inc(details.get("reasoning_tokens") or 0)

    def render(self) -> tuple[bytes, str]:
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST

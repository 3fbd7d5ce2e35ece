"""A list prompt answered as one batch: one total budget, the next samples where they pay most.

A ``/v1/completions`` request whose ``prompt`` is a list and which carries a batch budget
(``ttc.batch_budget`` or ``X-TTC-Batch-Budget``: mean samples per prompt; ``ttc.batch_cap`` or
``X-TTC-Batch-Cap``: the most one prompt may get) is run by the batch allocator
(:class:`~langgraph_ttc.batch.BatchAllocator`, built by
:func:`~langgraph_ttc.batch.allocation_for` as ``langgraph-ttc run --batch-budget`` builds it):
every prompt gets its first samples, then round by round the prompts whose votes promise the
largest expected gain get more, until ``floor(batch_budget x prompts)`` samples are spent or
no prompt promises more (bandit-style allocation over a batch, arXiv 2506.12721). The reply
has one choice per prompt, in order (the chosen completion), ``usage`` summing every call, and
a ``ttc`` object with each prompt's samples and the batch's total.

The per-prompt cap is ``batch_cap``, else the method's ``n`` (``majority@16`` caps a prompt at
16), else 32, and never above ``budget.calls`` (a per-question budget) or the server's
``max_calls``. ``adaptive`` uses the server's (or the request's) policy: its fitted prior,
confidence evidence and zero-probe difficulty predictor; ``majority`` the plain prior;
``batch_pooled`` (opt-in) reads the gains under a prior fitted to the batch's own probes
(:mod:`langgraph_ttc.pooling`). The
batch's calls are capped by the request's call cap, so it counts against the server's limits
as any request does, and it holds one admission slot while it runs.

Example:
    >>> from langgraph_ttc.serve.methods import resolve_method
    >>> from langgraph_ttc.serve.requests import parse_completion
    >>> req = parse_completion({"model": "majority/m", "prompt": ["1+1?", "2+2?"]})
    >>> method = resolve_method(req.model, {"x-ttc-batch-budget": "4"}, None)
    >>> allocation, _ = batch_allocation(req, method, Limits())
    >>> allocation.total(len(req.inputs)), allocation.cap
    (8, 32)
"""

from __future__ import annotations

import functools
import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from langchain_core.callbacks import AsyncCallbackManager

from langgraph_ttc.allocation import BatchAllocation
from langgraph_ttc.batch import allocation_for, allocation_steps
from langgraph_ttc.budget import Budget, Meter, Usage
from langgraph_ttc.calls import arun
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.errors import BudgetExhausted, TTCConfigError, TTCError
from langgraph_ttc.nodes.context import TTCContext
from langgraph_ttc.policy import Policy, resolve_policy
from langgraph_ttc.serve.engine import Engine, check_size, upstream_error
from langgraph_ttc.serve.errors import APIError, bad_request
from langgraph_ttc.serve.limits import Limits
from langgraph_ttc.serve.methods import Method
from langgraph_ttc.serve.replies import Choice, _by_purpose
from langgraph_ttc.serve.requests import TTCRequest
from langgraph_ttc.strategies import get_strategy

__all__ = [
    "BATCHABLE",
    "DEFAULT_CAP",
    "batch_allocation",
    "batch_choices",
    "batch_summary",
    "run_batch",
]

BATCHABLE = ("majority", "adaptive")  # methods that vote over single samples, as the batch does
DEFAULT_CAP = BatchAllocation.cap  # a prompt's cap when the request names none


def batch_allocation(
    request: TTCRequest, method: Method, limits: Limits, policy: Any = None
) -> tuple[BatchAllocation, Any]:
    """The batch's allocation and zero-probe prior, or a 400 saying what to change.

    ``policy`` is the server's (for ``adaptive``; a request's inline ``ttc.policy`` wins).
    """
    param = "ttc.batch_budget"
    if request.chat:
        raise bad_request(
            "A batch budget answers the prompts of one request together: send them as a list "
            "'prompt' to /v1/completions (a chat request is one question).",
            param=param,
        )
    if method.passthrough:
        raise bad_request(
            "A batch budget needs a method (majority or adaptive), not a plain upstream call.",
            param=param,
        )
    if method.strategy not in BATCHABLE:
        raise bad_request(
            f"A batch votes over single samples; {method.strategy!r} cannot be batched. Use one "
            f"of {', '.join(BATCHABLE)}, or drop the batch budget.",
            param=param,
        )
    if request.choices > 1:
        raise bad_request(
            "A batch answers each prompt once; n > 1 is not supported with a batch budget.",
            param="n",
        )
    if request.stream:
        raise bad_request(
            "A batch's answers are decided together, so it is not streamed; send stream=false.",
            param="stream",
        )
    if request.passthrough_only:
        raise bad_request(
            f"{', '.join(request.passthrough_only)} cannot be honoured under a method; drop them.",
            param=request.passthrough_only[0],
        )
    check_size(request, limits)
    cap = method.batch_cap or method.n or DEFAULT_CAP
    if method.budget_calls is not None:
        cap = min(cap, method.budget_calls)  # budget.calls is each question's cap
    if cap > limits.max_calls:
        raise bad_request(
            f"batch_cap={cap} exceeds this server's cap of {limits.max_calls} calls per request.",
            param="ttc.batch_cap",
            code="budget_out_of_range",
        )
    chosen = _policy(method, policy)
    try:
        allocation, prior = allocation_for(
            method.batch_budget, cap=cap, policy=chosen, pooled=method.batch_pooled
        )
    except TTCConfigError as exc:
        raise bad_request(str(exc), param="ttc.batch_cap") from None
    prompts = len(request.inputs)
    total = allocation.total(prompts)
    if total > limits.max_calls:
        raise bad_request(
            f"batch_budget={method.batch_budget:g} x {prompts} prompt(s) = {total} calls exceeds "
            f"this server's cap of {limits.max_calls} calls per request; lower the budget or "
            "send fewer prompts.",
            param=param,
            code="budget_out_of_range",
        )
    for asked, cap_, key, unit in (
        (method.budget_tokens, limits.max_tokens, "tokens", "tokens"),
        (method.budget_seconds, limits.max_seconds, "seconds", "s"),
    ):
        if asked is not None and cap_ is not None and asked > cap_:
            raise bad_request(
                f"budget.{key}={asked:g} exceeds this server's cap of {cap_:g} {unit} per request.",
                param=f"ttc.budget.{key}",
                code="budget_out_of_range",
            )
    return allocation, prior


async def run_batch(
    engine: Engine,
    request: TTCRequest,
    method: Method,
    allocation: BatchAllocation,
    prior: Any = None,
) -> tuple[list[dict], Usage]:
    """Every prompt's result (:func:`~langgraph_ttc.batch.allocation_steps`) and the usage of
    every call; a failed upstream is a 429/503, as for any method. The batch is one run tree
    for LangChain callbacks (a ``ttc-serve`` chain run tagged ``ttc:batch``), as a request's
    graph runs are."""
    limits = engine.limits
    prompts = [str(m[-1].content) for m in request.inputs]
    budget = Budget(
        max_calls=allocation.total(len(prompts)),
        max_tokens=method.budget_tokens or limits.max_tokens,
        max_seconds=method.budget_seconds or limits.max_seconds,
    )
    ctx = TTCContext(
        backend=engine.backend_for(method.model),
        strategy=get_strategy(
            "majority",
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            thinking_budget=method.thinking_budget,
        ),
        budget=budget,
        confidence=ConfidenceSpec() if allocation.slope else None,
    )
    # No seed: fresh samples per request, as any method without a seed draws.
    seed = random.randrange(2**31) if request.seed is None else request.seed
    priors = None if prior is None else [prior.prior_for(p) for p in prompts]
    meter = Meter(budget)
    steps = allocation_steps(ctx, prompts, allocation, seed=seed, priors=priors)
    manager = AsyncCallbackManager.configure(
        inheritable_callbacks=engine.callbacks or None,
        inheritable_tags=["ttc:serve", "ttc:batch"],
        inheritable_metadata={
            "ttc_method": method.describe(),
            "ttc_batch_budget": method.batch_budget,
        },
    )
    root = await manager.on_chain_start(
        {"name": "ttc-serve"}, {"prompts": prompts}, name="ttc-serve"
    )
    try:
        results = await arun(steps, meter, {"callbacks": root.get_child()})
    except BaseException as exc:
        await root.on_chain_error(exc)
        if isinstance(exc, BudgetExhausted):
            raise bad_request(str(exc), param="ttc.budget", code="budget_out_of_range") from None
        if isinstance(exc, TTCError):
            raise upstream_error(exc) from None
        raise
    await root.on_chain_end({"answers": [r["answer"] for r in results]})
    total = meter.usage.total()
    if total.calls and total.failed >= total.calls:
        raise upstream_error(TTCError(f"all {total.calls} calls failed"))
    return results, meter.usage


def batch_choices(results: Sequence[dict]) -> list[Choice]:
    """One choice per prompt, in order: a completion that gave the chosen answer."""
    return [Choice(i, r.get("text") or "", [], "stop") for i, r in enumerate(results)]


def batch_summary(
    method: Method, name: str, allocation: BatchAllocation, results: Sequence[dict], usage: Usage
) -> dict:
    """The reply's ``ttc`` object: the batch's budget and spend, each prompt's answer, samples
    and tally, and the calls by purpose."""
    total = usage.total()
    return {
        "method": name,
        "strategy": method.strategy,
        "batch": {
            "budget": method.batch_budget,
            "cap": allocation.cap,
            "allowed": allocation.total(len(results)),
            "samples": sum(r["samples"] for r in results),
            "rounds": max((r["rounds"] for r in results), default=0),
            "pooled": allocation.pooled,  # the batch's own prior's strength; None: not used
        },
        "calls": total.calls,
        "requests": total.requests,
        "failed": total.failed,
        "by_purpose": _by_purpose(usage),
        "choices": [
            {
                "answer": r["answer"],
                "samples": r["samples"],
                "tally": dict(Counter(str(a) for a in r["answers"] if a is not None)),
            }
            for r in results
        ],
    }


def _policy(method: Method, server_policy: Any) -> Policy | None:
    """The policy an ``adaptive`` batch takes its prior from (none for ``majority``)."""
    if method.strategy != "adaptive":
        return None
    if method.policy:
        try:
            return Policy.from_json(json.dumps(method.policy))
        except (TTCConfigError, ValueError, TypeError, KeyError) as exc:
            raise bad_request(f"Cannot read ttc.policy: {exc}", param="ttc.policy") from None
    try:
        if isinstance(server_policy, (str, PurePath)):
            return _load(str(server_policy))
        return resolve_policy(server_policy)
    except (TTCConfigError, ValueError, OSError) as exc:
        raise APIError(500, f"The server's policy cannot be read: {exc}") from None


@functools.lru_cache(maxsize=8)
def _load(path: str) -> Policy:
    """A policy file, read once per server (not per request)."""
    return resolve_policy(path)

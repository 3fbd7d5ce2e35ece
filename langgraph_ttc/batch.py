"""The batch allocator, live: many questions, one total budget, samples drawn round by round.

:func:`allocation_steps` is one generator of calls (as every model-calling component,
:mod:`langgraph_ttc.calls`): each round it asks :func:`~langgraph_ttc.allocation.next_round`
which questions get more samples, draws them all at once, and ends when the allocator stops.
:class:`BatchAllocator` is its Runnable: ``batch`` / ``abatch`` run a whole batch under one
budget (``invoke`` is a batch of one).

Sample ``i`` of question ``qid`` is drawn alone with the seed a pool gives its sample ``i``
(``sample_seed(seed, qid, i)``, :func:`langgraph_ttc.scaling.pool.build_pool`), so a live batch
and its replay on a pool of the same model, task and seed
(:func:`langgraph_ttc.scaling.allocation.replay_batch`) draw the same samples and allocate,
stop and answer the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig

from langgraph_ttc.aggregators import get_aggregator
from langgraph_ttc.allocation import BatchAllocation, final_answers, next_round
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps, arun, run
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.context import TTCContext, candidate_from
from langgraph_ttc.stopping import Votes

__all__ = [
    "BatchAllocator",
    "PolicyPrior",
    "allocation_for",
    "allocation_steps",
    "as_messages",
    "sample_seed",
]


def sample_seed(seed: int, problem_id: str, index: int) -> int:
    """The seed of sample ``index`` of a question: the same as a pool's (a stable hash).

    Example:
        >>> sample_seed(0, "q1", 3) == sample_seed(0, "q1", 3) != sample_seed(0, "q1", 4)
        True
    """
    digest = hashlib.sha256(f"{seed}\x1f{problem_id}\x1f{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1  # as scaling._pool_builder.sample_seed


def allocation_for(
    budget: float, *, cap: int = 32, policy: Any = None, pooled: float | None = None
) -> tuple[BatchAllocation, PolicyPrior | None]:
    """The allocation of a batch with ``budget`` samples per question on average (two to
    start, one when the budget is below two; chunks of two) and the zero-probe prior to give
    :class:`BatchAllocator`, from a fitted policy when there is one: its posterior stop's prior,
    confidence evidence and vote, and its difficulty predictor. One construction for every venue
    (``langgraph-ttc run --batch-budget``, the server's batch requests). ``pooled``: read the
    gains under a prior fitted to the batch's own probes, shrunk toward the policy's by this
    many pseudo-questions (:mod:`langgraph_ttc.pooling`; opt-in: on held-out pools it did not
    beat the router's prior in distribution).

    Raises:
        TTCConfigError: a cap below the samples every question gets first.

    Example:
        >>> allocation, prior = allocation_for(4, cap=16)
        >>> allocation.start, allocation.cap, prior is None
        (2, 16, True)
    """
    start = 2 if budget >= 2 else 1
    if cap < start:
        raise TTCConfigError(
            f"The batch cap must be at least {start} (the samples every question gets first); "
            f"got {cap}."
        )
    prior = slope = center = vote = None
    predictor = None
    if policy is not None:
        plans = [
            spec
            for by_budget in policy.plans.values()
            for spec in by_budget.values()
            if getattr(spec.stop_rule, "kind", "") == "posterior"
        ]
        if plans:
            rule = plans[0].stop_rule
            prior, slope, center = rule.prior, rule.slope, rule.center
            # The router's vote where it reads no more than the samples' confidences.
            if get_aggregator(plans[0].aggregator).needs <= {"confidences"}:
                vote = plans[0].aggregator
        if policy.meta.get("difficulty_prior"):
            predictor = PolicyPrior(policy)
    allocation = BatchAllocation(
        budget=budget, start=start, chunk=2, cap=cap, prior=prior,
        slope=slope or 0.0, center=center or 0.0, vote=vote, pooled=pooled,
    )  # fmt: skip
    return allocation, predictor


class PolicyPrior:
    """A policy's zero-probe predictor as the batch allocator reads it (``prior_for``).

    Example:
        >>> class Fitted:  # a policy with a difficulty predictor
        ...     def question_prior(self, question): return (0.5, 0.5)
        >>> PolicyPrior(Fitted()).prior_for("What is 2 + 2?")
        (0.5, 0.5)
    """

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def prior_for(self, question: str):
        return self.policy.question_prior(question)


def _votes(samples: list[dict]) -> Votes:
    confidences = tuple(s["confidence"] for s in samples)
    return Votes(
        tuple(s["answer"] for s in samples),
        None if any(c is None for c in confidences) else confidences,
    )


def allocation_steps(
    ctx: TTCContext,
    questions: Sequence[str],
    allocation: BatchAllocation,
    *,
    ids: Sequence[str] | None = None,
    seed: int = 0,
    priors: Sequence[Sequence[float] | None] | None = None,
) -> Steps[list[dict]]:
    """Draw a batch's samples round by round under ``allocation``; one result per question:
    its answer and a completion that gave it (``text``; with no answer, the first completion),
    the samples it got and their answers, and the rounds drawn.

    ``ids`` name the questions for their seeds (default ``"0"``, ``"1"``, ...); ``priors``
    are per-question priors over single-sample accuracy (a zero-probe predictor's,
    :mod:`langgraph_ttc.scaling.prior`).
    """
    if not questions:
        raise TTCConfigError("A batch needs at least one question.")
    ids = [str(i) for i in range(len(questions))] if ids is None else list(ids)
    if len(ids) != len(questions) or (priors is not None and len(priors) != len(questions)):
        raise TTCConfigError("ids and priors must have one entry per question.")
    prompts = [ctx.messages_for(q) for q in questions]
    samples: list[list[dict]] = [[] for _ in questions]
    left = allocation.total(len(questions))
    extra = [min(allocation.start, allocation.cap)] * len(questions)
    rounds = 0
    while any(extra):
        calls, owners = [], []
        for i, k in enumerate(extra):
            for j in range(k):
                index = len(samples[i]) + j
                params = ctx.params.with_seed(sample_seed(seed, ids[i], index))
                calls.append(Sample(ctx.backend, prompts[i], 1, "generate", params))
                owners.append((i, index))
        draws = yield calls
        for (i, index), draw in zip(owners, draws, strict=True):
            if not draw.completions:  # the run's Budget refused it: an unanswered sample
                samples[i].append({"answer": None, "confidence": None, "text": None})
                continue
            candidate = candidate_from(
                ctx, draw.completions[0], run_id=ids[i], index=index, chain=index, step=0,
                purpose="generate",
            )  # fmt: skip
            samples[i].append(
                {
                    "answer": candidate["answer"],
                    "confidence": candidate["confidence"],
                    "text": candidate["text"] if candidate["ok"] else None,
                }
            )
        left -= len(calls)
        rounds += 1
        extra = next_round([_votes(s) for s in samples], allocation, left, priors)
    results = []
    answers = final_answers([_votes(s) for s in samples], allocation)
    for i, (question, s) in enumerate(zip(questions, samples, strict=True)):
        answer = answers[i]
        results.append(
            {
                "question": question,
                "id": ids[i],
                "answer": answer,
                # For replies that show a completion: the first that gave the answer (with
                # no answer, the first that came back).
                "text": next(
                    (x["text"] for x in s if x["text"] is not None and x["answer"] == answer),
                    None,
                ),
                "samples": len(s),
                "answers": [x["answer"] for x in s],
                "rounds": rounds,
            }
        )
    return results


def _question(value: Any) -> tuple[str, str | None]:
    """(question, id or None) of one input: a string, ``{"question", "id"}``, a prompt value
    or messages (the last human message is the question)."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, Mapping) and isinstance(value.get("question"), str):
        qid = value.get("id")
        return value["question"], None if qid is None else str(qid)
    if isinstance(value, PromptValue):
        value = value.to_messages()
    if isinstance(value, Sequence) and value and isinstance(value[-1], BaseMessage):
        return str(value[-1].content), None
    raise TTCConfigError(
        "BatchAllocator takes a question string or {'question': ..., 'id': ...}; got "
        f"{type(value).__name__}."
    )


class BatchAllocator(Runnable):
    """A Runnable that answers a batch of questions under one total budget (``batch`` /
    ``abatch``); ``invoke`` is a batch of one. An input is a question, or ``{"question",
    "id"}`` (the id seeds its samples as a pool's problem id does). Each output is a dict:
    ``answer``, ``samples`` (drawn for that question), ``answers`` and ``rounds``.

    Args:
        ctx: the model, task and sampling settings (:meth:`TTCContext.create`).
        allocation: the batch's budget and allocation rules.
        seed: seeds every sample (with the question's id and index, as pools do).
        prior: a zero-probe difficulty predictor (``prior_for(question) -> weights``), or
            ``None`` for the allocation's own prior.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> allocator = BatchAllocator(TTCContext.create(FakeBackend()), BatchAllocation(budget=4))
        >>> [r["samples"] <= 32 for r in allocator.batch(["What is 2+2?", "What is 3+3?"])]
        [True, True]
    """

    def __init__(
        self,
        ctx: TTCContext,
        allocation: BatchAllocation,
        *,
        seed: int = 0,
        prior: Any = None,
    ) -> None:
        self.ctx, self.allocation, self.seed, self.prior = ctx, allocation, seed, prior

    def _steps(self, inputs: Sequence[Any]) -> Steps[list[dict]]:
        pairs = [_question(v) for v in inputs]
        questions = [q for q, _ in pairs]
        ids = [str(i) if qid is None else qid for i, (_, qid) in enumerate(pairs)]
        priors = None if self.prior is None else [self.prior.prior_for(q) for q in questions]
        return allocation_steps(
            self.ctx, questions, self.allocation, ids=ids, seed=self.seed, priors=priors
        )

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        return self.batch([input], config)[0]

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict:
        return (await self.abatch([input], config))[0]

    def batch(self, inputs, config=None, *, return_exceptions: bool = False, **kwargs) -> list:
        one = config[0] if isinstance(config, list) else config
        return run(self._steps(inputs), Meter(self.ctx.budget), one)

    async def abatch(
        self, inputs, config=None, *, return_exceptions: bool = False, **kwargs
    ) -> list:
        one = config[0] if isinstance(config, list) else config
        return await arun(self._steps(inputs), Meter(self.ctx.budget), one)


def as_messages(results: Sequence[dict]) -> list[AIMessage]:
    """Batch results as chat replies (``as_runnable(..., allocation=...)``): the answer as the
    content, the allocation's record in ``response_metadata["ttc_allocation"]``.

    Example:
        >>> as_messages([{"answer": "4", "samples": 3}])[0].content
        '4'
    """
    return [
        AIMessage(
            content="" if r["answer"] is None else str(r["answer"]),
            response_metadata={"ttc_allocation": dict(r)},
        )
        for r in results
    ]

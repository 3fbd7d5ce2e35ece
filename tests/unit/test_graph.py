"""The TTC graph on deterministic fakes: plans, budgets, usage, failures, streaming."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from langgraph_ttc import Budget, TTCInputError, create_ttc_graph
from langgraph_ttc.errors import SampleFailed, TTCConfigError
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.testing import FakeBackend, NoisyOracle
from langgraph_ttc.verifiers import LLMJudge, ProgrammaticVerifier

QUESTION = "What is 3 + 5?"


def exact_eight(question: str, text: str) -> float:
    return 1.0 if "answer is 8" in text else 0.1


STRATEGY_CASES = [
    ("majority", {}),
    ("filter_vote", {}),
    ("best_of_n", {"verifier": ProgrammaticVerifier(exact_eight)}),
    ("weighted_best_of_n", {"verifier": ProgrammaticVerifier(exact_eight)}),
    ("revise", {}),
    ("adaptive", {}),
]


def run(graph, inputs, use_async: bool):
    return asyncio.run(graph.ainvoke(inputs)) if use_async else graph.invoke(inputs)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("strategy,options", STRATEGY_CASES, ids=[c[0] for c in STRATEGY_CASES])
def test_every_strategy_answers_within_budget_and_counts_every_call(
    fake_backend, strategy, options, use_async
):
    graph = create_ttc_graph(fake_backend, strategy, n=8, budget=Budget(max_calls=8), **options)
    out = run(graph, {"question": QUESTION}, use_async)
    result = out["ttc_result"]
    usage = result["usage"]
    samples_drawn = sum(fake_backend.seen)
    assert usage["calls"] == samples_drawn <= 8
    assert sum(p["calls"] for p in usage["by_purpose"].values()) == usage["calls"]
    assert result["answer"] in {"8", "9", "10", "11"}
    assert out["messages"][-1].type == "ai"
    assert result["strategy"] == strategy


def test_majority_returns_the_mode_and_its_share(oracle):
    graph = create_ttc_graph(FakeBackend(reply=oracle), "majority", n=16)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    votes = Counter(c["answer"] for c in result["candidates"])
    mode, count = votes.most_common(1)[0]
    assert result["answer"] == mode
    assert result["confidence"] == pytest.approx(count / 16, abs=1e-4)
    assert len({c["seed"] for c in result["candidates"]}) == 16  # a distinct seed per sample


def test_filter_vote_spends_half_the_calls_on_critiques(oracle):
    graph = create_ttc_graph(FakeBackend(reply=oracle), "filter_vote", n=8)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    by_purpose = result["usage"]["by_purpose"]
    assert by_purpose["generate"]["calls"] == 4 and by_purpose["critique"]["calls"] == 4
    assert all(c["verdict"] in (True, False) for c in result["candidates"])
    kept = [c["answer"] for c in result["candidates"] if c["verdict"]]
    if kept:
        assert result["answer"] in kept and result["method"] == "filter_vote"
    else:
        assert result["method"] == "filter_vote_fallback"


def test_filter_vote_falls_back_to_all_answers_when_nothing_survives():
    backend = FakeBackend(
        reply=lambda m, s: (
            "[[wrong]]" if "[[correct]]" in str(m[-1].content) else "The answer is 5."
        )
    )
    result = create_ttc_graph(backend, "filter_vote", n=6).invoke({"question": "2+3?"})[
        "ttc_result"
    ]
    assert result["answer"] == "5" and result["method"] == "filter_vote_fallback"


def test_best_of_n_picks_the_highest_verifier_score(oracle):
    verifier = ProgrammaticVerifier(exact_eight)
    graph = create_ttc_graph(FakeBackend(reply=oracle), "best_of_n", n=8, verifier=verifier)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    assert all(c["score"] is not None for c in result["candidates"])
    if any(c["answer"] == "8" for c in result["candidates"]):
        assert result["answer"] == "8"


def test_best_of_n_without_a_verifier_is_rejected():
    with pytest.raises(TTCConfigError, match="needs a verifier"):
        create_ttc_graph(FakeBackend(), "best_of_n")


def test_revise_builds_chains_and_selects_across_them(oracle):
    graph = create_ttc_graph(FakeBackend(reply=oracle), "revise")
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    chains = Counter(c["chain"] for c in result["candidates"])
    assert chains == {0: 4, 1: 4}  # Revise() default: 2 chains x 4 attempts
    for chain in chains:
        steps = sorted(c["step"] for c in result["candidates"] if c["chain"] == chain)
        assert steps == [0, 1, 2, 3]
    assert result["usage"]["by_purpose"]["revise"]["calls"] == 6
    answers = Counter(c["answer"] for c in result["candidates"])
    assert answers[result["answer"]] == max(answers.values())


def test_revision_prompt_keeps_at_most_four_recent_attempts():
    seen = []

    def reply(messages, seed):
        seen.append(str(messages[-1].content))
        return "The answer is 1."

    graph = create_ttc_graph(FakeBackend(reply=reply), get_revise(width=1, depth=7))
    graph.invoke({"question": "q?"})
    assert max(prompt.count("Attempt ") for prompt in seen) == 4


def get_revise(**kw):
    from langgraph_ttc.strategies import Revise

    return Revise(**kw)


def test_adaptive_stops_early_when_probes_agree():
    backend = FakeBackend(reply=NoisyOracle({"What is 1 + 1?": ("2", 1.0)}))
    result = create_ttc_graph(backend, "adaptive", n=16).invoke({"question": "What is 1 + 1?"})[
        "ttc_result"
    ]
    assert result["plan"]["stop"] is True
    assert result["usage"]["calls"] == 4 == result["usage"]["by_purpose"]["probe"]["calls"]
    assert result["difficulty"]["bin"] == 1


def test_adaptive_spends_little_on_questions_that_look_hopeless():
    backend = FakeBackend(reply=lambda m, s: "I am not sure.")
    result = create_ttc_graph(backend, "adaptive", n=16).invoke({"question": "Hard?"})["ttc_result"]
    assert result["difficulty"]["bin"] == 5
    assert result["usage"]["calls"] == 4 + 3  # probes + 25% of the 12 calls left
    assert result["answer"] is None


def test_adaptive_reuses_probes_as_candidates(oracle):
    result = create_ttc_graph(FakeBackend(reply=oracle), "adaptive", n=16).invoke(
        {"question": "What is 17 * 23?"}
    )["ttc_result"]
    probes = [c for c in result["candidates"] if c["purpose"] == "probe"]
    assert len(probes) == 4
    assert result["usage"]["calls"] == len(result["candidates"]) <= 16


def test_adaptive_accepts_a_policy_object_and_a_json_file(tmp_path, oracle):
    policy = Policy(plans={b: {0: PlanSpec(width=6)} for b in range(1, 6)}, meta={"model": "fake"})
    path = tmp_path / "policy.json"
    policy.save(path)
    for given in (policy, str(path)):
        result = create_ttc_graph(FakeBackend(reply=oracle), "adaptive", n=16, policy=given).invoke(
            {"question": QUESTION}
        )["ttc_result"]
        assert result["usage"]["calls"] == 6


@pytest.mark.parametrize("max_calls", [1, 3, 5])
def test_the_budget_is_never_exceeded(oracle, max_calls):
    for strategy in ("majority", "filter_vote", "revise", "adaptive"):
        backend = FakeBackend(reply=oracle, honours_n=False)
        if strategy == "filter_vote" and max_calls < 2:
            continue  # rejected up front: see test_a_budget_below_the_plan_minimum_is_rejected
        result = create_ttc_graph(
            backend, strategy, n=8, budget=Budget(max_calls=max_calls)
        ).invoke({"question": QUESTION})["ttc_result"]
        assert result["usage"]["calls"] <= max_calls, strategy


def test_token_budget_shrinks_requests(oracle):
    budget = Budget(max_tokens=60)
    result = create_ttc_graph(FakeBackend(reply=oracle), "majority", n=8, budget=budget).invoke(
        {"question": QUESTION}
    )["ttc_result"]
    usage = result["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] <= 60
    assert 0 < usage["calls"] < 8


def test_failed_samples_are_recorded_not_dropped(oracle):
    backend = FakeBackend(reply=oracle, fail=lambda m, seed: seed is not None and seed % 3 == 0)
    graph = create_ttc_graph(backend, "majority", n=12)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    failed = [c for c in result["candidates"] if not c["ok"]]
    assert len(result["candidates"]) == 12
    assert result["failed"] == [c["id"] for c in failed]
    assert all(c["error"] and c["answer"] is None for c in failed)
    assert result["usage"]["failed"] == len(failed)


def test_on_failure_raise_raises_sample_failed():
    backend = FakeBackend(fail=lambda m, seed: True)
    graph = create_ttc_graph(backend, get_strategy_with(on_failure="raise"))
    with pytest.raises(SampleFailed, match="samples failed"):
        graph.invoke({"question": QUESTION})


def get_strategy_with(**kw):
    from langgraph_ttc.strategies import get_strategy

    return get_strategy("majority", n=3, **kw)


def test_all_failed_gives_a_defined_partial_result():
    graph = create_ttc_graph(FakeBackend(fail=lambda m, seed: True), "majority", n=3)
    out = graph.invoke({"question": QUESTION})
    assert out["ttc_result"]["answer"] is None
    assert len(out["ttc_result"]["failed"]) == 3
    assert out["messages"][-1].content.startswith("No answer")


def test_progress_events_stream_as_samples_complete(oracle):
    graph = create_ttc_graph(FakeBackend(reply=oracle, honours_n=False), "filter_vote", n=6)
    events = [e for e in graph.stream({"question": QUESTION}, stream_mode="custom")]
    kinds = Counter(e["ttc_event"] for e in events)
    assert kinds == {"sample": 3, "critique": 3}


@pytest.mark.parametrize("bad", [{"question": "   "}, {"messages": []}])
def test_empty_questions_are_rejected(bad):
    with pytest.raises(TTCInputError):
        create_ttc_graph(FakeBackend(), "majority", n=2).invoke(bad)


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(TTCConfigError, match="majority, filter_vote"):
        create_ttc_graph(FakeBackend(), "self_consistency")


def test_seeded_runs_are_reproducible(oracle):
    from langgraph_ttc.strategies import Majority

    answers = [
        [
            c["answer"]
            for c in create_ttc_graph(FakeBackend(reply=oracle), Majority(n=8, seed=7)).invoke(
                {"question": QUESTION}
            )["ttc_result"]["candidates"]
        ]
        for _ in range(2)
    ]
    assert answers[0] == answers[1]


def test_adaptive_can_bin_by_mean_verifier_score(oracle):
    policy = Policy(
        edges=(0.9, 0.6, 0.4, 0.2),
        plans={
            b: {0: PlanSpec(fraction=0.5, aggregator="weighted_best_of_n")} for b in range(1, 6)
        },
        statistic="verifier",
    )
    graph = create_ttc_graph(
        FakeBackend(reply=oracle),
        "adaptive",
        n=12,
        policy=policy,
        verifier=ProgrammaticVerifier(exact_eight),
    )
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    probes = [c for c in result["candidates"] if c["purpose"] == "probe"]
    expected = sum(1.0 if c["answer"] == "8" else 0.1 for c in probes) / len(probes)
    assert result["difficulty"]["mean_score"] == pytest.approx(expected, abs=1e-4)
    assert result["difficulty"]["bin"] == policy.bin(expected)
    assert all(c["score"] is not None for c in result["candidates"])
    assert result["usage"]["calls"] == 4 + 4  # probes + half of the 8 calls left


def test_a_verifier_statistic_policy_needs_a_verifier():
    with pytest.raises(TTCConfigError, match="verifier"):
        create_ttc_graph(FakeBackend(), "adaptive", policy=Policy(statistic="verifier"))


@pytest.mark.parametrize(
    "strategy,options",
    [("filter_vote", {}), ("best_of_n", {"verifier": LLMJudge()})],
)
def test_a_budget_below_the_plan_minimum_is_rejected(strategy, options):
    with pytest.raises(TTCConfigError, match="needs at least 2 calls"):
        create_ttc_graph(FakeBackend(), strategy, budget=Budget(max_calls=1), **options)

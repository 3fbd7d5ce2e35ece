"""The reshaped core: every registered aggregator decides the same live and in replay, stop
rules are one object for both, sync runs start no event loop, and the public building blocks."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from langchain_core.language_models import GenericFakeChatModel

import langgraph_ttc.nodes as nodes
from langgraph_ttc import Budget, create_ttc_graph
from langgraph_ttc.aggregators import Ballots, BallotTable, get_aggregator, replayable
from langgraph_ttc.backends import ChatModelBackend, OpenAICompatibleBackend
from langgraph_ttc.cli.arguments import build_parser
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.scaling.curve_estimates import curve_names
from langgraph_ttc.scaling.replay import ReplayTable
from langgraph_ttc.scaling.samples import ProblemSamples
from langgraph_ttc.stopping import AgreementAtLeast, PrefixVotes, SamplesAtLeast, Votes, stop_width
from langgraph_ttc.strategies import Adaptive, get_strategy
from langgraph_ttc.testing import FakeBackend, NoisyOracle
from langgraph_ttc.verifiers import LLMJudge

QUESTIONS = {f"What is {a} + {a + 1}?": (str(2 * a + 1), 0.4) for a in range(2, 8)}


@pytest.mark.parametrize("name", sorted(replayable()[0]))
def test_every_aggregator_decides_the_same_live_and_in_replay(name):
    """A live router run with a one-cell policy, then the replay of exactly its samples (in
    the order it drew them): the same answer is graded and the same calls are counted."""
    oracle = NoisyOracle(QUESTIONS, critique_accuracy=0.7)
    backend = FakeBackend(reply=oracle, confidence=lambda m, seed, text: 0.3 + 0.6 * (seed % 7) / 7)
    spec = PlanSpec(width=6, aggregator=name)
    policy = Policy(edges=(), plans={1: {24: spec}}, meta={"probes": 2})
    judge = LLMJudge()  # one model call per answered sample: the verify cost is counted too
    for seed, question in enumerate(QUESTIONS):
        graph = create_ttc_graph(
            backend, Adaptive(n=24, probes=2, policy=policy, seed=seed), verifier=judge
        )
        result = graph.invoke({"question": question})["ttc_result"]
        candidates = result["candidates"]
        reference = QUESTIONS[question][0]
        correct = [float(c["answer"] == reference) for c in candidates]
        answered = [c["ok"] and c["answer"] is not None for c in candidates]
        problem = ProblemSamples.from_lists(
            question,
            [c["answer"] if ok else None for c, ok in zip(candidates, answered, strict=True)],
            correct,
            verdicts=[None if c["verdict"] is None else float(c["verdict"]) for c in candidates],
            verifier_scores=[c["score"] for c in candidates],
            critique_calls=[
                1.0 if ok and "verdicts" in get_aggregator(name).needs else 0.0 for ok in answered
            ],
            verify_calls=[
                1.0 if ok and "scores" in get_aggregator(name).needs else 0.0 for ok in answered
            ],
            confidences=[c.get("confidence") for c in candidates],
        )
        table = ReplayTable([problem], probes=2, n_orders=1)
        replayed = table.outcomes(spec, 24)
        live_correct = float(result["answer"] == reference)
        assert replayed.correct[0, 0] == live_correct, (name, question)
        assert replayed.calls[0, 0] == result["usage"]["calls"], (name, question)


@pytest.mark.parametrize("name", sorted(replayable()[0]))
def test_vectorised_replay_equals_one_vote_per_prefix(name):
    """Each aggregator's array replay agrees with calling its vote on every prefix."""
    rng = np.random.default_rng(7)
    aggregator = get_aggregator(name)
    for _ in range(30):
        codes = rng.integers(-1, 4, size=(5, 9))
        scores = rng.choice([0.0, 0.3, 0.6, 0.9, 0.1 + 0.2], size=(5, 9))  # ties by rounding
        verdicts = rng.choice([0.0, 1.0, np.nan], size=(5, 9))
        confidences = rng.choice([0.5, 1.0, 2.0, 0.3 + 0.2, np.nan], size=(5, 9))
        table = BallotTable(codes, scores, verdicts, confidences)
        fast = aggregator.prefix_winners(table)
        slow = type(aggregator).__mro__[1].prefix_winners(aggregator, table)
        assert (fast == slow).all(), name


def test_stop_rules_compose_and_mean_the_same_in_replay():
    rule = AgreementAtLeast(0.75) | SamplesAtLeast(6)
    assert rule(Votes(("4", "4", "4", "5")))
    assert not rule(Votes(("4", "5", "4")))
    assert (AgreementAtLeast(0.5) & SamplesAtLeast(3))(Votes(("4", "4", "5")))
    assert not (AgreementAtLeast(0.5) & SamplesAtLeast(4))(Votes(("4", "4", "5")))
    codes = np.random.default_rng(3).integers(-1, 3, size=(20, 10))
    prefixes = PrefixVotes(codes)
    fast = rule.prefix_mask(prefixes)
    slow = [[rule(prefixes.votes(o, w)) for w in range(1, 11)] for o in range(20)]
    assert (fast == np.array(slow)).all()
    assert stop_width(AgreementAtLeast(0.75), ["4", "5", "4", "4", "4"], start=2, step=1) == 4


def count_event_loops(monkeypatch) -> list:
    made = []
    original = asyncio.BaseEventLoop.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "__init__", counting)
    return made


@pytest.mark.parametrize("strategy", ["majority", "filter_vote", "revise", "adaptive"])
def test_sync_runs_start_no_event_loop(monkeypatch, instant_server, strategy):
    """Blocking invoke on the fake, on a real HTTP server and on a LangChain chat model: the
    library creates no event loop (each node's blocking body runs as such)."""
    http = OpenAICompatibleBackend(instant_server.base_url, instant_server.model)
    chat = ChatModelBackend(GenericFakeChatModel(messages=iter(["The answer is 4."] * 200)))
    graphs = [create_ttc_graph(b, strategy, n=8) for b in (FakeBackend(), http, chat)]
    made = count_event_loops(monkeypatch)
    for graph in graphs:
        result = graph.invoke({"question": "What is 2 + 2?"})["ttc_result"]
        assert result["usage"]["calls"] >= 1
    assert made == []


def test_async_runs_are_the_same_shape(instant_server):
    http = OpenAICompatibleBackend(instant_server.base_url, instant_server.model)
    graph = create_ttc_graph(http, "filter_vote", n=8, budget=Budget(max_calls=8))
    sync = graph.invoke({"question": "What is 2 + 2?"})["ttc_result"]
    done = asyncio.run(graph.ainvoke({"question": "What is 2 + 2?"}))["ttc_result"]
    assert sync["usage"]["calls"] == done["usage"]["calls"] == 8
    assert sync["usage"]["by_purpose"].keys() == done["usage"]["by_purpose"].keys()


def test_public_building_blocks():
    assert nodes.__all__ == [
        "STAGES",
        "AggregateNode",
        "CritiqueNode",
        "FusedNode",
        "GenerateNode",
        "GenerateTask",
        "PrepareNode",
        "ReviseNode",
        "RouteNode",
        "Stage",
        "StateNode",
        "TTCContext",
        "TTCNode",
        "VerifyNode",
        "as_question_input",
        "attempts_condition",
        "candidate_from",
        "emit",
        "get_stage",
        "next_stage",
        "register_stage",
        "stage_condition",
        "fan_out_generate",
        "judged_condition",
        "question_of",
        "revise_condition",
        "rounds_condition",
        "route_condition",
        "seed_of",
        "tool_call_key",
    ]
    ballots = Ballots(("4", "5", "4"), scores=(0.2, 0.9, 0.3))
    assert get_aggregator("weighted_best_of_n").vote(ballots).answer == "5"


def test_cli_names_follow_the_registries():
    """The command line spells the names out (for a fast --help); they must stay true."""
    args = build_parser().parse_args(["run", "q", "--strategy", "not_registered_yet"])
    assert args.strategy == "not_registered_yet"
    with pytest.raises(TTCConfigError, match="Valid strategies: .*genselect"):
        get_strategy("not_registered_yet")
    assert set(curve_names()) == {"coverage", *replayable()[0]}
    assert "genselect" not in curve_names() and "rsa" not in curve_names()


@pytest.mark.parametrize("statistic,budget", [("verifier", 6), ("agreement", 3)])
def test_a_budget_below_the_probes_cost_is_sized_the_same_live_and_in_replay(statistic, budget):
    """Four probes scored by a one-call judge cost 8 calls; at 6 (or 3 with no scores) the
    router draws what the budget buys, scores nothing and answers by their majority."""
    oracle = NoisyOracle(QUESTIONS, critique_accuracy=0.7)
    backend = FakeBackend(reply=oracle)
    policy = Policy(edges=(), plans={1: {24: PlanSpec(width=24)}}, statistic=statistic)
    judge = LLMJudge() if statistic == "verifier" else None
    for seed, question in enumerate(QUESTIONS):
        graph = create_ttc_graph(
            backend, Adaptive(n=budget, probes=4, policy=policy, seed=seed), verifier=judge
        )
        result = graph.invoke({"question": question})["ttc_result"]
        candidates = result["candidates"]
        assert result["usage"]["calls"] == len(candidates) == min(budget, 4)
        assert all(c["score"] is None for c in candidates)
        if judge is not None:  # (with no scores, prepare already draws min(n, probes) probes)
            assert result["plan"]["stop"] and result["difficulty"]["bin"] is None
        reference = QUESTIONS[question][0]
        problem = ProblemSamples.from_lists(
            question,
            [c["answer"] for c in candidates],
            [float(c["answer"] == reference) for c in candidates],
            verify_calls=[1.0 if judge else 0.0] * len(candidates),
        )
        table = ReplayTable([problem], probes=min(budget, 4), n_orders=1, statistic=statistic)
        replayed = table.outcomes(PlanSpec(width=24), budget)
        assert replayed.calls[0, 0] == result["usage"]["calls"]
        assert replayed.correct[0, 0] == float(result["answer"] == reference)

"""Confidence-aware test-time compute on fakes and on a real HTTP server that streams
log-probabilities: stopped traces really stop, cancelled samples are cancelled, usage is what
was generated, and the votes, thresholds and stop rules match their papers' rules."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.aggregators import Ballots, get_aggregator
from langgraph_ttc.aggregators.deepconf import online_threshold
from langgraph_ttc.backends import ChatModelBackend, OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.methods import AdaptiveConsistency, DeepConfOnline
from langgraph_ttc.stopping import BayesianStop, ConsensusAtLeast, PrefixVotes, Votes
from langgraph_ttc.strategies import ConfidenceVote
from langgraph_ttc.testing import FakeBackend, NoisyOracle
from langgraph_ttc.testing.instant_server import InstantServer

QUESTION = "What is 3 + 5?"
ORACLE = NoisyOracle({QUESTION: ("8", 0.4)})


def confident_when_right(messages, seed, text) -> float:
    """Right answers come with a confident top token (p = 0.9), wrong ones with p = 0.5."""
    return 0.9 if "is 8" in text else 0.5


def fake() -> FakeBackend:
    return FakeBackend(reply=ORACLE, confidence=confident_when_right)


def test_bayesian_stop_is_the_beta_closed_form():
    """Aggarwal et al. 2023: P(leader is the majority) = I_{1/2}(b + 1, a + 1); for whole counts
    P(Binomial(a + b + 1, 1/2) <= a)."""
    rule = BayesianStop(0.95)
    for a in range(0, 9):
        for b in range(0, a + 1):
            n = a + b + 1
            closed = sum(math.comb(n, j) for j in range(a + 1)) / 2**n
            votes = Votes(tuple(["x"] * a + ["y"] * b))
            assert rule(votes) == (closed >= 0.95), (a, b)
    codes = np.random.default_rng(0).integers(-1, 3, size=(30, 12))
    prefixes = PrefixVotes(codes)
    fast = rule.prefix_mask(prefixes)
    slow = [[rule(prefixes.votes(o, w)) for w in range(1, 13)] for o in range(30)]
    assert (fast == np.array(slow)).all()


def test_consensus_rule_and_its_replay_agree():
    rule = ConsensusAtLeast(0.8)
    assert rule(Votes(("4", "4", "5"), confidences=(3.0, 2.0, 1.0))) is True  # 5/6
    assert rule(Votes(("4", "5"), confidences=(1.0, 1.0))) is False
    rng = np.random.default_rng(1)
    codes = rng.integers(-1, 3, size=(20, 9))
    weights = rng.uniform(0.5, 3.0, size=(20, 9))
    prefixes = PrefixVotes(codes, weights)
    slow = [[rule(prefixes.votes(o, w)) for w in range(1, 10)] for o in range(20)]
    assert (rule.prefix_mask(prefixes) == np.array(slow)).all()
    with pytest.raises(TTCConfigError, match="confidence"):
        rule(Votes(("4",)))


def test_confidence_votes_by_hand():
    ballots = Ballots(("7", "7", "7", "9", "9"), confidences=(1.0, 1.0, 1.0, 5.0, 6.0))
    assert get_aggregator("majority").vote(ballots).answer == "7"
    weighted = get_aggregator("confidence_weighted").vote(ballots)
    assert weighted.answer == "9" and weighted.tally == {"7": 3.0, "9": 11.0}
    # DeepConf-low keeps the top 10%: the cut is np.percentile([1,1,1,5,6], 90) = 5.6.
    low = get_aggregator("deepconf_low").vote(ballots)
    assert low.answer == "9" and low.tally == {"9": 6.0}
    high = get_aggregator("deepconf_high").vote(ballots)  # cut 1.0: all kept
    assert high.tally == {"7": 3.0, "9": 11.0}


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_confidence_vote_on_the_fake_reads_the_samples_confidence(use_async):
    graph = create_ttc_graph(fake(), ConfidenceVote(n=16, seed=4))
    inputs = {"question": QUESTION}
    out = asyncio.run(graph.ainvoke(inputs)) if use_async else graph.invoke(inputs)
    result = out["ttc_result"]
    confidences = [c["confidence"] for c in result["candidates"]]
    assert all(c is not None and c > 0 for c in confidences)
    right = [c["confidence"] for c in result["candidates"] if c["answer"] == "8"]
    wrong = [c["confidence"] for c in result["candidates"] if c["answer"] not in (None, "8")]
    assert right and wrong and min(right) > max(wrong)  # p 0.9 vs 0.5: more confident
    assert result["answer"] == "8" and result["method"] == "confidence_weighted"


def test_deepconf_online_threshold_stops_and_votes_as_in_the_paper():
    """Warm-up of 8 sets s = the 90th percentile of their lowest group confidences (eta 10);
    later traces whose group confidence falls below s stop at once and do not vote."""
    strategy = DeepConfOnline(n=24, warmup=8, eta=10, tau=0.99, step=4, seed=2)
    graph = create_ttc_graph(fake(), strategy)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    candidates = result["candidates"]
    warmup = candidates[:8]
    threshold = result["plan"]["options"]["threshold"]
    assert threshold == pytest.approx(online_threshold([c["lowest_group"] for c in warmup], 10))
    # The fake's traces have 4 tokens and the default window (2048) is longer: none is stopped,
    # so low-confidence traces only lose their vote; with a 2-token window they stop.
    voters = {c["answer"] for c in candidates if (c.get("lowest_group") or 0) >= threshold}
    assert set(result["tally"]) <= voters - {None}
    spec = ConfidenceSpec(window=2)
    backend = fake()
    draw = backend.sample(
        [("human", QUESTION)],
        8,
        SamplingParams(seed=1, top_logprobs=20),
        stop_trace=lambda: spec.watch(threshold=4.0),  # wrong (C = 3.49) below, right (4.99) above
    )
    stopped = [c for c in draw.completions if c.finish_reason == "stopped"]
    finished = [c for c in draw.completions if c.finish_reason == "stop"]
    assert stopped and finished
    assert all(c.completion_tokens == 2 for c in stopped)  # stopped at the first full window
    assert all("is 8" in c.text for c in finished)


def test_adaptive_consistency_cancels_once_the_leader_is_clear():
    backend = FakeBackend(
        reply=NoisyOracle({QUESTION: ("8", 0.9)}), confidence=confident_when_right
    )
    graph = create_ttc_graph(backend, AdaptiveConsistency(n=16, seed=5))
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    drawn = len(result["candidates"])
    answers = [c["answer"] for c in result["candidates"]]
    assert BayesianStop(0.95)(Votes(tuple(answers)))  # it stopped because the rule fired
    assert not BayesianStop(0.95)(Votes(tuple(answers[:-1])))  # and not one sample later
    assert drawn < 16 and result["usage"]["calls"] == drawn


def test_a_backend_without_cancellation_draws_one_at_a_time():
    backend = FakeBackend(reply=NoisyOracle({QUESTION: ("8", 0.9)}))  # no `until` support
    result = create_ttc_graph(backend, AdaptiveConsistency(n=16, seed=5)).invoke(
        {"question": QUESTION}
    )["ttc_result"]
    assert backend.seen == [1] * len(result["candidates"]) and len(result["candidates"]) < 16


def test_confidence_strategies_refuse_a_backend_without_logprobs():
    from langchain_core.language_models import GenericFakeChatModel

    chat = ChatModelBackend(GenericFakeChatModel(messages=iter(["The answer is 8."] * 5)))
    with pytest.raises(TTCConfigError, match="reports no log-probabilities") as caught:
        create_ttc_graph(chat, "confidence_vote")
    assert "OpenAICompatibleBackend" in str(caught.value) and "majority" in str(caught.value)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_stopped_streams_count_what_the_server_generated(use_async):
    """A trace stopped by its confidence watch closes its stream: the client counts the tokens
    it read, and the server generated at most a token or two more per stopped stream."""
    with InstantServer(honour_n=False, token_delay_s=0.02) as server:
        backend = OpenAICompatibleBackend(server.base_url, server.model)
        spec = ConfidenceSpec(window=3, top_k=5)
        params = SamplingParams(seed=3, top_logprobs=5, max_tokens=50)
        call = backend.asample if use_async else backend.sample
        kwargs = dict(stop_trace=lambda: spec.watch(threshold=10.0))  # every trace stops
        draw = call([("human", "2+2?")], 4, params, **kwargs)
        draw = asyncio.run(draw) if use_async else draw
        time.sleep(0.3)  # let the server notice the closed connections
        generated = server.stats.streamed_tokens
    assert [c.finish_reason for c in draw.completions] == ["stopped"] * 4
    assert [c.completion_tokens for c in draw.completions] == [3] * 4
    assert draw.completion_tokens == 12 <= generated <= 12 + 2 * 4
    assert all(len(c.top_logprobs) == 3 and len(c.top_logprobs[0]) == 5 for c in draw.completions)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_cancelled_samples_are_not_returned_and_counted_as_generated(use_async):
    with InstantServer(honour_n=False, token_delay_s=0.02) as server:
        # Two streams at a time: the later ones cannot all finish before the cut, however
        # busy the machine (eight parallel streams of equal length can end in one tick).
        backend = OpenAICompatibleBackend(server.base_url, server.model, max_concurrency=2)
        call = backend.asample if use_async else backend.sample
        draw = call(
            [("human", "3+3?")], 8, SamplingParams(seed=1), until=lambda done: len(done) >= 2
        )
        draw = asyncio.run(draw) if use_async else draw
        time.sleep(0.3)
        generated = server.stats.streamed_tokens
    assert len(draw.completions) >= 2 and draw.extra.get("cancelled", 0) >= 1
    assert draw.completions[0].finish_reason == "stop"
    # Cancelled streams count what arrived before the cut: never more than the server sent.
    assert draw.completion_tokens <= generated <= draw.completion_tokens + 2 * 8


def test_deepconf_online_end_to_end_on_a_streaming_server():
    with InstantServer(honour_n=False) as server:
        backend = OpenAICompatibleBackend(server.base_url, server.model)
        strategy = DeepConfOnline(n=12, warmup=4, eta=10, step=4, seed=1)
        result = create_ttc_graph(backend, strategy).invoke({"question": "What is 2 + 2?"})[
            "ttc_result"
        ]
        streamed = sum(1 for b in server.stats.bodies if b.get("stream"))
    assert result["plan"]["options"]["threshold"] is not None
    assert all(c["confidence"] is not None for c in result["candidates"] if c["ok"])
    assert streamed == len(result["candidates"]) - 4  # the warm-up is not streamed


# -- the audit's defects (issue 22) -----------------------------------------------------------


def _fake_row(p: float, k: int = 20) -> tuple[float, ...]:
    """The fake backend's top-k row for a top-token probability ``p`` (see FakeBackend)."""
    return (math.log(p), *[math.log((1 - p) / (k - 1))] * (k - 1))


def test_self_certainty_is_exact_where_the_backend_knows_its_vocabulary():
    from langgraph_ttc.confidence import self_certainty

    spec = ConfidenceSpec(measure="self_certainty")
    values = {}
    for vocab in (None, 1000):
        backend = fake()
        if vocab is not None:
            backend.vocab_size = vocab  # as the embedded backend reports llama.cpp's n_vocab
        result = create_ttc_graph(backend, ConfidenceVote(n=6, seed=3), confidence=spec).invoke(
            {"question": QUESTION}
        )["ttc_result"]
        for c in result["candidates"]:
            p = confident_when_right(None, None, c["text"])
            expected = self_certainty([_fake_row(p)] * c["completion_tokens"], vocab_size=vocab)
            assert c["confidence"] == pytest.approx(expected, rel=1e-12)
        values[vocab] = [c["confidence"] for c in result["candidates"]]
    assert values[None] != pytest.approx(values[1000])  # the top-k estimate differs


def test_the_router_leaves_a_missing_probe_confidence_out():
    """A failed probe has no confidence: it must not count as 0.0, the highest value of
    mean_logprob (a failed probe would make the question look easier)."""
    from langgraph_ttc.policy import PlanSpec, Policy
    from langgraph_ttc.strategies import Adaptive

    failing = {1, 3}  # probe indices that fail
    backend = FakeBackend(
        reply=ORACLE,
        confidence=confident_when_right,
        fail=lambda messages, seed: seed % 4 in failing,
    )

    def run(edge: float) -> dict:
        policy = Policy(
            edges=(edge,),  # bin 1 (stop at the probes): a mean log-prob at or above the edge
            plans={1: {8: PlanSpec(stop=True)}, 2: {8: PlanSpec(width=8)}},
            statistic="confidence",
            meta={"probes": 4, "confidence": {"measure": "mean_logprob"}},
        )
        graph = create_ttc_graph(backend, Adaptive(n=8, probes=4, seed=0), policy=policy)
        return graph.invoke({"question": QUESTION})["ttc_result"]

    probes = [c for c in run(0.0)["candidates"] if c["purpose"] == "probe"]
    known = [c["confidence"] for c in probes if c["confidence"] is not None]
    assert 0 < len(known) < len(probes)  # some probes failed, some did not
    mean = sum(known) / len(known)
    with_zeros = sum(known) / len(probes)  # the failed ones counted as 0.0
    assert mean < with_zeros
    result = run((mean + with_zeros) / 2)  # an edge between the two readings
    assert result["difficulty"]["mean_score"] == pytest.approx(mean, abs=1e-4)
    assert result["difficulty"]["bin"] == 2  # counted as 0.0, the question would be in bin 1
    assert result["plan"]["stop"] is False


def test_no_probe_confidence_at_all_bins_as_the_hardest():
    from langgraph_ttc.scaling.replay import probe_mean_confidence

    values = probe_mean_confidence(np.array([[[np.nan, -0.5, -0.1], [np.nan] * 3]]))
    assert values.tolist() == [[-0.3, -np.inf]]


def test_a_confidence_policy_needs_its_own_bin_edges():
    from langgraph_ttc.difficulty import DEFAULT_AGREEMENT_EDGES
    from langgraph_ttc.policy import Policy

    with pytest.raises(TTCConfigError, match="calibrate --statistic confidence"):
        Policy(statistic="confidence")
    assert Policy().edges == DEFAULT_AGREEMENT_EDGES
    assert Policy(statistic="verifier").edges == DEFAULT_AGREEMENT_EDGES  # scores in [0, 1]
    fitted = Policy(edges=(12.0, 8.0), statistic="confidence")
    assert Policy.from_json(fitted.to_json()).edges == (12.0, 8.0)
    assert fitted.bin(10.0) == 2  # not bin 1, as agreement's edges would put every value > 1

"""The search graphs on deterministic fakes: budgets, tree consistency, widths as allocated,
batching, scoring once per prefix, lookahead cost, streaming, subgraphs and checkpoints."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict

import httpx
import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from langgraph_ttc import Budget, create_ttc_graph, get_strategy
from langgraph_ttc.methods import ParticleFilter
from langgraph_ttc.search import LLMStepJudge, PoolingPRM, check_tree
from langgraph_ttc.search.tree import index_nodes, steps_to
from langgraph_ttc.strategies import BeamSearch, Dvts, Lookahead, Rebase
from langgraph_ttc.testing import FakeBackend, stable_uniform
from langgraph_ttc.testing.instant_server import InstantServer
from langgraph_ttc.verifiers import ProgrammaticVerifier

QUESTION = "What is 3 + 5?"


def stepper(messages, seed) -> str:
    """A solver that writes blank-line steps: after 2+ steps it may answer (8 or 9)."""
    last = messages[-1]
    text = str(last.content)
    if "[New Step]" in text:  # the step judge
        u = stable_uniform("judge", text)
        return (
            f"Checked. [[correct]] Score: {0.5 + u / 2:.2f}" if u > 0.3 else "[[wrong]] Score: 0.1"
        )
    prefix = text if last.type == "ai" else ""
    done = len([s for s in prefix.split("\n\n") if s.strip()])
    u = stable_uniform(prefix, seed)
    if (done >= 2 and u < 0.5) or done >= 4:
        return f"So the answer is {8 if u < 0.3 else 9}."
    return f"Idea {int(u * 3)} for step {done + 1}.\n\nAnd then more."


def by_step_text(question: str, text: str) -> float:
    """A free process score: a pure function of the partial solution."""
    return round(stable_uniform("score", text), 4)


FREE_SCORER = ProgrammaticVerifier(by_step_text)

SEARCHES = [
    BeamSearch(n=4, m=2, seed=3),
    BeamSearch(n=4, m="sqrt", seed=4),
    Lookahead(n=4, m=2, k=1, seed=5),
    Rebase(n=4, seed=6),
    Dvts(n=4, m=2, seed=7),
    ParticleFilter(n=4, seed=8),
]
IDS = ["beam_m2", "beam_sqrt", "lookahead", "rebase", "dvts", "particle_filter"]


def run(graph, inputs, use_async):
    return asyncio.run(graph.ainvoke(inputs)) if use_async else graph.invoke(inputs)


def rounds_of(tree):
    widths = defaultdict(dict)  # round -> {expanded node: width}
    index = index_nodes(tree)
    for node in tree:
        if node["parent"] is not None:
            widths[node["round"]][node["parent"]] = index[node["parent"]]["width"]
    return dict(widths)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("strategy", SEARCHES, ids=IDS)
@pytest.mark.parametrize("honours_n", [True, False], ids=["n-honoured", "n-ignored"])
def test_each_search_stays_in_budget_and_returns_a_consistent_tree(strategy, honours_n, use_async):
    backend = FakeBackend(reply=stepper, honours_n=honours_n)
    budget = Budget(max_calls=30)
    graph = create_ttc_graph(backend, strategy, budget=budget, verifier=LLMStepJudge())
    out = run(graph, {"question": QUESTION}, use_async)
    result = out["ttc_result"]
    usage, tree = result["usage"], result["tree"]
    assert usage["calls"] == sum(backend.seen) <= 30
    assert usage["calls"] == sum(p["calls"] for p in usage["by_purpose"].values())
    assert check_tree(tree) == []  # parents exist, depths, children == allocated width
    new_steps = [n for n in tree if n["parent"] is not None]
    generate = usage["by_purpose"]["generate"]
    rollouts = generate["calls"] - len(new_steps)  # lookahead's greedy steps
    if strategy.rollout_steps:
        assert 0 < rollouts <= strategy.rollout_steps * len(new_steps)
    else:
        assert rollouts == 0
    scored = [n for n in new_steps if n["ok"] and n["text"] and not n["duplicate_of"]]
    assert usage["by_purpose"]["verify"]["calls"] == len(scored)  # each prefix judged once
    assert all(n["score"] is not None for n in new_steps)
    expanded = [n for n in tree if n["width"]]
    requests = generate["requests"] - rollouts
    assert requests == (len(expanded) if honours_n else len(new_steps))  # one n= request per node
    assert result["answer"] in {"8", "9", None}
    assert result["strategy"] == strategy.name
    assert out["messages"][-1].type == "ai"
    for candidate in result["candidates"]:
        assert candidate["text"] == "\n\n".join(steps_to(candidate["id"], index_nodes(tree)))


@pytest.mark.parametrize("strategy", SEARCHES, ids=IDS)
def test_widths_follow_each_strategy(strategy):
    graph = create_ttc_graph(FakeBackend(reply=stepper), strategy, verifier=FREE_SCORER)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    tree = result["tree"]
    assert check_tree(tree) == []
    widths = rounds_of(tree)
    assert widths[0] == {"n0": 4}  # every search starts with N first steps
    solved_before = Counter()
    for node in tree:
        if node["done"] and node["ok"] and node["parent"] is not None:
            solved_before[node["round"]] += 1
    for round_, expanded in sorted(widths.items()):
        if round_ == 0:
            continue
        if isinstance(strategy, BeamSearch):  # incl. lookahead: N/M beams, M children each
            keep, per_beam = (2, 2)
            assert len(expanded) <= keep and set(expanded.values()) == {per_beam}
        elif isinstance(strategy, Rebase):  # exactly B = N - finished children per round
            finished = sum(c for r, c in solved_before.items() if r < round_)
            assert sum(expanded.values()) == strategy.n - finished
        elif isinstance(strategy, Dvts):  # one node per open subtree, M children
            subtrees = [index_nodes(tree)[i]["subtree"] for i in expanded]
            assert len(subtrees) == len(set(subtrees)) and set(expanded.values()) == {2}
    if isinstance(strategy, Dvts):
        index = index_nodes(tree)
        for node in tree:
            if node["parent"] not in (None, "n0"):
                assert node["subtree"] == index[node["parent"]]["subtree"]
        assert {n["subtree"] for n in tree if n["parent"] == "n0"} == {0, 1}


def test_beam_search_prunes_to_the_best_scored_prefixes():
    graph = create_ttc_graph(
        FakeBackend(reply=stepper), BeamSearch(n=4, m=2, seed=3), verifier=FREE_SCORER
    )
    tree = graph.invoke({"question": QUESTION})["ttc_result"]["tree"]
    first = [n for n in tree if n["parent"] == "n0" and not n["done"]]
    kept = sorted(first, key=lambda n: (-n["score"], int(n["id"][1:])))[:2]
    assert {n["id"] for n in first if n["width"]} == {n["id"] for n in kept}


def test_identical_siblings_are_scored_once():
    def same(messages, seed):
        last = messages[-1]
        return "So the answer is 8." if last.type == "ai" else "Add 3 and 5.\n\nmore"

    graph = create_ttc_graph(FakeBackend(reply=same), BeamSearch(n=4, m=2), verifier=LLMStepJudge())
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    first = [n for n in result["tree"] if n["parent"] == "n0"]
    assert [n["duplicate_of"] for n in first] == [None, "n1", "n1", "n1"]
    assert len({n["score"] for n in first}) == 1
    # 4 first steps judged once; the 2 kept beams' 4 answers judged once per parent
    assert result["usage"]["by_purpose"]["verify"]["calls"] == 1 + 2
    assert result["answer"] == "8"


def test_lookahead_scores_after_a_greedy_rollout_and_counts_it():
    backend = FakeBackend(reply=stepper)
    strategy = Lookahead(n=4, m=2, k=2, seed=1)
    result = create_ttc_graph(backend, strategy, verifier=FREE_SCORER).invoke(
        {"question": QUESTION}
    )["ttc_result"]
    tree = result["tree"]
    steps = [n for n in tree if n["parent"] is not None]
    open_steps = [n for n in steps if not n["done"]]
    assert open_steps and all(n["lookahead"] for n in open_steps)
    assert all(n["lookahead"] is None for n in steps if n["done"])
    generate = result["usage"]["by_purpose"]["generate"]["calls"]
    assert len(steps) < generate <= len(steps) * (strategy.k + 1)  # N*(k+1) at most
    index = index_nodes(tree)
    node = open_steps[0]
    path_text = "\n\n".join(steps_to(node["id"], index) + [node["lookahead"]])
    assert node["score"] == by_step_text(QUESTION, path_text)  # the rollout's last step's score


def test_budget_stops_the_search_and_answers_from_open_leaves():
    graph = create_ttc_graph(
        FakeBackend(reply=stepper),
        BeamSearch(n=4, m=2),
        budget=Budget(max_calls=3),
        verifier=FREE_SCORER,
    )
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    assert result["usage"]["calls"] == 3
    assert result["tree"][0]["width"] == 3  # N=4 shrunk to what the budget allows
    assert result["search"]["answered_from"] == "open_leaves"
    assert check_tree(result["tree"]) == []


def test_scorer_calls_are_reserved_in_the_budget():
    backend = FakeBackend(reply=stepper)
    graph = create_ttc_graph(
        backend, Rebase(n=4), budget=Budget(max_calls=10), verifier=LLMStepJudge()
    )
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    by_purpose = result["usage"]["by_purpose"]
    assert result["usage"]["calls"] <= 10
    assert by_purpose["verify"]["calls"] >= 1
    assert all(n["parsed"] for n in result["tree"][1:] if n["ok"] and n["text"])  # none skipped


def test_max_rounds_bounds_the_depth_beyond_the_default_recursion_limit():
    never_done = FakeBackend(reply=lambda m, s: f"Step {stable_uniform(s)}.\n\nmore")
    graph = create_ttc_graph(never_done, BeamSearch(n=2, m=2, max_rounds=12), verifier=FREE_SCORER)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    tree = result["tree"]
    assert max(n["depth"] for n in tree) == 12
    assert all(n["done"] for n in tree if n["depth"] == 12)
    assert result["search"]["rounds"] == 12 and check_tree(tree) == []


def test_progress_is_streamed_and_the_tree_is_in_the_result():
    graph = create_ttc_graph(FakeBackend(reply=stepper), Rebase(n=4, seed=2), verifier=FREE_SCORER)
    events = [e for e in graph.stream({"question": QUESTION}, stream_mode="custom")]
    kinds = Counter(e["ttc_event"] for e in events)
    assert kinds["search_select"] >= 2 and kinds["search_scores"] >= 1 and kinds["search_done"] == 1
    first = next(e for e in events if e["ttc_event"] == "search_select")
    assert first["widths"] == {"n0": 4}


def test_search_runs_as_a_subgraph_and_resets_per_run_with_a_checkpointer():
    ttc = create_ttc_graph(FakeBackend(reply=stepper), BeamSearch(n=4, m=2), verifier=FREE_SCORER)
    builder = StateGraph(MessagesState)
    builder.add_node("ttc", ttc)
    builder.add_edge(START, "ttc")
    builder.add_edge("ttc", END)
    parent = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    out = parent.invoke({"messages": [HumanMessage(QUESTION)]}, config)
    assert [m.type for m in out["messages"]] == ["human", "ai"]
    assert not any(k.startswith("ttc_") for k in out)
    out = parent.invoke({"messages": [HumanMessage("What is 3 + 5 again?")]}, config)
    assert [m.type for m in out["messages"]] == ["human", "ai", "human", "ai"]

    own = create_ttc_graph(
        FakeBackend(reply=stepper),
        BeamSearch(n=4, m=2),
        verifier=FREE_SCORER,
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "u"}}
    first = own.invoke({"question": QUESTION}, config)["ttc_result"]
    second = own.invoke({"question": QUESTION}, config)["ttc_result"]
    assert len(second["tree"]) == len({n["id"] for n in second["tree"]})  # a fresh tree
    assert second["usage"]["calls"] <= first["usage"]["calls"] * 2


def test_registry_names_and_overrides_reach_the_search_configs():
    assert isinstance(get_strategy("beam_search", n=16), BeamSearch)
    assert get_strategy("rebase", temperature_b=0.2).temperature_b == 0.2
    assert get_strategy("dvts", m="sqrt", n=16).subtrees == 4
    assert get_strategy("lookahead", k=3).rollout_steps == 3


def test_failed_samples_become_dead_leaves():
    backend = FakeBackend(reply=stepper, fail=lambda m, seed: seed is not None and seed % 3 == 0)
    graph = create_ttc_graph(backend, Rebase(n=4, seed=11), verifier=FREE_SCORER)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    dead = [n for n in result["tree"] if not n["ok"]]
    assert dead and all(n["done"] and n["score"] == 0.0 and n["error"] for n in dead)
    assert set(result["failed"]) == {n["id"] for n in dead}
    assert check_tree(result["tree"]) == []


def test_step_label_format_on_a_transcript_server():
    """Completion mode: the partial answer ends the transcript and the label stops the step."""

    def reply(prompt, seed, index):
        if prompt.rstrip().endswith("Step 3:"):
            return " So the answer is 8.\n\nQ: next"
        return " Add the numbers.\nStep 9: more"

    with InstantServer(reply=reply) as server:
        from langgraph_ttc import OpenAICompatibleBackend

        backend = OpenAICompatibleBackend(server.base_url, "instant", mode="completion")
        graph = create_ttc_graph(
            backend, BeamSearch(n=2, m=2, segmentation="step_label"), verifier=FREE_SCORER
        )
        result = graph.invoke({"question": QUESTION})["ttc_result"]
        prompts = [b["prompt"] for b in server.stats.bodies]
        stops = server.stats.bodies[0]["stop"]
    assert result["answer"] == "8"
    assert "\nStep" in stops and "\n\n" in stops
    assert any(p.endswith("A: Step 1: Add the numbers.\nStep 2:") for p in prompts)
    assert (
        result["text"]
        == "Step 1: Add the numbers.\nStep 2: Add the numbers.\nStep 3: So the answer is 8."
    )


def test_chat_endpoint_continues_the_partial_answer_when_told(caplog):
    with InstantServer(reply=lambda p, s, i: "Add them.\n\nSo the answer is 8.") as server:
        from langgraph_ttc import OpenAICompatibleBackend

        extra = {"continue_final_message": True, "add_generation_prompt": False}
        backend = OpenAICompatibleBackend(server.base_url, "instant", extra_body=extra)
        graph = create_ttc_graph(backend, BeamSearch(n=2, m=2, max_rounds=2), verifier=FREE_SCORER)
        graph.invoke({"question": QUESTION})
        bodies = server.stats.bodies
        create_ttc_graph(
            OpenAICompatibleBackend(server.base_url, "instant"), "beam_search", verifier=FREE_SCORER
        )
    later = [b for b in bodies if b["messages"][-1]["role"] == "assistant"]
    assert later and all(b["continue_final_message"] for b in later)
    assert later[0]["messages"][-1]["content"] == "Add them.\n\n"
    assert "continue_final_message" in caplog.text  # warned for the second backend


def test_a_pooling_prm_scores_each_round_in_one_request():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body["input"])
        rows = [[[0.5, stable_uniform(text)]] * text.count("<extra_0>") for text in body["input"]]
        data = [{"index": i, "object": "pooling", "data": r} for i, r in enumerate(rows)]
        return httpx.Response(200, json={"data": data, "usage": {"prompt_tokens": 10}})

    prm = PoolingPRM("http://prm.test", "prm", transport=httpx.MockTransport(handler))
    graph = create_ttc_graph(FakeBackend(reply=stepper), Rebase(n=4, seed=9), verifier=prm)
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    verify = result["usage"]["by_purpose"]["verify"]
    assert verify["requests"] == len(seen) == result["search"]["rounds"]
    assert verify["calls"] == sum(len(batch) for batch in seen)
    assert all(text.startswith(QUESTION) for batch in seen for text in batch)
    assert check_tree(result["tree"]) == []

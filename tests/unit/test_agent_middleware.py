"""TTCMiddleware in an agent built by ``create_agent``, on a deterministic fake tool-calling model.

The shop agent looks up a price (a read-only tool), buys (a side-effecting tool that counts
its executions) and answers. The quantity each sample buys depends only on its seed, so every
expected tally below is computed from the same rule and :func:`sample_seed`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

import langgraph_ttc
from langgraph_ttc import agents
from langgraph_ttc.agents import (
    AskHuman,
    Fallback,
    SampleMore,
    TTCMiddleware,
    sample_seed,
    tool_calls_key,
)
from langgraph_ttc.budget import Budget, Prices
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.testing import FakeToolCallingModel, stable_uniform

BUY_STEP = 2  # the thread's second model step decides what to buy
MODES = ["sync", "async"]


def quantity(seed) -> int:
    """What a sample with this seed buys: 3 or 4 apples, half the seeds each."""
    return 3 if stable_uniform("buy", seed) < 0.5 else 4


def shop_script(messages, seed):
    last = messages[-1]
    if isinstance(last, ToolMessage) and last.name == "lookup_price":
        args = {"item": "apples", "quantity": quantity(seed)}
        return AIMessage("", tool_calls=[{"name": "buy", "args": args, "id": f"buy-{seed}"}])
    if isinstance(last, ToolMessage):
        return f"Done: {last.content}"
    args = {"item": "apples", "request_id": f"req-{seed}"}  # ids differ per sample
    return AIMessage("", tool_calls=[{"name": "lookup_price", "args": args, "id": f"lk-{seed}"}])


class Shop:
    """Two tools; ``bought`` records every execution of the side-effecting one."""

    def __init__(self) -> None:
        self.lookups = 0
        self.bought: list[int] = []

        @tool
        def lookup_price(item: str, request_id: str = "") -> int:
            """The price of an item in cents."""
            self.lookups += 1
            return 30

        @tool
        def buy(item: str, quantity: int) -> str:
            """Buy some of an item."""
            self.bought.append(quantity)
            return f"bought {quantity} {item}"

        self.tools = [lookup_price, buy]


def buy_key(q: int) -> str:
    return tool_calls_key([{"name": "buy", "args": {"item": "apples", "quantity": q}}])


def quantities(seed: int, n: int, step: int = BUY_STEP) -> list[int]:
    return [quantity(sample_seed(seed, step, i)) for i in range(n)]


def seed_where(n: int, counts: tuple[int, ...]) -> int:
    """The first base seed whose buy step splits its n samples as ``counts``."""
    return next(
        s for s in range(1000) if tuple(sorted(Counter(quantities(s, n)).values())) == counts
    )


def winner(qs: list[int]) -> int:
    """Majority with ties to the earliest, by hand."""
    counts = Counter(qs)
    return max(qs, key=lambda q: (counts[q], -qs.index(q)))


def run(agent, value, config, mode):
    if mode == "sync":
        return agent.invoke(value, config)
    return asyncio.run(agent.ainvoke(value, config))


def events(agent, value, config, mode) -> list[dict]:
    if mode == "sync":
        return list(agent.stream(value, config, stream_mode="custom"))

    async def collect():
        return [e async for e in agent.astream(value, config, stream_mode="custom")]

    return asyncio.run(collect())


def thread(name: str = "t") -> dict:
    return {"configurable": {"thread_id": name}}


HUMAN = {"messages": [("human", "Buy apples.")]}


@pytest.mark.parametrize("mode", MODES)
def test_the_voted_call_runs_once_per_step(mode):
    seed = seed_where(5, (2, 3))  # the buy step splits 3-2: the three win
    qs = quantities(seed, 5)
    shop, model = Shop(), FakeToolCallingModel(script=shop_script)
    middleware = TTCMiddleware(n=5, seed=seed, ignore_args=["request_id"])
    agent = create_agent(model, shop.tools, middleware=[middleware])

    out = run(agent, HUMAN, None, mode)

    assert shop.lookups == 1 and shop.bought == [winner(qs)]  # once each, not once per sample
    assert len(model.seeds) == 15  # 3 model steps x 5 samples
    assert [m.type for m in out["messages"]] == ["human", "ai", "tool", "ai", "tool", "ai"]
    buy_step = out["messages"][3].response_metadata["ttc"]
    assert buy_step["tally"] == {buy_key(q): qs.count(q) for q in dict.fromkeys(qs)}
    assert buy_step["agreement"] == 0.6 and buy_step["samples"] == 5
    # The lookup's request ids differ per sample but are ignored: one key, 5 votes.
    assert out["messages"][1].response_metadata["ttc"]["agreement"] == 1.0
    assert out["messages"][-1].content == f"Done: bought {winner(qs)} apples"
    ledger = out["ttc_ledger"]
    assert ledger["steps"] == 3 and ledger["usage"]["calls"] == 15
    assert ledger["usage"]["by_purpose"]["generate"]["calls"] == 15


def test_without_ignore_args_every_request_id_is_its_own_vote():
    shop, model = Shop(), FakeToolCallingModel(script=shop_script)
    agent = create_agent(model, shop.tools, middleware=[TTCMiddleware(n=4, seed=0)])
    out = agent.invoke(HUMAN)
    lookup = out["messages"][1]
    assert len(lookup.response_metadata["ttc"]["tally"]) == 4
    assert lookup.response_metadata["ttc"]["agreement"] == 0.25
    assert lookup.tool_calls[0]["args"]["request_id"] == f"req-{sample_seed(0, 1, 0)}"  # first
    assert shop.lookups == 1


DECISIONS = {
    "approve": {"type": "approve"},
    "edit": {
        "type": "edit",
        "edited_action": {"name": "buy", "args": {"item": "apples", "quantity": 10}},
    },
    "reject": {"type": "reject", "message": "too many"},
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("decision", sorted(DECISIONS))
def test_disagreement_interrupts_and_the_decision_does_what_it_says(decision, mode):
    seed = seed_where(3, (1, 2))  # 2 of 3 agree: 0.67 < 0.75
    voted = winner(quantities(seed, 3))
    shop, model = Shop(), FakeToolCallingModel(script=shop_script)
    middleware = TTCMiddleware(
        n=3, seed=seed, min_agreement=0.75, ignore_args=["request_id"], escalate=AskHuman()
    )
    agent = create_agent(model, shop.tools, middleware=[middleware], checkpointer=InMemorySaver())

    paused = run(agent, HUMAN, thread(), mode)

    (request,) = paused["__interrupt__"]
    assert request.value["action_requests"][0]["name"] == "buy"
    assert request.value["action_requests"][0]["args"] == {"item": "apples", "quantity": voted}
    assert request.value["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
    qs = quantities(seed, 3)
    assert request.value["ttc"]["tally"] == {buy_key(q): qs.count(q) for q in dict.fromkeys(qs)}
    assert sorted(
        c["tool_calls"][0]["args"]["quantity"] for c in request.value["ttc"]["candidates"]
    ) == [3, 4]
    assert shop.bought == [] and len(model.seeds) == 6  # nothing bought while it waits

    out = run(agent, Command(resume={"decisions": [DECISIONS[decision]]}), thread(), mode)

    assert len(model.seeds) == 9  # the resume did not draw the buy step again
    expected = {"approve": [voted], "edit": [10], "reject": []}[decision]
    assert shop.bought == expected
    buy_message = out["messages"][3]
    assert buy_message.tool_calls[0]["args"]["quantity"] == (10 if decision == "edit" else voted)
    reply = out["messages"][4]
    if decision == "reject":
        assert reply.status == "error" and "too many" in reply.content
    else:
        assert reply.content == f"bought {expected[0]} apples"
    assert out["ttc_ledger"]["decisions"] == {decision: 1}
    assert out["ttc_ledger"]["escalations"] == {"ask_human": 1}


def test_a_single_decision_alone_resumes_a_one_call_review():
    seed = seed_where(3, (1, 2))
    shop = Shop()
    agent = create_agent(
        FakeToolCallingModel(script=shop_script),
        shop.tools,
        middleware=[
            TTCMiddleware(
                n=3, seed=seed, min_agreement=0.75, escalate=AskHuman(), ignore_args=["request_id"]
            )
        ],
        checkpointer=InMemorySaver(),
    )
    agent.invoke(HUMAN, thread())
    agent.invoke(Command(resume={"type": "approve"}), thread())
    assert shop.bought == [winner(quantities(seed, 3))]


def test_the_ledger_survives_a_checkpoint_round_trip_and_caps_the_thread():
    seed = seed_where(3, (1, 2))
    saver, shop = InMemorySaver(), Shop()

    def build():  # a fresh middleware and model each time: the ledger lives in the checkpoint
        model = FakeToolCallingModel(script=shop_script)
        middleware = TTCMiddleware(
            n=3,
            seed=seed,
            min_agreement=0.75,
            ignore_args=["request_id"],
            escalate=AskHuman(),
            budget=Budget(max_calls=7),
        )
        return model, create_agent(model, shop.tools, middleware=[middleware], checkpointer=saver)

    _, agent = build()
    agent.invoke(HUMAN, thread())
    saved = saver.get_tuple(thread()).checkpoint["channel_values"]["ttc_ledger"]
    assert saved["usage"]["calls"] == 6 and saved["steps"] == 2  # two votes of 3

    model, agent = build()
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), thread())
    # 7 - 6 = 1 call left: the answer step cannot vote, so it makes the one plain call.
    assert model.seeds == [None]
    assert out["ttc_ledger"]["usage"]["calls"] == 7 and out["ttc_ledger"]["single_calls"] == 1
    assert out["messages"][-1].response_metadata["ttc"]["single_call"] is True

    model, agent = build()
    out = agent.invoke(HUMAN, thread())  # the thread's next turn: the cap is spent
    assert model.seeds == [None, None, None]  # one plain call per step, and no review
    assert out["ttc_ledger"]["usage"]["calls"] == 10 and out["ttc_ledger"]["single_calls"] == 4
    assert shop.bought == [winner(quantities(seed, 3)), quantity(None)]
    assert out["ttc_ledger"]["budget"]["max_calls"] == 7


@pytest.mark.parametrize("mode", MODES)
def test_the_custom_stream_carries_tallies_and_escalations(mode):
    seed = seed_where(3, (1, 2))
    qs = quantities(seed, 3)
    model = FakeToolCallingModel(script=shop_script)
    middleware = TTCMiddleware(
        n=3, seed=seed, min_agreement=0.75, ignore_args=["request_id"], escalate=AskHuman()
    )
    agent = create_agent(model, Shop().tools, middleware=[middleware], checkpointer=InMemorySaver())

    seen = events(agent, HUMAN, thread(), mode)

    tallies = [e for e in seen if e["ttc"] == "tally"]
    assert [t["step"] for t in tallies] == [1, 2]
    assert tallies[0]["tally"] == {
        tool_calls_key([{"name": "lookup_price", "args": {"item": "apples"}}]): 3
    }
    assert tallies[1]["tally"] == {buy_key(q): qs.count(q) for q in dict.fromkeys(qs)}
    assert tallies[1]["winner"] == buy_key(winner(qs)) and tallies[1]["agreement"] == 0.6667
    (escalation,) = [e for e in seen if e["ttc"] == "escalate"]
    assert escalation == {
        "ttc": "escalate",
        "step": 2,
        "kind": "ask_human",
        "agreement": 0.6667,
        "min_agreement": 0.75,
        "samples": 3,
    }
    resumed = events(agent, Command(resume={"decisions": [{"type": "approve"}]}), thread(), mode)
    assert [e for e in resumed if e["ttc"] == "review"] == [
        {"ttc": "review", "step": 2, "decisions": {"approve": 1}}
    ]


def rounds(seed: int, n: int, batch: int, up_to: int, share: float) -> int:
    """How many samples SampleMore draws at the buy step, by hand."""
    drawn = n
    while drawn < up_to:
        qs = quantities(seed, drawn)
        if max(Counter(qs).values()) / drawn >= share:
            break
        drawn += min(batch, up_to - drawn)
    return drawn


def test_sample_more_draws_more_only_when_the_first_samples_disagree():
    seed = seed_where(2, (1, 1))  # the first two disagree at the buy step
    expected = rounds(seed, 2, 2, 8, 0.75)
    model = FakeToolCallingModel(script=shop_script)
    middleware = TTCMiddleware(
        n=2,
        seed=seed,
        min_agreement=0.75,
        ignore_args=["request_id"],
        escalate=SampleMore(up_to=8, batch=2),
    )
    shop = Shop()
    out = create_agent(model, shop.tools, middleware=[middleware]).invoke(HUMAN)
    # Lookup and answer agree at once (2 calls each); the buy step draws until 0.75 or 8.
    assert expected > 2
    assert len(model.seeds) == 2 + expected + 2
    assert out["messages"][3].response_metadata["ttc"]["samples"] == expected
    assert out["ttc_ledger"]["escalations"] == {"sample_more": 1}
    assert shop.bought == [winner(quantities(seed, expected))]


def test_a_fallback_model_decides_when_the_samples_disagree():
    seed = seed_where(3, (1, 2))

    def strong(messages, seed):
        if isinstance(messages[-1], ToolMessage) and messages[-1].name == "lookup_price":
            args = {"item": "apples", "quantity": 7}
            return AIMessage("", tool_calls=[{"name": "buy", "args": args, "id": "strong"}])
        return shop_script(messages, seed)

    fallback = FakeToolCallingModel(script=strong, model_name="strong")
    middleware = TTCMiddleware(
        n=3, seed=seed, min_agreement=1.0, ignore_args=["request_id"], escalate=Fallback(fallback)
    )
    shop = Shop()
    out = create_agent(
        FakeToolCallingModel(script=shop_script), shop.tools, middleware=[middleware]
    ).invoke(HUMAN)
    assert shop.bought == [7]
    assert len(fallback.seeds) == 1
    usage = out["ttc_ledger"]["usage"]["by_purpose"]
    assert usage["generate"]["calls"] == 9 and usage["fallback"]["calls"] == 1
    buy_step = out["messages"][3].response_metadata["ttc"]
    assert buy_step["voters"] == "fallback" and buy_step["escalations"] == {"fallback": 1}


def test_a_token_cap_draws_one_sample_first_to_learn_what_a_sample_costs():
    model = FakeToolCallingModel(script=shop_script)
    middleware = TTCMiddleware(
        n=3, seed=0, ignore_args=["request_id"], budget=Budget(max_tokens=10_000)
    )
    agent = create_agent(model, Shop().tools, middleware=[middleware])
    seen = list(agent.stream(HUMAN, stream_mode="custom"))
    samples = [(e["step"], e["samples"]) for e in seen if e["ttc"] == "tally"]
    assert samples == [(1, 1), (1, 3), (2, 3), (3, 3)]  # only the thread's first step probes


PRICES = Prices(prompt=1000.0, completion=1000.0)  # $0.001 a token: dollars track tokens


@pytest.mark.parametrize("unit", ["tokens", "usd"])
def test_a_token_or_dollar_cap_stops_sampling_not_the_agent(unit):
    """Whatever the cap, the run ends; the steps that vote come first and stay within it."""
    voting_steps = []
    for cap in (30, 120, 300, 450, 600):
        if unit == "tokens":
            budget = Budget(max_tokens=cap)
        else:
            budget = Budget(max_usd=cap / 1000, prices=PRICES)
        model, shop = FakeToolCallingModel(script=shop_script), Shop()
        middleware = TTCMiddleware(n=3, seed=0, ignore_args=["request_id"], budget=budget)
        agent = create_agent(model, shop.tools, middleware=[middleware])
        steps = [e for e in agent.stream(HUMAN, stream_mode="custom") if e["ttc"] == "step"]
        voted = [s for s in steps if s["samples"] > 1]
        assert len(steps) == 3 and len(shop.bought) == 1  # the agent finished its run
        spent = [s["spent"]["tokens"] if unit == "tokens" else s["spent"]["usd"] for s in voted]
        assert all(x <= (cap if unit == "tokens" else cap / 1000 + 1e-12) for x in spent)
        assert [s["step"] for s in voted] == list(range(1, len(voted) + 1))  # votes came first
        assert model.seeds.count(None) == sum(s["single_call"] for s in steps)
        voting_steps.append(len(voted))
    # 30 tokens pay for no vote (one sample of the first step costs 35), 600 for all three.
    assert voting_steps[0] == 0 and voting_steps[-1] == 3
    assert voting_steps == sorted(voting_steps)


class Runs(BaseCallbackHandler):
    def __init__(self) -> None:
        self.samples: list[tuple] = []
        self.model_tags: list[list[str]] = []

    def on_chain_start(self, serialized, inputs, *, tags=None, metadata=None, name=None, **kw):
        if name and name.startswith("ttc:"):
            self.samples.append((name, sorted(tags or []), (metadata or {}).get("ttc_sample")))

    def on_chat_model_start(self, serialized, messages, *, tags=None, **kw):
        self.model_tags.append(sorted(tags or []))


def test_each_sample_is_a_named_tagged_run_and_only_the_winner_streams():
    runs = Runs()
    model = FakeToolCallingModel(script=shop_script)
    agent = create_agent(
        model, Shop().tools, middleware=[TTCMiddleware(n=3, seed=0, ignore_args=["request_id"])]
    )
    streamed = [
        chunk
        for chunk, meta in agent.stream(
            HUMAN, {"callbacks": [runs], "tags": ["mine"]}, stream_mode="messages"
        )
        if chunk.type == "ai"
    ]
    assert [s[0] for s in runs.samples] == ["ttc:generate"] * 9
    assert [s[2] for s in runs.samples] == [0, 1, 2] * 3
    assert all({"mine", "nostream", "ttc:generate"} <= set(s[1]) for s in runs.samples)
    assert all("ttc:generate" in tags and "mine" in tags for tags in runs.model_tags)
    assert len(streamed) == 3  # one reply per model step, not one per sample


def test_text_answers_vote_with_an_answer_key():
    def answer(messages, seed):
        return f"I think it is {1 + int(stable_uniform('a', seed) * 3)}."

    def last_word(text):
        return text.split()[-1].strip(".")

    n, seed = 5, 3
    picks = [str(1 + int(stable_uniform("a", sample_seed(seed, 1, i)) * 3)) for i in range(n)]
    agent = create_agent(
        FakeToolCallingModel(script=answer),
        middleware=[TTCMiddleware(n=n, seed=seed, answer_key=last_word)],
    )
    out = agent.invoke({"messages": [("human", "Pick one.")]})
    counts = Counter(picks)
    best = max(picks, key=lambda p: (counts[p], -picks.index(p)))
    assert out["messages"][-1].content == f"I think it is {best}."
    assert out["messages"][-1].response_metadata["ttc"]["tally"] == {
        f"text:{p}": counts[p] for p in dict.fromkeys(picks)
    }


def test_a_failed_sample_does_not_vote_and_all_failing_raises():
    def flaky(messages, seed):
        if seed % 2:
            raise RuntimeError("rate limited")
        return "The answer is 4."

    ok = [sample_seed(1, 1, i) % 2 == 0 for i in range(4)]
    agent = create_agent(
        FakeToolCallingModel(script=flaky), middleware=[TTCMiddleware(n=4, seed=1)]
    )
    out = agent.invoke({"messages": [("human", "2+2?")]})
    assert any(ok) and not all(ok)
    assert out["ttc_ledger"]["usage"]["failed"] == ok.count(False)
    assert out["messages"][-1].response_metadata["ttc"]["agreement"] == ok.count(True) / 4

    def broken(messages, seed):
        raise RuntimeError("down")

    agent = create_agent(FakeToolCallingModel(script=broken), middleware=[TTCMiddleware(n=3)])
    with pytest.raises(RuntimeError, match="down"):
        agent.invoke({"messages": [("human", "2+2?")]})


def test_config_errors_say_what_to_change():
    with pytest.raises(TTCConfigError, match="last"):
        TTCMiddleware(escalate=[AskHuman(), SampleMore()])
    with pytest.raises(TTCConfigError, match="max_seconds"):
        TTCMiddleware(budget=Budget(max_seconds=5))
    with pytest.raises(TTCConfigError, match=">= 1"):
        TTCMiddleware(n=0)
    with pytest.raises(TTCConfigError, match="min_agreement"):
        TTCMiddleware(min_agreement=1.5)
    with pytest.raises(TTCConfigError, match="majority"):
        TTCMiddleware(aggregator="best_of_n")


def test_public_names():
    assert agents.__all__ == [
        "AskHuman",
        "Escalation",
        "Fallback",
        "Ledger",
        "SampleMore",
        "StepVote",
        "TTCAgentState",
        "TTCMiddleware",
        "apply_decisions",
        "new_ledger",
        "normalize_args",
        "reply_key",
        "review_request",
        "sample_seed",
        "text_key",
        "tool_calls_key",
        "vote",
    ]
    assert langgraph_ttc.TTCMiddleware is TTCMiddleware


def test_without_langchain_the_votes_import_and_the_middleware_names_the_extra():
    code = textwrap.dedent(
        """
        import importlib.abc, json, sys

        class Blocked(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] == "langchain":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Blocked())
        import langgraph_ttc
        from langgraph_ttc.agents import tool_calls_key
        print(tool_calls_key([{"name": "f", "args": {}}]))
        try:
            langgraph_ttc.TTCMiddleware
        except ImportError as exc:
            print(type(exc).__name__, exc)
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "langchain")))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "tool:f({})",
        "MissingExtra TTCMiddleware (create_agent middleware) needs the 'agents' extra: "
        "pip install 'langgraph-ttc[agents]'",
        "[]",
    ]

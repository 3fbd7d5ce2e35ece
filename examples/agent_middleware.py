"""Test-time compute inside a LangChain agent: ``create_agent(..., middleware=[TTCMiddleware()])``.

A shop agent looks up a price and buys. On every model step the middleware draws a few replies,
votes on their tool calls (name plus normalised arguments; the per-sample ``request_id`` is
ignored), and hands the agent the winner, so ``buy`` runs once however many samples were drawn.
When the first samples disagree it draws more (``SampleMore``); if they still disagree it pauses
for a person (``AskHuman``), who approves the voted call or edits it (here: to buy 3). The whole thread's spending is one ledger in the
agent's state, capped by the ``Budget``. Tallies arrive on the custom stream as the agent runs.

It runs offline on a deterministic fake model whose choice of quantity depends on the sample's
seed. To try a real model, name it (LangChain's ``init_chat_model`` form; the provider's package
and key must be installed, e.g. ``langchain-openai`` and ``OPENAI_API_KEY``)::

    python examples/agent_middleware.py                      # the fake, offline, instant
    python examples/agent_middleware.py openai:gpt-4.1-mini  # a real model
"""

from __future__ import annotations

import os
import sys

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from langgraph_ttc import Budget
from langgraph_ttc.agents import AskHuman, SampleMore, TTCMiddleware
from langgraph_ttc.testing import FakeToolCallingModel, stable_uniform

N = int(os.environ.get("TTC_N", "2"))  # first samples per step; more only if they disagree
purchases: list[str] = []


@tool
def lookup_price(item: str, request_id: str = "") -> str:
    """The price of one unit of an item."""
    return f"{item}: 30 cents each"


@tool
def buy(item: str, quantity: int) -> str:
    """Buy some units of an item (it spends money: it must run once per purchase)."""
    purchases.append(f"{quantity} {item}")
    return f"Bought {quantity} {item}."


def fake_shopper(messages, seed) -> AIMessage | str:
    """Looks up the price, then buys 3 apples (or, for some seeds, 4), then reports."""
    last = messages[-1]
    if isinstance(last, ToolMessage) and last.name == "lookup_price":
        quantity = 3 if stable_uniform("quantity", seed) < 0.6 else 4
        call = {"name": "buy", "args": {"item": "apples", "quantity": quantity}, "id": f"b{seed}"}
        return AIMessage("", tool_calls=[call])
    if isinstance(last, ToolMessage):
        return f"Done. {last.content}"
    args = {"item": "apples", "request_id": f"req-{seed}"}
    return AIMessage("", tool_calls=[{"name": "lookup_price", "args": args, "id": f"p{seed}"}])


def model_from_argv():
    if len(sys.argv) > 1:
        from langchain.chat_models import init_chat_model

        return init_chat_model(sys.argv[1], temperature=0.8)
    return FakeToolCallingModel(script=fake_shopper)


def main() -> None:
    ttc = TTCMiddleware(
        n=N,
        min_agreement=0.75,
        ignore_args=["request_id"],
        escalate=[SampleMore(up_to=4), AskHuman()],
        budget=Budget(max_calls=20),
        seed=3,  # reproducible samples (a real model varies by temperature too)
    )
    agent = create_agent(
        model_from_argv(),
        [lookup_price, buy],
        system_prompt="You buy groceries: look up the price, then buy 3 apples.",
        middleware=[ttc],
        checkpointer=InMemorySaver(),
    )
    thread = {"configurable": {"thread_id": "shop-1"}}
    request: object = {"messages": [("human", "Please buy apples.")]}

    while request is not None:
        for mode, event in agent.stream(request, thread, stream_mode=["custom", "updates"]):
            if mode == "custom" and event["ttc"] == "tally":
                print(f"step {event['step']}: {event['samples']} samples, tally {event['tally']}")
            elif mode == "custom" and event["ttc"] == "escalate":
                print(f"step {event['step']}: agreement {event['agreement']} -> {event['kind']}")
        pending = agent.get_state(thread).interrupts
        request = None
        if pending:  # the samples still disagree: a person reviews the voted call
            review = pending[0].value
            args = review["action_requests"][0]["args"]
            votes = [c["votes"] for c in review["ttc"]["candidates"]]
            print(f"review: voted {args}, candidates' votes {votes}")
            decision = {"type": "approve"}
            if args["quantity"] != 3:  # the person wants 3, as the system prompt says
                edited = {"name": "buy", "args": {**args, "quantity": 3}}
                decision = {"type": "edit", "edited_action": edited}
            print(f"decision: {decision['type']}")
            request = Command(resume={"decisions": [decision]})

    state = agent.get_state(thread).values
    ledger = state["ttc_ledger"]
    print(f"answer: {state['messages'][-1].text}")
    print(f"purchases: {purchases} (buy ran {len(purchases)} time)")
    print(
        f"ledger: {ledger['usage']['calls']} calls over {ledger['steps']} steps, "
        f"escalations {ledger['escalations']}, decisions {ledger['decisions']}"
    )


if __name__ == "__main__":
    main()

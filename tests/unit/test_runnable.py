"""as_runnable and TTCChatModel: Runnable contract, callbacks and tags, tool-call voting."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

from langgraph_ttc import ChatModelBackend, TTCChatModel, as_runnable
from langgraph_ttc.testing import FakeBackend, stable_uniform


class SeededToolModel(BaseChatModel):
    """Calls ``add`` with arguments that depend only on the seed: 3 in 4 seeds agree."""

    seed: int | None = None
    tools_bound: bool = False

    @property
    def _llm_type(self) -> str:
        return "seeded-tool-fake"

    def bind_tools(self, tools, **kwargs):
        return self.model_copy(update={"tools_bound": True})

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):
            message = AIMessage(f"The answer is {messages[-1].content}.")
        elif self.tools_bound:
            b = 2 if stable_uniform("tool", self.seed) < 0.75 else 5
            message = AIMessage(
                "", tool_calls=[{"name": "add", "args": {"b": b, "a": 1}, "id": f"c{self.seed}"}]
            )
        else:
            message = AIMessage(f"The answer is {int(stable_uniform(self.seed) * 3)}.")
        message.usage_metadata = {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
        return ChatResult(generations=[ChatGeneration(message=message)])


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class Recorder(BaseCallbackHandler):
    def __init__(self):
        self.tags: list[list[str]] = []

    def on_chat_model_start(self, serialized, messages, *, tags=None, **kwargs):
        self.tags.append(list(tags or []))


def test_runnable_takes_str_or_messages_and_returns_an_ai_message(oracle):
    chain = as_runnable(FakeBackend(reply=oracle), "majority", n=3)
    assert chain.invoke("What is 3 + 5?").type == "ai"
    assert chain.invoke([HumanMessage("What is 3 + 5?")]).content.startswith("The answer is")


def test_runnable_batch_and_stream(oracle):
    chain = as_runnable(FakeBackend(reply=oracle), "majority", n=3) | StrOutputParser()
    outs = chain.batch(["What is 3 + 5?", "What is 1 + 1?"], config={"max_concurrency": 1})
    assert outs[1] == "The answer is 2."
    assert "".join(chain.stream("What is 1 + 1?")) == "The answer is 2."
    assert asyncio.run(chain.abatch(["What is 1 + 1?"] * 2)) == ["The answer is 2."] * 2


def test_callbacks_and_purpose_tags_reach_every_model_call():
    recorder = Recorder()
    chain = as_runnable(ChatModelBackend(SeededToolModel()), "filter_vote", n=4)
    chain.invoke("Pick a number", config={"callbacks": [recorder], "tags": ["mine"]})
    purposes = sorted(t for tags in recorder.tags for t in tags if t.startswith("ttc:"))
    assert purposes == ["ttc:critique", "ttc:critique", "ttc:generate", "ttc:generate"]
    assert all("mine" in tags for tags in recorder.tags)


def test_chat_model_votes_over_tool_calls():
    chat = TTCChatModel(model=SeededToolModel(), strategy="majority", n=8).bind_tools([add])
    reply = chat.invoke([HumanMessage("What is 1 + 2?")])
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("add", {"b": 2, "a": 1})]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_chat_model_drives_a_react_agent():
    from langgraph.prebuilt import create_react_agent

    agent = create_react_agent(
        TTCChatModel(model=SeededToolModel(), strategy="majority", n=5), [add]
    )
    out = agent.invoke({"messages": [("human", "What is 1 + 2?")]})
    types = [m.type for m in out["messages"]]
    assert types == ["human", "ai", "tool", "ai"]
    assert out["messages"][-1].content == "The answer is 3."


def test_runnable_takes_a_prompt_value(oracle):
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages([("human", "What is {a} + {b}?")])
    chain = prompt | as_runnable(FakeBackend(reply=oracle), "majority", n=3) | StrOutputParser()
    assert chain.invoke({"a": 1, "b": 1}) == "The answer is 2."


def test_chat_model_replies_carry_a_summary_not_every_candidate():
    """An agent's history holds every reply: its metadata must not grow with n."""
    small = TTCChatModel(model=FakeBackend(), strategy="majority", n=2).invoke("2+2?")
    large = TTCChatModel(model=FakeBackend(), strategy="majority", n=32).invoke("2+2?")
    summary = large.response_metadata["ttc_result"]
    assert "candidates" not in summary and summary["samples"] == 32
    assert summary["usage"]["calls"] == 32 and "answer" in summary
    assert len(str(large.response_metadata)) < 2 * len(str(small.response_metadata)) + 200
    full = TTCChatModel(model=FakeBackend(), n=4, include_candidates=True).invoke("2+2?")
    assert len(full.response_metadata["ttc_result"]["candidates"]) == 4


def test_the_runnable_run_is_the_graph_run(oracle):
    """No wrapper run around the graph: the root run is the graph's, its nodes its children."""
    from langchain_core.callbacks import BaseCallbackHandler

    class Chains(BaseCallbackHandler):
        def __init__(self):
            self.runs = {}

        def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kw):
            self.runs[run_id] = (kw.get("name"), parent_run_id)

    chains = Chains()
    chain = as_runnable(FakeBackend(reply=oracle), "majority", n=3)
    chain.invoke("What is 3 + 5?", config={"callbacks": [chains]})
    (root,) = [run for run, (_, parent) in chains.runs.items() if parent is None]
    assert chains.runs[root][0] == chain.name == "ttc_majority"
    assert [name for name, parent in chains.runs.values() if parent == root] == ["generate"]

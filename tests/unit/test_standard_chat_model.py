"""LangChain's own standard unit tests for TTCChatModel, with tool calling enabled."""

from __future__ import annotations

import os
from unittest import mock

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.load import dumpd
from langchain_core.messages import AIMessage
from langchain_tests.unit_tests import ChatModelUnitTests

from langgraph_ttc import TTCChatModel, as_runnable
from langgraph_ttc.errors import NoAnswer
from langgraph_ttc.testing import FakeBackend, FakeToolCallingModel


def _script(messages, seed):
    return AIMessage(
        "", tool_calls=[{"name": "my_adder_tool", "args": {"a": 1, "b": 2}, "id": "c"}]
    )


class TestTTCChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[TTCChatModel]:
        return TTCChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"model": FakeToolCallingModel(script=_script), "strategy": "majority", "n": 3}

    @property
    def has_tool_calling(self) -> bool:
        return True


# LangChain's suite skips two of its tests for this model (and forbids overriding them):
# test_serdes and test_init_from_env. What holds instead is checked here.


def test_not_serializable_and_says_so():
    """It wraps arbitrary model, strategy and budget objects, so LangChain's serializer
    records it as not implemented rather than writing something it cannot load back."""
    model = TTCChatModel(model=FakeToolCallingModel(script=_script), strategy="majority", n=3)
    assert not TTCChatModel.is_lc_serializable()
    assert dumpd(model)["type"] == "not_implemented"


def test_reads_no_environment_variables():
    """The wrapped model reads its own (its API key, say); the wrapper's settings come only
    from its arguments."""
    params = {"model": FakeToolCallingModel(script=_script), "strategy": "majority", "n": 3}
    before = TTCChatModel(**params)
    with mock.patch.dict(os.environ, {"OPENAI_API_KEY": "sk-test", "TTC_STRATEGY": "x"}):
        after = TTCChatModel(**params)
    assert after.strategy == before.strategy and after.budget == before.budget


class TestTTCChatModelOverANamelessModel(ChatModelUnitTests):
    """The same standard tests over a wrapped model with no model name of its own
    (FakeListChatModel): LangSmith still gets an ``ls_model_name``."""

    @property
    def chat_model_class(self) -> type[TTCChatModel]:
        return TTCChatModel

    @property
    def chat_model_params(self) -> dict:
        replies = ["The answer is 4."] * 64
        return {"model": FakeListChatModel(responses=replies), "strategy": "majority", "n": 3}

    @property
    def has_tool_calling(self) -> bool:
        return False  # FakeListChatModel binds no tools

    @property
    def has_structured_output(self) -> bool:
        return False


def test_a_nameless_model_is_named_by_method_and_class():
    chat = TTCChatModel(model=FakeListChatModel(responses=["The answer is 4."]), n=3)
    assert chat._get_ls_params()["ls_model_name"] == "majority(FakeListChatModel)"
    named = TTCChatModel(model=FakeToolCallingModel(script=_script), strategy="majority", n=3)
    assert named._get_ls_params()["ls_model_name"]  # the wrapped model's own, when it has one


def test_a_reply_without_an_answer_is_an_error_that_names_options_that_exist():
    chat = TTCChatModel(model=FakeListChatModel(responses=[""] * 8), strategy="majority", n=3)
    with pytest.raises(NoAnswer) as caught:
        chat.invoke("What is 7 + 5?")
    message = str(caught.value)
    assert "came back empty" in message and "through a chat model" in message
    assert 'OpenAICompatibleBackend(base_url, model, mode="completion")' in message
    assert "TTCChatModel" not in message or "mode=" not in message.split("OpenAI")[0]
    # the Runnable too: the caller asked for an answer
    chain = as_runnable(FakeBackend(reply=lambda messages, seed: ""), "majority", n=2)
    with pytest.raises(NoAnswer, match="came back empty"):
        chain.invoke("What is 7 + 5?")

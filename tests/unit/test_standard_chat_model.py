"""LangChain's own standard unit tests for TTCChatModel, with tool calling enabled."""

from __future__ import annotations

import os
from unittest import mock

from langchain_core.load import dumpd
from langchain_core.messages import AIMessage
from langchain_tests.unit_tests import ChatModelUnitTests

from langgraph_ttc import TTCChatModel
from langgraph_ttc.testing import FakeToolCallingModel


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

"""LangChain's own standard unit tests for TTCChatModel, with tool calling enabled."""

from __future__ import annotations

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

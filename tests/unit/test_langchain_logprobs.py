"""ChatModelBackend reads token log-probabilities from LangChain chat models that report them.

The shape is langchain-openai's (langchain-ai/langchain, libs/partners/openai/langchain_openai/
chat_models/base.py): the ``ChatOpenAI`` docstring's "Logprobs" example binds
``logprobs=True`` and reads ``ai_msg.response_metadata["logprobs"]`` ==
``{"content": [{"token": "J", "bytes": [74], "logprob": -4.9617593e-06, "top_logprobs": []},
...]}``; ``BaseChatOpenAI._create_chat_result`` does ``if "logprobs" in res:
generation_info["logprobs"] = res["logprobs"]`` and ``_convert_chunk_to_generation_chunk`` does
the same per streamed chunk; ``BaseChatOpenAI`` declares the fields ``logprobs: bool | None`` and
``top_logprobs: int | None``. langchain-core merges a generation's ``generation_info`` into
``AIMessage.response_metadata``. The fake below returns exactly that shape, through the same
generation-info path, so these tests exercise what ``ChatOpenAI`` gives without a network.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.backends import ChatModelBackend, SamplingParams
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.methods import DeepConfOnline
from langgraph_ttc.strategies import ConfidenceVote

QUESTION = [("human", "What is 2+2?")]
TOKENS = ["The", " answer", " is", " 4", "."]
TOP_P = [0.9, 0.8, 0.5, 0.6, 0.95]  # probability of each token (the top choice)


def entry(token: str, p: float, k: int) -> dict:
    """One ``logprobs.content`` entry as the OpenAI API returns it (alternatives share 1 - p)."""
    rest = [{"token": f"alt{j}", "bytes": [97], "logprob": math.log((1 - p) / (k - 1))}
            for j in range(1, k)]  # fmt: skip
    top = [{"token": token, "bytes": list(token.encode()), "logprob": math.log(p)}, *rest]
    return {
        "token": token,
        "bytes": list(token.encode()),
        "logprob": math.log(p),
        "top_logprobs": top[:k] if k else [],
    }


class LogprobChat(BaseChatModel):
    """A chat model shaped like ChatOpenAI: declares ``logprobs``/``top_logprobs`` and, when a
    call asks for them, reports them in the generation info (per chunk when streamed)."""

    logprobs: bool | None = None
    top_logprobs: int | None = None
    seed: int | None = None
    calls: list = Field(default_factory=list)
    streamed: list = Field(default_factory=list)  # chunks yielded by each stream
    closed: list = Field(default_factory=list)  # streams closed before their last chunk

    @property
    def _llm_type(self) -> str:
        return "logprob-chat"

    def _entries(self, kwargs: dict) -> list[dict] | None:
        if not kwargs.get("logprobs"):
            return None
        k = kwargs.get("top_logprobs") or 0
        return [entry(t, p, k) for t, p in zip(TOKENS, TOP_P, strict=True)]

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        self.calls.append(dict(kwargs))
        info: dict[str, Any] = {"finish_reason": "stop"}
        entries = self._entries(kwargs)
        if entries is not None:
            info["logprobs"] = {"content": entries}
        message = AIMessage("".join(TOKENS))
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any):
        self.calls.append({"stream": True, **kwargs})
        entries = self._entries(kwargs) or [None] * len(TOKENS)
        sent = 0
        try:
            for token, one in zip(TOKENS, entries, strict=True):
                info = {"logprobs": {"content": [one]}} if one else None
                sent += 1
                yield ChatGenerationChunk(message=AIMessageChunk(token), generation_info=info)
            yield ChatGenerationChunk(
                message=AIMessageChunk(""), generation_info={"finish_reason": "stop"}
            )
        finally:
            self.streamed.append(sent)
            if sent < len(TOKENS):
                self.closed.append(sent)

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs: Any):
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            await asyncio.sleep(0)
            yield chunk


def test_a_model_that_declares_the_fields_gives_logprobs_and_others_do_not():
    assert ChatModelBackend(LogprobChat()).gives_logprobs is True
    assert ChatModelBackend(LogprobChat()).stops_traces is True
    plain = ChatModelBackend(GenericFakeChatModel(messages=iter(["The answer is 4."])))
    assert plain.gives_logprobs is False and plain.stops_traces is False
    assert ChatModelBackend(LogprobChat(), logprobs=False).gives_logprobs is False
    told = GenericFakeChatModel(messages=iter([]))
    assert ChatModelBackend(told, logprobs=True).gives_logprobs is True


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_logprobs_are_bound_when_asked_and_read_from_response_metadata(use_async):
    model = LogprobChat()
    backend = ChatModelBackend(model)
    params = SamplingParams(seed=3, top_logprobs=3)
    call = backend.asample if use_async else backend.sample
    draw = call(QUESTION, 2, params)
    draw = asyncio.run(draw) if use_async else draw
    assert [c["logprobs"] for c in model.calls] == [True, True]
    assert [c["top_logprobs"] for c in model.calls] == [3, 3]
    for completion in draw.completions:
        assert completion.logprobs == pytest.approx([math.log(p) for p in TOP_P])
        assert len(completion.top_logprobs) == len(TOKENS)
        first = completion.top_logprobs[0]  # descending: log 0.9, then log 0.05 twice
        assert first == pytest.approx((math.log(0.9), math.log(0.05), math.log(0.05)))
        # No usage metadata: the token count is the log-prob entries (one per token).
        assert completion.completion_tokens == len(TOKENS)


def test_no_logprobs_are_asked_for_when_the_request_does_not_want_them():
    model = LogprobChat()
    draw = ChatModelBackend(model).sample(QUESTION, 1, SamplingParams(seed=1))
    assert "logprobs" not in model.calls[0] and "top_logprobs" not in model.calls[0]
    assert draw.completions[0].logprobs is None and draw.completions[0].top_logprobs is None


def test_confidence_vote_runs_on_a_chat_model_that_reports_logprobs():
    graph = create_ttc_graph(ChatModelBackend(LogprobChat()), ConfidenceVote(n=3, seed=1))
    result = graph.invoke({"question": "What is 2+2?"})["ttc_result"]
    # Window 2048 > 5 tokens: the lowest group is the whole trace's mean token confidence,
    # C_i = -(1/k) sum of the top-k log-probs (Fu et al. 2025), k = 20 asked, 20 returned.
    k = ConfidenceSpec().top_k
    expected = sum(-(math.log(p) + (k - 1) * math.log((1 - p) / (k - 1))) / k for p in TOP_P) / 5
    assert [c["confidence"] for c in result["candidates"]] == pytest.approx([expected] * 3)
    assert result["answer"] == "4"


def test_a_chat_model_without_logprobs_is_refused_by_name():
    chat = ChatModelBackend(GenericFakeChatModel(messages=iter(["The answer is 4."] * 3)))
    with pytest.raises(TTCConfigError, match="ChatOpenAI"):
        create_ttc_graph(chat, ConfidenceVote(n=3))


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_stop_watch_streams_the_call_and_closes_it(use_async):
    """The watch sees each streamed token and stops after the third: the stream is closed
    there, the completion says ``stopped`` and counts the three tokens received."""
    model = LogprobChat()
    backend = ChatModelBackend(model)
    seen: list[tuple[float, tuple]] = []

    def watch():
        def on_token(logprob, top):
            seen.append((logprob, tuple(top)))
            return len(seen) >= 3

        return on_token

    params = SamplingParams(seed=1, top_logprobs=2)
    call = backend.asample if use_async else backend.sample
    draw = call(QUESTION, 1, params, stop_trace=watch)
    draw = asyncio.run(draw) if use_async else draw
    (completion,) = draw.completions
    assert model.calls[0]["stream"] is True and model.calls[0]["top_logprobs"] == 2
    assert completion.finish_reason == "stopped"
    assert completion.text == "The answer is"
    assert completion.completion_tokens == 3 == len(completion.logprobs)
    assert model.closed == [3]  # the generator was closed after the third token
    assert [lp for lp, _ in seen] == pytest.approx([math.log(p) for p in TOP_P[:3]])
    assert seen[0][1] == pytest.approx((math.log(0.9), math.log(0.1)))


def test_an_unstopped_stream_finishes_normally():
    model = LogprobChat()
    draw = ChatModelBackend(model).sample(
        QUESTION, 1, SamplingParams(seed=1, top_logprobs=2), stop_trace=lambda: lambda lp, t: False
    )
    (completion,) = draw.completions
    assert completion.finish_reason == "stop" and completion.text == "".join(TOKENS)
    assert completion.completion_tokens == len(TOKENS) and model.closed == []


def test_deepconf_online_stops_chat_model_traces_below_the_threshold():
    """All traces are alike, so the warm-up threshold (eta 10: the 90th percentile of equal
    values) equals each trace's lowest group confidence: later traces are not below it and
    run to the end; a stricter watch (threshold above every window) stops each at window 2."""
    model = LogprobChat()
    backend = ChatModelBackend(model)
    graph = create_ttc_graph(
        backend,
        DeepConfOnline(n=6, warmup=2, step=2, tau=1.0, seed=0),
        confidence=ConfidenceSpec(window=2),
    )
    result = graph.invoke({"question": "What is 2+2?"})["ttc_result"]
    assert result["plan"]["options"]["threshold"] is not None
    assert sum(1 for c in model.calls if c.get("stream")) == len(result["candidates"]) - 2
    spec = ConfidenceSpec(window=2, top_k=2)
    draw = backend.sample(
        QUESTION, 2, SamplingParams(seed=1, top_logprobs=2), stop_trace=lambda: spec.watch(99.0)
    )
    assert [c.finish_reason for c in draw.completions] == ["stopped", "stopped"]
    assert [c.completion_tokens for c in draw.completions] == [2, 2]

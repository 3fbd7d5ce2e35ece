"""`langgraph-ttc serve` end to end: uvicorn on a free 127.0.0.1 port (stopped even on failure),
real clients (the openai SDK, sync and async; raw HTTP for malformed input) against the instant
OpenAI-compatible server and a test upstream that counts requests in flight."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import FakeListChatModel, GenericFakeChatModel
from serve_upstream import SlowUpstream

from langgraph_ttc.serve import Limits, create_app
from langgraph_ttc.serve.background import BackgroundServer
from langgraph_ttc.strategies import STRATEGIES
from langgraph_ttc.testing.instant_server import InstantServer

QUESTION = [{"role": "user", "content": "What is 7 + 5?"}]
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[InstantServer]:
    with InstantServer(honour_n=False) as server:  # like llama.cpp: one choice per request
        yield server


@pytest.fixture
def server(serve, upstream) -> BackgroundServer:
    return serve(create_app(upstream.base_url, api_keys=[]))


def client(server: BackgroundServer, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, **options)


def post(url: str, data: bytes, headers: dict | None = None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url, data, {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), json.load(reply)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.load(err)


# -- the reply ------------------------------------------------------------------------------------
def test_majority_reply_counts_every_internal_call(server, upstream):
    before = upstream.stats.requests
    # Named, so no model listing is counted (the backend counts a listing as a request).
    reply = client(server).chat.completions.create(model="majority@8/instant", messages=QUESTION)
    ttc = reply.model_extra["ttc"]
    sent = upstream.stats.requests - before
    assert reply.object == "chat.completion" and reply.model == "majority@8/instant"
    assert ttc["calls"] == 8 and ttc["requests"] == sent == 8  # the upstream ignores n
    assert sum(ttc["tally"].values()) == 8
    assert reply.choices[0].message.content.endswith(f"The answer is {ttc['answer']}.")
    assert reply.usage.prompt_tokens == ttc["by_purpose"]["generate"]["prompt_tokens"] > 0
    assert reply.usage.completion_tokens == ttc["by_purpose"]["generate"]["completion_tokens"]
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.completion_tokens_details.reasoning_tokens == 0
    assert ttc["plan"]["width"] == 8 and ttc["method"] == "majority@8/instant"


def test_reasoning_tokens_are_summed_in_usage(serve):
    with InstantServer(reasoning="openai") as thinking:
        server = serve(create_app(thinking.base_url, api_keys=[]))
        reply = client(server).chat.completions.create(model="majority@3", messages=QUESTION)
    ttc = reply.model_extra["ttc"]
    thought = ttc["by_purpose"]["generate"]["reasoning_tokens"]
    assert thought > 0
    assert reply.usage.completion_tokens_details.reasoning_tokens == thought


def test_n_is_the_number_of_choices_each_its_own_run(server):
    reply = client(server).chat.completions.create(
        model="majority@4", messages=QUESTION, n=3, seed=11
    )
    ttc = reply.model_extra["ttc"]
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert len(ttc["choices"]) == 3 and all(run["calls"] == 4 for run in ttc["choices"])
    assert ttc["calls"] == 12
    per_choice = sum(run["by_purpose"]["generate"]["completion_tokens"] for run in ttc["choices"])
    assert reply.usage.completion_tokens == per_choice
    again = client(server).chat.completions.create(
        model="majority@4", messages=QUESTION, n=3, seed=11
    )
    assert [c.message.content for c in again.choices] == [c.message.content for c in reply.choices]


def test_tools_are_voted_and_returned_as_tool_calls(server):
    reply = client(server).chat.completions.create(
        model="majority@4", messages=QUESTION, tools=[ADD]
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "add"
    assert isinstance(json.loads(call.function.arguments), dict)
    tally = reply.model_extra["ttc"]["tally"]
    assert all(key.startswith("tool:add(") for key in tally) and sum(tally.values()) == 4


def test_tool_choice_none_answers_in_text(server):
    reply = client(server).chat.completions.create(
        model="majority@3", messages=QUESTION, tools=[ADD], tool_choice="none"
    )
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].finish_reason == "stop"


def test_response_format_is_refused_under_a_method_and_passed_through_plain(server, upstream):
    with pytest.raises(openai.BadRequestError, match="response_format") as err:
        client(server).chat.completions.create(
            model="majority@3", messages=QUESTION, response_format={"type": "json_object"}
        )
    assert err.value.body["param"] == "response_format"
    client(server).chat.completions.create(
        model="instant", messages=QUESTION, response_format={"type": "json_object"}
    )
    assert upstream.stats.bodies[-1]["response_format"] == {"type": "json_object"}


# -- method naming and precedence -----------------------------------------------------------------
def test_precedence_default_name_headers_body(serve, upstream):
    server = serve(create_app(upstream.base_url, api_keys=[], strategy="majority", n=3))
    chat = client(server).chat.completions
    calls = lambda reply: reply.model_extra["ttc"]["calls"]  # noqa: E731
    assert calls(chat.create(model="instant", messages=QUESTION)) == 3  # server default
    assert calls(chat.create(model="majority@5/instant", messages=QUESTION)) == 5  # name
    headers = {"X-TTC-N": "4"}
    assert calls(chat.create(model="majority@5", messages=QUESTION, extra_headers=headers)) == 4
    reply = chat.create(
        model="majority@5", messages=QUESTION, extra_headers=headers, extra_body={"ttc": {"n": 2}}
    )
    assert calls(reply) == 2  # the body wins
    plain = chat.create(model="none/instant", messages=QUESTION)
    assert "ttc" not in (plain.model_extra or {})  # an explicit pass-through


def test_headers_and_body_choose_the_strategy(server):
    chat = client(server).chat.completions
    reply = chat.create(
        model="instant", messages=QUESTION, extra_headers={"X-TTC-Strategy": "filter_vote"}
    )
    assert reply.model_extra["ttc"]["strategy"] == "filter_vote"
    assert set(reply.model_extra["ttc"]["by_purpose"]) == {"generate", "critique"}
    reply = chat.create(
        model="instant", messages=QUESTION, extra_body={"ttc": {"strategy": "majority", "n": 2}}
    )
    assert reply.model_extra["ttc"]["calls"] == 2


def test_budget_caps_the_calls(server):
    reply = client(server).chat.completions.create(
        model="majority@8", messages=QUESTION, extra_body={"ttc": {"budget": {"calls": 3}}}
    )
    assert reply.model_extra["ttc"]["calls"] == 3


def test_plain_name_passes_through_as_one_upstream_call(server, upstream):
    before = upstream.stats.requests
    reply = client(server).chat.completions.create(model="instant", messages=QUESTION, seed=5)
    assert upstream.stats.requests - before == 1
    assert (
        upstream.stats.bodies[-1]["seed"] == 5 and upstream.stats.bodies[-1]["model"] == "instant"
    )
    assert reply.choices[0].message.content.startswith("Let me think")
    assert "ttc" not in (reply.model_extra or {})


def test_models_lists_upstream_and_method_names(server):
    ids = [m.id for m in client(server).models.list().data]
    assert ids[0] == "instant"
    assert {"majority/instant", "adaptive/instant", "deepconf_online/instant"} <= set(ids)


def test_completions_endpoint(server):
    reply = client(server).completions.create(model="majority@3", prompt="Q: What is 2 + 2?\nA:")
    assert reply.object == "text_completion" and reply.choices[0].text
    assert reply.model_extra["ttc"]["calls"] == 3
    plain = client(server).completions.create(model="instant", prompt="Q: 1+1?\nA:")
    assert plain.choices[0].text


# -- streaming ------------------------------------------------------------------------------------
def test_stream_is_standard_chunks_by_default(server):
    chunks = list(
        client(server).chat.completions.create(
            model="majority@4",
            messages=QUESTION,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    with_choices = [c for c in chunks if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert text.startswith("Let me think")
    assert with_choices[-1].choices[0].finish_reason == "stop"
    (usage_chunk,) = [c for c in chunks if not c.choices]  # only the usage chunk has none
    assert usage_chunk is chunks[-1] and usage_chunk.usage.total_tokens > 0
    assert usage_chunk.model_extra["ttc"]["calls"] == 4


def test_stream_without_include_usage_has_no_usage_chunk(server):
    chunks = list(
        client(server).chat.completions.create(model="majority@2", messages=QUESTION, stream=True)
    )
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    assert chunks[-1].model_extra["ttc"]["calls"] == 2  # the extension rides on the last chunk


def test_progress_events_on_request(server):
    chunks = list(
        client(server).chat.completions.create(
            model="majority@4",
            messages=QUESTION,
            stream=True,
            extra_body={"ttc": {"progress": True}},
        )
    )
    events = [c.model_extra["ttc"] for c in chunks if not c.choices]
    samples = [e for e in events if e["event"] == "sample"]
    assert len(samples) == 4 and all("answer" in e and e["choice"] == 0 for e in samples)
    answer_at = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    last_progress = max(i for i, c in enumerate(chunks) if not c.choices)
    assert last_progress < answer_at  # progress as it happens, then the answer


def test_stream_with_tools_and_choices(server):
    chunks = list(
        client(server).chat.completions.create(
            model="majority@3", messages=QUESTION, stream=True, tools=[ADD], n=2
        )
    )
    finished = {
        c.choices[0].index: c.choices[0].finish_reason
        for c in chunks
        if c.choices and c.choices[0].finish_reason
    }
    assert finished == {0: "tool_calls", 1: "tool_calls"}
    calls = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 2 and all(call.function.name == "add" for call in calls)


def test_plain_stream_is_relayed_as_it_arrives(server):
    pieces = [
        c.choices[0].delta.content
        for c in client(server).chat.completions.create(
            model="instant", messages=QUESTION, stream=True
        )
        if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 3  # one chunk per upstream token, not one block


async def test_async_client_concurrent_requests(server):
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as aclient:
        replies = await asyncio.gather(
            *(
                aclient.chat.completions.create(model="majority@3", messages=QUESTION)
                for _ in range(5)
            )
        )
        stream = await aclient.chat.completions.create(
            model="majority@3", messages=QUESTION, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert all(r.model_extra["ttc"]["calls"] == 3 for r in replies)
    assert text.startswith("Let me think")


# -- bad input, limits, keys ----------------------------------------------------------------------
def test_malformed_json_is_a_400(server):
    status, _, body = post(server.base_url + "/chat/completions", b"{not json")
    assert status == 400 and body["error"]["code"] == "invalid_json"
    assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"model": "majorty@8/instant"}, "model"),
        ({"extra_body": {"ttc": {"strategy": "nope"}}}, "ttc.strategy"),
        ({"n": 9}, "n"),
        ({"model": "majority@65"}, "ttc.n"),
        ({"extra_body": {"ttc": {"budget": {"calls": 1000}}}}, "ttc.budget.calls"),
        ({"extra_body": {"ttc": {"budget": {"calls": 0}}}}, "ttc.budget.calls"),
        ({"extra_body": {"ttc": {"wat": 1}}}, "ttc"),
        ({"temperature": 5}, "temperature"),
        ({"messages": []}, "messages"),
        ({"model": "majority@3", "logprobs": True}, "logprobs"),
    ],
)
def test_bad_requests_are_400_with_the_param(server, options, param):
    request = {"model": "majority@4", "messages": QUESTION, **options}
    with pytest.raises(openai.BadRequestError) as err:
        client(server).chat.completions.create(**request)
    assert err.value.status_code == 400 and err.value.body["param"] == param


def test_server_caps_cannot_be_exceeded(serve, upstream):
    server = serve(create_app(upstream.base_url, api_keys=[], limits=Limits(max_calls=6)))
    chat = client(server).chat.completions
    with pytest.raises(openai.BadRequestError, match="cap of 6 calls"):
        chat.create(model="majority@4", messages=QUESTION, n=2)
    reply = chat.create(model="majority", messages=QUESTION)  # default n=8, cut to the cap
    assert reply.model_extra["ttc"]["calls"] == 6


def test_api_keys(serve, upstream):
    server = serve(create_app(upstream.base_url, api_keys=["k-1", "k-2"]))
    with pytest.raises(openai.AuthenticationError) as err:
        openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0).models.list()
    assert err.value.status_code == 401
    ok = openai.OpenAI(base_url=server.base_url, api_key="k-2", max_retries=0)
    assert ok.chat.completions.create(model="majority@2", messages=QUESTION).choices
    status, _, body = post(server.base_url + "/chat/completions", b"{}")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"


def test_body_size_limit(serve, upstream):
    server = serve(create_app(upstream.base_url, api_keys=[], limits=Limits(max_body_bytes=2000)))
    big = json.dumps({"model": "majority@2", "messages": [{"role": "user", "content": "x" * 5000}]})
    status, _, body = post(server.base_url + "/chat/completions", big.encode())
    assert status == 413 and body["error"]["code"] == "too_large"


def test_upstream_rate_limit_is_a_429_with_retry_after(server, upstream):
    upstream.inject("429", times=1, retry_after=7)
    with pytest.raises(openai.RateLimitError) as err:
        client(server).chat.completions.create(model="instant", messages=QUESTION)
    assert err.value.response.headers["retry-after"] == "7"


def test_upstream_down_under_a_method_is_a_503(serve):
    with InstantServer() as dying:
        url = dying.base_url
    server = serve(create_app(url, model="instant", api_keys=[]))
    with pytest.raises(openai.APIStatusError) as err:
        client(server).chat.completions.create(model="majority@2", messages=QUESTION)
    assert err.value.status_code == 503
    assert err.value.response.headers["retry-after"]


def test_full_queue_is_a_503_with_retry_after(serve):
    with SlowUpstream(delay_s=1.5) as slow:
        app = create_app(slow.base_url, api_keys=[], limits=Limits(max_running=1, max_waiting=0))
        server = serve(app)

        async def both():
            async with openai.AsyncOpenAI(
                base_url=server.base_url, api_key="x", max_retries=0
            ) as aclient:
                first = asyncio.create_task(
                    aclient.chat.completions.create(model="slow", messages=QUESTION)
                )
                while slow.in_flight == 0:
                    await asyncio.sleep(0.01)
                with pytest.raises(openai.InternalServerError) as err:
                    await aclient.chat.completions.create(model="slow", messages=QUESTION)
                await first
                return err.value

        refused = asyncio.run(both())
    assert refused.status_code == 503 and refused.response.headers["retry-after"] == "1"
    assert refused.body["code"] == "queue_full"


# -- observability --------------------------------------------------------------------------------
def test_metrics_and_health(server):
    client(server).chat.completions.create(model="majority@3", messages=QUESTION)
    with urllib.request.urlopen(server.url + "/metrics") as reply:
        text = reply.read().decode()
    assert re.search(
        r'ttc_requests_total\{endpoint="chat",method="majority",status="200"\} \d', text
    )
    assert re.search(r'ttc_calls_total\{purpose="generate"\} \d', text)
    assert 'ttc_tokens_total{kind="completion",purpose="generate"}' in text
    assert "ttc_request_seconds_bucket" in text and "ttc_budget_stops_total" in text
    with urllib.request.urlopen(server.url + "/health") as reply:
        assert json.load(reply)["status"] == "ok"


class Runs(BaseCallbackHandler):
    """Records every run's id, parent and name."""

    def __init__(self) -> None:
        self.runs: dict[uuid.UUID, tuple[uuid.UUID | None, str]] = {}

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kw):
        self.runs[run_id] = (parent_run_id, kw.get("name") or (serialized or {}).get("name"))

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kw):
        self.runs[run_id] = (parent_run_id, "chat_model")

    def root_of(self, run_id):
        while self.runs[run_id][0] is not None:
            run_id = self.runs[run_id][0]
        return run_id


def test_each_request_is_one_run_tree(serve):
    runs = Runs()
    model = FakeListChatModel(responses=["The answer is 4."])
    server = serve(create_app(model, api_keys=[], callbacks=[runs]))
    client(server).chat.completions.create(model="majority@3", messages=QUESTION, n=2)
    roots = {runs.root_of(r) for r in runs.runs}
    assert len(roots) == 1
    (root,) = roots
    assert runs.runs[root][1] == "ttc-serve"
    model_calls = [r for r, (_, name) in runs.runs.items() if name == "chat_model"]
    assert len(model_calls) == 6  # 2 choices x 3 samples, every one inside the request's tree
    client(server).chat.completions.create(model="majority@2", messages=QUESTION)
    assert len({runs.root_of(r) for r in runs.runs}) == 2  # a second request, a second tree


def test_every_call_rate_limited_under_a_method_is_a_429(serve):
    with InstantServer() as limited:
        server = serve(create_app(limited.base_url, model="instant", api_keys=[]))
        limited.inject("429", times=1000, retry_after=0.01)  # past every retry
        with pytest.raises(openai.RateLimitError) as err:
            client(server).chat.completions.create(model="majority@2", messages=QUESTION)
    assert err.value.response.headers["retry-after"] == "1"
    assert err.value.body["code"] == "upstream_overloaded"


def test_plain_name_over_a_chat_model_streams_its_own_chunks(serve):
    model = GenericFakeChatModel(messages=iter(["The answer is 4, said slowly."] * 3))
    server = serve(create_app(model, api_keys=[]))
    name = client(server).models.list().data[0].id
    pieces = [
        c.choices[0].delta.content
        for c in client(server).chat.completions.create(model=name, messages=QUESTION, stream=True)
        if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == "The answer is 4, said slowly." and len(pieces) > 3
    whole = client(server).chat.completions.create(model=name, messages=QUESTION)
    assert whole.choices[0].message.content == "The answer is 4, said slowly."


def test_prompts_and_keys_never_reach_the_logs(serve, caplog):
    secret_prompt = "SECRET-PROMPT-7f3a what is 1 + 1?"
    with InstantServer() as upstream:
        server = serve(create_app(upstream.base_url, model="instant", api_keys=["sk-SECRET-KEY"]))
        keyed = openai.OpenAI(base_url=server.base_url, api_key="sk-SECRET-KEY", max_retries=0)
        message = [{"role": "user", "content": secret_prompt}]
        with caplog.at_level("DEBUG"):
            keyed.chat.completions.create(model="majority@2", messages=message)
            keyed.chat.completions.create(model="instant", messages=message)
            list(keyed.chat.completions.create(model="majority@2", messages=message, stream=True))
            upstream.inject("echo_auth", times=10)
            with pytest.raises(openai.APIStatusError):
                keyed.chat.completions.create(model="majority@2", messages=message)
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(
                    base_url=server.base_url, api_key="sk-WRONG-KEY", max_retries=0
                ).chat.completions.create(model="majority@2", messages=message)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # the failures above were logged...
    for secret in ("SECRET-PROMPT-7f3a", "sk-SECRET-KEY", "sk-WRONG-KEY"):
        assert secret not in logged  # ...without a prompt or a key


@pytest.fixture(scope="module")
def n_server(upstream):
    """A server over an upstream that honours n (like vLLM), shared by the registry sweep."""
    with InstantServer(honour_n=True) as vllm_like:
        app = create_app(vllm_like.base_url, model="instant", api_keys=[])
        with BackgroundServer(app) as server:
            yield server


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_registered_strategy_is_served(n_server, strategy):
    reply = client(n_server).chat.completions.create(
        model=f"{strategy}@8", messages=QUESTION, max_tokens=32
    )
    ttc = reply.model_extra["ttc"]
    assert ttc["strategy"] == strategy and "generate" in ttc["by_purpose"]
    assert 1 <= ttc["calls"] <= Limits().max_calls
    assert reply.usage.completion_tokens == sum(
        p["completion_tokens"] for p in ttc["by_purpose"].values()
    )


def test_plain_call_gets_n_choices_from_an_upstream_that_ignores_n(server, upstream):
    before = upstream.stats.requests
    reply = client(server).chat.completions.create(model="instant", messages=QUESTION, n=3, seed=40)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert upstream.stats.requests - before == 3  # one n=3 call, then two single ones
    # The two top-up calls run concurrently, so they may reach the upstream in either order.
    assert sorted(b["seed"] for b in upstream.stats.bodies[-2:]) == [41, 42]
    single = client(server).chat.completions.create(model="instant", messages=QUESTION, seed=40)
    assert reply.usage.completion_tokens > single.usage.completion_tokens


def test_upstream_rate_limit_on_a_plain_stream_keeps_its_status(server, upstream):
    upstream.inject("429", times=1, retry_after=3)
    with pytest.raises(openai.RateLimitError) as err:
        client(server).chat.completions.create(model="instant", messages=QUESTION, stream=True)
    assert err.value.response.headers["retry-after"] == "3"


def test_tool_choice_reaches_every_sample(server, upstream):
    forced = {"type": "function", "function": {"name": "add"}}
    before = len(upstream.stats.bodies)
    reply = client(server).chat.completions.create(
        model="majority@3/instant", messages=QUESTION, tools=[ADD], tool_choice=forced
    )
    sent = upstream.stats.bodies[before:]
    assert len(sent) == 3 and all(b["tool_choice"] == forced for b in sent)
    assert all(b["tools"][0]["function"]["name"] == "add" for b in sent)
    assert reply.choices[0].message.tool_calls[0].function.name == "add"

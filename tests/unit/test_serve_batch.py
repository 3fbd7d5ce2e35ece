"""A list prompt on /v1/completions: prompt by prompt (n choices each, in OpenAI's order), and
under a batch budget one batch with one total budget (the batch allocator), in process with
Starlette's TestClient over deterministic fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from langgraph_ttc.allocation import BatchAllocation
from langgraph_ttc.batch import BatchAllocator
from langgraph_ttc.nodes.context import TTCContext
from langgraph_ttc.serve import Limits, create_app
from langgraph_ttc.testing import FakeBackend

EASY, HARD, ALSO_EASY = "Easy: what is 2 + 2?", "Hard: which of three?", "Easy: what is 1 + 3?"


def split_vote(messages, seed) -> str:
    """Easy questions: always 4. The hard one: a vote split three ways by the sample's seed."""
    if str(messages[-1].content).startswith("Easy"):
        return "Adding up. The answer is 4."
    return f"Hmm. The answer is {(seed or 0) % 3}."


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(reply=split_vote, honours_n=False)


@pytest.fixture
def client(backend) -> Iterator[TestClient]:
    with TestClient(create_app(backend, api_keys=[], limits=Limits(max_calls=64))) as c:
        yield c


def completions(client: TestClient, headers: dict | None = None, **body):
    return client.post("/v1/completions", json={"model": "majority", **body}, headers=headers)


def test_a_batch_spends_one_budget_where_the_votes_split(client, backend):
    prompts = [EASY, HARD, ALSO_EASY]
    reply = completions(client, prompt=prompts, seed=0, ttc={"batch_budget": 4, "batch_cap": 8})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    ttc = body["ttc"]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert body["choices"][0]["text"] == body["choices"][2]["text"] == "Adding up. The answer is 4."
    assert body["choices"][1]["text"].endswith(f"The answer is {ttc['choices'][1]['answer']}.")
    spent = [c["samples"] for c in ttc["choices"]]
    # The whole budget (4 x 3 prompts) is spent, most of it on the split vote.
    assert sum(spent) == ttc["batch"]["samples"] == ttc["calls"] == len(backend.seen) == 12
    assert spent == [2, 8, 2]  # the easy prompts stop on their first two agreeing samples
    assert ttc["batch"] == {"budget": 4.0, "cap": 8, "allowed": 12, "samples": 12,
                            "rounds": ttc["batch"]["rounds"], "pooled": None}  # fmt: skip
    assert sum(ttc["choices"][1]["tally"].values()) == spent[1]
    generate = ttc["by_purpose"]["generate"]
    assert body["usage"]["prompt_tokens"] == generate["prompt_tokens"] > 0
    assert body["usage"]["completion_tokens"] == generate["completion_tokens"] > 0


def test_a_batch_is_the_batch_allocators_run_with_the_same_seed(client):
    """The server adds nothing of its own: the allocator's answers and samples, per prompt."""
    prompts = [HARD, EASY, HARD + " again"]
    reply = completions(client, prompt=prompts, seed=3, ttc={"batch_budget": 3}).json()
    allocator = BatchAllocator(
        TTCContext.create(FakeBackend(reply=split_vote), "majority"),
        BatchAllocation(budget=3, start=2, chunk=2, cap=32),
        seed=3,
    )
    direct = allocator.batch(prompts)
    assert [c["answer"] for c in reply["ttc"]["choices"]] == [r["answer"] for r in direct]
    assert [c["samples"] for c in reply["ttc"]["choices"]] == [r["samples"] for r in direct]


def test_a_pooled_batch_is_the_allocators_run_with_the_batch_s_prior(client):
    """``batch_pooled`` (body or header): the allocator with the batch's own prior (opt-in)."""
    prompts = [HARD, HARD + " again", HARD + " 3", HARD + " 4", EASY, ALSO_EASY]

    def direct(pooled):
        allocator = BatchAllocator(
            TTCContext.create(FakeBackend(reply=split_vote), "majority"),
            BatchAllocation(budget=4, start=2, chunk=2, cap=32, pooled=pooled),
            seed=1,
        )
        return [r["samples"] for r in allocator.batch(prompts)]

    pooled = direct(5.0)
    assert pooled != direct(None)  # here the batch's prior moves samples
    for headers, ttc in (({}, {"batch_budget": 4, "batch_pooled": 5}),
                         ({"X-TTC-Batch-Pooled": "5"}, {"batch_budget": 4})):  # fmt: skip
        reply = completions(client, headers, prompt=prompts, seed=1, ttc=ttc)
        assert [c["samples"] for c in reply.json()["ttc"]["choices"]] == pooled
        assert reply.json()["ttc"]["batch"]["pooled"] == 5.0  # the reply says it was used
    reply = completions(client, prompt=prompts, ttc={"batch_budget": 3, "batch_pooled": -1})
    assert reply.status_code == 400 and "ttc.batch_pooled must be a number >= 0" in reply.text


def test_all_easy_prompts_may_stop_below_the_budget(client, backend):
    reply = completions(client, prompt=[EASY, ALSO_EASY], ttc={"batch_budget": 6, "batch_cap": 4})
    ttc = reply.json()["ttc"]
    # Each prompt is capped at 4, so 8 of the 12 allowed calls can be spent at most.
    assert ttc["batch"]["allowed"] == 12 and ttc["calls"] == len(backend.seen) <= 8
    assert [c["answer"] for c in ttc["choices"]] == ["4", "4"]


def test_batch_budget_from_headers_and_the_body_wins(client, backend):
    headers = {"X-TTC-Batch-Budget": "2", "X-TTC-Batch-Cap": "2"}
    reply = completions(client, headers, prompt=[EASY, HARD])
    assert reply.status_code == 200 and reply.json()["ttc"]["calls"] == 4
    headers = {"X-TTC-Batch-Budget": "2"}
    reply = completions(client, headers, prompt=[EASY, HARD], ttc={"batch_budget": 3})
    assert reply.json()["ttc"]["batch"]["budget"] == 3.0 and reply.json()["ttc"]["calls"] == 6
    # The method's n caps a prompt when no batch_cap is given; one string is a batch of one.
    reply = completions(client, prompt=HARD, model="majority@4", ttc={"batch_budget": 8})
    assert reply.json()["ttc"]["batch"]["cap"] == 4 and 2 <= reply.json()["ttc"]["calls"] <= 4


def test_a_batch_counts_in_the_metrics(client):
    assert completions(client, prompt=[EASY, HARD], ttc={"batch_budget": 2}).status_code == 200
    page = client.get("/metrics").text
    assert 'ttc_requests_total{endpoint="completions",method="batch",status="200"} 1.0' in page
    assert 'ttc_calls_total{purpose="generate"} 4.0' in page


@pytest.mark.parametrize(
    ("body", "headers", "param", "says"),
    [
        ({"ttc": {"batch_budget": 0}}, None, "ttc.batch_budget", "number >= 1"),
        ({"ttc": {"batch_budget": "many"}}, None, "ttc.batch_budget", "number >= 1"),
        ({}, {"X-TTC-Batch-Budget": "nan"}, "X-TTC-Batch-Budget", "number >= 1"),
        ({"ttc": {"batch_budget": 4, "batch_cap": 1}}, None, "ttc.batch_cap", "at least 2"),
        ({"ttc": {"batch_budget": 2}, "n": 2}, None, "n", "n > 1"),
        ({"ttc": {"batch_budget": 2}, "stream": True}, None, "stream", "stream=false"),
        ({"ttc": {"batch_budget": 40}}, None, "ttc.batch_budget", "80 calls exceeds"),
        ({"ttc": {"batch_budget": 2, "batch_cap": 65}}, None, "ttc.batch_cap", "cap of 64"),
        ({"ttc": {"batch_budget": 2}, "model": "best_of_n"}, None, "ttc.batch_budget", "cannot"),
        ({"ttc": {"batch_budget": 2}, "model": "none/fake"}, None, "ttc.batch_budget", "method"),
        ({"ttc": {"batch_budget": 2}, "prompt": [EASY, 7]}, None, "prompt", "token arrays"),
        ({"ttc": {"batch_budget": 2}, "echo": True}, None, "echo", "cannot be honoured"),
    ],
)
def test_bad_batches_are_400s_naming_the_param(client, body, headers, param, says):
    reply = completions(client, headers, **{"prompt": [EASY, HARD], **body})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and says in error["message"]
    assert error["type"] == "invalid_request_error"


def test_a_batch_on_chat_or_past_the_prompt_cap_is_refused(backend):
    with TestClient(create_app(backend, api_keys=[], limits=Limits(max_prompts=2))) as client:
        chat = client.post(
            "/v1/chat/completions",
            json={"model": "majority", "messages": [{"role": "user", "content": EASY}],
                  "ttc": {"batch_budget": 2}},
        )  # fmt: skip
        assert chat.status_code == 400 and "list 'prompt'" in chat.json()["error"]["message"]
        many = completions(client, prompt=[EASY] * 3, ttc={"batch_budget": 2})
        assert many.status_code == 400 and many.json()["error"]["code"] == "too_many_prompts"
        plain = completions(client, prompt=[EASY] * 3, model="majority@2")
        assert plain.status_code == 400 and "at most 2 prompts" in plain.json()["error"]["message"]
    assert backend.seen == []


def test_a_batch_whose_every_call_fails_is_a_503():
    failing = FakeBackend(reply=split_vote, fail=lambda messages, seed: True)
    with TestClient(create_app(failing, api_keys=[])) as client:
        reply = completions(client, prompt=[EASY, HARD], ttc={"batch_budget": 2})
    assert reply.status_code == 503 and reply.headers["retry-after"] == "1"


def test_adaptive_batches_with_the_servers_policy(client):
    reply = completions(client, model="adaptive", prompt=[EASY, HARD], ttc={"batch_budget": 3})
    assert reply.status_code == 200 and reply.json()["ttc"]["strategy"] == "adaptive"
    assert reply.json()["ttc"]["calls"] <= 6


# -- a list prompt without a batch budget: each prompt its own run, as OpenAI answers it ------------
def test_a_list_prompt_is_answered_prompt_by_prompt(client, backend):
    reply = completions(client, model="majority@3", prompt=[EASY, HARD], n=2, seed=1)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    texts = [c["text"] for c in body["choices"]]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    assert texts[:2] == ["Adding up. The answer is 4."] * 2  # prompt 0's two choices
    assert all(t.startswith("Hmm.") for t in texts[2:])  # then prompt 1's
    assert body["ttc"]["calls"] == sum(backend.seen) == 12 and len(body["ttc"]["choices"]) == 4


def test_a_plain_list_prompt_gets_n_choices_per_prompt():
    backend = FakeBackend(reply=lambda messages, seed: f"Said: {messages[-1].content}")
    with TestClient(create_app(backend, api_keys=[])) as client:
        reply = client.post(
            "/v1/completions", json={"model": "fake", "prompt": ["one", "two"], "n": 2}
        ).json()
        streamed = client.post(
            "/v1/completions", json={"model": "fake", "prompt": ["one", "two"], "stream": True}
        ).text
    assert [c["text"] for c in reply["choices"]] == ["Said: one"] * 2 + ["Said: two"] * 2
    assert [c["index"] for c in reply["choices"]] == [0, 1, 2, 3]
    assert reply["usage"]["prompt_tokens"] > 0 and "ttc" not in reply
    assert "Said: one" in streamed and "Said: two" in streamed and streamed.endswith("[DONE]\n\n")


def test_a_streamed_list_prompt_under_a_method_numbers_every_choice(client):
    text = completions(client, model="majority@2", prompt=[EASY, HARD], stream=True).text
    assert '"index":0' in text and '"index":1' in text and '"ttc"' in text
    assert text.endswith("data: [DONE]\n\n")


def test_a_batch_is_one_run_tree_for_callbacks(backend):
    from langchain_core.callbacks import BaseCallbackHandler

    class Roots(BaseCallbackHandler):
        def __init__(self) -> None:
            self.runs: list[tuple[str, list, object]] = []

        def on_chain_start(self, serialized, inputs, *, tags=None, parent_run_id=None, **kw):
            self.runs.append((kw.get("name"), list(tags or []), parent_run_id))

    handler = Roots()
    with TestClient(create_app(backend, api_keys=[], callbacks=[handler])) as client:
        reply = completions(client, prompt=[EASY, HARD], ttc={"batch_budget": 2})
    assert reply.status_code == 200
    assert handler.runs == [("ttc-serve", ["ttc:serve", "ttc:batch"], None)]


def test_a_prompt_without_an_answer_shows_its_first_completion():
    unsure = FakeBackend(reply=lambda messages, seed: "I would rather not say.")
    with TestClient(create_app(unsure, api_keys=[])) as client:
        reply = completions(client, prompt=[EASY, HARD], ttc={"batch_budget": 2}).json()
    assert [c["text"] for c in reply["choices"]] == ["I would rather not say."] * 2
    assert [c["answer"] for c in reply["ttc"]["choices"]] == [None, None]

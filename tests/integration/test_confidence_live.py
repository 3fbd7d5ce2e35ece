"""DeepConf online and Adaptive-Consistency end to end on the real Gemma 3 270M: in process
(the embedded backend) and behind a real llama.cpp OpenAI-compatible server (streamed requests).

Structural facts only, never the weak model's accuracy: a stopped trace says ``stopped``, has no
answer and fewer tokens than the same sample (same seed) drawn to its end; a run makes at most
``n`` calls; the tokens it counts are no more than the same draw without stopping generates; the
Bayesian stop fired exactly where the run stopped. Seeds are fixed, so each run is reproducible.

llama.cpp's server notes: its ``interrupt_requests`` setting (default on) ends a stream in
progress when another request arrives, so the fixture starts it with ``--interrupt_requests
False`` and two streams are in flight here (the server queues the second); and it computes log-probabilities by sorting the whole 262k-token
vocabulary in Python per token (``logits_all`` for unstreamed ones), about 0.4 s a token on two
cores, so the confidence runs are kept small.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.backends import OpenAICompatibleBackend
from langgraph_ttc.backends.embedded import EmbeddedBackend
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.methods import AdaptiveConsistency, DeepConfOnline
from langgraph_ttc.nodes import TTCContext
from langgraph_ttc.stopping import BayesianStop, Votes
from langgraph_ttc.tasks import load_task

pytestmark = pytest.mark.integration

SPEC = ConfidenceSpec(window=4, top_k=5)  # short answers: groups of 4 tokens
ARITHMETIC = load_task("rg:basic_arithmetic", size=2, config={"max_terms": 2, "max_digits": 1})
EASY = load_task(
    "rg:basic_arithmetic",
    size=2,
    config={"max_terms": 2, "max_digits": 1, "operators": ["+"], "allow_negation": False},
)


@pytest.fixture(scope="module")
def embedded() -> EmbeddedBackend:
    return EmbeddedBackend(n_threads=1)


def redraw(ctx: TTCContext, backend, question: str, seeds, *, logprobs: bool = True):
    """The same samples (same prompt and seeds) drawn to their end, without any watch."""
    prompt = ctx.prompt({"question": question, "ttc_question": question})
    params = ctx.params if logprobs else replace(ctx.params, top_logprobs=0)
    return [backend.sample(prompt, 1, params.with_seed(s)).completions[0] for s in seeds]


def check_deepconf_run(
    backend, task, strategy, *, problem: int = 0, redraw_logprobs: bool = True
) -> dict:
    question = task.problems()[problem].question
    graph = create_ttc_graph(backend, strategy, task=task, confidence=SPEC)
    result = graph.invoke({"question": question})["ttc_result"]
    candidates = result["candidates"]
    usage = result["usage"]
    assert result["plan"]["options"]["threshold"] is not None  # the warm-up set it
    assert usage["calls"] == len(candidates) <= strategy.n
    assert usage["completion_tokens"] == sum(c["completion_tokens"] for c in candidates)
    ctx = TTCContext.create(backend, strategy, task=task, confidence=SPEC)
    full = redraw(ctx, backend, question, [c["seed"] for c in candidates], logprobs=redraw_logprobs)
    stopped = [
        (c, f) for c, f in zip(candidates, full, strict=True) if c["finish_reason"] == "stopped"
    ]
    for candidate, whole in stopped:
        assert candidate["answer"] is None  # a stopped trace does not vote
        assert candidate["lowest_group"] < result["plan"]["options"]["threshold"]
        # Stopped at the first full window below the threshold: shorter than the same sample
        # to its end, or as long when that window ended on its last token.
        assert SPEC.window <= candidate["completion_tokens"] <= whole.completion_tokens
    assert all(c["finish_reason"] != "stopped" for c in candidates[: strategy.warmup])
    assert usage["completion_tokens"] <= sum(f.completion_tokens for f in full)
    return {"result": result, "stopped": len(stopped), "full": full}


def check_bayesian_run(backend, task, n: int, threshold: float = 0.95) -> dict:
    question = task.problems()[0].question
    strategy = AdaptiveConsistency(n=n, threshold=threshold, seed=2, max_tokens=32)
    result = create_ttc_graph(backend, strategy, task=task).invoke({"question": question})[
        "ttc_result"
    ]
    candidates = result["candidates"]
    answers = tuple(c["answer"] for c in candidates)
    rule = BayesianStop(strategy.threshold)
    assert result["usage"]["calls"] == len(candidates) <= n
    # The run stopped at the first sample where the rule fired, or drew all n if it never did.
    fired = [k for k in range(1, len(answers) + 1) if rule(Votes(answers[:k]))]
    assert fired[:1] == ([len(answers)] if len(candidates) < n else [])
    ctx = TTCContext.create(backend, strategy, task=task)
    seeds = [candidates[0]["seed"] + i for i in range(n)]  # the draw of n the run started
    full = redraw(ctx, backend, question, seeds, logprobs=False)
    assert [c["seed"] for c in candidates] == seeds[: len(candidates)]
    assert sum(c["completion_tokens"] for c in candidates) <= sum(f.completion_tokens for f in full)
    return {"result": result, "full": full}


# --- the embedded model -------------------------------------------------------------------------


def test_deepconf_online_on_the_embedded_model(embedded):
    strategy = DeepConfOnline(n=10, warmup=4, eta=50, tau=0.95, step=3, seed=3, max_tokens=32)
    run = check_deepconf_run(embedded, ARITHMETIC, strategy)
    assert run["stopped"] >= 1  # with the median as threshold, later traces do get stopped
    # The embedded model is reproducible: a trace that was not stopped is the full sample, and
    # a stopped one is its beginning.
    for candidate, whole in zip(run["result"]["candidates"], run["full"], strict=True):
        if candidate["finish_reason"] != "stopped":
            assert candidate["completion_tokens"] == whole.completion_tokens
        else:
            assert whole.text.strip().startswith(candidate["text"])


def test_adaptive_consistency_on_the_embedded_model(embedded):
    # Whether this weak model's answers settle within 10 depends on the llama.cpp build; the
    # check holds either way: the run stops exactly where the paper's criterion first fires.
    run = check_bayesian_run(embedded, EASY, n=10)
    assert 1 <= len(run["result"]["candidates"]) <= 10


# --- a real llama.cpp server, streamed --------------------------------------------------------


def server_backend(llama_server) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(
        llama_server.base_url,
        llama_server.model,
        mode="completion",
        max_concurrency=2,  # needs --interrupt_requests False (the fixture sets it)
        timeout_s=120,
    )


def test_deepconf_online_on_the_llama_server(llama_server):
    backend = server_backend(llama_server)
    # Three warm-up traces and the median as threshold: two of them vote, and the second
    # question's answers scatter, so the run goes on past the warm-up and stops traces.
    strategy = DeepConfOnline(n=4, warmup=3, eta=50, tau=0.95, step=1, seed=3, max_tokens=24)
    # The full draws are redrawn without log-probabilities (fast on this server; same seeds,
    # same samples: log-probabilities do not change what is sampled).
    run = check_deepconf_run(backend, ARITHMETIC, strategy, problem=1, redraw_logprobs=False)
    assert run["stopped"] >= 1
    result = run["result"]
    assert all(c["confidence"] is not None for c in result["candidates"] if c["ok"])


def test_adaptive_consistency_on_the_llama_server(llama_server):
    # A looser threshold (0.8: three votes to one settle it) so this weak model stops early;
    # the paper's 0.95 is what the embedded test above uses.
    run = check_bayesian_run(server_backend(llama_server), ARITHMETIC, n=8, threshold=0.8)
    assert len(run["result"]["candidates"]) < 8

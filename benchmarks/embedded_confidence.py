"""What token confidence costs on the embedded model: tokens/s with and without top-k log-probs.

The embedded backend reads the last position's logits at each sampling step (no ``logits_all``)
and keeps the sampled token's log-probability and the top-k log-probabilities. This script
samples the same prompts with the same seeds with log-probabilities off and with
``top_logprobs=k`` on, alternating the two (off, on, on, off, ...) so that a change in machine
load hits both alike, and reports generation tokens/s for each and the slowdown (on a shared
machine the end-to-end numbers carry a few percent of noise, so it also times the log-prob step
alone on the model's real logits). It also checks that asking for log-probabilities does not
change a single sampled text.

Two workloads: ``long`` (fixed-length samples with no stop sequence, the per-token cost) and
``first`` (the generic few-shot prompt with short answers, as the first command runs).

Run (about 2 min on two cores)::

    TTC_THREADS=1 python benchmarks/embedded_confidence.py --top 20 --rounds 4
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from langchain_core.messages import AIMessage, HumanMessage

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.prompts import GENERIC_EXEMPLARS

NEVER = ("\x00<never>\x00",)  # a stop sequence the model never writes: fixed-length samples
STORIES = (
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle works.",
)
QUESTIONS = ("What is 3 + 4?", "What is 9 - 4?", "What is 6 * 3?", "What is 14 + 23?")


def generic(question: str):
    shots = []
    for q, a in GENERIC_EXEMPLARS:
        shots += [HumanMessage(q), AIMessage(a)]
    return [*shots, HumanMessage(question)]


def workload(name: str, tokens: int):
    if name == "long":
        params = SamplingParams(temperature=0.7, max_tokens=tokens, stop=NEVER)
        return [([HumanMessage(s)], params) for s in STORIES]
    return [(generic(q), SamplingParams(temperature=0.7, max_tokens=64)) for q in QUESTIONS]


def one_pass(backend, jobs, samples: int, top: int | None, seed: int):
    seconds, tokens, texts = 0.0, 0, []
    for index, (messages, params) in enumerate(jobs):
        if top is not None:
            params = replace(params, logprobs=True, top_logprobs=top)
        params = params.with_seed(seed + 100 * index)
        started = time.perf_counter()
        draw = backend.sample(messages, samples, params)
        seconds += time.perf_counter() - started
        tokens += draw.completion_tokens
        texts += [c.text for c in draw.completions]
    return seconds, tokens, texts


def step_cost_ms(backend, top: int, repeats: int = 200) -> float:
    """Milliseconds per token of the log-prob step alone, on the model's real last logits."""
    import llama_cpp
    import numpy as np

    from langgraph_ttc.backends._token_logprobs import step_logprobs

    llama = backend._llama
    pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
    logits = np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),))
    started = time.perf_counter()
    for token in range(repeats):
        step_logprobs(logits, token, top)
    return 1000 * (time.perf_counter() - started) / repeats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=20, help="top-k log-probabilities per step")
    parser.add_argument("--rounds", type=int, default=4, help="off/on pairs per workload")
    parser.add_argument("--samples", type=int, default=4, help="samples per prompt per pass")
    parser.add_argument("--tokens", type=int, default=96, help="tokens per long sample")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from langgraph_ttc.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(n_threads=args.threads)
    backend.sample([HumanMessage("Hello")], 1, SamplingParams(max_tokens=4, seed=0))  # load
    for name in ("long", "first"):
        jobs = workload(name, args.tokens)
        totals = {"off": [0.0, 0], "on": [0.0, 0]}
        same = True
        for r in range(args.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            texts = {}
            for mode in order:
                top = None if mode == "off" else args.top
                seconds, tokens, texts[mode] = one_pass(backend, jobs, args.samples, top, seed=r)
                totals[mode][0] += seconds
                totals[mode][1] += tokens
            same &= texts["off"] == texts["on"]
        off = totals["off"][1] / totals["off"][0]
        on = totals["on"][1] / totals["on"][0]
        print(
            f"{name:<6} tokens/s off={off:.1f} on(top-{args.top})={on:.1f} "
            f"slowdown={100 * (1 - on / off):.1f}% tokens={totals['on'][1]} "
            f"same_texts={same}",
            flush=True,
        )
    cost = step_cost_ms(backend, args.top)
    print(f"log-prob step alone: {cost:.3f} ms per token (vocabulary {backend._llama.n_vocab()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

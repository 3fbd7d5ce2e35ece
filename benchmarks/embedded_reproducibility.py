"""Seeded samples of the embedded model across histories, and what reproducibility costs.

1. Reproducibility: draw 4 seeded samples for each of several questions (the generic few-shot
   prompt), then draw them again in reverse order with an unrelated prompt sampled before each;
   count the samples whose text differs (0 is the goal).
2. Why, at the logits level: evaluate prompt A fresh, and A again after prompt B by reusing the
   KV cache of their common prefix (what llama-cpp-python does by default); print the largest
   logit difference at A's last position.
3. Cost: the backend evaluates a prompt in fixed chunks from position 0 and reuses only whole
   chunks shared with the previous prompt, where llama-cpp-python reused any shared prefix.
   Median seconds (of ``--repeats``) to evaluate a prompt fresh and after a prompt sharing its
   prefix, both ways, for the generic few-shot prompt and a critique prompt; with the mean
   seconds per sample, the cost per sample can be read off.

Run (about 1 min)::

    TTC_THREADS=1 python benchmarks/embedded_reproducibility.py
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.backends.transcript import render_transcript
from langgraph_ttc.prompts import GENERIC_EXEMPLARS

QUESTIONS = ("What is 3 + 4?", "What is 9 - 4?", "What is 14 + 23?", "What is 6 * 3?")


def generic(question: str):
    shots = []
    for q, a in GENERIC_EXEMPLARS:
        shots += [HumanMessage(q), AIMessage(a)]
    return [*shots, HumanMessage(question)]


def reproducibility(backend, seed: int) -> tuple[int, int, float]:
    params = SamplingParams(temperature=0.7, max_tokens=48, seed=seed)
    started = time.perf_counter()
    first = {
        q: [c.text for c in backend.sample(generic(q), 4, params).completions] for q in QUESTIONS
    }
    per_sample = (time.perf_counter() - started) / (4 * len(QUESTIONS))
    differ = 0
    for q in reversed(QUESTIONS):
        backend.sample(generic("How many legs does a cat have?"), 1, params.with_seed(seed + 1))
        again = [c.text for c in backend.sample(generic(q), 4, params).completions]
        differ += sum(a != b for a, b in zip(first[q], again, strict=True))
    return differ, 4 * len(QUESTIONS), per_sample


def prompt_pairs(llama) -> dict:
    """Two prompts that share a prefix, for the generic few-shot prompt and for a critique."""
    from langgraph_ttc.prompts import critique_messages

    class BaseModel:  # critique_messages only asks whether the backend needs exemplars
        needs_exemplars = True

    def tokens(messages):
        return llama.tokenize(render_transcript(messages).encode(), add_bos=True)

    return {
        "generic": (tokens(generic(QUESTIONS[0])), tokens(generic(QUESTIONS[1]))),
        "critique": (
            tokens(critique_messages(BaseModel(), QUESTIONS[0], "3 + 4 = 7. The answer is 7.")),
            tokens(critique_messages(BaseModel(), QUESTIONS[1], "The answer is 5.")),
        ),
    }


def shared_prefix(a: list[int], b: list[int]) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)


def logits_and_cost(backend, repeats: int) -> None:
    import llama_cpp

    llama = backend._llama

    def last_logits():
        pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).copy()

    # Before: llama-cpp-python evaluated a whole prompt, or only the suffix after the prefix it
    # shared with the KV cache (Llama.generate's prefix reuse).
    def old_fresh(tokens, other):
        llama.n_tokens = 0
        llama.eval(tokens)

    def old_suffix(tokens, other):
        llama.n_tokens = shared_prefix(tokens, other)
        llama.eval(tokens[llama.n_tokens :])

    # Now: chunks from position 0 and the last token alone; whole shared chunks are reused.
    def new_fresh(tokens, other):
        backend._evaluated_head = None
        new_next(tokens, other)

    def new_next(tokens, other):
        backend._evaluate_prompt(tokens)
        llama.eval(tokens[-1:])

    cases = {  # name: (evaluate the other prompt first?, how to evaluate the prompt)
        "old_fresh": (None, old_fresh),
        "old_after_other": (old_fresh, old_suffix),
        "new_fresh": (None, new_fresh),
        "new_after_other": (new_fresh, new_next),
    }
    for name, (a, b) in prompt_pairs(llama).items():
        logits, seconds = {}, {}
        for case, (before, evaluate) in cases.items():
            times = []
            for _ in range(repeats):
                if before is not None:
                    before(b, a)
                started = time.perf_counter()
                evaluate(a, b)
                times.append(time.perf_counter() - started)
                logits[case] = last_logits()
            seconds[case] = float(np.median(times))
        shifted = float(np.abs(logits["old_fresh"] - logits["old_after_other"]).max())
        same = bool(np.array_equal(logits["new_fresh"], logits["new_after_other"]))
        print(
            f"{name}: {len(a)} tokens, {shared_prefix(a, b)} shared with the other prompt; "
            f"max |logit diff| old fresh vs old prefix reuse: {shifted:.4f}; "
            f"new fresh == new after other: {same}"
        )
        print("  median seconds: " + ", ".join(f"{k}={v:.4f}" for k, v in seconds.items()))
    backend._evaluated_head = None  # the cache was changed behind the backend's back


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1685183005)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from langgraph_ttc.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(n_threads=args.threads)
    differ, total, per_sample = reproducibility(backend, args.seed)
    print(f"differing samples across histories: {differ} of {total}")
    print(f"mean seconds per sample (generic prompt, 4 per question): {per_sample:.3f}")
    logits_and_cost(backend, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

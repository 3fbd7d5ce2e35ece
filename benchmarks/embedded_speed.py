"""Sampling speed of the embedded model by thread count, on an idle and on a busy machine.

Each configuration runs in a fresh process (llama.cpp fixes its thread count when the model
loads). "busy" starts one CPU-bound process (``while True: pass``) for the duration of the
measurement and stops it afterwards, standing in for another program on the machine.

Two numbers per configuration:

* generation tokens/s: ``--tokens`` tokens per sample with no stop sequence, after one warm-up
  sample, over ``--samples`` seeded samples of one prompt (its evaluation is reused);
* seconds per first-command sample: the generic few-shot prompt with a fresh question each time
  (prompt evaluation included), stopping at the turn separator as the default run does.

Run (about 3 min on two cores)::

    python benchmarks/embedded_speed.py --threads 1,2 --busy 0,1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

NEVER = ("\x00<never>\x00",)  # a stop sequence the model never writes: fixed-length samples
QUESTIONS = ("What is 3 + 4?", "What is 9 - 4?", "What is 6 * 3?", "What is 14 + 23?")


def child(threads: int, samples: int, tokens: int) -> dict:
    from langchain_core.messages import AIMessage, HumanMessage

    from langgraph_ttc.backends.base import SamplingParams
    from langgraph_ttc.backends.embedded import EmbeddedBackend
    from langgraph_ttc.prompts import GENERIC_EXEMPLARS

    backend = EmbeddedBackend(n_threads=threads)
    story = [HumanMessage("Write a short story about a lighthouse keeper.")]
    long = SamplingParams(temperature=0.7, max_tokens=tokens, stop=NEVER, seed=1)
    backend.sample(story, 1, long)  # warm-up: load, evaluate the prompt once
    started = time.perf_counter()
    draw = backend.sample(story, samples, long.with_seed(100))
    gen_s = time.perf_counter() - started

    def prompt(question):
        shots = []
        for q, a in GENERIC_EXEMPLARS:
            shots += [HumanMessage(q), AIMessage(a)]
        return [*shots, HumanMessage(question)]

    short = SamplingParams(temperature=0.7, max_tokens=64, seed=7)
    started = time.perf_counter()
    first = [backend.sample(prompt(q), 1, short.with_seed(7 + i)) for i, q in enumerate(QUESTIONS)]
    first_s = time.perf_counter() - started
    return {
        "threads": threads,
        "generation_tokens_per_s": round(draw.completion_tokens / gen_s, 1),
        "first_command_s_per_sample": round(first_s / len(first), 3),
        "first_command_tokens": sum(d.completion_tokens for d in first),
        "load_average": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--busy", default="0,1", help="0 = idle, 1 = one busy process")
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.samples, args.tokens)))
        return 0
    rows = []
    for busy in (int(b) for b in args.busy.split(",")):
        for threads in (int(t) for t in args.threads.split(",")):
            hog = None
            if busy:
                hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        str(threads),
                        "--samples",
                        str(args.samples),
                        "--tokens",
                        str(args.tokens),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            row = {"busy": busy, **json.loads(out.stdout.strip().splitlines()[-1])}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())

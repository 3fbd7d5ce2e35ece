"""its_hub's SelfConsistency (majority vote) over the question list, against SPEC's server.

<peer venv>/bin/python benchmarks/peers/its_hub_driver.py SPEC_JSON   (prints one JSON line)

Adapted only where the comparison would otherwise be unfair: its_hub sends
``max_completion_tokens``, which llama.cpp's server ignores (it would then generate up to the
context length), so ``max_tokens`` is sent as well. its_hub has no per-sample seeds.
"""

from __future__ import annotations

import asyncio
import time

started = time.perf_counter()

from _common import WARM_UP, cpu_s, emit, last_number, spec_from_argv, warmed_up  # noqa: E402
from its_hub import OpenAICompatibleLanguageModel, SelfConsistency  # noqa: E402
from its_hub.core.orchestrator import LMOrchestrator  # noqa: E402


class MaxTokensLM(OpenAICompatibleLanguageModel):
    def _prepare_request_data(self, *args, **kwargs) -> dict:
        data = super()._prepare_request_data(*args, **kwargs)
        if "max_completion_tokens" in data:
            data["max_tokens"] = data["max_completion_tokens"]
        if self.top_p is not None:
            data["top_p"] = self.top_p
        return data


async def run(spec: dict) -> dict:
    lm = MaxTokensLM(
        endpoint=spec["base_url"],
        api_key="EMPTY",
        model_name=spec["model"],
        max_completion_tokens=spec["max_tokens"],
        temperature=spec["temperature"],
        max_concurrency=spec["concurrency"],
    )
    lm.top_p = spec["top_p"]
    algorithm = SelfConsistency(
        consistency_space_projection_func=last_number,
        orchestrator=LMOrchestrator(max_concurrency=spec["concurrency"]),
    )
    await algorithm.ainfer(lm, WARM_UP, budget=spec["n"])  # untimed, like every contender
    warmed_up()
    began, cpu0 = time.perf_counter(), cpu_s()
    answers, calls, prompt_tokens, completion_tokens = [], 0, 0, 0
    for question in spec["questions"]:
        result = await algorithm.ainfer(lm, question, budget=spec["n"], return_response_only=False)
        calls += len(result.responses)
        if result.usage is not None:
            prompt_tokens += result.usage.prompt_tokens
            completion_tokens += result.usage.completion_tokens
        answers.append(last_number(result.the_one.get("content")))
    wall, cpu = time.perf_counter() - began, cpu_s() - cpu0
    await lm.close()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "answers": answers,
        "calls": calls,
        "requests": None,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
    }


if __name__ == "__main__":
    emit({"contender": "its_hub", **asyncio.run(run(spec_from_argv()))}, started)

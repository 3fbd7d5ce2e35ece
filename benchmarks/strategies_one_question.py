"""Calls, tokens and wall time of every strategy for one question on the embedded model.

python benchmarks/strategies_one_question.py ["What is 7 + 5?"]
"""

from __future__ import annotations

import sys
import time

from langgraph_ttc import LLMJudge, SamplingParams, create_ttc_graph, get_strategy, resolve_backend
from langgraph_ttc.strategies import STRATEGIES, strategy_names

QUESTION = sys.argv[1] if len(sys.argv) > 1 else "What is 7 + 5?"
N = 8
MAX_TOKENS = 48


def main() -> None:
    backend = resolve_backend("local")
    backend.sample([("human", "warm up")], 1, SamplingParams(max_tokens=1))  # load the model
    print(f"question: {QUESTION!r}  model: {backend.model_id}  n={N}  max_tokens={MAX_TOKENS}")
    print(
        f"{'strategy':<20}{'answer':>10}{'calls':>7}{'requests':>9}{'prompt':>8}{'compl':>7}{'wall s':>8}  by purpose"
    )
    for name in strategy_names():  # the built-in methods included
        cls = STRATEGIES[name]
        options = {"n": N, "max_tokens": MAX_TOKENS, "seed": 0}
        strategy = get_strategy(
            name, **{k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        )
        verifier = LLMJudge(max_tokens=32) if cls.needs_verifier else None
        graph = create_ttc_graph(backend, strategy, verifier=verifier)
        started = time.perf_counter()
        result = graph.invoke({"question": QUESTION})["ttc_result"]
        wall = time.perf_counter() - started
        usage = result["usage"]
        purposes = ", ".join(f"{p} {c['calls']}" for p, c in usage["by_purpose"].items())
        print(
            f"{name:<20}{str(result['answer'])[:10]:>10}{usage['calls']:>7}{usage['requests']:>9}"
            f"{usage['prompt_tokens']:>8}{usage['completion_tokens']:>7}{wall:>8.1f}  {purposes}"
        )


if __name__ == "__main__":
    main()

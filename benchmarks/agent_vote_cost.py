"""What a TTCMiddleware vote costs per agent step: calls, tokens and wall time.

Two models: the deterministic fake tool-calling model (the shop agent of the tests: look up,
buy, answer; no network, so the time is the middleware's and the agent loop's own), and the
instant OpenAI-compatible server in chat mode (a real HTTP round trip per sample; its replies
carry no tool calls unless tools are sent, so that agent has no tools and its one step is the
text-answer vote; the server runs in its own process). Each row is the median over ``--rounds``
runs, against the same agent with no middleware (``n`` = ``-``) and, for the server, against the
floor: the same ``n`` calls made directly with the chat model's ``batch``.

    python benchmarks/agent_vote_cost.py --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import openai
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf.servers import InstantProcess  # noqa: E402
from test_agent_middleware import HUMAN, Shop, shop_script  # noqa: E402

from langgraph_ttc.agents import TTCMiddleware  # noqa: E402
from langgraph_ttc.parsing import extract_answer  # noqa: E402
from langgraph_ttc.testing import FakeToolCallingModel  # noqa: E402


class ServerChat(BaseChatModel):
    """The smallest LangChain chat model over an OpenAI-compatible server (sync and async)."""

    base_url: str
    model_name: str = "instant"
    temperature: float = 0.7
    max_tokens: int = 32

    @property
    def _llm_type(self) -> str:
        return "server-chat"

    def _body(self, messages, kwargs) -> dict:
        return {
            "model": self.model_name,
            "messages": convert_to_openai_messages(messages),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **({"seed": kwargs["seed"]} if kwargs.get("seed") is not None else {}),
        }

    @staticmethod
    def _result(reply) -> ChatResult:
        usage = reply.usage
        message = AIMessage(
            reply.choices[0].message.content or "",
            usage_metadata={
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _client(self, key: object, cls: type) -> Any:
        if key not in CLIENTS:  # one HTTP client per process (sync) and per event loop (async)
            CLIENTS[key] = cls(base_url=self.base_url, api_key="none", max_retries=0)
        return CLIENTS[key]

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        client = self._client("sync", openai.OpenAI)
        return self._result(client.chat.completions.create(**self._body(messages, kwargs)))

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs: Any):
        client = self._client(id(asyncio.get_running_loop()), openai.AsyncOpenAI)
        return self._result(await client.chat.completions.create(**self._body(messages, kwargs)))


CLIENTS: dict = {}


def sync_rounds(agent, value, rounds: int) -> tuple[list[float], dict]:
    agent.invoke(value)  # warm-up: imports, first compilation, connections
    times, out = [], {}
    for _ in range(rounds):
        began = time.perf_counter()
        out = agent.invoke(value)
        times.append(time.perf_counter() - began)
    return times, out


async def async_rounds(agent, value, rounds: int) -> tuple[list[float], dict]:
    await agent.ainvoke(value)
    times, out = [], {}
    for _ in range(rounds):
        began = time.perf_counter()
        out = await agent.ainvoke(value)
        times.append(time.perf_counter() - began)
    return times, out


def row(label: str, n: int | None, mode: str, build, value, steps: int, rounds: int) -> dict:
    agent = build()  # one agent, invoked afresh each round (no checkpointer: no shared ledger)
    if mode == "sync":
        times, out = sync_rounds(agent, value, rounds)
    else:
        times, out = asyncio.run(async_rounds(agent, value, rounds))
    usage = (out.get("ttc_ledger") or {}).get("usage") or {}
    return {
        "model": label,
        "n": n or "-",
        "mode": mode,
        "calls/step": (usage.get("calls", steps) / steps),
        "tokens/step": (
            (usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)) / steps
            if usage
            else "-"
        ),
        "ms/step": 1000 * statistics.median(times) / steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 3, 5, 8])
    parser.add_argument(
        "--nodelay",
        action="store_true",
        help="serve in this process with Nagle's algorithm off (the subprocess server sends "
        "headers and body in two writes, so each reply waits ~40 ms for a delayed ACK)",
    )
    args = parser.parse_args()
    rows = []
    for mode in ("sync", "async"):
        for n in [None, *args.widths]:

            def shop(n=n):
                middleware = (
                    [] if n is None else [TTCMiddleware(n=n, seed=0, ignore_args=["request_id"])]
                )
                return create_agent(
                    FakeToolCallingModel(script=shop_script), Shop().tools, middleware=middleware
                )

            rows.append(row("fake (3 steps)", n, mode, shop, HUMAN, 3, args.rounds))
    if args.nodelay:
        from langgraph_ttc.testing import instant_server

        instant_server._Handler.disable_nagle_algorithm = True  # a measurement workaround
        server = instant_server.InstantServer().__enter__()
        stop = server.__exit__
    else:
        server = InstantProcess()
        stop = server.close
    try:
        question = {"messages": [("human", "What is 2 + 2?")]}
        model = ServerChat(base_url=server.base_url)
        for n in args.widths:
            model.batch([question["messages"]] * n)  # warm-up
            times = []
            for _ in range(args.rounds):
                began = time.perf_counter()
                model.batch([question["messages"]] * n, config={"max_concurrency": n})
                times.append(time.perf_counter() - began)
            rows.append(
                {
                    "model": "floor: n direct calls",
                    "n": n,
                    "mode": "sync",
                    "calls/step": float(n),
                    "tokens/step": "-",
                    "ms/step": 1000 * statistics.median(times),
                }
            )
        for mode in ("sync", "async"):
            for n in [None, *args.widths]:

                def chat(n=n):
                    middleware = (
                        [] if n is None else [TTCMiddleware(n=n, seed=0, answer_key=extract_answer)]
                    )
                    return create_agent(ServerChat(base_url=server.base_url), middleware=middleware)

                rows.append(row("instant server (1 step)", n, mode, chat, question, 1, args.rounds))
    finally:
        stop()
    header = ["model", "n", "mode", "calls/step", "tokens/step", "ms/step"]
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(f"{r[h]:.2f}" if isinstance(r[h], float) else str(r[h]) for h in header))


if __name__ == "__main__":
    main()

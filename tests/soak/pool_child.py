"""The builders that the soak kills: a small seeded pool with critiques and an LLM judge.

Run as a script, it is a fork server: it imports the library once (~4 s), then forks a builder
per ``["build", path, delay, score]`` line on stdin, so a kill round costs milliseconds instead
of a new interpreter; ``["reap", pid]`` waits for a builder. It and its builders answer with JSON
lines on stdout: ``["ready", pid]`` when a builder starts, ``["busy", pid, message]`` when
PoolBusy refuses one, ``["exit", pid, code]`` once reaped.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback

from langgraph_ttc.scaling import PoolBusy, build_pool
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend, NoisyOracle, stable_uniform
from langgraph_ttc.verifiers import LLMJudge

TASK_SIZE = 5
K_MAX = 40
BUSY_EXIT = 3  # exit code of a builder refused with PoolBusy

# Loaded at import: the first load takes ~1.5 s, which the fork server then pays once for all.
TASK = load_task("rg:basic_arithmetic", size=TASK_SIZE, seed=3)


class SlowFake(FakeBackend):
    """A seeded fake that waits ``delay`` seconds per request, so kills also land while waiting."""

    def __init__(self, reply, delay: float = 0.0) -> None:
        super().__init__(reply=reply)
        self.delay = delay

    async def asample(self, messages, n, params, *, timeout=None):
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().asample(messages, n, params, timeout=timeout)


def judge_reply(messages, seed) -> str:
    """A verdict that depends on the judged text only, so a rescored sample scores the same."""
    score = round(stable_uniform("judge", str(messages[-1].content)), 2)
    return f"Checked. [[correct]] Score: {score}"


def build(path, delay: float = 0.0, score: bool = True):
    """Build (or resume) the pool; ``score=False`` draws only, leaving critiques for later."""
    accuracies = (0.2, 0.5, 0.8, 0.35, 0.65)
    questions = {p.question: (p.reference, accuracies[i]) for i, p in enumerate(TASK.problems())}
    backend = SlowFake(NoisyOracle(questions, critique_accuracy=0.9), delay)
    judge = LLMJudge(backend=SlowFake(judge_reply, delay)) if score else None
    return build_pool(
        TASK,
        backend,
        path,
        k_max=K_MAX,
        critique=score,
        verifier=judge,
        concurrency=3,
        progress=False,
    )


def say(*message) -> None:
    # One unbuffered write per line: lines from the server and its builders never interleave.
    os.write(sys.stdout.fileno(), (json.dumps(message) + "\n").encode())


def builder(path: str, delay: float, score: bool) -> int:
    say("ready", os.getpid())
    try:
        build(path, delay, score)
    except PoolBusy as exc:
        say("busy", os.getpid(), str(exc))
        return BUSY_EXIT
    return 0


def serve() -> None:
    for line in sys.stdin:
        command, *args = json.loads(line)
        if command == "build" and os.fork() == 0:
            code = 1
            try:
                code = builder(*args)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)  # never return into the server's loop
        elif command == "reap":
            _, status = os.waitpid(args[0], 0)
            say("exit", args[0], os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    serve()

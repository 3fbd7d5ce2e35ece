"""Who runs the backend loop (backends/event_loop.py): a blocking caller runs its own work
when the loop is free; callers at the same time take turns and run each other's work; draws
handed over by async callers, and work nobody waits for any more, are run by the keeper."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import subprocess
import sys
import textwrap
import threading

import pytest

from langgraph_ttc.backends.event_loop import backend_loop, run_blocking, run_on_backend_loop


async def thread_name() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


def test_a_blocking_call_runs_the_loop_in_its_own_thread_and_starts_none(instant_server):
    code = textwrap.dedent(
        """
        import json, sys, threading
        from langgraph_ttc import OpenAICompatibleBackend, create_ttc_graph
        backend = OpenAICompatibleBackend(sys.argv[1], sys.argv[2], honours_n=False)
        graph = create_ttc_graph(backend, "majority", n=4)
        answers = [graph.invoke({"question": "What is 2 + 3?"})["ttc_result"]["answer"]
                   for _ in range(3)]
        print(json.dumps({"answers": answers, "threads": threading.active_count()}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, instant_server.base_url, instant_server.model],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(seen["answers"]) == 3 and all(seen["answers"])
    assert seen["threads"] == 1  # the draws ran in the main thread: no loop thread, no keeper
    assert "Unclosed" not in done.stderr


def test_blocking_callers_at_the_same_time_take_turns_and_run_each_others_work():
    arrived: list[str] = []
    all_here = asyncio.Event()

    async def meet(callers: int) -> str:
        arrived.append(threading.current_thread().name)
        if len(arrived) == callers:
            all_here.set()
        await asyncio.wait_for(all_here.wait(), 60)  # only if all four run at once on the loop
        return threading.current_thread().name

    results: dict[str, str] = {}

    def caller() -> None:
        results[threading.current_thread().name] = run_blocking(meet(4))

    threads = [threading.Thread(target=caller, name=f"caller-{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(results) == [f"caller-{i}" for i in range(4)]
    # Each coroutine ran on whichever caller held the turn: always one of the callers, never
    # a thread of the backend's own.
    assert set(arrived) <= set(results) and set(results.values()) <= set(results)


def test_a_wait_that_times_out_cancels_the_work_and_the_keeper_finishes_it():
    cancelled = threading.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    with pytest.raises(TimeoutError):
        run_blocking(hang(), timeout=0.2)  # an injected hang: the work never finishes
    assert cancelled.wait(60)  # nobody waits for it any more: the keeper ran its cancellation

    async def two() -> int:
        return 2

    assert run_blocking(two()) == 2


def test_a_thread_running_a_loop_of_its_own_hands_a_blocking_call_to_the_keeper():
    async def notebook_cell() -> str:  # a notebook's loop runs in the calling thread
        return run_blocking(thread_name())

    assert asyncio.run(notebook_cell()) == "ttc-backend-loop"


def test_async_callers_hand_over_to_the_keeper_while_a_blocking_caller_waits():
    release = threading.Event()
    holding = threading.Event()

    async def held() -> str:
        holding.set()
        while not release.is_set():
            await asyncio.sleep(0.01)
        return "released"

    outcome: list[str] = []
    blocking = threading.Thread(target=lambda: outcome.append(run_blocking(held())))
    blocking.start()
    assert holding.wait(60)
    # The blocking caller holds the turn; an async caller's hand-over runs meanwhile.
    assert asyncio.run(run_on_backend_loop(thread_name())) == blocking.name
    release.set()
    blocking.join(60)
    assert outcome == ["released"]


def test_a_blocking_call_on_the_backend_loop_itself_is_refused():
    async def nested() -> int:
        return run_blocking(thread_name())

    with pytest.raises(RuntimeError, match="own event loop"):
        run_blocking(nested())


def _child(answers) -> None:
    answers.put((run_blocking(thread_name()), id(backend_loop())))


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the Linux default start method")
def test_a_forked_child_runs_a_loop_of_its_own():
    parent_loop = id(backend_loop())
    assert run_blocking(thread_name()) == threading.current_thread().name
    fork = multiprocessing.get_context("fork")
    answers = fork.Queue()
    child = fork.Process(target=_child, args=(answers,))
    child.start()
    name, _ = answers.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0 and name == "MainThread"
    assert id(backend_loop()) == parent_loop  # the parent's loop is untouched

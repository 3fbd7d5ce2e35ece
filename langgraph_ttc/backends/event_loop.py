"""The process's backend event loop, and who runs it.

One event loop per process (made again in a forked child) and no thread of its own: whichever
thread waits on the loop runs it. A blocking caller runs its draw itself (:func:`run_blocking`),
so a draw costs no wake-ups between threads; on a fast server they cost more than the request.
Blocking callers at the same time take turns, each running everyone's requests while it holds
the turn. Draws handed over by async callers (:func:`run_on_backend_loop`), and work nobody
waits for (:func:`run_in_background`), are run by a keeper thread, started on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

__all__ = [
    "backend_loop",
    "loops_started",
    "made_loop",
    "run_blocking",
    "run_in_background",
    "run_on_backend_loop",
]

T = TypeVar("T")

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_started = 0

_turn = threading.Condition()  # guards _driver, _kept, _keeper and every job's `done`
_driver: threading.Thread | None = None  # the thread running the backend loop now
_kept = 0  # unfinished jobs the keeper answers for
_keeper: threading.Thread | None = None


def backend_loop() -> asyncio.AbstractEventLoop:
    """The process's backend loop, made on first use (again in a forked child).

    Example:
        >>> backend_loop() is backend_loop()
        True
    """
    global _loop, _loop_pid, _started
    loop = _loop
    if loop is not None and _loop_pid == os.getpid():
        return loop
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop, _loop_pid = _new_loop(), os.getpid()
            _started += 1
        return _loop


def _forget_parent_loop() -> None:
    """In a forked child: the parent's loop, turn and keeper are not this process's."""
    global _loop, _loop_pid, _turn, _driver, _kept, _keeper, _loop_lock
    _loop_lock, _turn = threading.Lock(), threading.Condition()
    _loop, _loop_pid, _driver, _kept, _keeper = None, None, None, 0, None


os.register_at_fork(after_in_child=_forget_parent_loop)


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (a third less client CPU per request than asyncio's own,
    docs/ARCHITECTURE.md), else asyncio's."""
    if os.environ.get("TTC_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def loops_started() -> int:
    """How many backend loops this process has made (one, unless it forked).

    Example:
        >>> _ = backend_loop(); loops_started() >= 1
        True
    """
    return _started


class _Job:
    """A coroutine to run on the backend loop, and who answers for running it: the blocking
    caller waiting for it (``owner``), or the keeper (``owner`` None)."""

    __slots__ = ("loop", "coro", "task", "done", "owner", "then")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine,
        owner: threading.Thread | None,
        then: Any = None,
    ) -> None:
        self.loop, self.coro, self.owner, self.then = loop, coro, owner, then
        self.task: asyncio.Task | None = None
        self.done = False

    def start(self) -> None:
        """On the backend loop (or by the turn's holder before it runs the loop)."""
        self.task = self.loop.create_task(self.coro)
        self.task.add_done_callback(self._finish)

    def cancel(self) -> None:
        """On the backend loop: after :meth:`start` (both go through its FIFO)."""
        if self.task is not None:
            self.task.cancel()

    def _finish(self, task: asyncio.Task) -> None:
        global _kept
        if self.then is not None:
            self.then(task)
        with _turn:
            self.done = True
            if self.owner is None:
                _kept -= 1
                ends_turn = _kept == 0 and _driver is _keeper
            else:
                ends_turn = _driver is self.owner
            _turn.notify_all()
        if ends_turn:  # the thread running the loop has what it waited for
            self.loop.stop()


def run_blocking(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` on the backend loop and wait for its result (a blocking caller's driver):
    in this thread when the loop is free, else while another thread holds the turn.
    ``timeout`` bounds the wait (``TimeoutError``, the work cancelled); a draw has its own.

    Example:
        >>> async def two(): return 2
        >>> run_blocking(two())
        2
    """
    global _driver
    loop = backend_loop()
    me = threading.current_thread()
    running = asyncio._get_running_loop()
    if running is loop or _driver is me:
        coro.close()
        raise RuntimeError(
            "A blocking backend call was made on the backend's own event loop (from a stop_trace "
            "or until callback?); await asample(...) there instead."
        )
    if running is not None:  # this thread runs a loop of its own (a notebook's): hand over
        return _kept_for_a_thread(loop, coro, timeout)
    job = _Job(loop, coro, me)
    with _turn:
        if _driver is None:  # the loop is free: start the work here, no wake-up needed
            _driver = me
            job.start()
        else:
            loop.call_soon_threadsafe(job.start)
    try:
        _wait_or_drive(loop, job, me, timeout)
    except BaseException:  # a timeout, KeyboardInterrupt: stop the work, then re-raise
        _abandon(loop, job)
        raise
    return job.task.result()


def _wait_or_drive(
    loop: asyncio.AbstractEventLoop, job: _Job, me: threading.Thread, timeout: float | None
) -> None:
    """Until ``job`` is done: wait while another thread runs the loop, run it when it is free."""
    global _driver
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _turn:
            while not job.done and _driver is not None and _driver is not me:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("the backend loop's work did not finish in time")
                _turn.wait(left)
            if job.done:
                if _driver is me:
                    _driver = None
                    _turn.notify_all()
                return
            _driver = me
        stopper = (
            None if deadline is None else loop.call_later(deadline - time.monotonic(), loop.stop)
        )
        try:
            with _ctrl_c_cancels(loop, job):
                loop.run_forever()
        finally:
            if stopper is not None:
                stopper.cancel()
            with _turn:
                _driver = None
                _turn.notify_all()
        if deadline is not None and not job.done and time.monotonic() >= deadline:
            raise TimeoutError("the backend loop's work did not finish in time")


@contextlib.contextmanager
def _ctrl_c_cancels(loop: asyncio.AbstractEventLoop, job: _Job) -> Iterator[None]:
    """While the main thread runs the loop, Ctrl-C cancels the job (its requests end) and is
    raised as ``KeyboardInterrupt`` once the loop is back, as ``asyncio.run`` does: raised in
    the middle of a request's code, it could be taken for that request's failure. A second
    Ctrl-C raises at once. A handler of the program's own is left alone."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    pressed: list[bool] = []

    def on_ctrl_c(signum: int, frame: Any) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(True)
        loop.call_soon_threadsafe(job.cancel)

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if pressed:
        raise KeyboardInterrupt


def _abandon(loop: asyncio.AbstractEventLoop, job: _Job) -> None:
    """Nobody waits for ``job`` any more: the keeper runs its cancellation to the end."""
    global _kept
    with _turn:
        if job.done:
            return
        job.owner = None
        _kept += 1
        _start_keeper(loop)
        _turn.notify_all()
    with contextlib.suppress(RuntimeError):  # the loop is closed
        loop.call_soon_threadsafe(job.cancel)


def _keep(loop: asyncio.AbstractEventLoop, job: _Job) -> None:
    """Give ``job`` to the keeper, which runs the loop whenever nobody else does."""
    global _kept
    with _turn:
        _kept += 1
        _start_keeper(loop)
        loop.call_soon_threadsafe(job.start)
        _turn.notify_all()


def _start_keeper(loop: asyncio.AbstractEventLoop) -> None:
    """Under ``_turn``: the keeper thread, started on first use."""
    global _keeper
    if _keeper is None or not _keeper.is_alive():
        _keeper = threading.Thread(
            target=_keeper_runs, args=(loop,), name="ttc-backend-loop", daemon=True
        )
        _keeper.start()


def _keeper_runs(loop: asyncio.AbstractEventLoop) -> None:
    """The keeper: runs the loop while it has jobs and no other thread runs it."""
    global _driver
    me = threading.current_thread()
    asyncio.set_event_loop(loop)
    while True:
        with _turn:
            while _kept == 0 or _driver is not None:
                _turn.wait()
            _driver = me
        try:
            loop.run_forever()
        finally:
            with _turn:
                _driver = None
                _turn.notify_all()


def _kept_for_a_thread(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float | None
) -> T:
    """A blocking call from a thread that runs another loop: the keeper runs it; this waits."""
    outcome: concurrent.futures.Future = concurrent.futures.Future()
    job = _Job(loop, coro, None, lambda done: _settle(outcome, done))
    _keep(loop, job)
    try:
        return outcome.result(timeout)
    except BaseException:
        loop.call_soon_threadsafe(job.cancel)
        raise


async def run_on_backend_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` run on the backend loop from any event loop (an async caller's driver);
    cancelling the caller cancels it there.

    Example:
        >>> async def two(): return 2
        >>> asyncio.run(run_on_backend_loop(two()))
        2
    """
    loop = backend_loop()
    caller = asyncio.get_running_loop()
    if caller is loop:
        return await coro
    # One wake-up each way (the keeper runs the task, a future here is settled): half the
    # wall time of chaining a concurrent future into this loop (asyncio.wrap_future).
    result = caller.create_future()
    job = _Job(loop, coro, None, lambda done: _hand_back(caller, result, done))
    _keep(loop, job)
    try:
        return await result
    except asyncio.CancelledError:
        loop.call_soon_threadsafe(job.cancel)  # runs after start(): FIFO there
        raise


def _hand_back(caller: asyncio.AbstractEventLoop, result: asyncio.Future, done: asyncio.Task):
    """On the backend loop: settle the caller's future with the task's outcome, on its loop."""
    if not done.cancelled():
        done.exception()  # retrieved here, so a caller that left logs no unretrieved error

    def settle() -> None:
        if not result.done():  # else the caller was cancelled meanwhile
            _settle(result, done)

    with contextlib.suppress(RuntimeError):  # the caller's loop closed: nobody is waiting
        caller.call_soon_threadsafe(settle)


def _settle(future: asyncio.Future | concurrent.futures.Future, done: asyncio.Task) -> None:
    """Give ``future`` the outcome of the finished task ``done``."""
    if done.cancelled():
        future.cancel()
    elif done.exception() is not None:
        future.set_exception(done.exception())
    else:
        future.set_result(done.result())


def made_loop() -> asyncio.AbstractEventLoop | None:
    """This process's backend loop if it has made one and it is open, else ``None``.

    Example:
        >>> _ = backend_loop(); made_loop() is backend_loop()
        True
    """
    loop = _loop
    if loop is None or _loop_pid != os.getpid() or loop.is_closed():
        return None
    return loop


def run_in_background(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` on the backend loop with nobody waiting for it (the keeper answers for it);
    closed unrun when this process has no open backend loop.

    Example:
        >>> import threading
        >>> done = threading.Event()
        >>> async def note(): done.set()
        >>> _ = backend_loop(); run_in_background(note())
        >>> done.wait(timeout=30)
        True
    """
    loop = made_loop()
    if loop is None:
        coro.close()
        return
    try:
        _keep(loop, _Job(loop, coro, None))
    except RuntimeError:  # the loop is closing, or the process is
        coro.close()

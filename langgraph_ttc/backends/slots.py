"""One concurrency limit for a backend, whichever event loops and threads draw from it.

An ``asyncio.Semaphore`` belongs to one loop. A backend's requests run on the backend loop for
blocking callers and on a long-lived caller's own loop for async ones
(:mod:`~langgraph_ttc.backends.http_client`), so its ``max_concurrency`` is kept by
:class:`Slots`: a counter under a thread lock, whose waiters are futures on their own loops,
each handed its slot by the releaser in arrival order.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["Slots"]


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    granted: bool = False


class Slots:
    """At most ``limit`` holders at once across loops and threads; first come, first served.

    Example:
        >>> slots = Slots(1)
        >>> async def twice():
        ...     await slots.acquire()
        ...     try:
        ...         await slots.acquire(timeout=0.01)
        ...     except TimeoutError:
        ...         return "the one slot was held"
        >>> asyncio.run(twice()), slots.free
        ('the one slot was held', 0)
        >>> slots.release(); slots.free
        1
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = limit
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()

    @property
    def free(self) -> int:
        """Slots not held."""
        return self._free

    async def acquire(self, timeout: float | None = None) -> None:
        """Take a slot, waiting at most ``timeout`` seconds (``TimeoutError`` past it). A free
        slot is taken without suspending."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            if timeout is None:
                await waiter.future
            else:
                await asyncio.wait_for(waiter.future, timeout)
        except BaseException:  # cancelled or timed out: a slot handed meanwhile goes on
            with self._lock:
                handed = waiter.granted
                if not handed and waiter in self._waiters:  # (a release passed it by: gone)
                    self._waiters.remove(waiter)
            if handed:
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiter whose loop still runs, else to the pool."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                try:
                    waiter.loop.call_soon_threadsafe(_grant, waiter.future)
                except RuntimeError:  # its loop has closed: nobody waits there any more
                    continue
                waiter.granted = True
                return
            self._free += 1


def _grant(future: asyncio.Future) -> None:
    """On the waiter's loop: wake it (unless it left; then its ``acquire`` passes it on)."""
    if not future.done():
        future.set_result(None)

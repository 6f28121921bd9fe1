"""Pacing a run at the provider's speed: a request rate (`--rate`) and an in-flight allowance (`--concurrency`)
that a 429 lowers and a run of successes raises again.

Both are shared by every thread that sends through one `TargetClient` (the driver may call `chat()` from several
threads): the token bucket hands out send times under a lock, and the allowance is a condition variable that
`slot()` waits on. Time is injected (`clock`, `sleep`), so that the tests drive them with a fake clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["MAX_CONCURRENCY", "MAX_RATE", "RECOVER_AFTER", "Pacing", "TokenBucket"]

MAX_CONCURRENCY = 64  # requests in flight at once, at most (`--concurrency`)
MAX_RATE = 1000.0  # requests per second, at most (`--rate`)
RECOVER_AFTER = 8  # consecutive successes after a 429 before the allowance is raised by one


class TokenBucket:
    """At most `rate` requests per second on average, in bursts of at most `burst`.

    `take()` reserves the next send time under the lock and waits outside it, so threads are served in the order
    they asked and none holds the lock while waiting (the bucket may go below zero: reservations not yet due)."""

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"a rate must be a finite number above 0, not {rate!r}")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()

    def reserve(self) -> float:
        """Take a token; return how long the caller must wait before sending (0: now)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self) -> float:
        """Wait until a request may be sent; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


class Pacing:
    """How many requests may be in flight at once: `concurrency` at first; halved (at least 1) on each 429, then
    raised by one after each `recover_after` consecutive successes, never above `concurrency`.

    `slot()` is a context manager around one request: it blocks while the requests in flight are at the
    allowance. A 429 never makes a request fail (the transport retries it as before); it only slows the run."""

    def __init__(self, concurrency: int = 1, recover_after: int = RECOVER_AFTER) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.ceiling = concurrency
        self.recover_after = max(1, recover_after)
        self._allowed = concurrency
        self._in_flight = 0
        self._streak = 0
        self.waiting = 0  # threads blocked in `slot()` (for tests and progress lines)
        self.limited_count = 0  # 429s met
        self._cond = threading.Condition()

    def allowed_in_flight(self) -> int:
        with self._cond:
            return self._allowed

    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take a slot; wait for one while the allowance is reached (unless not `blocking`). False: none taken."""
        with self._cond:
            if self._in_flight >= self._allowed:
                if not blocking:
                    return False
                self.waiting += 1
                self._cond.notify_all()  # whoever watches `waiting` (a test) sees it change
                try:
                    if not self._cond.wait_for(lambda: self._in_flight < self._allowed, timeout):
                        return False
                finally:
                    self.waiting -= 1
            self._in_flight += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the allowed in-flight slots for the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def limited(self) -> None:
        """A 429 was met: halve the allowance (at least 1) and start counting successes again."""
        with self._cond:
            self._allowed = max(1, self._allowed // 2)
            self._streak = 0
            self.limited_count += 1

    def succeeded(self) -> None:
        """A request was answered without a rate limit: after `recover_after` in a row, allow one more."""
        with self._cond:
            self._streak += 1
            if self._streak >= self.recover_after and self._allowed < self.ceiling:
                self._allowed += 1
                self._streak = 0
                self._cond.notify_all()

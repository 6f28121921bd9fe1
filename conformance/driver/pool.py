"""A small pool of daemon threads: the requests a run sends ahead, at most N in flight."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["Pool"]

T = TypeVar("T")


class Pool:
    """At most `size` calls at once on daemon threads (an interrupted run exits without waiting for a request in
    flight: its deadline would hold the process), in the order submitted."""

    def __init__(self, size: int) -> None:
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, call: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        self._tasks.put((future, call, args))
        return future

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, call, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call(*args))
            except BaseException as exc:  # handed to whoever waits for it
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Cancel what has not started; the threads end after their current call."""
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task[0].cancel()
        for _ in self._threads:
            self._tasks.put(None)

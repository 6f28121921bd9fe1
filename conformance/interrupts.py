"""SIGINT and SIGTERM for a run, from the process's first line to its last report.

Imports only the standard library, so the console script installs the handler before anything heavy is imported
(`conformance.entry`). A first signal is recorded; it interrupts (a `KeyboardInterrupt` where the run is) only
while the run is `armed` (sending requests); during setup the run checks `pending()` between its steps, so a
signal at any moment ends in reports. Once the reports are being written a first signal is ignored; a second
SIGINT always exits at once (130).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["armed", "install", "pending", "reporting", "session"]

_received: list[int] = []
_state = {"armed": False, "reporting": False, "installed": False}
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _handler(signum: int, frame: FrameType | None) -> None:
    if _received:
        if signum == signal.SIGINT:
            os._exit(130)
        return
    _received.append(signum)
    if _state["armed"] and not _state["reporting"]:
        raise KeyboardInterrupt


def install() -> bool:
    """Handle SIGINT and SIGTERM from now on (main thread only). False when already installed or not possible."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return False
    for number in _SIGNALS:
        signal.signal(number, _handler)
    _state["installed"] = True
    return True


@contextlib.contextmanager
def session() -> Iterator[None]:
    """One run: signals handled (installed here unless the entry point did), the reporting mark cleared. A run
    that installed the handler gives the previous handlers back and forgets its signals when it ends."""
    previous = {number: signal.getsignal(number) for number in _SIGNALS}
    mine = install()
    _state["reporting"] = False
    try:
        yield
    finally:
        _state.update(armed=False, reporting=False)
        if mine:
            for number, handler in previous.items():
                signal.signal(number, handler)
            _state["installed"] = False
            _received.clear()


def pending() -> bool:
    """A signal asked the run to stop."""
    return bool(_received)


@contextlib.contextmanager
def armed() -> Iterator[None]:
    """While inside, a first signal raises `KeyboardInterrupt` where the run is (an in-flight request is
    abandoned); one received before entering raises at once."""
    _state["armed"] = True
    try:
        if _received and not _state["reporting"]:
            raise KeyboardInterrupt
        yield
    finally:
        _state["armed"] = False


def reporting() -> None:
    """The run is over: a first signal now lets the reports be written; a second SIGINT still exits at once."""
    _state["reporting"] = True

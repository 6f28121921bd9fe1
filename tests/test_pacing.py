"""Pacing (issue 18): the request rate as a token bucket every thread shares, and the in-flight allowance that a 429
lowers and successes raise again. Driven by a fake clock and events: nothing here waits on real time."""

from __future__ import annotations

import threading

import httpx
import pytest
from conftest import KEY

from conformance.transport import TargetClient
from conformance.transport.pacing import Pacing, TokenBucket


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def test_the_bucket_spaces_requests_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, clock=clock, sleep=clock.sleep)  # 4 per second: one every 0.25 s
    waits = [bucket.take() for _ in range(5)]
    assert waits == [0.0, 0.25, 0.25, 0.25, 0.25]
    assert clock.now == pytest.approx(101.0)


def test_the_bucket_refills_while_idle_up_to_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=2, clock=clock, sleep=clock.sleep)
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]  # a burst of 2
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 60  # idle for a minute: the bucket holds at most its burst
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)


def test_the_bucket_is_shared_by_threads_in_the_order_they_ask() -> None:
    """Reservations made from several threads at the same instant are spaced one interval apart each."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock, sleep=lambda s: None)  # nobody's time passes: only reservations
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = bucket.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0.1 * i for i in range(8)])


@pytest.mark.parametrize("rate", [0.0, -1.0, float("inf"), float("nan")])
def test_the_bucket_refuses_an_unusable_rate(rate: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate)


def test_a_429_halves_the_allowance_and_successes_raise_it_again() -> None:
    pacing = Pacing(8, recover_after=3)
    assert pacing.allowed_in_flight() == 8
    pacing.limited()
    assert pacing.allowed_in_flight() == 4
    pacing.limited()
    pacing.limited()
    pacing.limited()
    assert pacing.allowed_in_flight() == 1  # never below one
    for _ in range(2):
        pacing.succeeded()
    assert pacing.allowed_in_flight() == 1
    pacing.succeeded()
    assert pacing.allowed_in_flight() == 2  # three in a row: one more
    pacing.succeeded()
    pacing.limited()  # a 429 breaks the streak
    pacing.succeeded()
    pacing.succeeded()
    assert pacing.allowed_in_flight() == 1
    for _ in range(3 * 20):
        pacing.succeeded()
    assert pacing.allowed_in_flight() == 8  # never above the run's concurrency


def test_slots_stop_at_the_allowance() -> None:
    pacing = Pacing(2)
    assert pacing.acquire(blocking=False) and pacing.acquire(blocking=False)
    assert not pacing.acquire(blocking=False)
    pacing.release()
    assert pacing.acquire(blocking=False)
    pacing.limited()  # allowance 1 while 2 are in flight: no new slot until both are back
    pacing.release()
    assert not pacing.acquire(blocking=False)
    pacing.release()
    assert pacing.acquire(blocking=False)


def test_a_thread_waits_in_slot_until_one_is_released() -> None:
    pacing = Pacing(1)
    entered = threading.Event()

    def worker() -> None:
        with pacing.slot():
            entered.set()

    with pacing.slot():
        thread = threading.Thread(target=worker)
        thread.start()
        with pacing._cond:  # the worker is blocked in slot(), not merely slow to start
            assert pacing._cond.wait_for(lambda: pacing.waiting == 1, timeout=30)
        assert not entered.is_set()
    thread.join(timeout=30)
    assert entered.is_set() and pacing.in_flight() == 0


def test_recovery_wakes_a_waiting_thread() -> None:
    pacing = Pacing(2, recover_after=1)
    pacing.limited()  # allowance 1
    entered = threading.Event()

    def worker() -> None:
        pacing.acquire()
        entered.set()

    with pacing.slot():
        thread = threading.Thread(target=worker)
        thread.start()
        with pacing._cond:
            assert pacing._cond.wait_for(lambda: pacing.waiting == 1, timeout=30)
        pacing.succeeded()  # allowance 2: the waiting thread gets its slot while this one is still held
        thread.join(timeout=30)
        assert entered.is_set() and pacing.in_flight() == 2


def test_the_client_paces_429s_and_keeps_them_for_the_checks() -> None:
    """A 429 is retried as before (the verdict is the retry's), lowers the allowance, and is kept, with its
    headers, for `ratelimit.envelope`; an answer with `x-ratelimit-*` headers is kept for `ratelimit.headers`."""
    limited = httpx.Response(
        429, headers={"retry-after": "2"}, json={"error": {"code": "RATE_LIMITED", "message": "slow down"}}
    )
    served = httpx.Response(200, headers={"x-ratelimit-remaining-requests": "9"}, json={})
    queue = [limited, served]
    clock = FakeClock()
    client = TargetClient("http://target.invalid", KEY, concurrency=4, sleep=clock.sleep)
    client._http = httpx.Client(transport=httpx.MockTransport(lambda request: queue.pop(0)))
    exchange = client.chat({"model": "m", "messages": []})
    assert exchange.status == 200 and exchange.attempts == 2
    assert clock.slept == [2.0]  # Retry-After honoured, through the injected sleep
    assert client.allowed_in_flight() == 2
    (met,) = client.observed("429")
    assert met.status == 429 and met.response_headers["retry-after"] == "2" and "RATE_LIMITED" in met.text
    (answer,) = client.observed("ratelimit-headers")
    assert answer.status == 200 and answer.response_headers["x-ratelimit-remaining-requests"] == "9"


def test_the_client_takes_a_token_before_each_attempt() -> None:
    clock = FakeClock()
    client = TargetClient("http://target.invalid", KEY, rate=2.0, sleep=clock.sleep)
    client.bucket = TokenBucket(2.0, clock=clock, sleep=clock.sleep)
    client._http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})))
    for _ in range(3):
        client.chat({"model": "m", "messages": []})
    assert clock.slept == [0.5, 0.5]

"""Requests sent together (issue 18): the `load.*` checks' batches, what the run met for the `ratelimit.*` checks,
and the opt-in rate-limit probe.

A batch is sent by a small thread pool of its own, as many threads as members, whatever `--concurrency` is: a
verdict on concurrent requests must not depend on how many the run lets be in flight (docs/verdicts.md rule 13).
The rate (`--rate`) still applies: every request goes through the run's client.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from conformance.checks import RUN_KEY, Facts, Recipe, Request, body, is_server_error
from conformance.records import Exchange
from conformance.transport import BudgetExhausted, TargetClient

if TYPE_CHECKING:
    from conformance.driver import Driver

__all__ = ["observed", "probe", "send_batches"]

START_WAIT_S = 30.0  # how long a batch's threads wait for each other to start (a bound, never a pace)


def send_batches(driver: Driver, recipes: Iterable[Recipe]) -> None:
    """Send each batch among `recipes` not sent yet, its members together; cache each member's exchange. A member
    answered with a server error is sent again alone, identically (rule 10)."""
    batches: dict[str, list[Recipe]] = {}
    for recipe in recipes:
        if recipe.batch is not None and recipe.key not in driver.cache:
            batches.setdefault(recipe.batch, []).append(recipe)
    for members in batches.values():
        requests = [member.build(driver.facts, tuple(driver.send(r) for r in member.after)) for member in members]
        exchanges = together(driver.client, requests)
        for member, request, exchange in zip(members, requests, exchanges, strict=True):
            if is_server_error(exchange):  # rule 10, within both budgets (else not confirmed)
                if driver.client.remaining == 0:
                    exchange = exchange.without_repeat(f"--max-requests {driver.client.max_requests} reached")
                elif not driver.client.take_retry():
                    exchange = exchange.without_repeat(driver.client.retry_spent)
                else:
                    exchange = exchange.with_repeat(driver.client.chat(request.body, raw=request.raw))
            driver.cache[member.key] = exchange
            if driver.recorder is not None:
                driver.recorder.add(member.key, exchange)


def together(client: TargetClient, requests: list[Request]) -> list[Exchange]:
    """Send `requests` at the same moment, one thread each; their exchanges in order. All or none: a budget that
    cannot pay for every member sends none."""
    if any(r.authorization != f"Bearer {RUN_KEY}" for r in requests):
        raise ValueError("a batch is sent with the run's key")
    if client.remaining is not None and client.remaining < len(requests):
        client.budget_hit = True
        raise BudgetExhausted(f"--max-requests {client.max_requests} reached")
    start = threading.Barrier(len(requests))

    def send(request: Request) -> Exchange:
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(START_WAIT_S)  # every member leaves at once
        return client.chat(request.body, raw=request.raw)

    with ThreadPoolExecutor(max_workers=len(requests), thread_name_prefix="conformance-batch") as pool:
        return list(pool.map(send, requests))


def observed(driver: Driver, kind: str) -> tuple[Exchange, ...]:
    """What the run met of `kind` (`429`, `ratelimit-headers`); for `429`, with `--probe-rate-limit N` and none met
    yet, the probe runs first (never when the run is stopped or its checks skipped)."""
    client = driver.client
    stopped = driver.skip_all or driver.stop_reason
    if kind == "429" and driver.probe_rate_limit and not client.observed("429") and not stopped:
        sent = probe(client, driver.facts, driver.probe_rate_limit)
        met = "a 429" if client.observed("429") else "no 429"
        if driver.progress:
            print(f"conformance: rate-limit probe: {met} after {sent} requests", file=sys.stderr, flush=True)
    return client.observed(kind)


def probe(client: TargetClient, facts: Facts, limit: int) -> int:
    """Send up to `limit` minimal requests (a completion limit of 1) in rounds of as many as the run's in-flight
    allowance lets (all of a round at once, as fast as the run's rate lets), until a round has an answer other
    than 200 (a 429, kept by the client for `ratelimit.envelope`); a 429 is not retried. What is sent does not
    depend on how fast each answer comes: the rounds up to the first one with a 429. Returns how many were sent.
    Within the run's request budget."""
    request = body(facts, limit=1)

    def one(_: int) -> Exchange | None:
        try:
            with client.slot():
                return client.chat(request, retry=False)
        except BudgetExhausted:
            return None

    sent = 0
    while sent < limit:
        size = min(client.pacing.ceiling, limit - sent)
        pool = ThreadPoolExecutor(size, thread_name_prefix="conformance-probe")
        try:
            answers = list(pool.map(one, range(size)))
        finally:  # a signal meanwhile: the run goes on to its reports without waiting for the answers
            pool.shutdown(wait=False, cancel_futures=True)
        sent += sum(a is not None for a in answers)
        if any(a is None or a.status != 200 for a in answers):
            break
    return sent

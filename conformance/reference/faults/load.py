"""Faults of rate limits and of requests in flight together (issue 18)."""

from __future__ import annotations

from conformance.reference.faults.model import (
    ApiError,
    Body,
    Fault,
    Hooks,
    LoadHooks,
    ResponseHooks,
    RunArgs,
    WireHooks,
    expect,
)

__all__ = ["BARE_429_AT", "FAULTS", "RATE_LIMIT_AFTER"]

BARE_429_AT = 3  # the chat request `rate_limited_bare` answers with its 429 (the preflight is the first)
RATE_LIMIT_AFTER = 20  # `rate_limited_after_20`: every chat request past this many gets a 429
LOAD = RunArgs(only=("semantic.seed.*", "load.*"))


def _bare(error: ApiError) -> tuple[int, str, str] | None:
    return (429, "slow down", "text/plain") if error.status == 429 else None


def _incoherent(headers: dict[str, str]) -> None:
    headers["x-ratelimit-remaining-requests"] = str(int(headers["x-ratelimit-limit-requests"]) + 1)


def _drop_seed(body: Body) -> None:
    body.pop("seed", None)


FAULTS = [
    Fault(
        "rate_limited_bare",
        f"chat request {BARE_429_AT} is answered 429 in plain text, without the error envelope or Retry-After "
        "(the retry is served)",
        "wire",
        (expect("ratelimit.envelope"),),
        hooks=Hooks(
            wire=WireHooks(rate_limit=lambda number: {} if number == BARE_429_AT else None),
            response=ResponseHooks(render_error=_bare),
        ),
    ),
    Fault(
        "rate_limited_after_20",
        f"every chat request past the {RATE_LIMIT_AFTER}th is answered 429 (the envelope, Retry-After 1): a rate "
        "limit for the probe to find",
        "wire",
        hooks=Hooks(wire=WireHooks(rate_limit=lambda n: {"retry-after": "1"} if n > RATE_LIMIT_AFTER else None)),
    ),
    Fault(
        "ratelimit_headers_incoherent",
        "x-ratelimit-remaining-requests is above x-ratelimit-limit-requests",
        "response",
        (expect(warned="ratelimit.headers"),),
        hooks=Hooks(response=ResponseHooks(headers=_incoherent)),
    ),
    Fault(
        "seed_ignored_under_load",
        "a request in flight beside others is generated without its seed (a batch that ignores it)",
        "load",
        (expect(warned="load.seed_batch_invariance", args=LOAD),),
        hooks=Hooks(load=LoadHooks(hold=True, beside=_drop_seed)),
    ),
    Fault(
        "answers_swapped",
        "requests in flight together get each other's answers (each the previous one's, the first its own)",
        "load",
        (expect("load.no_cross_talk", args=RunArgs(only=("load.no_cross_talk",))),),
        hooks=Hooks(load=LoadHooks(hold=True, swap=True)),
    ),
]

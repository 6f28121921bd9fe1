"""Conformance under concurrent load (issue 18): requests in flight together are each answered as if sent alone.

Each check sends a fixed batch, together (`Recipe.batch`: the driver sends a batch's members at the same moment,
from a thread pool of its own, whatever `--concurrency` is), so a verdict never depends on the run's concurrency
(docs/verdicts.md rule 13)."""

from __future__ import annotations

from typing import Any

from conformance.checks.base import Facts, Inconclusive, Recipe, Registry, Request, Verdict
from conformance.checks.reading import content_of, first_choice, is_int
from conformance.checks.requests import BASIC, FREE, FREE_AGAIN, PROMPT, body, free_body
from conformance.contract import REQUEST_SCHEMA
from conformance.records import Exchange, Outcome

__all__ = ["CHECKS", "CROSS_TALK", "cross_talk_problem"]

CHECKS = Registry()
CONCURRENT = "#/paths/~1v1~1chat~1completions/post/x-concurrent-requests"
SEED = f"{REQUEST_SCHEMA}/properties/seed"
LONG = (
    "Here is a long question about the sea, the tides, the moon, the winds, the currents, the fish and the ships "
    "that cross it at night, the lighthouses along its coasts and the people who keep them. Reply in a few words."
)
# four requests that differ in prompt, n and completion limit: an answer meant for another shows it
CROSS_TALK: tuple[tuple[str, int, int], ...] = (
    ("Say one word.", 1, 2),
    (PROMPT, 2, 3),
    (LONG, 1, 5),
    ("Name a colour.", 2, 4),
)
OTHERS = ("Name a fruit.", "Name a city.", "Name an animal.", "Name a planet.")  # beside the seeded request


def _member(key: str, batch: str, make: Any) -> Recipe:
    return Recipe(key, lambda facts, _: Request(make(facts)), batch=batch)


CROSS_TALK_BATCH = tuple(
    _member(f"load.cross_talk.{i}", "load.cross_talk", lambda facts, p=p, n=n, k=k: body(facts, k, p, n=n))
    for i, (p, n, k) in enumerate(CROSS_TALK)
)
SEEDED_BATCH = (
    _member("load.seed.seeded", "load.seed", free_body),
    *(
        _member(f"load.seed.other.{i}", "load.seed", lambda facts, p=p: body(facts, prompt=p))
        for i, p in enumerate(OTHERS)
    ),
)


def cross_talk_problem(facts: Facts, alone: Exchange, answers: tuple[Exchange, ...]) -> str | None:
    """Why an answer of a batch is not the answer to its own request, or None: its choices count is its n where
    `n` is honoured alone (`alone`: n=2 sent by itself), its completion tokens within n x its limit where the limit
    is honoured alone, its id unique in the batch, and prompt tokens that follow the prompts' lengths where the
    server counts them. What the server does to a request alone too (`n` ignored, usage a constant) is judged by
    other checks (`semantic.n.choices`, `response.usage`): not a break under load."""
    asked = [_sent(e).get("n", 1) for e in answers]
    got = [len(c) if isinstance(c := _answer(e).get("choices"), list) else 0 for e in answers]
    alone_choices = _answer(alone).get("choices")
    n_honoured = isinstance(alone_choices, list) and len(alone_choices) == _sent(alone).get("n", 1)
    if got != asked:
        if not n_honoured:
            raise Inconclusive(f"choice counts {got} for n {asked}, and n is not honoured alone either")
        return f"choice counts {got} for n {asked} (n={_sent(alone).get('n')} alone gets its own count)"
    ids: dict[str, int] = {}
    prompts: list[tuple[int, int]] = []
    for i, exchange in enumerate(answers):
        sent, answer = _sent(exchange), _answer(exchange)
        n, limit = asked[i], sent.get(facts.limit_field)
        usage = answer["usage"] if isinstance(answer.get("usage"), dict) else {}
        completion, prompt = usage.get("completion_tokens"), usage.get("prompt_tokens")
        if facts.limit_honoured and is_int(limit) and is_int(completion) and completion > n * limit:
            return f"request {i + 1} asked for n={n} and {facts.limit_field}={limit} and got {completion} tokens"
        identifier = answer.get("id")
        if isinstance(identifier, str) and identifier:
            if identifier in ids:
                return f"requests {ids[identifier] + 1} and {i + 1} got the same id {identifier[:80]!r}"
            ids[identifier] = i
        if is_int(prompt):
            messages = sent.get("messages") or [{}]
            prompts.append((len(str(messages[-1].get("content", ""))), prompt))
    counted = {tokens for _, tokens in prompts}
    if len(prompts) == len(answers) and len(counted) > 1:  # a server that counts prompt tokens per request
        longest = max(prompts)
        if any(tokens >= longest[1] for length, tokens in prompts if length * 4 <= longest[0]):
            shown = ", ".join(f"{tokens}" for _, tokens in prompts)
            return f"the request with the longest prompt did not count the most prompt tokens ({shown})"
    return None


def _sent(exchange: Exchange) -> dict[str, Any]:
    return exchange.request_body if isinstance(exchange.request_body, dict) else {}


def _answer(exchange: Exchange) -> dict[str, Any]:
    return exchange.json if isinstance(exchange.json, dict) else {}


@CHECKS.check("load.no_cross_talk", None, CONCURRENT, BASIC["n"], *CROSS_TALK_BATCH, capabilities=("n",), served=True)
def no_cross_talk(facts: Facts, alone: Exchange, *answers: Exchange) -> Verdict:
    """Four requests sent together, differing in prompt, n and completion limit, each get their own answer (what
    the same server does to `n` alone is the yardstick)."""
    problem = cross_talk_problem(facts, alone, answers)
    sent = "; ".join(f"n={n}, {facts.limit_field}={k}" for _, n, k in CROSS_TALK)
    if problem:
        return Verdict(
            Outcome.FAILED,
            f"an answer to a request sent with others is not the answer to that request: {problem}",
            answers,
            evidence=f"sent 4 requests together ({sent})",
        )
    return Verdict(Outcome.PASSED, f"4 requests sent together ({sent}), each answered as its own")


@CHECKS.check("load.seed_batch_invariance", "seed", SEED, FREE, FREE_AGAIN, *SEEDED_BATCH, long=True)
def seed_batch_invariance(facts: Facts, first: Exchange, second: Exchange, seeded: Exchange, *_: Exchange) -> Verdict:
    """A seeded request that gave the same answer twice alone gives it again while 4 unseeded requests run beside
    it (best effort, as `seed` is: SHOULD)."""
    alone = content_of(first_choice(first))
    if alone != content_of(first_choice(second)):
        raise Inconclusive("the seed was not reproducible alone (semantic.seed.reproducible): nothing to compare")
    beside = content_of(first_choice(seeded))
    if beside == alone:
        return Verdict(Outcome.PASSED, f"seed={facts.seed}: the same content alone twice and beside 4 others")
    return Verdict(
        Outcome.FAILED,
        "the same seed gave other content while other requests were in flight",
        (first, seeded),
        evidence=f"sent seed={facts.seed}, temperature=0 alone twice, then with 4 others; got {alone[:80]!r}, then "
        f"{beside[:80]!r}",
    )

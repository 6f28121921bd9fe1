"""A run's plan, before any traffic: per area, the most requests and completion tokens the run may use, and the
options that change them. A pure function of the contract, the selection (`--only`/`--skip`), `--max-examples`,
`--max-requests`, the declared capabilities and the constants of the driver, the property layer and the transport.

Each ceiling counts what its area sends by the same functions the run uses: the hand-written checks' distinct
recipe keys (`Driver` sends each once), the property layer's edge values and optional shapes (`driver.generation`,
planned as the layer plans them) and at most `generated_bound` generated requests per mode; attribution at most
`PER_RUN`, retries and identical repeats of a 5xx at most `RETRY_BUDGET` (`TargetClient.take_retry`), the two
together at most `EXTRA_BUDGET` (one area: a clean run uses none of it).

A request's completion-token ceiling is its completion limit x its `n` (the larger limit when it sends both); an
answer is counted once whatever was retried or repeated (only a 200's `usage` is counted, and a repeat follows a
5xx), so retries and repeats add requests, not tokens. The token ceiling assumes the target honours the limit it
is sent (`response.minimal.completion_limit` fails one that does not) and reports usage truthfully.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conformance.checks import BASIC, PREFLIGHT, Check, Facts, Inconclusive, Recipe, body, plan, selected
from conformance.checks.base import STATUS_LIMIT
from conformance.contract import Contract
from conformance.driver import recipe_keys, static_skip, uses_status_limit
from conformance.driver.attribution import CAP, MAX_N, PER_FINDING, PER_RUN, PER_RUN_TOKENS, completion_ceiling
from conformance.driver.generation import (
    DEFAULT_MAX_EXAMPLES,
    edge_requests,
    generated_bound,
    generated_ceiling,
    shape_requests,
)
from conformance.records import Exchange
from conformance.transport import EXTRA_BUDGET, RETRY_BUDGET

__all__ = ["Area", "Plan", "completion_ceiling", "plan_run"]

MODES = ("positive", "negative")
LOAD_AREAS = ("load.", "ratelimit.")  # checks of concurrent load and rate limits (`driver.load`)
# what the stop-word recipe is built after, when planning: an unconstrained completion (the plan sends nothing)
_SAMPLE_TEXT = "alpha bravo charlie delta echo foxtrot golf hotel"


def _sample(facts: Facts, recipe: Recipe) -> Exchange:
    """A served answer standing for `recipe`'s exchange, to build the recipes built after it (nothing is sent)."""
    message = {"role": "assistant", "content": _SAMPLE_TEXT}
    answer = {"id": "plan", "object": "chat.completion", "created": 0, "model": facts.model, "usage": {}}
    answer["choices"] = [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}]
    return Exchange(
        "POST", "", {}, None, status=200, response_headers={"content-type": "application/json"}, text=json.dumps(answer)
    )


def _recipe_tokens(facts: Facts, recipe: Recipe) -> int:
    try:
        request = recipe.build(facts, tuple(_sample(facts, prior) for prior in recipe.after))
    except (Inconclusive, AssertionError):
        return completion_ceiling({"max_completion_tokens": 64, "n": MAX_N})  # rule 9's most: a tool call, n 2
    return completion_ceiling(request.body)


@dataclass(frozen=True)
class Area:
    """One area of a run: its request ceiling, each request's completion-token ceiling, what it holds and the
    options that change it."""

    name: str
    requests: int
    tokens: tuple[int, ...]  # a ceiling per request (retries and repeats: none of their own)
    detail: str
    options: str = ""

    @property
    def completion_tokens(self) -> int:
        return sum(self.tokens)


@dataclass(frozen=True)
class Plan:
    """The areas of a run and `--max-requests`, a hard cap on the total."""

    areas: tuple[Area, ...]
    max_requests: int | None = None

    @property
    def requests(self) -> int:
        total = sum(a.requests for a in self.areas)
        return total if self.max_requests is None else min(total, self.max_requests)

    @property
    def completion_tokens(self) -> int:
        """The areas' token ceilings; under `--max-requests`, those of the costliest requests the cap allows."""
        each = sorted((t for a in self.areas for t in a.tokens), reverse=True)
        return sum(each if self.max_requests is None else each[: self.max_requests])

    def area(self, name: str) -> Area:
        return next(a for a in self.areas if a.name == name)

    def lines(self) -> list[str]:
        """The plan as text; the last line is the total."""
        width = max(len(a.name) for a in self.areas)
        out = ["plan (ceilings; each request's completion tokens = its limit x its n):"]
        for a in self.areas:
            changed = f" [{a.options}]" if a.options else ""
            out.append(
                f"  {a.name:<{width}} at most {a.requests:>4} requests, {a.completion_tokens:>5} completion tokens: "
                f"{a.detail}{changed}"
            )
        if self.max_requests is not None and self.max_requests < sum(a.requests for a in self.areas):
            out.append(f"  --max-requests {self.max_requests} caps the total (the property layer is cut first)")
        out.append(f"total: at most {self.requests} requests, at most {self.completion_tokens} completion tokens")
        return out

    def to_json(self) -> dict[str, Any]:
        """What summary.json records of the plan."""
        return {
            "requests": self.requests,
            "completion_tokens": self.completion_tokens,
            "areas": {a.name: {"requests": a.requests, "completion_tokens": a.completion_tokens} for a in self.areas},
        }


def plan_run(
    contract: Contract,
    *,
    checks: list[Check] | None = None,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    max_examples: int | None = None,
    max_requests: int | None = None,
    declared: Iterable[str] = (),
    api_key_given: bool = True,
    bearer_auth: bool = True,
    probe_rate_limit: int | None = None,
    status_limit: int = STATUS_LIMIT,
) -> Plan:
    """The plan of a run of `contract` with these options (see the module's docstring); `checks`: those planned
    (default: every check of the contract), before `only` and `skip` select among them."""
    facts = Facts(
        contract,
        "MODEL",
        0,
        frozenset(declared),
        api_key_given=api_key_given,
        bearer_auth=bearer_auth,
        status_limit=status_limit,
    )
    planned = plan(contract) if checks is None else checks
    chosen = [c for c in planned if selected(c.id, only or [], skip or [])]
    sending = [c for c in chosen if static_skip(c, facts) is None]
    layer = [c for c in sending if c.kind == "property"]
    load = [c for c in sending if c.id.startswith(LOAD_AREAS)]
    written = [c for c in sending if c.kind != "property" and not c.id.startswith(("client.", *LOAD_AREAS))]
    clients = [c for c in sending if c.kind != "property" and c.id.startswith("client.")]
    recipes = {r.key: r for c in written + clients + load for r in _all(c.recipes)}
    own = recipe_keys(r for c in written for r in c.recipes) - {PREFLIGHT.key}
    shared = recipe_keys(r for c in clients for r in c.recipes) - {PREFLIGHT.key} - own
    batches = recipe_keys(r for c in load for r in c.recipes) - {PREFLIGHT.key} - own - shared
    probed = (probe_rate_limit or 0) if any(c.id.startswith("ratelimit.") for c in load) else 0
    wanted = set(BASIC) if layer else {cap for c in written + clients + load for cap in c.capabilities}
    probes = {BASIC[cap].key: BASIC[cap] for cap in sorted(wanted - facts.declared)} if sending else {}
    probes = {key: recipe for key, recipe in probes.items() if key not in own | shared | batches}
    # the preflight, the one max_tokens fallback, and the control of the status limit (`runner._status_limit`)
    preflight = (completion_ceiling(body(facts)),) * 2 + ((STATUS_LIMIT,) if uses_status_limit(sending, facts) else ())
    written_tokens = preflight + tuple(_recipe_tokens(facts, recipes[k]) for k in sorted(own))
    written_tokens += tuple(_recipe_tokens(facts, probes[k]) for k in sorted(probes))
    areas = [
        Area(
            "hand-written",
            len(written_tokens),
            written_tokens,
            "the preflight, its max_tokens fallback"
            + (f" and the {STATUS_LIMIT}-token control" if len(preflight) > 2 else "")
            + f", {len(own)} distinct requests of {len(written)} checks, {len(probes)} capability probes",
            "--only/--skip, --capability, --api-key",
        ),
        Area(
            "clients",
            len(shared),
            tuple(_recipe_tokens(facts, recipes[k]) for k in sorted(shared)),
            f"{len(clients)} SDK checks replay exchanges the other checks recorded"
            + (f", {len(shared)} of their own" if shared else ""),
            "--only/--skip",
        ),
        Area(
            "load",
            len(batches) + probed,
            tuple(_recipe_tokens(facts, recipes[k]) for k in sorted(batches)) + (1,) * probed,
            f"{len(load)} load and rate-limit checks: {len(batches)} requests sent in batches"
            + (f", the rate-limit probe at most {probed}" if probed else "")
            + " (the rate-limit checks judge what the run met: no request of their own)",
            "--only/--skip, --probe-rate-limit",
        ),
    ]
    areas += _layer(facts, layer, max_examples)
    return Plan(tuple(areas), max_requests)


def _all(recipes: Iterable[Recipe]) -> list[Recipe]:
    out: list[Recipe] = []
    for recipe in recipes:
        out += [recipe, *_all(recipe.after)]
    return out


def _layer(facts: Facts, layer: list[Check], max_examples: int | None) -> list[Area]:
    """The property layer's modes (every capability's fields included: none refused) and its attribution."""
    tokens: list[int] = []
    parts: list[str] = []
    for check in layer:
        mode = check.params["mode"]
        edges, _ = edge_requests(facts, mode, frozenset())
        shapes = shape_requests(facts, mode, frozenset())
        generated = generated_bound(facts.contract, mode, max_examples)
        tokens += [completion_ceiling(p.body) for p in edges + shapes] + [generated_ceiling(facts, mode)] * generated
        parts.append(f"{mode}: {len(edges)} edge values, {len(shapes)} shapes, at most {generated} generated")
    examples = max_examples or DEFAULT_MAX_EXAMPLES
    detail = "; ".join(parts) + f" ({examples} examples per mode)" if parts else "not selected"
    # attribution (the layer's) and retries with rule 10's repeats share `EXTRA_BUDGET`; an answer is counted once
    attribution = PER_RUN if layer else 0
    extra = min(attribution + RETRY_BUDGET, EXTRA_BUDGET)
    shared = f", together at most {EXTRA_BUDGET}" if extra < attribution + RETRY_BUDGET else ""
    what = ""
    if layer:
        what = (
            f"attribution at most {PER_RUN} requests and {PER_RUN_TOKENS} completion tokens ({PER_FINDING} requests "
            "per finding: narrowing, identical repeats, controls), "
        )
    # attribution's requests together count at most PER_RUN_TOKENS (`Attributor`), one at most `most` (the repeat
    # of a generated valid body): the costliest first, so that a --max-requests cut keeps a true ceiling
    most = completion_ceiling({"max_completion_tokens": CAP, "n": MAX_N})
    each = [min(most, PER_RUN_TOKENS - most * i) for i in range(attribution) if most * i < PER_RUN_TOKENS]
    return [
        Area("property layer", len(tokens), tuple(tokens), detail, "--max-examples, --only/--skip 'property.*'"),
        Area(
            "attribution and retries",
            extra,
            tuple(each) + (0,) * (extra - len(each)),
            f"{what}retries (429, 502-504, a reset) and identical repeats of a 5xx at most {RETRY_BUDGET}{shared}; "
            "a retried or repeated answer is counted once",
            "--only/--skip 'property.*'",
        ),
    ]

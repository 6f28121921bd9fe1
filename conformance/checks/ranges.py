"""Every ranged request field (read from the contract): both inclusive bounds accepted; just and far outside,
a wrong type and a boolean rejected. A family: the contract and the table below produce the checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.checks.base import Check, Facts, Recipe, Registry, Request, show
from conformance.checks.requests import LOGIT_CONTROL, SAMPLE_TOKEN, SMALL_LIMIT, STATUS_LIMIT, body
from conformance.checks.status import ByStatus, invalid_table
from conformance.contract import Contract, RangedField
from conformance.records import Exchange

__all__ = ["CHECKS", "request_fields"]

CHECKS = Registry()
WRONG_TYPE = "hot"  # a string no number parser takes
CAPABILITY_OF = {"top_logprobs": "logprobs", "n": "n"}  # fields whose use is an optional capability
# fields whose far-above value would be costly (n: 1398 choices): only the bounds and one step past them are sent,
# with a 1-token limit (docs/verdicts.md rule 9, its one named exception)
COSTLY = {"n"}


def _round(value: float, integer: bool) -> float | int:
    return int(value) if integer else round(value, 6)


def cases(f: RangedField) -> dict[str, tuple[Any, bool]]:
    """Case name -> (value, valid): the bounds, a clear step outside (rule 2), far outside, wrong types."""
    span = max(f.maximum - f.minimum, 1)
    return {
        "at_minimum": (f.minimum, True),
        "at_maximum": (f.maximum, True),
        "below_minimum": (_round(f.minimum - f.step, f.integer), False),
        "above_maximum": (_round(f.maximum + f.step, f.integer), False),
        "far_below_minimum": (_round(f.minimum - 10 * span, f.integer), False),
        "far_above_maximum": (_round(f.maximum + 10 * span, f.integer), False),
        "wrong_type": (WRONG_TYPE, False),
        "boolean": (True, False),
    }


def request_fields(f: RangedField, value: Any) -> dict[str, Any]:
    """The fields that carry `value` for `f`, with what the contract requires beside it."""
    if f.name == "logit_bias":
        return {"logit_bias": {SAMPLE_TOKEN: value}}
    if f.name == "top_logprobs":
        return {"logprobs": True, "top_logprobs": value}
    return {f.name: value}


def limit_of(f: RangedField, valid: bool = True) -> int:
    """The completion limit that rides along: `STATUS_LIMIT` for a value a conforming server refuses (its status
    is what is judged) and for `n` (many choices), the small default otherwise."""
    return STATUS_LIMIT if f.name == "n" or not valid else SMALL_LIMIT


def _recipe(key: str, fields: dict[str, Any], limit: int, status_only: bool = False) -> Recipe:
    """The minimal request with `fields` and `limit`; `status_only` (a value a conforming server refuses): the
    run's status limit (`Facts.status_limit`) instead."""

    def build(facts: Facts, _: tuple[Exchange, ...]) -> Request:
        return Request(body(facts, facts.status_limit if status_only else limit, **fields))

    return Recipe(key, build, status_only=status_only)


@CHECKS.family
def ranges(contract: Contract) -> Iterator[Check]:
    for f in contract.ranged_fields():
        for name, (value, valid) in cases(f).items():
            if f.name in COSTLY and name == "far_above_maximum":
                continue
            rid = f"request.{f.name}.{name}"
            fields = request_fields(f, value)
            sent = ", ".join(f"{k}={show(v)}" for k, v in fields.items())
            capability = CAPABILITY_OF.get(f.name)
            controlled = f.name == "logit_bias"  # a 4xx to the token id itself is no verdict on the value
            # judged as the generated layer judges the same request (extension, narrowed or rejects)
            limit = limit_of(f, valid)
            table = "accepts" if valid else invalid_table(contract, body(Facts(contract), limit, **fields))
            yield Check(
                rid,
                f.name,
                f.pointer,
                ByStatus(table or "rejects", sent, controlled=controlled),
                (_recipe(rid, fields, limit, status_only=not valid), *((LOGIT_CONTROL,) if controlled else ())),
                capabilities=(capability,) if valid and capability else (),
                params={"value": value, "valid": valid},
            )

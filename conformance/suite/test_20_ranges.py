"""Every ranged request field: both inclusive bounds accepted; just and far outside, and a wrong type, rejected."""

from __future__ import annotations

from typing import Any

from conformance.checks import show
from conformance.contract import RangedField
from conformance.suite.context import Case, RunContext
from conformance.suite.plugin import Recorder, cases

WRONG_TYPE = "hot"  # a string no number parser takes
CAPABILITY_OF = {"top_logprobs": "logprobs", "n": "n"}  # fields whose use is an optional capability


def _round(value: float, integer: bool) -> float | int:
    return int(value) if integer else round(value, 6)


def plan(ctx: RunContext) -> list[Case]:
    planned = []
    for f in ctx.contract.ranged_fields():
        span = max(f.maximum - f.minimum, 1)
        values: dict[str, tuple[Any, bool]] = {
            "at_minimum": (f.minimum, True),
            "at_maximum": (f.maximum, True),
            "below_minimum": (_round(f.minimum - f.step, f.integer), False),
            "above_maximum": (_round(f.maximum + f.step, f.integer), False),
            "far_below_minimum": (_round(f.minimum - 10 * span, f.integer), False),
            "far_above_maximum": (_round(f.maximum + 10 * span, f.integer), False),
            "wrong_type": (WRONG_TYPE, False),
            "boolean": (True, False),
        }
        for name, (value, valid) in values.items():
            planned.append(
                Case(f"request.{f.name}.{name}", f.name, f.pointer, {"value": value, "valid": valid, "f": f})
            )
    return planned


def request_fields(f: RangedField, value: Any) -> dict[str, Any]:
    """The fields that carry `value` for `f`, with what the contract requires beside it."""
    if f.name == "logit_bias":
        return {"logit_bias": {"1000": value}}
    if f.name == "top_logprobs":
        return {"logprobs": True, "top_logprobs": value}
    if f.name == "n":
        return {"n": value, "max_completion_tokens": 1}
    return {f.name: value}


@cases(plan)
def test_range(ctx: RunContext, case: Case, record: Recorder) -> None:
    f: RangedField = case["f"]
    fields = request_fields(f, case["value"])
    exchange = ctx.client.chat(ctx.body(**fields))
    sent = ", ".join(f"{k}={show(v)}" for k, v in fields.items())
    if case["valid"]:
        capability = CAPABILITY_OF.get(f.name)
        refused = capability is not None and 400 <= (exchange.status or 0) < 500 and ctx.refused(capability)
        record(ctx.judge.accepts(case.rid, case.pointer, case.field, exchange, sent, unsupported=refused))
    else:
        record(ctx.judge.rejects(case.rid, case.pointer, case.field, exchange, sent))

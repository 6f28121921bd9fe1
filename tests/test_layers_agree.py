"""The hand-written and generated layers reach the same verdict on the same request (docs/verdicts.md rule 3):
every hand-written check that judges a request by its status (a value to reject, an OpenAI-only value, one only
the capture excludes, one the contract leaves open), answered 2xx, 4xx and 5xx, against the property layer's
judgement of that request sent as an edge value."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.checks import Facts, evaluate, plan
from conformance.checks.properties import Attribution, request_finding, request_kind
from conformance.contract import load_contract
from conformance.records import Exchange, Outcome

MODEL = "m"
ANSWERS = {
    200: '{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}',
    400: '{"error": {"code": "BAD_REQUEST", "message": "no"}}',
    500: '{"error": {"code": "INTERNAL_ERROR", "message": "boom"}}',
}


def _cases() -> list[Any]:
    out = []
    for profile in ("atoma", "openai"):
        contract = load_contract(None, profile)
        for check in plan(contract):
            table = getattr(check.judge, "table", None)
            if table not in ("rejects", "narrowed", "extension", "either") or len(check.recipes) != 1:
                continue
            if check.recipes[0].after or check.field is None or check.field == "model":
                continue  # the property layer never sends another model (request.model.* own that)
            out.append(pytest.param(profile, check.id, id=f"{profile}:{check.id}"))
    return out


@pytest.mark.parametrize(("profile", "rid"), _cases())
def test_the_hand_written_and_generated_layers_agree(profile: str, rid: str) -> None:
    contract = load_contract(None, profile)
    check = next(c for c in plan(contract) if c.id == rid)
    facts = Facts(contract, MODEL, 7)
    request = check.recipes[0].build(facts, ())
    if request.raw or not isinstance(request.body, dict) or request.authorization != "Bearer {key}":
        pytest.skip("not a JSON request the property layer could generate")
    valid = contract.validator("#/components/schemas/ChatCompletionRequest").is_valid(request.body)
    mode = "positive" if valid else "negative"
    for status, text in ANSWERS.items():
        sent = Exchange("POST", "http://t", {}, request.body, status=status, text=text,
                        response_headers={"content-type": "application/json"})  # fmt: skip
        exchange = sent.with_repeat(sent) if status == 500 else sent
        hand = evaluate(check, facts, (exchange,)).outcome
        kind = request_kind(exchange, mode)
        if kind is None:
            generated = Outcome.PASSED
        else:
            repeat = sent if status == 500 else None
            found = Attribution((check.field.split(".")[0],), repeat=repeat)
            finding = request_finding(facts, kind, exchange, found, "edge values", check.field)
            generated = finding.outcome if finding is not None else Outcome.PASSED
        assert hand == generated, (status, hand, generated)

"""Every planned check names a clause that resolves, a unique dotted id, and reads its bounds from the contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.checks import plan
from conformance.contract import PROFILES, load_contract

CHECKS = Path(__file__).resolve().parent.parent / "conformance" / "checks"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_case_cites_a_clause(profile: str) -> None:
    contract = load_contract(None, profile)
    checks = plan(contract)
    ids = [c.id for c in checks]
    assert len(ids) == len(set(ids)) > 100
    for check in checks:
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[A-Za-z0-9_]+)+", check.id), check.id
        clause = contract.clause(check.pointer)
        assert clause.citation and clause.ref.startswith("openapi.yaml#/")


def test_a_changed_bound_changes_the_plan(tmp_path: Path) -> None:
    """Bounds are read from openapi.yaml: edit the document and the values sent follow."""
    source = (CHECKS.parent / "contract" / "openapi.yaml").read_text()
    edited = source.replace(
        "          minimum: 0\n          maximum: 2\n          description: What sampling",
        "          minimum: 0\n          maximum: 1.5\n          description: What sampling",
    )
    assert edited != source
    (tmp_path / "openapi.yaml").write_text(edited)
    checks = {c.id: c for c in plan(load_contract(tmp_path / "openapi.yaml"))}
    assert checks["request.temperature.at_maximum"].params["value"] == 1.5
    assert checks["request.temperature.above_maximum"].params["value"] == 1.51


def test_no_range_literals_in_the_checks() -> None:
    """The prose ranges (2, 20, 100, 4 stop sequences) are not written where requests are judged."""
    sources = list(CHECKS.glob("*.py"))
    assert len(sources) >= 10
    for path in sources:
        text = path.read_text()
        # `status // 100` (an HTTP status class) is not a range
        for literal in (r"\b-?2\.0\b", r"\b20\b", r"(?<!// )\b-?100\b", r"\bmaxItems\b.*\b4\b"):
            assert not re.search(literal, text), f"{path.name}: {literal}"


# clauses OpenAI's document does not state: it documents no 400 and no 401 for the operation
NOT_IN_OPENAI = {"request.body.malformed_json", "auth.missing_token", "auth.wrong_token", "auth.non_bearer_scheme"}
# OpenAI's document says nothing of 429s, rate-limit headers or requests in flight together: errata E13-E15
NOT_IN_OPENAI |= {"ratelimit.envelope", "ratelimit.headers", "load.no_cross_talk"}


def test_the_openai_profile_cites_openais_document() -> None:
    contract = load_contract(None, "openai")
    cited = {c.id: contract.clause(c.pointer).document for c in plan(contract)}
    assert {rid for rid, document in cited.items() if document != "openai-openapi"} == NOT_IN_OPENAI

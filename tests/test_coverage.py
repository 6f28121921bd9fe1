"""Issue 19: the coverage map. Every request and response keyword of both profiles is listed with what exercises
it; a keyword nothing exercises needs a reason; a keyword added to a copy of the contract is reported, exercised
when an edge value breaks it, else uncovered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli

from conformance.contract import PROFILES, load_contract
from conformance.driver.coverage import KEYWORDS, coverage

SCHEMAS = "#/components/schemas"


def every_keyword(document: dict[str, Any]) -> set[tuple[str, str]]:
    """Every validation keyword under components/schemas, found without the map's walker: each schema node's
    keywords, not inside an `if` or a `not` (conditions), `additionalProperties` only when `false`."""
    found: set[tuple[str, str]] = set()

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{pointer}/{i}")
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in KEYWORDS and not (key == "additionalProperties" and value is not False):
                found.add((pointer, key))
        for key, value in node.items():
            if key == "properties":
                for name, child in value.items():
                    walk(child, f"{pointer}/properties/{name.replace('~', '~0').replace('/', '~1')}")
            elif key in ("items", "additionalProperties", "propertyNames", "then", "else", "oneOf", "anyOf", "allOf"):
                walk(value, f"{pointer}/{key}")

    for name, schema in document["components"]["schemas"].items():
        walk(schema, f"{SCHEMAS}/{name}")
    return found


@pytest.mark.parametrize("profile", PROFILES)
def test_every_keyword_of_the_profile_is_mapped_and_exercised_or_explained(profile: str) -> None:
    contract = load_contract(None, profile)
    items = coverage(contract)
    mapped = {(k.pointer, k.keyword) for k in items}
    assert len(mapped) == len(items)
    text = json.dumps(contract.document)
    unreferenced = {p for p, _ in every_keyword(contract.document) - mapped}
    for pointer in unreferenced:  # only schemas nothing in the effective document refers to are left out
        name = pointer[len(SCHEMAS) + 1 :].split("/", 1)[0]
        assert f'"{SCHEMAS}/{name}"' not in text, pointer
    assert mapped <= every_keyword(contract.document)
    unexplained = [(k.pointer, k.keyword) for k in items if not k.exercised and not k.reason]
    assert unexplained == [], unexplained
    sides = {k.side for k in items}
    assert {"request", "response"} <= sides
    temperature = next(k for k in items if k.pointer.endswith("/temperature") and k.keyword == "maximum")
    assert "request.temperature.above_maximum" in temperature.checks
    assert any(p.startswith("edge values: temperature above maximum") for p in temperature.phases)
    created = next(k for k in items if k.pointer.endswith("ChatCompletionResponse/properties/created"))
    assert {"response.created", "response.minimal.schema"} <= set(created.checks)


def test_a_keyword_added_to_a_copy_of_the_contract_is_reported(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    schemas = document["components"]["schemas"]
    schemas["ChatCompletionRequest"]["properties"]["user"]["maxLength"] = 64  # the long-string edge value breaks it
    schemas["Tool"]["properties"]["function"]["properties"]["name"]["maxLength"] = 64  # nothing sends a long name
    copy = tmp_path / "openapi.yaml"
    copy.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    items = {(k.pointer, k.keyword): k for k in coverage(load_contract(copy, "atoma"))}
    user = items[(f"{SCHEMAS}/ChatCompletionRequest/properties/user", "maxLength")]
    assert user.exercised and "edge values: user long string" in user.phases
    name = items[(f"{SCHEMAS}/Tool/properties/function/properties/name", "maxLength")]
    assert not name.exercised and name.reason is None
    proc = run_cli("coverage", "--spec", str(copy), "--profile", "atoma")
    assert proc.returncode == 1, proc.stderr
    assert f"{SCHEMAS}/Tool/properties/function/properties/name maxLength: NO REASON GIVEN" in proc.stdout
    assert "1 keywords neither exercised nor given a reason" in proc.stderr


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_the_coverage_command_on_the_shipped_contract() -> None:
    proc = run_cli("coverage", "--markdown")
    assert proc.returncode == 0, proc.stderr
    assert "# Coverage of the contract, profile atoma" in proc.stdout
    assert "# Coverage of the contract, profile openai" in proc.stdout
    assert "**none given**" not in proc.stdout

"""The captured contract: valid OpenAPI, one source file, every constraint cited, quotes verbatim."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from conformance.contract import PROFILES, REQUEST_SCHEMA, ContractError, load_contract, resolve_pointer
from conformance.contract import default_spec_path as packaged

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
CONSTRAINT_KEYS = {"minimum", "maximum", "maxItems", "minItems", "enum", "const", "pattern"}


def walk(node: Any, pointer: str = "#") -> Any:
    """Yield (pointer, node) for every mapping in the document."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            yield from walk(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{pointer}/{i}")


def sources(document: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(p, n["x-source"]) for p, n in walk(document) if "x-source" in n]


def test_the_packaged_contract_is_the_source_itself() -> None:
    """One file: the package's `openapi.yaml` is a relative link to the root one (a wheel stores its content)."""
    link = ROOT / "conformance" / "contract" / "openapi.yaml"
    assert link.is_symlink() and os.readlink(link) == "../../openapi.yaml"
    assert packaged().read_bytes() == (ROOT / "openapi.yaml").read_bytes()


@pytest.mark.parametrize("profile", PROFILES)
def test_document_validates_as_openapi_31(profile: str) -> None:
    contract = load_contract(ROOT / "openapi.yaml", profile)
    validate(contract.document)
    assert contract.document["openapi"].startswith("3.1")


def test_docs_quotes_appear_verbatim() -> None:
    docs = (REFERENCE / "atoma-chat-completions-docs.txt").read_text()
    raw = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    quoted = [(p, s["quote"]) for p, s in sources(raw) if s["document"] == "atoma-docs"]
    assert len(quoted) >= 20
    missing = [(p, q) for p, q in quoted if q not in docs]
    assert not missing


@pytest.mark.parametrize(
    ("document", "filename"),
    [("atoma-openapi", "atoma-proxy-openapi.yml"), ("openai-openapi", "openai-openapi-2025-04-29.yaml")],
)
def test_source_pointers_resolve_in_the_reference_documents(document: str, filename: str) -> None:
    reference = yaml.safe_load((REFERENCE / filename).read_text())
    raw = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    pointers = [s["pointer"] for _, s in sources(raw) if s["document"] == document]
    assert pointers
    for pointer in pointers:
        resolve_pointer(reference, pointer)


def test_every_source_names_a_known_document_and_errata_exist() -> None:
    raw = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    known = set(raw["info"]["x-sources"])
    errata = (ROOT / "docs" / "errata.md").read_text()
    for pointer, source in sources(raw):
        assert source["document"] in known, pointer
        assert source.get("quote") or source.get("pointer") or source.get("erratum"), pointer
        if source["document"] == "errata":
            assert f"| {source['erratum']} |" in errata, pointer


@pytest.mark.parametrize("profile", PROFILES)
def test_every_constraint_is_cited(profile: str) -> None:
    """Each range, enum or limit has an x-source on itself or an enclosing schema."""
    contract = load_contract(None, profile)
    for pointer, node in walk(contract.document["components"]["schemas"], "#/components/schemas"):
        for key in CONSTRAINT_KEYS & set(node):
            contract.clause(f"{pointer}/{key}")  # raises when nothing cites it


def test_prose_ranges_became_keywords() -> None:
    """The ranges the docs page states only in prose (design brief) are schema keywords of the atoma profile."""
    contract = load_contract()
    got = {f.name: (f.minimum, f.maximum, f.integer) for f in contract.ranged_fields()}
    assert got == {
        "frequency_penalty": (-2, 2, False),
        "presence_penalty": (-2, 2, False),
        "logit_bias": (-100, 100, False),
        "temperature": (0, 2, False),
        "top_logprobs": (0, 20, True),
    }
    assert contract.field("stop")["maxItems"] == 4
    literal = contract.node("#/components/schemas/ToolChoiceLiteral")
    assert literal["enum"] == ["none", "auto"]


def test_openai_profile_differs_by_data() -> None:
    atoma, openai = load_contract(None, "atoma"), load_contract(None, "openai")
    assert atoma.sha256 != openai.sha256
    assert {f.name for f in openai.ranged_fields()} - {f.name for f in atoma.ranged_fields()} == {"n", "top_p"}
    assert openai.node("#/components/schemas/ToolChoiceLiteral")["enum"] == ["none", "auto", "required"]
    assert not [p for p, node in walk(openai.document) if "x-profiles" in node]


def test_dependent_fields_are_expressed() -> None:
    contract = load_contract()
    validator = contract.validator(contract.field_pointer("temperature").rsplit("/properties", 1)[0])
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert validator.is_valid({**base, "logprobs": True, "top_logprobs": 2})
    assert not validator.is_valid({**base, "top_logprobs": 2})
    assert validator.is_valid({**base, "stream": True, "stream_options": {"include_usage": True}})
    assert not validator.is_valid({**base, "stream_options": {"include_usage": True}})


def test_unknown_profile_and_unreadable_spec(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="unknown profile"):
        load_contract(None, "nope")
    with pytest.raises(ContractError, match="cannot read"):
        load_contract(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contract(tmp_path / "bad.yaml")


REQUEST_KEYWORDS = {
    "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
    "minLength", "maxLength", "pattern", "required", "propertyNames", "additionalProperties", "oneOf", "anyOf", "not",
    "if",
}  # fmt: skip


def request_keywords(contract: Any) -> Any:
    """(pointer, keyword, nearest x-source, x-captured) for every constraint of the schemas a request uses."""
    schemas = contract.document["components"]["schemas"]
    todo, seen = ["ChatCompletionRequest"], {"ChatCompletionRequest"}

    def walk(node: Any, pointer: str, source: Any) -> Any:
        if not isinstance(node, dict):
            return
        if "$ref" in node and (name := node["$ref"].rsplit("/", 1)[1]) not in seen:
            seen.add(name)
            todo.append(name)
        source = node.get("x-source", source)
        for keyword in REQUEST_KEYWORDS & set(node):
            if not (keyword == "additionalProperties" and node[keyword] is True):
                yield pointer, keyword, source, node.get("x-captured", {})
        for name, value in (node.get("properties") or {}).items():
            yield from walk(value, f"{pointer}/properties/{name}", source)
        for key in ("items", "additionalProperties", "propertyNames", "if", "then", "else"):
            yield from walk(node.get(key), f"{pointer}/{key}", source)
        for key in ("oneOf", "anyOf", "allOf"):
            for i, value in enumerate(node.get(key) or []):
                yield from walk(value, f"{pointer}/{key}/{i}", source)

    while todo:
        name = todo.pop()
        yield from walk(schemas[name], f"#/components/schemas/{name}", None)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_request_keyword_is_cited_or_marked_captured(profile: str) -> None:
    """Rule 8: a keyword either comes from the profile's sources (a citation that is not an erratum's settlement
    covers it) or says, in `x-captured`, why the capture added or narrowed it."""
    keywords = list(request_keywords(load_contract(None, profile)))
    assert len(keywords) > 80
    bare = [
        (pointer, keyword)
        for pointer, keyword, source, captured in keywords
        if keyword not in captured and (source is None or source.get("document") == "errata")
    ]
    assert not bare
    reasons = [reason for *_, captured in keywords for reason in captured.values()]
    assert all(isinstance(r, str) and len(r) > 20 for r in reasons)


# the keywords that bound a value, which checks read and the capture adds: each needs its citation on its own node
VALUE_KEYWORDS = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "minLength", "maxLength",
    "enum", "const", "pattern",
}  # fmt: skip


def cited_elsewhere(contract: Any) -> list[tuple[str, str]]:
    """(pointer, keyword) for each value keyword of the schemas a request uses whose node carries neither its own
    `x-source` nor an `x-captured` reason for that keyword: a citation on a parent does not count (`clause()`
    would fall back to it, and the parent's sentence does not state the bound). A keyword inside an `if` bounds
    nothing (it is a condition); one inside `then`/`else` is part of the conditional rule, cited on the node
    that carries the `if`."""
    schemas = contract.document["components"]["schemas"]
    todo, seen = ["ChatCompletionRequest"], {"ChatCompletionRequest"}
    out: list[tuple[str, str]] = []

    def walk(node: Any, pointer: str, rule: dict[str, Any] | None) -> None:
        if not isinstance(node, dict):
            return
        if "$ref" in node and (name := node["$ref"].rsplit("/", 1)[1]) not in seen:
            seen.add(name)
            todo.append(name)
        owner = rule if rule is not None else node
        for keyword in sorted(VALUE_KEYWORDS & set(node)):
            captured = {**(owner.get("x-captured") or {}), **(node.get("x-captured") or {})}
            if "x-source" not in owner and keyword not in captured:
                out.append((pointer, keyword))
        for name, value in (node.get("properties") or {}).items():
            walk(value, f"{pointer}/properties/{name}", rule)
        for key in ("items", "additionalProperties", "propertyNames", "not"):
            walk(node.get(key), f"{pointer}/{key}", rule)
        for key in ("then", "else"):
            walk(node.get(key), f"{pointer}/{key}", rule if rule is not None else node)
        for key in ("oneOf", "anyOf", "allOf"):
            for i, value in enumerate(node.get(key) or []):
                walk(value, f"{pointer}/{key}/{i}", rule)

    while todo:
        name = todo.pop()
        walk(schemas[name], f"#/components/schemas/{name}", None)
    return out


@pytest.mark.parametrize("profile", PROFILES)
def test_every_value_keyword_is_cited_on_its_own_node(profile: str) -> None:
    """Rule 8 at the keyword: a bound or enum of a request field is cited (or marked captured) where it stands."""
    assert not cited_elsewhere(load_contract(None, profile))


def test_a_bound_cited_only_by_its_parent_is_caught(tmp_path: Path) -> None:
    """Without its own `x-source`, temperature's range would still resolve to a clause (the request's), but the
    check above fails on it; in the openai profile the overlay's citation stands."""
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    temperature = document["components"]["schemas"]["ChatCompletionRequest"]["properties"]["temperature"]
    del temperature["x-source"]
    (tmp_path / "openapi.yaml").write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    atoma = load_contract(tmp_path / "openapi.yaml", "atoma")
    pointer = atoma.field_pointer("temperature")
    assert atoma.clause(f"{pointer}/maximum").document == "atoma-docs"  # the parent's citation: not enough
    assert cited_elsewhere(atoma) == [(pointer, "maximum"), (pointer, "minimum")]
    assert not cited_elsewhere(load_contract(tmp_path / "openapi.yaml", "openai"))


@pytest.mark.parametrize(
    ("extra", "atoma", "openai"),
    [
        ({"temperature": 3}, "stated", "stated"),
        ({"functions": [[None, None]]}, "captured", "stated"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": 5}}}, "captured", "stated"),
        ({"messages": [{"role": "user", "content": [{"type": "video", "text": "x"}]}]}, "captured", "stated"),
        ({"messages": [{"role": "user", "content": None}]}, "captured", "stated"),
        ({"messages": [{"role": "user", "content": 5}]}, "stated", "stated"),
        ({"logit_bias": {"token": 1}}, "captured", "captured"),
    ],
)
def test_violations_tell_stated_constraints_from_the_capture(extra: dict[str, Any], atoma: str, openai: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    for profile, expected in (("atoma", atoma), ("openai", openai)):
        violations = load_contract(None, profile).violations(REQUEST_SCHEMA, body)
        assert violations
        assert ("captured" if all(v.captured for v in violations) else "stated") == expected, (profile, violations)


class _Panic(BaseException):  # what pyo3 raises when Python code it called raised (a BaseException)
    pass


def test_a_signal_while_jsonschema_rs_compiles_is_an_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal's KeyboardInterrupt raised while jsonschema-rs called into Python comes back as a panic that names
    it: it is an interrupt again (the run then ends in reports). Any other panic: the Python validator decides."""
    import jsonschema_rs

    def interrupted(*_: object) -> None:
        raise _Panic("Error building schema validator:\n  KeyboardInterrupt: ")

    monkeypatch.setattr(jsonschema_rs, "Draft202012Validator", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_contract().is_valid(REQUEST_SCHEMA, {})

    def broken(*_: object) -> None:
        raise _Panic("Error building schema validator: something else")

    monkeypatch.setattr(jsonschema_rs, "Draft202012Validator", broken)
    assert load_contract().is_valid(REQUEST_SCHEMA, {}) is False  # decided by the Python validator

"""The run path is one-way: records are built complete and never changed; each step makes new ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import run_in_process

from conformance.records import Attachment, Exchange, FrozenMap, Outcome, Result, SseEvent
from conformance.reference.faults import RunArgs
from conformance.report import RunInfo


def _records() -> tuple[Exchange, Result, RunInfo]:
    exchange = Exchange("POST", "http://t/v1/chat/completions", {"accept": "x"}, {"model": "m"}, status=200, text="{}")
    result = Result("a.b", "clause", "cite", "temperature", "MUST", Outcome.PASSED, "ok", None, [Attachment("r", "{}")])
    info = RunInfo("0", "spec", "sha", "sha", "http://t", "m", "atoma", 7, "2026-01-01T00:00:00+00:00")
    return exchange, result, info


@pytest.mark.parametrize("index", [0, 1, 2])
def test_assigning_to_a_field_of_a_record_raises(index: int) -> None:
    record = _records()[index]
    name = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, name, "changed")


def test_the_collections_of_records_are_read_only() -> None:
    exchange, result, _ = _records()
    assert isinstance(result.attachments, tuple) and isinstance(exchange.events, tuple)
    for mapping in (exchange.request_headers, exchange.response_headers):
        assert isinstance(mapping, FrozenMap)
        with pytest.raises(TypeError):
            mapping["x"] = "y"  # type: ignore[index]
        with pytest.raises(TypeError):
            mapping.update(x="y")  # type: ignore[attr-defined]
    events = Exchange("POST", "u", {}, None, events=[SseEvent("a")])  # type: ignore[arg-type]
    assert events.events == (SseEvent("a"),)


def test_a_new_record_is_made_by_the_step_that_owns_the_change() -> None:
    exchange, _, _ = _records()
    repeat = dataclasses.replace(exchange, status=500)
    with_repeat = exchange.with_repeat(repeat)
    assert with_repeat.repeat is repeat and exchange.repeat is None


@pytest.mark.slow
def test_a_finding_seen_in_both_generation_modes_is_counted_in_the_reported_result(tmp_path: Path) -> None:
    """The property layer's note "(and N in negative generation)" reaches summary.json: a server whose 200s break
    the response schema (created as a string) and that accepts temperatures out of range shows the same
    finding in both modes."""
    code, data = run_in_process(
        tmp_path, ("range_unchecked:temperature", "created_string"), args=RunArgs(only=("property.*",))
    )
    results = {r["id"]: r for r in data["results"]}
    finding = results["property.response_schema_conformance.created"]
    assert code == 1 and finding["outcome"] == "failed"
    assert "in negative generation)" in finding["message"], finding["message"]
    ids = [r["id"] for r in data["results"]]
    assert ids.count("property.response_schema_conformance.created") == 1
    assert ids.index("property.positive") < ids.index(finding["id"]) < ids.index("property.negative")

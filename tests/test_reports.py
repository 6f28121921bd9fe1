"""Reports: one record stream, four formats, the shipped summary schema, and no secret anywhere."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, echoed_forms, report_text, run_in_process
from jsonschema import Draft202012Validator

from conformance.records import Attachment, Outcome, Result
from conformance.reference.faults import HAND_WRITTEN
from conformance.report import RunInfo, summary_schema, write_reports

ZEROS = "0" * 64


def record(rid: str, outcome: Outcome) -> Result:
    return Result(
        id=rid,
        clause="openapi.yaml#/x",
        citation='atoma-docs: "q"',
        field="temperature",
        level="MUST",
        outcome=outcome,
        message=f"{outcome.value} message",
        reproduce="curl -sS x",
        attachments=[Attachment("request", "{}")],
    )


def info(**extra: Any) -> RunInfo:
    return RunInfo(
        version="0",
        spec_path="openapi.yaml",
        spec_sha256=ZEROS,
        spec_file_sha256=ZEROS,
        base_url="http://h",
        model="m",
        profile="atoma",
        seed=1,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
        exit_code=1,
        **extra,
    )


def test_outcome_mapping_in_every_format(tmp_path: Path) -> None:
    results = [record(f"x.{o.value}", o) for o in Outcome]
    data = write_reports(results, info(), tmp_path)
    Draft202012Validator(summary_schema()).validate(data)
    assert data["totals"] | {} == {
        "passed": 1,
        "failed": 1,
        "warned": 1,
        "unsupported": 1,
        "skipped": 1,
        "errors": 1,
        "xfailed": 1,
        "xpassed": 1,
        "requests": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "largest_completion_limit": None,
        "retries": 0,
    }
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")}
    assert cases["failed"].find("failure") is not None
    assert cases["error"].find("error") is not None
    assert cases["skipped"].find("skipped") is not None and cases["unsupported"].find("skipped") is not None
    warned = cases["warned"]
    assert warned.find("failure") is None and warned.find("skipped") is None
    assert any(p.get("name") == "warning" for p in warned.iter("property"))
    allure = {}
    for path in (tmp_path / "allure-results").glob("*-result.json"):
        item = json.loads(path.read_text())
        allure[item["name"]] = item
    status = {name.split(".")[1]: item["status"] for name, item in allure.items()}
    assert status == {
        "passed": "passed",
        "failed": "failed",
        "warned": "passed",
        "unsupported": "skipped",
        "skipped": "skipped",
        "error": "broken",
        "xfailed": "skipped",
        "xpassed": "passed",
    }
    assert any(label["value"] == "warning" for label in allure["x.warned"]["labels"])
    assert any(label["value"] == "known" for label in allure["x.xfailed"]["labels"])
    assert any(label["value"] == "stale" for label in allure["x.xpassed"]["labels"])
    assert cases["xfailed"].find("skipped") is not None and cases["xpassed"].find("failure") is None
    for name in ("environment.properties", "categories.json", "executor.json"):
        assert (tmp_path / "allure-results" / name).exists()
    assert "## failed (1)" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_run_reports_validate_and_never_hold_the_key(
    server: Callable[..., Any], run_against: Callable[..., Any], tmp_path: Path
) -> None:
    with server(faults={"auth_any_token", "range_500:temperature"}) as url:
        proc, data = run_against(url)
    Draft202012Validator(summary_schema()).validate(data)
    assert data["seed"] == 7 and data["target"]["model"] and len(data["spec"]["sha256"]) == 64
    failed = [r for r in data["results"] if r["outcome"] == "failed"]
    assert failed and all(r["reproduce"].startswith("curl ") for r in failed)
    assert all("$CONFORMANCE_API_KEY" in r["reproduce"] for r in failed if not r["id"].startswith("auth."))
    assert all(r["clause"].startswith("openapi.yaml#/") and r["citation"] for r in data["results"])
    report_dir = next(tmp_path.glob("reports-*"))
    for path in report_dir.rglob("*"):
        if path.is_file():
            assert KEY not in report_text(path), path
    assert KEY not in proc.stdout + proc.stderr


def test_key_echoed_by_the_server_is_judged_as_received_and_redacted_on_the_way_out() -> None:
    """A server that echoes the token in every form: the exchange keeps the answer as received (a key must never
    corrupt a verdict), and the result that leaves the process holds no form of the key."""
    import httpx

    from conformance.records import Attachment, Outcome, Result
    from conformance.transport import TargetClient

    forms = [form for form in echoed_forms(KEY) if "\\x" not in form]  # \x is no JSON escape
    text = json.dumps({"error": {"code": "AUTH", "message": "|".join(forms)}}).replace("\\\\", "\\")

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=text, headers={"content-type": "application/json"})

    client = TargetClient("http://x", KEY)
    client._http = httpx.Client(transport=httpx.MockTransport(echo))
    exchange = client.chat({"model": "m", "messages": []})
    assert exchange.text == text and isinstance(exchange.json, dict)
    assert KEY not in exchange.curl() and KEY not in json.dumps(exchange.request_headers)
    attached = (Attachment("response", exchange.text),)
    result = Result("x", "c", "c", None, "MUST", Outcome.FAILED, exchange.describe(), exchange.curl(), attached)
    out = client.redactor.result(result)
    for shown in (out.message, out.reproduce or "", out.attachments[0].content):
        assert not any(form in shown for form in forms), shown
        assert "$CONFORMANCE_API_KEY" in shown or shown == out.reproduce


def test_a_short_key_never_corrupts_a_verdict(tmp_path: Path) -> None:
    """`--api-key 1` against the correct reference server: every check passes (the response is judged as
    received); the key is still redacted in what leaves the process."""
    code, data = run_in_process(tmp_path, args=HAND_WRITTEN, key="1")
    assert code == 0 and data["totals"]["failed"] == 0, [
        r["message"] for r in data["results"] if r["outcome"] != "passed"
    ]

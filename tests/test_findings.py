"""Issue 17: no finding is lost. Every reproducible 5xx a run meets is reported under its field (or, beyond the
attribution budget, under `body` with its requests), and a flaky 5xx never hides a reproducible one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, MODEL, summary

from conformance.checks import Facts
from conformance.contract import REQUEST_SCHEMA, load_contract
from conformance.driver.edges import edge_body, edge_cases, spots
from conformance.reference import ServerConfig, create_app, serving
from conformance.runner import RunSettings, run

pytestmark = pytest.mark.slow
CONTRACT = load_contract()
Crash = Callable[[dict[str, Any]], bytes | None]  # a body -> the 500's body, or None to serve it


@contextmanager
def crashing_reference(crash: Crash) -> Iterator[str]:
    """The reference server, but a chat request whose body `crash` picks answers 500 (with the body it gives)."""
    app = create_app(ServerConfig(api_key=KEY, models=(MODEL,)))

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await app(scope, receive, send)
            return
        raw, more = b"", True
        while more:
            message = await receive()
            raw, more = raw + message.get("body", b""), message.get("more_body", False)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        answer = crash(body) if isinstance(body, dict) else None
        if answer is not None:
            headers = [(b"content-type", b"application/json" if answer.startswith(b"{") else b"text/plain")]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return dict(await receive())

        await app(scope, replay, send)

    with serving(wrapped, name="crashing-reference") as url:
        yield url


def _run(url: str, report_dir: Path, *only: str) -> tuple[int, dict[str, Any]]:
    settings = RunSettings(
        contract=CONTRACT, base_url=url, api_key=KEY, model=MODEL, report_dir=report_dir, seed=7, progress=False
    )
    code = run(RunSettings(**{**settings.__dict__, "only": list(only)}))
    return code, summary(report_dir)


def _causes(count: int) -> list[tuple[str, frozenset[tuple[str, str]]]]:
    """`count` distinct single-field bad inputs the edge values send: (field, the keywords it breaks, where)."""
    facts = Facts(CONTRACT, MODEL, 7)
    out: dict[tuple[str, frozenset[tuple[str, str]]], None] = {}
    for spot in spots(CONTRACT):
        for _, value in edge_cases(CONTRACT, spot):
            body = edge_body(facts, spot, value)
            broken = frozenset((v.keyword, v.pointer) for v in CONTRACT.violations(REQUEST_SCHEMA, body or {}))
            if body is not None and broken:
                out.setdefault((spot.field, broken), None)
    return list(out)[:count]


def test_forty_distinct_500s_are_all_reported_under_their_fields(tmp_path: Path) -> None:
    """A server that answers 500 to 40 distinct single-field bad inputs and conforms otherwise: each is reported
    `failed` under `property.not_a_server_error.<its field>`; the default budget attributes at least 40 causes."""
    chosen = _causes(40)
    assert len(chosen) == 40
    crashing = {pair for _, broken in chosen for pair in broken}

    def crash(body: dict[str, Any]) -> bytes | None:
        broken = {(v.keyword, v.pointer) for v in CONTRACT.violations(REQUEST_SCHEMA, body)}
        return b'{"error": {"code": "INTERNAL_ERROR", "message": "boom"}}' if broken & crashing else None

    with crashing_reference(crash) as url:
        code, data = _run(url, tmp_path)
    results = {r["id"]: r for r in data["results"]}
    assert code == 1
    missing = [f for f, _ in chosen if results.get(f"property.not_a_server_error.{f}", {}).get("outcome") != "failed"]
    assert not missing, missing
    attributed = sum(
        int(re.search(r"(\d+) causes attributed", results[f"property.{mode}"]["message"])[1])  # type: ignore[index]
        for mode in ("positive", "negative")
    )
    assert attributed >= 40, attributed
    body = results.get("property.not_a_server_error.body")
    assert body is None or "not attributed: budget" in body["message"]


def test_a_flaky_500_does_not_hide_a_reproducible_one(tmp_path: Path) -> None:
    """The first request with `frequency_penalty: -2` answers 500 once (its repeat is served); every request with
    `frequency_penalty: null` answers 500. The field's result is `failed`, and the error-envelope finding's
    reproduction replays a request that still answers 500."""
    flaked: list[bool] = []

    def crash(body: dict[str, Any]) -> bytes | None:
        if "frequency_penalty" in body and body["frequency_penalty"] is None:
            return b"boom (null)"
        if body.get("frequency_penalty") == -2 and not flaked:
            flaked.append(True)
            return b"boom (once)"
        return None

    with crashing_reference(crash) as url:
        code, data = _run(url, tmp_path, "property.*")
    results = {r["id"]: r for r in data["results"]}
    assert flaked and code == 1
    field = results["property.not_a_server_error.frequency_penalty"]
    assert field["outcome"] == "failed", field["message"]
    envelope = results["property.error_envelope.error"]
    assert envelope["outcome"] == "failed" and '"frequency_penalty": null' in envelope["reproduce"]

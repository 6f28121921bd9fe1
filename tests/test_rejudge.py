"""`conformance rejudge`: a saved run's exchanges judged again reproduce every hand-written verdict with nothing sent
(requests counted at the server), a changed judge changes exactly its verdict, what was not recorded is said, and
the saved exchanges hold the key in no form."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import KEY, MODEL, echoed_forms, summary

from conformance.checks import Check, Facts, Verdict, plan
from conformance.cli import main
from conformance.contract import Contract, load_contract
from conformance.driver.saved import SAVED, Recorder, load
from conformance.records import Exchange, Outcome
from conformance.reference import ServerConfig, in_process
from conformance.rejudge import NOT_RECORDED, rejudge
from conformance.runner import RunSettings, run
from conformance.transport import Redactor

FAULTS = frozenset({"range_500:temperature", "created_string", "stream_no_done", "auth_any_token"})
COMPARED = ("outcome", "message", "field", "clause", "citation", "level", "reproduce", "cause")


@contextmanager
def counted(profile: str, faults: frozenset[str], seen: list[str], echo: bool = False) -> Iterator[httpx.BaseTransport]:
    """The reference server in process, every request it gets counted in `seen`; with `echo`, every answer echoes
    the Authorization header it got (in a header, and in the body of a 4xx), as a careless target would."""
    contract = load_contract(None, profile)
    with in_process(ServerConfig(api_key=KEY, profile=profile, faults=faults, contract=contract)) as inner:

        def handle(request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            answer = inner.handle_request(request)
            if not echo:
                return answer
            got = request.headers.get("authorization", "")
            answer.read()
            content = answer.content
            if 400 <= answer.status_code < 500:
                content = json.dumps({"error": {"code": "BAD", "message": f"refused {got!r}"}}).encode()
            headers = {
                k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding")
            }
            return httpx.Response(answer.status_code, headers={**headers, "x-echo": got}, content=content)

        yield httpx.MockTransport(handle)


def run_saved(
    tmp_path: Path, faults: frozenset[str], *skip: str, echo: bool = False, **more: Any
) -> tuple[Path, list[str]]:
    more.setdefault("concurrency", 4)
    seen: list[str] = []
    report_dir = tmp_path / "run"
    with counted("atoma", faults, seen, echo) as transport:
        settings = RunSettings(
            contract=load_contract(None, "atoma"),
            base_url="http://reference.test",
            api_key=KEY,
            model=MODEL,
            report_dir=report_dir,
            seed=7,
            skip=list(skip),
            progress=False,
            transport=transport,
            **more,
        )
        run(settings)
    return report_dir, seen


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in data["results"]}


def assert_same_verdicts(original: dict[str, Any], again: dict[str, Any], but: set[str] = frozenset()) -> None:
    before, after = by_id(original), by_id(again)
    assert list(before) == list(after)  # the same results, in the same order
    for rid, result in before.items():
        # the property layer and ratelimit.* (judged on what the run met: 429s are not saved) are copied, marked
        if rid.startswith(("property.", "ratelimit.")) or rid in but:
            continue
        assert {k: after[rid].get(k) for k in COMPARED} == {k: result.get(k) for k in COMPARED}, rid


@pytest.mark.slow
def test_a_full_run_is_rejudged_exactly_with_nothing_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir, seen = run_saved(tmp_path, FAULTS)
    original = summary(run_dir)
    assert {"failed", "warned"} <= {r["outcome"] for r in original["results"]}
    sent = len(seen)
    assert sent == original["totals"]["requests"]

    code = main(["rejudge", str(run_dir), "--report-dir", str(tmp_path / "again")])
    again = summary(tmp_path / "again")
    assert len(seen) == sent  # nothing reached the server
    assert code == original["exit_code"] == 1
    assert again["totals"]["requests"] == 0 and again["rejudged"]["sends_refused"] == 0
    assert again["rejudged"]["changed"] == []
    assert_same_verdicts(original, again)
    layer = {r["id"] for r in original["results"] if r["id"].startswith(("property.", "ratelimit."))}
    assert layer and set(again["rejudged"]["not_rejudged"]) == layer
    assert all(by_id(again)[rid]["message"].startswith("not re-judged") for rid in layer)
    assert again["rejudged"]["from"] == str(run_dir)
    assert again["rejudged"]["original"] == {
        "version": original["tool"]["version"],
        "spec_sha256": original["spec"]["sha256"],
    }
    assert "**Re-judged** from" in (tmp_path / "again" / "summary.md").read_text()

    # a judge changed in the tool (patched here) changes exactly its verdict
    def patched(contract: Contract) -> list[Check]:
        def stricter(facts: Facts, *exchanges: Exchange) -> Verdict:
            return Verdict(Outcome.FAILED, "created must be a prime number (a patched judge)")

        return [dataclasses.replace(c, judge=stricter) if c.id == "response.id" else c for c in plan(contract)]

    monkeypatch.setattr("conformance.rejudge.plan", patched)
    changed = rejudge(run_dir)
    assert changed.record["changed"] == [{"id": "response.id", "was": "passed", "now": "failed"}]
    assert changed.record["sends_refused"] == 0 and len(seen) == sent


def test_rejudge_says_what_was_not_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the cap falls after the temperature checks (5xx, each repeated: the same ones at any concurrency)
    run_dir, seen = run_saved(tmp_path, frozenset({"range_500:temperature"}), "property.*", max_requests=31)
    original = summary(run_dir)
    cut = {r["id"] for r in original["results"] if r["message"].startswith("not run: --max-requests 31 reached")}
    assert cut and original["status"] == "INCOMPLETE"
    unconfirmed = [r for r in original["results"] if "repeat was not sent (--max-requests" in r["message"]]
    assert {r["outcome"] for r in unconfirmed} <= {"warned"}  # a 5xx the cap left unrepeated is warned
    capsys.readouterr()
    code = main(["rejudge", str(run_dir), "--report-dir", str(tmp_path / "again")])
    out = capsys.readouterr()
    again = summary(tmp_path / "again")
    assert len(seen) == original["totals"]["requests"]  # nothing more reached the server
    assert again["totals"]["requests"] == 0 and again["rejudged"]["sends_refused"] > 0
    met = {r["id"] for r in original["results"] if r["id"].startswith("ratelimit.")}  # copied: 429s are not saved
    assert set(again["rejudged"]["not_rejudged"]) == cut | met
    assert all(NOT_RECORDED in by_id(again)[rid]["message"] for rid in cut)
    assert all(by_id(again)[rid]["outcome"] == "skipped" for rid in cut)
    assert_same_verdicts(original, again, but=cut)
    # exit 1 (a 5xx on temperature confirmed by its repeat) beats 3 (cut by the cap): the rejudge exits the same
    assert code == original["exit_code"] == 1 and "0 verdicts changed" in out.out and "did not record" in out.err
    # the run's own directory is not written into; a directory without saved exchanges is a usage error
    assert main(["rejudge", str(run_dir), "--report-dir", str(run_dir)]) == 2
    (run_dir / SAVED).unlink()
    assert main(["rejudge", str(run_dir), "--report-dir", str(tmp_path / "more")]) == 2


def test_the_saved_exchanges_hold_no_form_of_the_key(tmp_path: Path) -> None:
    run_dir, _ = run_saved(tmp_path, frozenset({"auth_any_scheme"}), "property.*", echo=True)
    text = gzip.decompress((run_dir / SAVED).read_bytes()).decode("ascii")
    assert not [form for form in echoed_forms(KEY) if form in text]
    assert "refused 'Bearer $CONFORMANCE_API_KEY'" in text or "$CONFORMANCE_API_KEY" in text
    original = summary(run_dir)
    again = rejudge(run_dir)
    assert again.record["changed"] == [] and again.record["sends_refused"] == 0
    outcomes = {r.id: r.outcome.value for r in again.results}
    assert outcomes == {r["id"]: r["outcome"] for r in original["results"]}


def test_the_saved_set_is_capped_and_says_what_it_dropped(tmp_path: Path) -> None:
    def exchange(size: int) -> Exchange:
        return Exchange("POST", "http://t/v1/chat/completions", {}, {"model": "m"}, status=200, text="x" * size)

    recorder = Recorder(Redactor(KEY), max_body=1000, max_bytes=2500)
    recorder.add("a", exchange(1500))  # longer than --max-response-bytes: dropped, never cut
    recorder.add("b", exchange(500))
    recorder.add("c", exchange(900))  # past the cap of the whole set
    recorder.add("d", Exchange("POST", "u", {}, {"k": KEY}, status=200, text=f"echo {KEY}"))
    path = tmp_path / SAVED
    path.write_bytes(recorder.payload({"profile": "atoma"}))
    saved = load(path)
    assert list(saved.exchanges) == ["b", "d"]
    assert "longer than 1000" in saved.header["dropped"]["a"] and "cap of 2500" in saved.header["dropped"]["c"]
    assert saved.exchanges["b"].text == "x" * 500
    assert saved.exchanges["d"].text == "echo $CONFORMANCE_API_KEY"
    assert saved.exchanges["d"].request_body == {"k": "$CONFORMANCE_API_KEY"}

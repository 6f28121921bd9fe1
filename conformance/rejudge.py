"""`conformance rejudge RUN_DIR --report-dir OUT`: a saved run's recorded exchanges judged again with the current
checks and contract, sending nothing (after a tool upgrade: which verdicts change before a new night is trusted).

A run saves what this needs in its report directory (`exchanges.json.gz`, `driver/saved.py`): each exchange the
hand-written checks judged, by recipe key, and the facts the run settled (model, seed, the completion limit the
preflight settled, capabilities declared, whether a key was given). Here a `Driver` runs the hand-written checks
of the current plan with its cache seeded from them, through a client that refuses to send: a check that needs an
exchange that was not recorded (a run cut short, an exchange dropped at the cap) is `skipped`, "not re-judged: not
recorded", and each refusal is counted (a full run's rejudge refuses none). The property layer's generation is not
replayed: its results, those judged on what the run met (`ratelimit.*`: 429s and rate-limit headers, not saved),
and any result the current plan does not make, are copied from the original summary and
marked as not re-judged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.checks import PREFLIGHT, Check, plan
from conformance.contract import Contract, load_contract
from conformance.driver import Driver
from conformance.driver.clients import installed
from conformance.driver.saved import SAVED, SavedError, facts_from, load
from conformance.records import Exchange, Outcome, Result
from conformance.report import RunInfo, write_reports
from conformance.runner import exit_code
from conformance.transport import BudgetExhausted, TargetClient

__all__ = ["NOT_RECORDED", "RejudgeError", "Rejudged", "rejudge", "write"]

NOT_RECORDED = "not re-judged: not recorded"
NOT_REPLAYED = "not re-judged (copied from the original run: the property layer's generation is not replayed)"
NOT_MET = "not re-judged (copied from the original run: judged on what the run met, e.g. 429s, which is not saved)"
NOT_PLANNED = "not re-judged (copied from the original run: the current checks do not make this result)"


class RejudgeError(Exception):
    """The run directory cannot be re-judged (no summary, no saved exchanges, a broken file)."""


class NotRecorded(BudgetExhausted):
    """A re-judging check wanted an exchange the run did not record: the driver records the check as skipped."""


class _Refusing(TargetClient):
    """A client that sends nothing: each request is refused and counted (`refused`)."""

    def __init__(self) -> None:
        super().__init__("http://rejudge.invalid", None)
        self.refused = 0

    def chat(self, body: Any, **_: Any) -> Exchange:
        self.refused += 1
        raise NotRecorded(NOT_RECORDED)

    def models(self) -> list[str] | None:
        self.refused += 1
        return None


@dataclass(frozen=True)
class Rejudged:
    """What a rejudge made: its results (in the original order), the exit code, and its `rejudged` record."""

    results: tuple[Result, ...]
    exit_code: int
    record: dict[str, Any]
    contract: Contract
    summary: dict[str, Any]  # the original run's


def _original(run_dir: Path) -> tuple[dict[str, Any], Any]:
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RejudgeError(f"{run_dir}: no readable summary.json ({exc})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("results"), list):
        raise RejudgeError(f"{run_dir}/summary.json is not a run's summary")
    if not (run_dir / SAVED).exists():
        raise RejudgeError(f"{run_dir}: no {SAVED} (a run saves it from conformance 0.1.0 on, unless it stopped early)")
    try:
        return summary, load(run_dir / SAVED)
    except SavedError as exc:
        raise RejudgeError(str(exc)) from None


def _copied(entry: dict[str, Any], why: str) -> Result:
    """A result of the original summary, copied as it was, its message saying it was not re-judged."""
    return Result(
        id=str(entry["id"]),
        clause=str(entry.get("clause") or ""),
        citation=str(entry.get("citation") or ""),
        field=entry.get("field"),
        level="SHOULD" if entry.get("level") == "SHOULD" else "MUST",
        outcome=Outcome(entry["outcome"]),
        message=f"{why}: {entry.get('message') or ''}",
        reproduce=entry.get("reproduce"),
        cause=entry.get("cause"),
    )


def _plain(outcome: str) -> str:
    """An outcome before a baseline: a known failure is a failure, a stale entry a pass."""
    return {"xfailed": "failed", "xpassed": "passed"}.get(outcome, outcome)


def _observes(check: Check) -> bool:
    """Whether `check` is judged on what the run met (the transport's 429s, x-ratelimit-* answers): not saved."""
    return any(recipe.observe is not None for recipe in check.recipes)


def rejudge(run_dir: Path, spec: str | None = None) -> Rejudged:
    """Judge the run saved in `run_dir` again with the current checks and the contract of its profile (`spec`:
    another contract document); nothing is sent."""
    summary, saved = _original(run_dir)
    header = saved.header
    contract: Contract = load_contract(spec, str(header["profile"]))
    preflight = saved.exchanges.get(PREFLIGHT.key)
    if preflight is None:
        raise RejudgeError(f"{run_dir}/{SAVED} holds no preflight: nothing can be re-judged")
    facts = facts_from(contract, header["facts"], installed())
    checks = plan(contract)
    client = _Refusing()
    driver = Driver(facts, client, preflight, only=list(header.get("only") or []), skip=list(header.get("skip") or []))
    driver.progress = False
    driver.cache.update(saved.exchanges)
    if preflight.status != 200:
        driver.skip_all = f"the minimal request was answered HTTP {preflight.status}, not 200"
    try:
        driver.run([c for c in checks if c.kind != "property" and not _observes(c)])
    finally:
        client.close()
    now = {r.id: r for r in driver.results}
    results: list[Result] = []
    not_rejudged: list[str] = []
    changed: list[dict[str, str]] = []
    for entry in summary["results"]:
        rid = str(entry["id"])
        result = now.pop(rid, None)
        if result is None:
            observing = any(_observes(c) and c.id == rid for c in checks)
            why = NOT_REPLAYED if rid.startswith("property.") else NOT_MET if observing else NOT_PLANNED
            results.append(_copied(entry, why))
            not_rejudged.append(rid)
            continue
        results.append(result)
        if NOT_RECORDED in result.message:
            not_rejudged.append(rid)
        elif _plain(str(entry["outcome"])) != result.outcome.value:
            changed.append({"id": rid, "was": str(entry["outcome"]), "now": result.outcome.value})
    for result in now.values():  # checks the original run did not have
        results.append(result)
        if NOT_RECORDED in result.message:
            not_rejudged.append(result.id)
        else:
            changed.append({"id": result.id, "was": "absent", "now": result.outcome.value})
    record = {
        "from": str(run_dir),
        "original": {
            "version": str(header.get("tool") or summary.get("tool", {}).get("version", "")),
            "spec_sha256": str(header.get("spec_sha256") or summary.get("spec", {}).get("sha256", "")),
        },
        "current": {"version": __version__, "spec_sha256": contract.sha256},
        "not_rejudged": not_rejudged,
        "changed": changed,
        "sends_refused": client.refused,
        "exchanges_dropped": sorted(dict(header.get("dropped") or {})),
    }
    # a run cut short stays so: what it did not record is not re-judged
    stopped = f"the original run: {summary['stopped']}" if summary.get("stopped") else None
    record["stopped"] = stopped
    return Rejudged(tuple(results), exit_code(results, stopped), record, contract, summary)


def write(report_dir: Path, rejudged: Rejudged) -> RunInfo:
    """The reports of `rejudged` into `report_dir`, saying they were re-judged and from which run."""
    summary, contract = rejudged.summary, rejudged.contract
    target = summary.get("target") or {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    info = RunInfo(
        version=__version__,
        spec_path=str(contract.path),
        spec_sha256=contract.sha256,
        spec_file_sha256=hashlib.sha256(contract.path.read_bytes()).hexdigest(),
        base_url=str(target.get("base_url") or ""),
        model=str(target.get("model") or ""),
        profile=contract.profile,
        seed=int(summary.get("seed") or 0),
        started_at=now,
        finished_at=now,
        exit_code=rejudged.exit_code,
        stopped=rejudged.record["stopped"],
        reference=bool(target.get("reference")),
        target_name=str(target.get("name") or ""),
        rejudged=rejudged.record,
    )
    write_reports(list(rejudged.results), info, report_dir)
    return info

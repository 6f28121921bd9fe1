"""Reports, all written from the same result records: summary.json, summary.md, junit.xml, allure-results/."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import ATTACHMENT_PATTERN, Label, Parameter, Status, StatusDetails, TestResult
from allure_commons.model2 import Attachment as AllureAttachment

from conformance.records import Outcome, Result, visible

__all__ = [
    "SUMMARY_SCHEMA",
    "ReportDirInUse",
    "RunInfo",
    "allure_environment",
    "allure_history_id",
    "allure_test",
    "by_cause",
    "lock_report_dir",
    "run_status",
    "summary_schema",
    "totals",
    "write_not_run",
    "write_reports",
]

SUMMARY_SCHEMA = "summary.schema.json"
OPTIONAL_FILES = ("exchanges.json.gz",)  # written by a run that saves its exchanges (`conformance rejudge`)
ALLURE_STATUS = {
    Outcome.PASSED: Status.PASSED,
    Outcome.WARNED: Status.PASSED,
    Outcome.FAILED: Status.FAILED,
    Outcome.ERROR: Status.BROKEN,
    Outcome.UNSUPPORTED: Status.SKIPPED,
    Outcome.SKIPPED: Status.SKIPPED,
    Outcome.XFAILED: Status.SKIPPED,  # a known failure: labelled "known"
    Outcome.XPASSED: Status.PASSED,  # a stale baseline entry: labelled "stale"
}
TOTAL_KEYS = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "failed",
    Outcome.WARNED: "warned",
    Outcome.UNSUPPORTED: "unsupported",
    Outcome.SKIPPED: "skipped",
    Outcome.ERROR: "errors",
    Outcome.XFAILED: "xfailed",
    Outcome.XPASSED: "xpassed",
}


def summary_schema() -> dict[str, Any]:
    """The JSON Schema of summary.json, shipped with the package."""
    schema: dict[str, Any] = json.loads(resources.files("conformance.report").joinpath(SUMMARY_SCHEMA).read_text())
    return schema


@dataclass(frozen=True)
class RunInfo:
    """Provenance of a run: what was tested, with what, when. Secrets never reach it."""

    version: str
    spec_path: str
    spec_sha256: str
    spec_file_sha256: str
    base_url: str
    model: str
    profile: str
    seed: int
    started_at: str
    finished_at: str = ""
    exit_code: int = 0
    stopped: str | None = None
    requests: int = 0
    largest_completion_limit: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reference: bool = False
    target_name: str = ""  # the targets file's name for the target, if run from one
    baseline: str | None = None  # the baseline file applied, if any
    strict_baseline: bool = False
    status: str | None = None  # "NOT RUN" for a target that could not run; else derived (ran, INCOMPLETE)
    retries: int = 0  # retries and identical repeats of a 5xx sent (part of `requests`)
    plan: Mapping[str, Any] | None = None  # the run's ceilings: requests, completion_tokens, areas
    rejudged: Mapping[str, Any] | None = None  # re-judged from a saved run: from where, versions, not re-judged


def totals(results: list[Result], info: RunInfo) -> dict[str, Any]:
    """Outcome counts, requests, tokens, and the largest completion limit any request asked for."""
    counts = Counter(r.outcome for r in results)
    out: dict[str, Any] = {key: counts.get(outcome, 0) for outcome, key in TOTAL_KEYS.items()}
    out.update(requests=info.requests, prompt_tokens=info.prompt_tokens, completion_tokens=info.completion_tokens)
    out["retries"] = info.retries
    out["largest_completion_limit"] = info.largest_completion_limit
    return out


def summary(results: list[Result], info: RunInfo) -> dict[str, Any]:
    return {
        "tool": {"name": "conformance", "version": info.version},
        "spec": {"path": info.spec_path, "sha256": info.spec_sha256, "file_sha256": info.spec_file_sha256},
        "target": {
            "name": info.target_name or None,
            "base_url": info.base_url,
            "model": info.model,
            "profile": info.profile,
            "reference": info.reference,
        },
        "baseline": {"path": info.baseline, "strict": info.strict_baseline} if info.baseline else None,
        "seed": info.seed,
        "started_at": info.started_at,
        "finished_at": info.finished_at,
        "exit_code": info.exit_code,
        "status": run_status(info),
        "stopped": info.stopped,
        "totals": totals(results, info),
        "plan": dict(info.plan) if info.plan is not None else None,
        "rejudged": dict(info.rejudged) if info.rejudged is not None else None,
        "results": [r.to_summary() for r in results],
    }


def run_status(info: RunInfo) -> str:
    """`NOT RUN` (the target could not run), `INCOMPLETE` (stopped early, or errors kept verdicts from being
    reached), or `ran`."""
    if info.status:
        return info.status
    return "INCOMPLETE" if info.stopped or info.exit_code == 3 else "ran"


def write_not_run(info: RunInfo, report_dir: Path) -> dict[str, Any]:
    """The reports of a target that could not run (`info.status` NOT RUN, the reason in `info.stopped`)."""
    return write_reports([], info, report_dir)


def _md_cell(text: str | None, limit: int = 300) -> str:
    text = (text or "").replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= limit else text[:limit] + "..."


def by_cause(results: list[Result]) -> list[tuple[str, list[Result]]]:
    """Failed (then warned) results grouped by their cause key, the largest group first."""
    groups: dict[str, list[Result]] = {}
    for outcome in (Outcome.FAILED, Outcome.WARNED):
        for r in results:
            if r.outcome is outcome:
                groups.setdefault(f"{r.cause or 'other contract break'} ({outcome.value})", []).append(r)
    return sorted(groups.items(), key=lambda item: (" (failed)" not in item[0], -len(item[1])))


def _cause_lines(results: list[Result]) -> list[str]:
    groups = by_cause(results)
    if not groups:
        return []
    lines = ["## Causes", "", "| cause | results | members |", "|---|---|---|"]
    for cause, members in groups:
        shown = ", ".join(f"`{r.id}`" for r in members[:12]) + (
            f", ... {len(members) - 12} more" if len(members) > 12 else ""
        )
        lines.append(f"| {_md_cell(cause)} | {len(members)} | {shown} |")
    return [*lines, ""]


def _plan_lines(info: RunInfo) -> list[str]:
    """The plan's ceilings beside what the run used; where a re-judged run comes from."""
    lines = []
    if info.plan is not None:
        lines.append(
            f"Plan: at most {info.plan['requests']} requests and {info.plan['completion_tokens']} completion tokens; "
            f"used {info.requests} requests ({info.retries} retries and repeats) and {info.completion_tokens} "
            "completion tokens.  "
        )
    if info.rejudged is not None:
        r = info.rejudged
        lines.append(
            f"**Re-judged** from `{_md_cell(str(r['from']))}` (conformance {r['original']['version']}, contract "
            f"`{str(r['original']['spec_sha256'])[:16]}`) with conformance {r['current']['version']}, contract "
            f"`{str(r['current']['spec_sha256'])[:16]}`; nothing sent. {len(r['changed'])} verdicts changed; "
            f"{len(r['not_rejudged'])} results not re-judged (not recorded, or the property layer's)."
        )
    return [*lines, ""] if lines else []


def markdown(results: list[Result], info: RunInfo) -> str:
    t = totals(results, info)
    incomplete = "INCOMPLETE (" + ("stopped early" if info.stopped else "infrastructure errors") + ")"
    verdict = {0: "conforms", 1: "FAILED", 2: "NOT RUN (configuration)", 3: incomplete}.get(info.exit_code, "?")
    lines = [
        f"# Conformance: {verdict}",
        "",
        f"Target {_md_cell(info.target_name) + ' ' if info.target_name else ''}`{_md_cell(info.base_url)}`, "
        f"model `{_md_cell(info.model)}`, profile `{info.profile}`, seed `{info.seed}`.  ",
        f"conformance {info.version}; contract sha256 `{info.spec_sha256[:16]}`; "
        f"{info.started_at} to {info.finished_at}.",
        "",
        "| passed | failed | warned | unsupported | skipped | errors | xfailed | xpassed | requests | tokens |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {t['passed']} | {t['failed']} | {t['warned']} | {t['unsupported']} | {t['skipped']} | {t['errors']} "
        f"| {t['xfailed']} | {t['xpassed']} | {t['requests']} | {t['prompt_tokens']} + {t['completion_tokens']} |",
        "",
    ]
    stale = [r for r in results if r.outcome is Outcome.XPASSED]
    if stale:  # first, so a baseline cannot rot silently
        lines += [f"**Stale baseline entries ({len(stale)}): these known failures pass now; remove them.**", ""]
        lines += [f"- `{r.id}`: {_md_cell((r.known or {}).get('reason'), 200)}" for r in stale] + [""]
    if t["xfailed"]:
        baseline = _md_cell(info.baseline, 500)
        lines += [f"Known failures (baseline `{baseline}`): {t['xfailed']} still failing, not counted.", ""]
    if info.stopped:
        lines += [f"**Stopped:** {_md_cell(info.stopped, 2000)}", ""]
    lines += _plan_lines(info)
    lines += _cause_lines(results)
    order = [Outcome.FAILED, Outcome.ERROR, Outcome.WARNED, Outcome.UNSUPPORTED, Outcome.SKIPPED, Outcome.XFAILED]
    for outcome in order:
        chosen = [r for r in results if r.outcome is outcome]
        if not chosen:
            continue
        lines += [
            f"## {outcome.value} ({len(chosen)})",
            "",
            "| id | field | level | clause | message |",
            "|---|---|---|---|---|",
        ]
        for r in chosen:
            lines.append(f"| `{r.id}` | {r.field or ''} | {r.level} | `{r.clause}` | {_md_cell(r.message)} |")
        lines.append("")
        if outcome is Outcome.FAILED:
            lines += ["<details><summary>Reproduce</summary>", ""]
            for r in chosen:
                if r.reproduce:
                    lines += [f"`{r.id}`", "", "```sh", r.reproduce, "```", ""]
            lines += ["</details>", ""]
    passed = [r.id for r in results if r.outcome is Outcome.PASSED]
    if passed:
        lines += [
            f"<details><summary>passed ({len(passed)})</summary>",
            "",
            *[f"- `{p}`" for p in passed],
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)


def junit(results: list[Result], info: RunInfo) -> bytes:
    t = totals(results, info)
    suite = ET.Element(
        "testsuite",
        name=f"conformance.{info.profile}",
        tests=str(len(results)),
        failures=str(t["failed"] + (t["xpassed"] if info.strict_baseline else 0)),
        errors=str(t["errors"]),
        skipped=str(t["unsupported"] + t["skipped"] + t["xfailed"]),
        time=f"{sum(r.duration_s for r in results):.3f}",
        timestamp=info.started_at,
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("tool.version", info.version),
        ("spec.sha256", info.spec_sha256),
        ("target.name", info.target_name),
        ("target.base_url", info.base_url),
        ("target.model", info.model),
        ("target.profile", info.profile),
        ("seed", str(info.seed)),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for r in results:
        group, _, name = r.id.rpartition(".")
        case = ET.SubElement(suite, "testcase", classname=group or r.id, name=name, time=f"{r.duration_s:.3f}")
        case_props = ET.SubElement(case, "properties")
        for key, value in (
            ("clause", r.clause),
            ("citation", r.citation),
            ("field", r.field or ""),
            ("level", r.level),
        ):
            ET.SubElement(case_props, "property", name=key, value=value)
        if r.outcome is Outcome.WARNED:
            ET.SubElement(case_props, "property", name="warning", value=r.message)
        detail = r.message + (f"\nreproduce: {r.reproduce}" if r.reproduce else "")
        if r.outcome is Outcome.XPASSED:
            ET.SubElement(case_props, "property", name="stale_baseline", value=r.message)
        if r.outcome is Outcome.FAILED or (r.outcome is Outcome.XPASSED and info.strict_baseline):
            ET.SubElement(case, "failure", message=r.message[:500], type=r.level).text = detail
        elif r.outcome is Outcome.XFAILED:
            ET.SubElement(case, "skipped", message=f"known failure: {r.message[:500]}")
        elif r.outcome is Outcome.ERROR:
            ET.SubElement(case, "error", message=r.message[:500], type="infrastructure").text = detail
        elif r.outcome in (Outcome.SKIPPED, Outcome.UNSUPPORTED):
            ET.SubElement(case, "skipped", message=f"{r.outcome.value}: {r.message[:500]}")
        elif r.outcome is Outcome.WARNED:
            ET.SubElement(case, "system-out").text = f"warned: {r.message}"
    if info.stopped:  # a run cut short says why, also to a CI that reads only junit.xml
        case = ET.SubElement(suite, "testcase", classname="conformance.run", name="stopped", time="0")
        ET.SubElement(case, "error", message=info.stopped[:500], type="incomplete").text = info.stopped
        suite.set("tests", str(len(results) + 1))
        suite.set("errors", str(t["errors"] + 1))
    ET.indent(suite)
    document: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return document


def allure(results: list[Result], info: RunInfo, directory: Path) -> None:
    logger = AllureFileLogger(str(directory), clean=True)
    for r in results:
        logger.report_result(allure_test(r, info, lambda body, name: logger.report_attached_data(body, name)))
    allure_environment(info, directory)
    allurerc = {  # Allure 3 reads its categories from its config: `allure generate ... --config allurerc.json`
        "name": "conformance",
        "categories": {"rules": allure_categories()},
        "historyPath": "./allure-history.jsonl",
    }
    (directory.parent / "allurerc.json").write_text(json.dumps(allurerc, indent=2))


def allure_history_id(result: Result, info: RunInfo) -> str:
    """One history per profile, target and model: several targets share one report without reading as retries."""
    return hashlib.md5(
        f"{info.profile}:{info.target_name or info.base_url}:{info.model}:{result.id}".encode()
    ).hexdigest()


def allure_labels(r: Result, info: RunInfo) -> list[Label]:
    group, _, _name = r.id.rpartition(".")
    target = info.target_name or info.base_url
    labels = [
        Label("suite", f"{target} ({info.model}, {info.profile})"),
        Label("host", target),
        Label("category", category(r)),
        Label("parentSuite", r.id.split(".")[0]),
        Label("subSuite", group),
        Label("severity", "critical" if r.level == "MUST" else "normal"),
        Label("tag", r.level),
        Label("tag", r.outcome.value),
    ]
    if r.outcome is Outcome.WARNED:
        labels.append(Label("tag", "warning"))
    if r.outcome is Outcome.XFAILED:
        labels.append(Label("tag", "known"))
    if r.outcome is Outcome.XPASSED:
        labels.append(Label("tag", "stale"))
    return labels


def allure_test(r: Result, info: RunInfo, attach: Callable[[str, str], None]) -> TestResult:
    """The Allure result of `r`: history id, labels, status and its category's message, attachments (each written
    with `attach(body, file_name)`). `conformance run` and the pytest plugin (through allure-pytest) both use it."""
    attachments = []
    for a in r.attachments:
        source = ATTACHMENT_PATTERN.format(prefix=uuid.uuid4(), ext="json" if a.mime == "application/json" else "txt")
        attach(a.content, source)
        attachments.append(AllureAttachment(name=a.name, source=source, type=a.mime))
    if r.reproduce:
        source = ATTACHMENT_PATTERN.format(prefix=uuid.uuid4(), ext="sh")
        attach(r.reproduce, source)
        attachments.append(AllureAttachment(name="reproduce (curl)", source=source, type="text/plain"))
    key = allure_history_id(r, info)
    return TestResult(
        uuid=str(uuid.uuid4()),
        historyId=key,
        testCaseId=key,
        fullName=r.id,
        name=r.id,
        status=ALLURE_STATUS[r.outcome],
        statusDetails=StatusDetails(message=_status_message(r), trace=r.reproduce),
        description=f"Clause `{r.clause}`: {r.citation}\n\nField: `{r.field}`. Level: {r.level}.",
        labels=allure_labels(r, info),
        parameters=[Parameter(name="field", value=str(r.field)), Parameter(name="clause", value=r.clause)],
        attachments=attachments,
        stage="finished",
        start=r.start_ms or None,
        stop=r.stop_ms or None,
    )


def allure_environment(info: RunInfo, directory: Path) -> None:
    """What Allure 2 reads beside the results: environment.properties, categories.json, executor.json."""
    environment = {
        "conformance.version": info.version,
        "spec.sha256": info.spec_sha256,
        "target.base_url": info.base_url,
        "target.model": info.model,
        "target.profile": info.profile,
        "seed": str(info.seed),
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "environment.properties").write_text(
        "".join(f"{k}={_property(v)}\n" for k, v in environment.items()), encoding="utf-8"
    )
    (directory / "categories.json").write_text(json.dumps(allure_categories(), indent=2))  # read by Allure 2
    executor = {
        "name": "conformance",
        "type": "conformance",
        "buildName": f"conformance {info.version} seed {info.seed}",
    }
    (directory / "executor.json").write_text(json.dumps(executor, indent=2))


def _property(value: str) -> str:
    """A value as a Java properties file reads it back (one line)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


# Allure categories, first match wins. Every result's status message starts with its category's name, so a
# plain prefix pattern (valid in Java and JavaScript regular expressions alike; no inline flags) places it.
CATEGORIES = (
    ("Range not enforced", "failed"),
    ("Server error on bad input", "failed"),
    ("Schema violation", "failed"),
    ("Other contract failure", "failed"),
    ("Unsupported capability", "skipped"),
    ("Infrastructure error", "broken"),
    ("Known failure (baseline)", "skipped"),
    ("Stale baseline entry", "passed"),
    ("Warning (SHOULD)", "passed"),
)


def category(result: Result) -> str:
    """The Allure category of a result (rule-based on its outcome, id and message)."""
    message = result.message
    if result.outcome is Outcome.FAILED:
        if "a 5xx" in message or "server error" in message or "crashed the server" in message:
            return "Server error on bad input"
        if result.id.startswith("request.") and "an invalid value was accepted" in message:
            return "Range not enforced"
        if result.id.startswith("property.negative_data_rejection.") or "outside" in message:
            return "Range not enforced"
        if "breaks" in message or "schema" in message or result.id.startswith(("response.", "stream.chunk")):
            return "Schema violation"
        return "Other contract failure"
    return {
        Outcome.UNSUPPORTED: "Unsupported capability",
        Outcome.ERROR: "Infrastructure error",
        Outcome.XFAILED: "Known failure (baseline)",
        Outcome.XPASSED: "Stale baseline entry",
        Outcome.WARNED: "Warning (SHOULD)",
    }.get(result.outcome, "")


def _status_message(result: Result) -> str:
    name = category(result)
    return f"{name + ': ' if name else ''}{result.outcome.value}: {result.message}"


def allure_categories() -> list[dict[str, Any]]:
    """The categories for Allure 2's categories.json and Allure 3's config (see `allurerc.json` in the README)."""
    return [
        {"name": name, "matchedStatuses": [status], "messageRegex": re.escape(name) + ":.*"}
        for name, status in CATEGORIES
    ]


def write_reports(
    results: list[Result], info: RunInfo, report_dir: Path, files: Mapping[str, bytes] | None = None
) -> dict[str, Any]:
    """Write every report into `report_dir`; return the summary written to summary.json. `files`: more files of
    the set, by name (`exchanges.json.gz`); one of `OPTIONAL_FILES` left from an earlier set is removed.

    Atomically: the whole set is written into a staging directory beside the reports, then each file (and
    `allure-results/`) is moved into place, summary.json last, so the directory never holds a half-written file or a
    set mixed from two runs' halves (a run holding `lock_report_dir` keeps other runs out)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    info = _escaped(info)
    results = [_visible_result(r) for r in results]
    data = summary(results, info)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=report_dir))
    try:
        (staging / "summary.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "summary.md").write_text(markdown(results, info), encoding="utf-8")
        (staging / "junit.xml").write_bytes(junit(results, info))
        allure(results, info, staging / "allure-results")
        for name, content in (files or {}).items():
            (staging / name).write_bytes(content)
        with _exclusive(report_dir):  # one writer's set at a time: never a mix of two
            _swap_in(staging / "allure-results", report_dir / "allure-results", staging)
            for name in OPTIONAL_FILES:
                if name in (files or {}):
                    os.replace(staging / name, report_dir / name)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(report_dir / name)
            for name in ("allurerc.json", "junit.xml", "summary.md", "summary.json"):
                os.replace(staging / name, report_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return data


def _escaped(info: RunInfo) -> RunInfo:
    """The run's texts from the command line or a config (model, base URL, names, paths) written visibly, as a
    target's text is: a control character or a lone surrogate cannot break a report."""
    texts = ("spec_path", "base_url", "model", "profile", "started_at", "finished_at", "target_name")
    changes: dict[str, Any] = {name: visible(getattr(info, name)) for name in texts}
    changes.update(stopped=_maybe(info.stopped), baseline=_maybe(info.baseline))
    return dataclasses.replace(info, **changes)


def _visible_result(result: Result) -> Result:
    """A result's texts written visibly (the driver's already are; the runner's and a baseline's reasons too)."""
    known = {k: visible(str(v)) for k, v in result.known.items()} if result.known else result.known
    return dataclasses.replace(
        result,
        id=visible(result.id),
        clause=visible(result.clause),
        citation=visible(result.citation),
        field=_maybe(result.field),
        message=visible(result.message),
        reproduce=_maybe(result.reproduce),
        known=known,
    )


def _maybe(text: str | None) -> str | None:
    return visible(text) if text is not None else None


def _swap_in(new: Path, place: Path, aside: Path) -> None:
    """Move the directory `new` to `place`, the directory there moved aside first (a directory cannot be replaced
    in one step); tried again if another writer got there in between."""
    for attempt in range(20):
        with contextlib.suppress(FileNotFoundError):
            place.rename(aside / f"old-{attempt}")
        try:
            new.rename(place)
            return
        except OSError:
            if attempt == 19:
                raise


class ReportDirInUse(Exception):
    """Another run holds the report directory."""


_HELD: set[str] = set()  # report directories this process holds (lock_report_dir)


@contextlib.contextmanager
def lock_report_dir(report_dir: Path) -> Iterator[None]:
    """Hold `report_dir` for one run (an advisory lock on the directory itself, released when the run ends or
    dies); ReportDirInUse when another run holds it."""
    report_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(report_dir, os.O_RDONLY)
    key = os.path.realpath(report_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReportDirInUse(f"{report_dir} is in use by another run") from None
        _HELD.add(key)
        yield
    finally:
        _HELD.discard(key)
        os.close(fd)


@contextlib.contextmanager
def _exclusive(report_dir: Path) -> Iterator[None]:
    """The directory's lock for a moment (waiting for it), unless this process holds it for its whole run."""
    if os.path.realpath(report_dir) in _HELD:
        yield
        return
    fd = os.open(report_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

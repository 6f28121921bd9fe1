"""The checks: a registry of declarations, each a pure judgement over recorded exchanges citing a clause.

`plan(contract)` lists every check of a profile in run order; `conformance list`, the README's table and the
driver read it. Adding a check is a change in one module here (plus the fault that proves it: see
ARCHITECTURE.md).
"""

from __future__ import annotations

import fnmatch

from conformance.checks import (
    auth,
    clients,
    fields,
    load,
    minimal,
    properties,
    ranges,
    ratelimit,
    response,
    semantics,
    streaming,
)
from conformance.checks.base import (
    PREFLIGHT,
    RUN_KEY,
    Check,
    ClientParser,
    Facts,
    Inconclusive,
    Judge,
    Parsed,
    Recipe,
    Registry,
    Request,
    Verdict,
    clean_4xx,
    evaluate,
    exchange_attachments,
    infrastructure_problem,
    is_server_error,
    make_result,
    provider_state,
    show,
)
from conformance.checks.minimal import limit_honoured
from conformance.checks.requests import BASIC, body
from conformance.contract import Contract

__all__ = [
    "BASIC",
    "PREFLIGHT",
    "RUN_KEY",
    "Check",
    "ClientParser",
    "Facts",
    "Inconclusive",
    "Judge",
    "Parsed",
    "Recipe",
    "Registry",
    "Request",
    "Verdict",
    "body",
    "clean_4xx",
    "evaluate",
    "exchange_attachments",
    "infrastructure_problem",
    "is_server_error",
    "judge_name",
    "limit_honoured",
    "make_result",
    "markdown_table",
    "plan",
    "provider_state",
    "selected",
    "show",
]


def selected(rid: str, only: list[str], skip: list[str]) -> bool:
    """Whether result id `rid` is chosen by the `--only` and `--skip` globs."""
    if only and not any(fnmatch.fnmatchcase(rid, pattern) for pattern in only):
        return False
    return not any(fnmatch.fnmatchcase(rid, pattern) for pattern in skip)


# the hand-written checks (auth and load included) run before the property layer: a request budget cuts generation
# first; the rate-limit checks, judged on what the whole run met, come last (they send nothing)
MODULES = (minimal, ranges, fields, response, semantics, streaming, clients, auth, load, properties, ratelimit)


def plan(contract: Contract) -> list[Check]:
    """Every check of the contract's profile, in run order; ids are unique."""
    checks = [check for module in MODULES for check in module.CHECKS.plan(contract)]
    ids = [c.id for c in checks]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"check ids declared twice: {', '.join(duplicated)}")
    return checks


def judge_name(check: Check) -> str:
    """A stable name for a check's judge function (shared judges, such as status tables, share a name)."""
    name = getattr(check.judge, "name", None)
    return str(name) if name else f"{check.judge.__module__}.{check.judge.__qualname__}"


def markdown_table(contract: Contract) -> str:
    """One row per check: id, level, field, clause and the sentence or document it cites."""
    rows = ["| id | level | field | clause | citation |", "|---|---|---|---|---|"]
    for check in plan(contract):
        clause = contract.clause(check.pointer)
        level = check.level or clause.level
        citation = clause.citation.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{check.id}` | {level} | {check.field or ''} | `{clause.pointer}` | {citation} |")
    return "\n".join(rows) + "\n"

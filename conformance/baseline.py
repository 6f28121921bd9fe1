"""Known failures (a baseline): a target's known breaks, so that a new regression is not lost among them.

A baseline file lists result ids (globs allowed), each with a reason and an issue link:

    known:
      - id: request.temperature.*
        reason: the proxy passes sampling parameters through unchecked
        issue: https://github.com/example/provider/issues/12

A `failed` result matching an entry becomes `xfailed` (it does not fail the run); a `passed` one becomes `xpassed`:
the entry is stale, listed at the top of every report, failing the run only with `--strict-baseline`. An entry for
a property-layer finding (`property.<check>.<field>`, an exact id) that the layer, run in full, did not find tonight
is stale too: such a finding has no result when it is not found, so the entry gets an `xpassed` result of its own.
Pure: reads and writes files, imports only the records.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.records import Outcome, Result
from conformance.yamlsafe import YamlError, read_yaml

MAX_BYTES = 1024 * 1024  # a baseline larger than this is refused
MAX_NODES = 100_000  # and one whose aliases expand to more nodes than this

__all__ = ["Baseline", "BaselineError", "baseline_from_summary"]


class BaselineError(Exception):
    """A baseline file that cannot be read or does not have the expected shape."""


@dataclass(frozen=True)
class Entry:
    id: str
    reason: str
    issue: str = ""

    def shown(self) -> dict[str, str]:
        return {"id": self.id, "reason": self.reason, **({"issue": self.issue} if self.issue else {})}


@dataclass(frozen=True)
class Baseline:
    """The known failures of one target."""

    entries: tuple[Entry, ...]
    path: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        try:
            data = read_yaml(path, f"baseline {path}", max_bytes=MAX_BYTES, max_nodes=MAX_NODES) or {}
        except YamlError as exc:
            raise BaselineError(str(exc)) from None
        except UnicodeDecodeError:
            raise BaselineError(f"baseline {path} is not UTF-8 text") from None
        except OSError as exc:
            raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
        items = data.get("known") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BaselineError(f"baseline {path}: expected a mapping with a `known` list")
        entries = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                raise BaselineError(f"baseline {path}: known[{i}] needs an `id` (a result id or glob)")
            reason, issue = item.get("reason", ""), item.get("issue", "")
            if not isinstance(reason, str) or not reason.strip() or not isinstance(issue, str):
                raise BaselineError(f"baseline {path}: known[{i}] ({item['id']}) needs a `reason`; `issue` is a link")
            entries.append(Entry(item["id"], reason.strip(), issue))
        return cls(tuple(entries), str(path))

    def entry_for(self, rid: str) -> Entry | None:
        return next((e for e in self.entries if fnmatch.fnmatchcase(rid, e.id)), None)

    def apply(self, results: list[Result], stopped: str | None = None) -> list[Result]:
        """`failed` results it lists become `xfailed`. An entry none of whose results fails any more, and at
        least one of which passes, is stale: its `passed` results become `xpassed` (a glob's other passing ids
        stay `passed` while one of its results still fails). An exact property-finding entry that matches no result
        while the property modes that could find it ran to a verdict (and the run was not `stopped`) is stale: an
        `xpassed` result of its own is added."""
        matched = {id(r): self.entry_for(r.id) for r in results}
        still_failing = {e for r in results if (e := matched[id(r)]) is not None and r.outcome is Outcome.FAILED}
        out = []
        for result in results:
            entry = matched[id(result)]
            if entry is not None and result.outcome is Outcome.FAILED:
                link = f", {entry.issue}" if entry.issue else ""
                message = f"known failure ({entry.reason}{link}): {result.message}"
                result = dataclasses.replace(result, outcome=Outcome.XFAILED, message=message, known=entry.shown())
            elif entry is not None and entry not in still_failing and result.outcome is Outcome.PASSED:
                message = f"stale baseline entry {entry.id!r} ({entry.reason}): it passes now. {result.message}"
                result = dataclasses.replace(result, outcome=Outcome.XPASSED, message=message, known=entry.shown())
            out.append(result)
        seen = {e for e in matched.values() if e is not None}
        return out + [r for e in self.entries if e not in seen and (r := _unseen(e, results, stopped)) is not None]


# the property modes whose generated requests can produce a finding check's findings (default: either mode)
MODES_OF = {"negative_data_rejection": ("negative",), "positive_data_acceptance": ("positive",)}
JUDGED = (Outcome.PASSED, Outcome.FAILED, Outcome.WARNED, Outcome.XFAILED, Outcome.XPASSED)


def _unseen(entry: Entry, results: list[Result], stopped: str | None) -> Result | None:
    """The stale result of an exact property-finding entry the layer, run in full, did not find; else None."""
    parts = entry.id.split(".")
    if stopped or len(parts) < 3 or parts[0] != "property" or any(c in entry.id for c in "*?["):
        return None
    summaries = {r.id: r for r in results if r.id in ("property.positive", "property.negative")}
    modes = [summaries.get(f"property.{mode}") for mode in MODES_OF.get(parts[1], ("positive", "negative"))]
    if not modes or any(m is None or m.outcome not in JUDGED for m in modes):
        return None
    summary = next(m for m in modes if m is not None)
    message = (
        f"stale baseline entry {entry.id!r} ({entry.reason}): the property layer ran in full and did not find it "
        "tonight"
    )
    return dataclasses.replace(
        summary,
        id=entry.id,
        field=".".join(parts[2:]),
        outcome=Outcome.XPASSED,
        message=message,
        reproduce=None,
        attachments=(),
        duration_s=0.0,
        known=entry.shown(),
    )


def baseline_from_summary(summary_path: str | Path) -> str:
    """A baseline (YAML text) listing a run's failures, as a starting point: each reason is the failure's message,
    to be replaced by the real cause, and each issue left empty to fill in."""
    try:
        data: Any = json.loads(Path(summary_path).read_text(encoding="utf-8"))
        results = data["results"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise BaselineError(f"cannot read {summary_path} as a summary.json: {exc}") from None
    known = [
        {"id": r["id"], "reason": str(r.get("message", "")).split(" | ")[0][:200] or "known failure", "issue": ""}
        for r in results
        if isinstance(r, dict) and r.get("outcome") in ("failed", "xfailed")
    ]
    header = (
        f"# Known failures, from {Path(summary_path).name}. Replace each reason with the real cause and link the\n"
        "# issue that tracks it; ids may be globs (request.temperature.*).\n"
    )
    return header + yaml.safe_dump({"known": known}, sort_keys=False, allow_unicode=True, width=110)

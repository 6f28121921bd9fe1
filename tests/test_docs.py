"""The verdict rules the code cites are the repository's own: every "rule N" has its heading in docs/verdicts.md,
and no tracked file points outside the repository for them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERDICTS = ROOT / "docs" / "verdicts.md"
CITING = ("conformance", "tests", "docs", "README.md", "ARCHITECTURE.md")
THIRD_PARTY = ("docs/reference/",)  # documents the contract cites, not ours: their wording is not a citation
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".sh", ".json", ".cfg", ".ini", ""}
# built so that this file does not name them itself
OUTSIDE = ("design" + ".md", ".." + "/shared")
CITATION = re.compile(r"\b[Rr]ules?\s+(\d+(?:(?:\s*,\s*|\s+and\s+|\s*-\s*)\d+)*)")
HEADING = re.compile(r"^#{2,3} Rule (\d+)\b", flags=re.M)


def tracked(*paths: str) -> list[Path]:
    """The files git tracks under `paths` (all of them when none is given); every file there outside a git
    checkout."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", *paths], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        roots = [ROOT / p for p in paths] or [ROOT]
        files = [f for r in roots for f in ([r] if r.is_file() else r.rglob("*"))]
        skip = {".git", ".venv", "__pycache__", "node_modules"}
        names = [str(f.relative_to(ROOT)) for f in files if f.is_file() and not skip & set(f.parts)]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def cited_rules(text: str) -> set[int]:
    """The rule numbers `text` cites: "rule 8", "Rule 4", "rules 2, 3, 8, 10", "rules 1 and 2"."""
    return {int(n) for group in CITATION.findall(text) for n in re.findall(r"\d+", group)}


def rule_headings(text: str) -> list[int]:
    return [int(n) for n in HEADING.findall(text)]


def citations() -> dict[int, list[str]]:
    """Rule number -> the files that cite it."""
    out: dict[int, list[str]] = {}
    for path in tracked(*CITING):
        name = str(path.relative_to(ROOT))
        if path.suffix not in TEXT or name.startswith(THIRD_PARTY):
            continue
        for rule in cited_rules(path.read_text(encoding="utf-8", errors="replace")):
            out.setdefault(rule, []).append(name)
    return out


def uncovered(cited: dict[int, list[str]], verdicts: str) -> dict[int, list[str]]:
    """The cited rules that have no heading in `verdicts` (the text of docs/verdicts.md)."""
    have = set(rule_headings(verdicts))
    return {rule: files for rule, files in cited.items() if rule not in have}


def test_every_cited_rule_has_its_heading() -> None:
    cited = citations()
    assert len(cited) >= 10 and sum(len(files) for files in cited.values()) >= 40  # the search finds them
    assert not uncovered(cited, VERDICTS.read_text())


def test_rules_are_numbered_in_order_without_gaps() -> None:
    numbers = rule_headings(VERDICTS.read_text())
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) >= 13


def test_a_deleted_heading_is_caught() -> None:
    """The check above fails when a rule's heading goes, whichever heading it is."""
    text, cited = VERDICTS.read_text(), citations()
    for rule in sorted(cited):
        without = re.sub(rf"^## Rule {rule}:.*\n", "", text, flags=re.M)
        assert without != text, rule
        assert set(uncovered(cited, without)) == {rule}


def test_the_citation_pattern() -> None:
    assert cited_rules("(docs/verdicts.md rules 2, 3, 8, 10); Rule 4 and rule 11; rules 1 and 2") == {
        1, 2, 3, 4, 8, 10, 11,
    }  # fmt: skip
    assert cited_rules("notes §3 step 6, overrule") == set()


def test_no_tracked_file_points_outside_the_repository() -> None:
    files = tracked()
    assert len(files) > 50
    offences = []
    for path in files:
        data = path.read_bytes()
        offences += [f"{path.relative_to(ROOT)}: {name}" for name in OUTSIDE if name.encode() in data]
    assert not offences

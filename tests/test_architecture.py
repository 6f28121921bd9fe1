"""ARCHITECTURE.md's import table, enforced from the source."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"
ALLOWED = {
    "records": set(),
    "contract": set(),
    "transport": set(),
    "checks": {"contract", "records", "transport"},
    "suite": {"checks", "contract", "records", "transport"},
    "report": {"records"},
    "reference": {"contract"},
    "runner": {"records", "contract", "transport", "checks", "suite", "report", "reference"},
    "cli": {"runner", "contract", "reference", "suite"},
    "__main__": {"cli"},
    "__init__": set(),
}


def unit_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_units(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "conformance" and len(parts) > 1 and parts[1] != "__version__":
                out.add(parts[1])
    return out


def test_imports_follow_the_architecture() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        unit = unit_of(path)
        allowed = ALLOWED[unit] | {unit}
        for imported in imported_units(path) - allowed:
            offences.append(f"{path.relative_to(PACKAGE)} imports conformance.{imported}")
    assert not offences

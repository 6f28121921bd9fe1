"""ARCHITECTURE.md's import table, enforced from the source; and names that do not read as tests or builds."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"
ALLOWED = {
    "records": set(),
    "yamlsafe": set(),
    "contract": {"yamlsafe"},
    "config": {"yamlsafe"},
    "baseline": {"records", "yamlsafe"},
    "transport": {"records"},
    "checks": {"contract", "records"},
    "driver": {"checks", "contract", "records", "transport"},
    "report": {"records"},
    "reference": {"contract"},
    "interrupts": set(),
    "runner": {"records", "contract", "transport", "checks", "driver", "report", "reference", "baseline", "interrupts"},
    "rejudge": {"records", "contract", "checks", "driver", "transport", "report", "runner"},
    "cli": {
        "runner",
        "contract",
        "reference",
        "checks",
        "config",
        "baseline",
        "report",
        "driver",
        "transport",
        "rejudge",
    },
    "entry": {"interrupts", "cli"},
    "plugin": {"cli", "runner", "checks", "contract", "records", "report", "transport"},
    "__main__": {"entry"},
    "__init__": set(),
}
HTTP_CLIENTS = {"httpx", "httpx_sse", "requests", "urllib3", "aiohttp", "starlette", "uvicorn"}
NO_HTTP = {"records", "yamlsafe", "contract", "checks", "report", "config", "baseline"}


def unit_of(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imported(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def imported_units(path: Path) -> set[str]:
    out = set()
    for name in imported(path):
        parts = name.split(".")
        if parts[0] == "conformance" and len(parts) > 1 and parts[1] != "__version__":
            out.add(parts[1])
    return out


def test_imports_follow_the_architecture() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        unit = unit_of(path)
        for name in imported_units(path) - ALLOWED[unit] - {unit}:
            offences.append(f"{path.relative_to(PACKAGE)} imports conformance.{name}")
    assert not offences


def test_judgements_and_records_import_no_http_client() -> None:
    for path in PACKAGE.rglob("*.py"):
        if unit_of(path) in NO_HTTP:
            roots = {name.split(".")[0] for name in imported(path)}
            assert not roots & HTTP_CLIENTS, f"{path.relative_to(PACKAGE)} imports {roots & HTTP_CLIENTS}"


def test_names_do_not_read_as_tests_or_build_outputs() -> None:
    directories = {p.name for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"}
    assert not directories & {"target", "spec", "build", "dist", "tests"}
    assert not [p for p in PACKAGE.rglob("test_*.py")]


def test_the_table_in_architecture_md_matches() -> None:
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    for unit, allowed in ALLOWED.items():
        if unit.startswith("__"):
            continue
        row = next(line for line in text.splitlines() if line.startswith(f"| `conformance.{unit}`"))
        cell = row.rstrip(" |").rsplit("|", 1)[1]
        named = {part.strip(" `") for part in cell.split(",")} - {"nothing", ""}
        assert named == allowed, unit

"""The planned checks of a profile, without a target: for `conformance list` and the README's table."""

from __future__ import annotations

import importlib
from pathlib import Path

from conformance.contract import Contract
from conformance.suite.context import Case, RunContext
from conformance.transport import TargetClient

__all__ = ["markdown_table", "planned"]

SUITE = Path(__file__).parent


def planned(contract: Contract, model: str = "MODEL", seed: int = 0) -> list[Case]:
    """Every case the suite plans for `contract`, in run order. Planning sends nothing."""
    ctx = RunContext(contract, TargetClient("http://127.0.0.1:9", None), model, seed, api_key_given=True)
    out: list[Case] = []
    for path in sorted(SUITE.glob("test_*.py")):
        module = importlib.import_module(f"conformance.suite.{path.stem}")
        for name, value in vars(module).items():
            factory = getattr(value, "case_factory", None)
            if name.startswith("test_") and factory is not None:
                out.extend(factory(ctx))
    return out


def markdown_table(contract: Contract) -> str:
    """One row per check: id, level, field, clause and the sentence or document it cites."""
    rows = ["| id | level | field | clause | citation |", "|---|---|---|---|---|"]
    for case in planned(contract):
        clause = contract.clause(case.pointer)
        level = case.level or clause.level
        citation = clause.citation.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{case.rid}` | {level} | {case.field or ''} | `{clause.pointer}` | {citation} |")
    return "\n".join(rows) + "\n"

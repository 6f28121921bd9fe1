"""The pytest plugin that turns the suite's test items into result records.

Each test item is one planned result: it is parametrized with a `case` whose `rid` is the result id,
and it records exactly one result through the `record` fixture. Selection (`--only`, `--skip`),
the request budget, stopping after repeated infrastructure errors, and progress output live here.
"""

from __future__ import annotations

import fnmatch
import sys
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from conformance.records import Outcome, Result
from conformance.suite.context import Case, RunContext
from conformance.transport import BudgetExhausted

__all__ = ["SuitePlugin", "cases"]

MAX_CONSECUTIVE_ERRORS = 3
CaseFactory = Callable[[RunContext], list[Case]]


def cases(factory: CaseFactory) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a suite test with the function that plans its cases from the run context."""

    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        test.case_factory = factory  # type: ignore[attr-defined]
        return test

    return mark


def selected(rid: str, only: list[str], skip: list[str]) -> bool:
    if only and not any(fnmatch.fnmatchcase(rid, pattern) for pattern in only):
        return False
    return not any(fnmatch.fnmatchcase(rid, pattern) for pattern in skip)


class Recorder:
    """Given to a test as the `record` fixture: takes the item's one result."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.results: list[Result] = []

    def __call__(self, result: Result) -> None:
        self.results.append(result)


class SuitePlugin:
    """Registered with `pytest.main(plugins=[...])` by the runner."""

    def __init__(self, ctx: RunContext, only: list[str], skip: list[str], progress: bool = True) -> None:
        self.run_ctx = ctx
        self.only = only
        self.skip = skip
        self.progress = progress
        self.planned = 0
        self.done = 0
        self.consecutive_errors = 0

    # -- collection -------------------------------------------------------
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        factory = getattr(metafunc.function, "case_factory", None)
        if factory is None:
            raise pytest.UsageError(f"{metafunc.function.__name__}: suite tests must be decorated with @cases")
        planned = factory(self.run_ctx)
        metafunc.parametrize("case", planned, ids=[c.rid for c in planned])

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        seen: set[str] = set()
        for item in items:
            rid = self._rid(item)
            if rid in seen:
                raise pytest.UsageError(f"result id {rid} is planned twice")
            seen.add(rid)
            (keep if selected(rid, self.only, self.skip) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
        self.planned = len(keep)

    @staticmethod
    def _rid(item: pytest.Item) -> str:
        case = item.callspec.params["case"]  # type: ignore[attr-defined]
        assert isinstance(case, Case)
        return case.rid

    # -- fixtures ------------------------------------------------------------
    @pytest.fixture
    def ctx(self) -> RunContext:
        return self.run_ctx

    @pytest.fixture
    def record(self, case: Case, request: pytest.FixtureRequest) -> Recorder:
        recorder = Recorder(case)
        request.node.conformance_recorder = recorder
        return recorder

    # -- running ---------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        started = time.monotonic()
        case: Case = item.callspec.params["case"]  # type: ignore[attr-defined]
        reason = (self.run_ctx.skip_all or self.run_ctx.stop_reason) if case.sends else None
        if reason is None and case.params.get("long") and not self.run_ctx.limit_honoured:
            reason = "the target did not honour the completion limit (response.minimal.completion_limit)"
        if reason is None and case.sends and self.run_ctx.client.remaining == 0:
            reason = f"--max-requests {self.run_ctx.client.max_requests} reached"
        item.conformance_skip = reason  # type: ignore[attr-defined]
        item.conformance_error = None  # type: ignore[attr-defined]
        yield
        recorder: Recorder | None = getattr(item, "conformance_recorder", None)
        results = recorder.results if recorder else []
        error = item.conformance_error  # type: ignore[attr-defined]
        if reason is not None:
            result = self._plain(case, Outcome.SKIPPED, f"not run: {reason}")
        elif isinstance(error, BudgetExhausted):
            result = self._plain(case, Outcome.SKIPPED, f"not run: {error}")
        elif error is not None:
            result = self._plain(case, Outcome.ERROR, f"the check itself failed: {type(error).__name__}: {error}")
        elif not self._well_formed(case, results):
            got = [r.id for r in results]
            result = self._plain(case, Outcome.ERROR, f"the check recorded {got}, expected exactly [{case.rid}]")
        else:
            result = results[0]
        result.duration_s = time.monotonic() - started
        self._finish(result)
        for extra in results[1:]:  # a multi-result case (the property layer): its findings, after its summary
            self._finish(extra)

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        reason = getattr(item, "conformance_skip", None)
        if reason:
            pytest.skip(reason)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, Any, None]:
        outcome: Any = yield
        exc = outcome.excinfo[1] if outcome.excinfo else None
        if exc is not None and not isinstance(exc, pytest.skip.Exception):
            pyfuncitem.conformance_error = exc  # type: ignore[attr-defined]
            outcome.force_result(True)

    @staticmethod
    def _well_formed(case: Case, results: list[Result]) -> bool:
        """One result with the case's id; a `multi` case may add more, each under its id's family."""
        if not results or results[0].id != case.rid:
            return False
        family = case.rid.split(".", 1)[0] + "."
        return len(results) == 1 or (case.params.get("multi", False) and all(r.id.startswith(family) for r in results))

    def _plain(self, case: Case, outcome: Outcome, message: str) -> Result:
        try:
            return self.run_ctx.judge.result(case.rid, case.pointer, case.field, outcome, message, level=case.level)
        except Exception as exc:  # a broken clause must not take the run down: record it
            detail = f"{message} (and its clause could not be cited: {exc})"
            return Result(case.rid, f"openapi.yaml{case.pointer}", "", case.field, "MUST", Outcome.ERROR, detail)

    def _finish(self, result: Result) -> None:
        self.run_ctx.results.append(result)
        self.done += 1
        if result.outcome is Outcome.ERROR:
            self.consecutive_errors += 1
            if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS and self.run_ctx.stop_reason is None:
                self.run_ctx.stop_reason = f"stopped after {MAX_CONSECUTIVE_ERRORS} consecutive infrastructure errors"
        elif result.outcome is not Outcome.SKIPPED:
            self.consecutive_errors = 0
        if self.progress:
            width = len(str(self.planned))
            line = f"[{self.done:>{width}}/{self.planned}] {result.outcome.value:<11} {result.id}"
            if result.outcome in (Outcome.FAILED, Outcome.ERROR):
                line += f"\n{'':>{2 * width + 16}}{result.message.splitlines()[0][:300]}"
            print(line, file=sys.stderr, flush=True)

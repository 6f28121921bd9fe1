"""One pytest session, one run: how `pytest --conformance` maps the run onto pytest items.

- Collection: one item per planned result id (`conformance::<id>`), marked with its area and level, put before the
  session's other items; a test using `conformance_send` is a provider's check, marked `custom` and `must`. pytest
  then deselects (`-k`, `-m`, `--deselect`, `--lf`) as for any item.
- At the start of the test loop (`pytest_runtestloop`, before any item runs; never with `--collect-only`), the run
  is opened (`conformance.runner.opened`: the target, the client, the preflight) and its driver runs the selected
  ids only, once, with the budget, concurrency and records of `conformance run`: what is deselected is not sent.
- Results that exist only after the run (the property layer's findings, `property.not_a_server_error.top_p`) become
  items then: made after the run, filtered by the same `pytest_collection_modifyitems` hooks (so the same `-k`/`-m`
  and `--deselect`), and put after the suite's items in the session's list, so pytest runs and reports them like
  any other item (`--junitxml`, the terminal, allure-pytest). The failed node ids are the failed result ids.
- Each item reports its result: failed -> failed, error -> error (in setup), warned -> passed with a
  `ConformanceWarning`, unsupported/skipped -> skipped with the reason, xfailed -> xfailed, xpassed -> xpassed (an
  `xfail` mark, strict with `--conformance-strict-baseline`).
- Provider checks run as ordinary items while the run is open; each one's outcome is recorded as a result.
- At the session's end the run's reports (summary.json, summary.md, junit.xml, allure-results/) are written with
  the provider checks' results, and the target is stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import click
import pytest

from conformance import plugin
from conformance.checks import Check, body, selected
from conformance.cli import settings_from_args
from conformance.plugin.custom import CUSTOM, Sender, custom_id, custom_result
from conformance.records import Outcome, Result
from conformance.runner import Opened, RunSettings, opened

__all__ = ["ConformanceWarning", "ResultItem", "Session", "Suite"]

SENDER = pytest.StashKey[Sender]()
PHASES = pytest.StashKey[list[tuple[pytest.TestReport, Any]]]()
AREAS = set(plugin.AREAS)  # the areas whose markers are registered
ALLURE_ID = "conformance.id"  # a label naming the result of an Allure test (replaced when it is reported)


class ConformanceWarning(UserWarning):
    """A `warned` result: a SHOULD clause broken, or something that hurts interoperability (docs/verdicts.md)."""


class Suite(pytest.Collector):
    """The parent of every result item (node id `conformance`); it collects nothing itself."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class ResultItem(pytest.Item):
    """One result id of the run; it reports the result the run reached (it sends nothing itself)."""

    def __init__(self, *, owner: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner = owner

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid

    def _result(self) -> Result:
        result = self.owner.results.get(self.name)
        if result is None:
            pytest.fail(f"no result: {self.owner.why_not_run()}", pytrace=False)
        return result

    def setup(self) -> None:
        result = self._result()
        if result.outcome is Outcome.ERROR:
            pytest.fail(f"error: {result.message}", pytrace=False)
        if result.outcome in (Outcome.SKIPPED, Outcome.UNSUPPORTED):
            pytest.skip(f"{result.outcome.value}: {result.message}")

    def runtest(self) -> None:
        result = self._result()
        if result.outcome is Outcome.FAILED:
            reproduce = f"\nreproduce: {result.reproduce}" if result.reproduce else ""
            pytest.fail(f"{result.level}: {result.message}{reproduce}", pytrace=False)
        if result.outcome is Outcome.XFAILED:
            pytest.xfail(result.message)
        if result.outcome is Outcome.WARNED:
            # shown as coming from the result's node id, without a line of the plugin's source
            warnings.warn_explicit(f"{result.id}: {result.message}", ConformanceWarning, self.nodeid, 0)


def _level(check: Check, settings: RunSettings) -> str:
    return (check.level or settings.contract.clause(check.pointer).level).lower()


class Session:
    """The plugin's state for one pytest session: the settings, the open run, every result by id."""

    def __init__(self, config: pytest.Config, settings: RunSettings) -> None:
        self.config = config
        self.settings = settings
        self.suite: Suite | None = None
        self.customs: set[str] = set()  # node ids of the provider's checks
        self.results: dict[str, Result] = {}  # the run's (baseline applied) and the provider checks', by id
        self.run: Opened | None = None
        self.exit_code: int | None = None
        self._stack = contextlib.ExitStack()

    @classmethod
    def configure(cls, config: pytest.Config, args: list[str]) -> Session:
        """The session of `--conformance-*` options (`args`: as `conformance run` reads them); a usage error
        (pytest exits 4, nothing sent) where `conformance run` would refuse them."""
        try:
            settings = settings_from_args(args)
        except click.UsageError as exc:
            raise pytest.UsageError(f"--conformance: {exc.format_message()}") from None
        session = cls(config, dataclasses.replace(settings, progress=False))
        if getattr(config.option, "allure_report_dir", None):  # allure-pytest is writing results
            from conformance.plugin.allure import AllureResults

            AllureResults.install(config, session)
        return session

    # -- collection ----------------------------------------------------------------------------------------------

    def _item(self, rid: str, level: str) -> ResultItem:
        assert self.suite is not None
        item = ResultItem.from_parent(self.suite, name=rid, owner=self)
        area = rid.split(".")[0]
        if area not in AREAS:  # an area added since: registered, so that --strict-markers accepts it
            self.config.addinivalue_line("markers", f"{area}: conformance results of the {area} area")
            AREAS.add(area)
        item.add_marker(area)
        item.add_marker(level.lower())
        return item

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        """The suite's items first, then the session's own; provider checks marked. (Called again on the items
        made after the run: then it does nothing, and the other plugins filter them.)"""
        if self.suite is not None:
            return
        self.suite = Suite.from_parent(session, name="conformance", nodeid="conformance")
        settings = self.settings
        planned = [c for c in self.planned() if selected(c.id, settings.only, settings.skip)]
        ours = [self._item(check.id, _level(check, settings)) for check in planned]
        for item in items:
            if "conformance_send" in getattr(item, "fixturenames", ()):
                item.add_marker(CUSTOM)
                item.add_marker("must")
                self.customs.add(item.nodeid)
        items[:0] = ours

    def planned(self) -> list[Check]:
        from conformance.checks import plan

        return plan(self.settings.contract)

    # -- the run -------------------------------------------------------------------------------------------------

    def opened_run(self) -> Opened:
        if self.run is None:
            self.run = self._stack.enter_context(opened(self.settings))
        return self.run

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Run the selected checks once, before any item; add the items of results that exist only now."""
        config = session.config
        if config.option.collectonly or (session.testsfailed and not config.option.continue_on_collection_errors):
            return
        chosen = {i.name for i in session.items if isinstance(i, ResultItem)}
        if not chosen and not any(i.nodeid in self.customs for i in session.items):
            return
        run = self.opened_run()
        ran = run.send(chosen)
        results = list(ran.results)
        if self.settings.baseline is not None:
            results = self.settings.baseline.apply(results)
        self.results.update({r.id: r for r in results})
        if ran.stopped == "interrupted":
            session.shouldstop = "conformance: interrupted"
        later = [self._item(r.id, r.level) for r in results if r.id not in chosen]
        config.hook.pytest_collection_modifyitems(session=session, config=config, items=later)
        last = max((n for n, i in enumerate(session.items) if isinstance(i, ResultItem)), default=-1)
        session.items[last + 1 : last + 1] = later
        session.testscollected += len(later)
        for item in session.items:
            result = self.results.get(item.name) if isinstance(item, ResultItem) else None
            if result is not None and result.outcome is Outcome.XPASSED:
                item.add_marker(pytest.mark.xfail(reason=result.message, strict=self.settings.strict_baseline))

    def why_not_run(self) -> str:
        ran = self.run.ran if self.run else None
        if ran is not None and ran.usage_error:
            return "the target does not serve the model (the preflight's answer is on stderr)"
        if ran is not None and ran.stopped:
            return ran.stopped
        return "the run ended without a record of it"

    # -- provider checks -----------------------------------------------------------------------------------------

    def sender(self, item: pytest.Item) -> Sender:
        run = self.opened_run()
        if SENDER not in item.stash:
            item.stash[SENDER] = Sender(run.client, self.settings.contract)
        return item.stash[SENDER]

    def body(self, **fields: Any) -> dict[str, Any]:
        """The run's minimal request with `fields` (see `conformance.checks.body`)."""
        facts = self.opened_run().ran.facts
        if facts is None:
            pytest.skip(f"not run: the run has no facts to build a request from ({self.why_not_run()})")
        return body(facts, **fields)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Name the result of an Allure test (allure-pytest's current test), so that it is written as ours."""
        if self.config.pluginmanager.has_plugin("allure_listener") and (
            isinstance(item, ResultItem) or item.nodeid in self.customs
        ):
            import allure_commons

            rid = item.name if isinstance(item, ResultItem) else custom_id(item)
            allure_commons.plugin_manager.hook.add_label(label_type=ALLURE_ID, labels=[rid])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        if item.nodeid in self.customs:
            item.stash.setdefault(PHASES, []).append((report, call.excinfo))
            if report.when == "teardown" and self.run is not None:
                result = custom_result(item, item.stash[PHASES], item.stash.get(SENDER, None))
                result = self.run.record(result)
                self.results[result.id] = result
        return report

    # -- the end -------------------------------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """The run's reports, with the provider checks' results; then the target is stopped."""
        try:
            if self.run is not None:
                self.exit_code = self.run.report()
                alluredir = getattr(self.config.option, "allure_report_dir", None)
                if alluredir:
                    from conformance.report import allure_environment

                    allure_environment(self.run.info(), Path(alluredir))
        finally:
            self._stack.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.run is None:
            return
        ran = self.run.ran
        line = f"conformance: reports in {self.settings.report_dir}/ (exit code of `conformance run`: {self.exit_code})"
        terminalreporter.write_sep("-", "conformance")
        if ran.stopped:
            terminalreporter.write_line(f"stopped: {ran.stopped}")
        terminalreporter.write_line(
            f"{self.run.client.usage.requests} requests; seed {self.run.seed}; target "
            f"{'bundled reference server' if self.run.target.is_reference else self.run.client.public_base_url}"
        )
        terminalreporter.write_line(line)

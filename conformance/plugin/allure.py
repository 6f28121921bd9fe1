"""Allure through allure-pytest (`--alluredir`): each conformance item's and provider check's Allure test is written
as `conformance run` writes it (`conformance.report.allure_test`: history id, test case id, name, labels, status
and its category's message, description, parameters, attachments), so the two sets read the same and share their
histories. allure-pytest's own framework labels and attachments (captured output) are kept beside ours.

Imported only when allure-pytest is writing results (`--alluredir` given with `--conformance`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import allure_commons
import pytest

from conformance.report import RunInfo, allure_test

if TYPE_CHECKING:
    from conformance.plugin.session import Session

__all__ = ["AllureResults"]

KEPT_LABELS = {"framework", "language", "thread"}  # allure-pytest's labels that say nothing ours say


class AllureResults:
    """An allure-commons plugin: rewrites an Allure test that names a result of the session before it is written."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._info: RunInfo | None = None

    @classmethod
    def install(cls, config: pytest.Config, session: Session) -> None:
        plugin = cls(session)
        allure_commons.plugin_manager.register(plugin)
        config.add_cleanup(lambda: allure_commons.plugin_manager.unregister(plugin))

    @allure_commons.hookimpl(tryfirst=True)  # type: ignore[untyped-decorator]
    def report_result(self, result: Any) -> None:
        from conformance.plugin.session import ALLURE_ID

        named = [label.value for label in result.labels if label.name == ALLURE_ID]
        ours = self.session.results.get(named[0]) if named else None
        if self.session.run is None or ours is None:
            result.labels = [label for label in result.labels if label.name != ALLURE_ID]
            return

        def attach(body: str, file_name: str) -> None:
            allure_commons.plugin_manager.hook.report_attached_data(body=body, file_name=file_name)

        if self._info is None:  # what a history id is made of is settled once the run is open
            self._info = self.session.run.info()
        built = allure_test(ours, self._info, attach)
        for name in ("historyId", "testCaseId", "fullName", "name", "status", "description", "parameters"):
            setattr(result, name, getattr(built, name))
        trace = result.statusDetails.trace if result.statusDetails and ours.id.startswith("custom.") else None
        result.statusDetails = built.statusDetails
        if trace:  # a provider check's own traceback is worth keeping
            result.statusDetails.trace = trace
        result.titlePath = None
        result.labels = built.labels + [label for label in result.labels if label.name in KEPT_LABELS]
        result.attachments = list(result.attachments) + built.attachments
        if ours.start_ms:
            result.start, result.stop = built.start, built.stop

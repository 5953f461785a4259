"""The gate owns its items' outcome: what pytest reports of a gate item is the gate's verdict.

The repository's pytest setup (conftest files, the ini, other plugins) is semi-trusted:
a common conftest that marks every item without some marker ``xfail``, a ``pytest.skip()``
in ``pytest_runtest_setup`` or a hook that rewrites reports must not turn a page that is
not approved into a pass, a skip or an xfail. Repository code may make a gate item fail
(a strict xfail of an approved page, a broken hook): a failure stands. Anything else a
report of a gate item says is checked against the gate's own conclusion here:

- the call's report is the gate's conclusion: passed (approved), xfailed (a waiver
  applies), failed (anything else, and a page whose check never ran);
- setup and teardown never skip or xfail: such a report becomes an error naming what
  the repository's setup did, and the page counts as not judged;
- the terminal's word for a gate item's report is pytest's own, whatever a
  ``pytest_report_teststatus`` of the repository says.

These run as wrappers registered when the gate is enabled, after the repository's root
conftest and pytest's own plugins, so they wrap theirs. Whatever still gets around them
(a wrapper registered later, a report rewritten while it is logged, items dropped from
the run) cannot pass the run either: at its end the gate compares its own record with
the exit status (:class:`OwnedOutcome`, ``pytest_sessionfinish``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest
from _pytest import runner, skipping, terminal

from .untrusted import render_line
from .verdict import Outcome

if TYPE_CHECKING:
    from .collection import GateCollection
    from .gate import Gate

#: How a gate item passes, skips or xfails, said in every text that corrects a report.
OWN_VERDICT = (
    "a gate item passes or xfails on the gate's own verdict only: a waiver in the policy "
    "is the one way to let a failing page through, and only -k, -m, --deselect or node ids "
    "leave a page unjudged"
)


class GateFailure(Exception):
    """A failing gate item; the message is the whole failure text."""


class GateItem(pytest.Item):
    """An item of the gate (marked through its PolicyFile), failing with plain-language
    text, not a traceback, and reported as the gate concluded."""

    @property
    def label(self) -> str:
        """What the item checks, in words (raw: rendered where it is shown)."""
        raise NotImplementedError

    def conclusion(self) -> BaseException | None:
        """The gate's outcome of this item, as ``runtest`` raises it: None when it passes,
        a waiver's xfail, or a GateFailure (also for a page whose check has not run)."""
        raise NotImplementedError

    def runtest(self) -> None:
        if (outcome := self.conclusion()) is not None:
            raise outcome

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


def agrees(item: GateItem, report: pytest.TestReport) -> bool:
    """Whether a gate item's report says what the gate concluded (see the module docstring)."""
    if _kind(report) == "failed":
        return True  # a failure stands: repository code may fail a gate item, never pass it
    if report.when == "call":
        return _kind(report) == _expected(item.conclusion())
    return not (report.skipped or hasattr(report, "wasxfail"))


def own_report(item: GateItem, report: pytest.TestReport) -> None:
    """Make a gate item's report say what the gate concluded, if it does not."""
    if agrees(item, report):
        return
    if report.when == "call":
        conclusion = item.conclusion()
        if isinstance(conclusion, GateFailure):
            text = f"{conclusion}\n{render_line(f'{_what_happened(report)}; {OWN_VERDICT}')}"
            conclusion = GateFailure(text)
    else:
        subject = f"{item.label} was not judged" if report.when == "setup" else item.label
        conclusion = GateFailure(render_line(f"{subject}: {_what_happened(report)}; {OWN_VERDICT}"))
    _report_as(report, conclusion)


def _kind(report: pytest.TestReport) -> str:
    """passed, failed, xfailed, or another state a report can be put in (skipped, xpassed).

    A failure marked ``wasxfail`` is an xfail: pytest does not count it as a failure.
    """
    if hasattr(report, "wasxfail"):
        return "xpassed" if report.passed else "xfailed"
    return report.outcome


def _expected(conclusion: BaseException | None) -> str:
    if conclusion is None:
        return "passed"
    return "xfailed" if isinstance(conclusion, pytest.xfail.Exception) else "failed"


def _what_happened(report: pytest.TestReport) -> str:
    return f"this repository's pytest setup reported that {reported(report)}"


def reported(report: pytest.TestReport) -> str:
    """What a report says, in words: ``its setup skipped (Skipped: offline)``."""
    reason = getattr(report, "wasxfail", None)
    if reason is None and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]  # a skip's (path, line, message)
    phase = "check" if report.when == "call" else report.when
    return f"its {phase} {_kind(report)}" + (f" ({reason})" if reason else "")


def _report_as(report: pytest.TestReport, conclusion: BaseException | None) -> None:
    """The report as pytest makes it of ``conclusion`` raised by the item's own runtest."""
    if hasattr(report, "wasxfail"):
        del report.wasxfail
    if conclusion is None:
        report.outcome, report.longrepr = "passed", None
    elif isinstance(conclusion, pytest.xfail.Exception):
        report.outcome, report.longrepr = "skipped", None
        report.wasxfail = conclusion.msg or ""  # as pytest's skipping plugin reports an xfail
    else:
        report.outcome, report.longrepr = "failed", str(conclusion)


def pytest_status(report: pytest.TestReport) -> tuple[str, str, str]:
    """The terminal's category, letter and word for a report, by pytest's own plugins alone
    (skipping, runner, terminal: the order pytest asks them in)."""
    return (
        skipping.pytest_report_teststatus(report)
        or runner.pytest_report_teststatus(report)
        or terminal.pytest_report_teststatus(report)
    )


#: pytest's exit statuses of a run it would pass: the gate's record may still fail it.
_PASSING = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)


class OwnedOutcome:
    """The session's hooks that keep the gate's items reporting the gate's verdict, and
    fail a run that pytest would pass while the gate's own record fails it."""

    def __init__(self, config: pytest.Config, gate: Gate, collection: GateCollection) -> None:
        self.config = config
        self.gate = gate
        self.collection = collection
        #: what the gate fails although pytest would have passed the run, in words
        self.overturned = ""
        #: gate items whose reports were changed after the gate made them, in words
        self.rewritten: list[str] = []

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Outside the repository's makereport wrappers: the gate's items report its verdict."""
        report = yield
        if isinstance(item, GateItem):
            own_report(item, report)
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport | pytest.CollectReport
    ) -> Generator[None, tuple[str, str, str], tuple[str, str, str]]:
        status = yield
        if isinstance(report, pytest.TestReport) and report.nodeid in self.collection.selected:
            return pytest_status(report)  # not a repository's word for a gate item
        return status

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Note a gate item's report that no longer says what the gate concluded (rewritten
        while it was logged, or by a makereport wrapper outside the gate's)."""
        item = self.collection.selected.get(report.nodeid)
        if item is not None and not agrees(item, report):
            self.rewritten.append(f"{item.label}: {reported(report)}")

    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int | pytest.ExitCode
    ) -> None:
        """Fail a run that pytest would pass while the gate's own record fails it.

        Decided on pytest's own exit status (``exitstatus``, whatever another plugin's
        pytest_sessionfinish sets), and never lowering a status set since (the outputs'
        exit 4 stands), so the order of the session's finish hooks does not matter.
        """
        if self.gate.page_set is None or exitstatus not in _PASSING:
            return  # the session ended before collection, or the run fails (or stopped) anyway
        if failing := self._failing():
            self.overturned = (
                f"pytest would have ended this run with exit code {int(exitstatus)}, but the "
                f"gate fails it: {failing}; their checks were skipped, xfailed, dropped or "
                "rewritten (by a marker, hook, fixture or plugin of this repository, or an "
                f"option such as --setup-only); {OWN_VERDICT}"
            )
        if (self.overturned or self.rewritten) and session.exitstatus in _PASSING:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _failing(self) -> str:
        """What fails the gate in this run by its own record, in words ("" if nothing): the
        pages judged and neither approved nor waived, and, of the entries due (see
        GateCollection.due), the pages not judged and the queries that could not run or
        matched nothing. --collect-only judges nothing, and fails nothing (it lists).
        """
        if self.config.option.collectonly:
            return ""
        gate, page_set = self.gate, self.gate.resolve()
        pages, queries = self.collection.due()
        not_judged, empty_queries = "not judged", "could not run or matched no pages"
        failing: dict[str, list[str]] = {
            kind: [] for kind in (Outcome.NOT_APPROVED.value, Outcome.UNVERIFIABLE.value)
        }
        failing |= {not_judged: [], empty_queries: []}
        for page_id in page_set.rules:
            if (verdict := gate.verdicts.get(page_id)) is not None:
                waiver = gate.waiver(page_id)
                if not verdict.passed and not (waiver is not None and waiver.applied):
                    failing[verdict.outcome.value].append(page_id)
            elif page_id in pages:
                failing[not_judged].append(page_id)
        for query in gate.settings.policy.queries:
            result = page_set.query_results[query.cql]
            if (result.failure is not None or not result.pages) and query.cql in queries:
                failing[empty_queries].append(query.label)
        return "; ".join(f"{kind}: {', '.join(found)}" for kind, found in failing.items() if found)

    def errors(self) -> list[str]:
        """What the terminal summary reports as the gate's errors, in words."""
        errors = [self.overturned] if self.overturned else []
        if self.rewritten:
            errors.append(
                "this repository's pytest setup changed reports of the gate's items after the "
                f"gate made them ({'; '.join(self.rewritten)}): pytest's counts and the JUnit "
                "file may not show the gate's verdicts, this summary does, and the run fails"
            )
        return errors

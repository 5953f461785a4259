"""What the gate prints: the report header, progress lines, and its terminal summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .scope import NOT_JUDGED_LIMIT
from .terminal import SECTION, summary_lines
from .untrusted import render_line
from .xdist_support import XDIST_DECLINED

if TYPE_CHECKING:
    from .gate import Gate
    from .ownership import OwnedOutcome
    from .publish import Publisher


#: set when the ini's confluence_policy turned the gate on with no test paths on the
#: command line: the test paths the repository's tests would have come from
GATE_ALONE_FROM_INI = pytest.StashKey[list[str]]()


def show_progress(config: pytest.Config, message: str) -> None:
    """A line of the gate's progress (waiting for approvers, say), while the run goes on."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(render_line(message))


class Console:
    """The gate's lines in pytest's terminal: its header, and its summary section."""

    def __init__(self, gate: Gate, outcome: OwnedOutcome, publisher: Publisher) -> None:
        self.gate = gate
        self.outcome = outcome
        self.publisher = publisher

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.gate.settings
        auth = "none needed (replay)" if s.mode == "replay" else s.credentials.describe()
        queries = f", {_counted(len(s.policy.queries), 'CQL query', 'CQL queries')}"
        pages = _counted(len(s.policy.pages), "page") + (queries if s.policy.queries else "")
        lines = [
            render_line(f"confluence approval gate: policy {s.policy.path} ({pages})"),
            render_line(f"confluence approval gate: site {s.site}, mode {s.mode}, auth {auth}"),
        ]
        if (testpaths := config.stash.get(GATE_ALONE_FROM_INI, None)) is not None:
            lines.append(
                render_line(
                    "confluence approval gate: runs alone: the ini file's confluence_policy "
                    "turned it on with no test paths given, so the repository's tests were "
                    "not collected; to run both, name them: pytest " + " ".join(testpaths)
                )
            )
        if (workers := config.stash.get(XDIST_DECLINED, None)) is not None:
            lines.append(
                render_line(
                    "confluence approval gate: runs alone (no test paths given), so in one "
                    f"process: the pytest-xdist workers asked for (-n {workers}) would have "
                    "no test to run"
                )
            )
        return lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        result = self.publisher.result
        if result is None or terminalreporter.config.option.collectonly:
            # Before collection there is nothing to sum up; --collect-only prints the
            # listing alone, for the scripts that read it (no page was judged anyway).
            return
        terminalreporter.section(SECTION)
        for line in summary_lines(result):
            terminalreporter.line(line)
        for error in self.outcome.errors():
            terminalreporter.line(
                render_line(f"ERROR: confluence approval gate: {error}", NOT_JUDGED_LIMIT),
                red=True,
            )
        for error in self.publisher.output_errors:
            terminalreporter.line(
                render_line(f"ERROR: confluence approval gate: {error}"), red=True
            )


def _counted(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 page``, ``2 pages``, ``1 CQL query``."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"

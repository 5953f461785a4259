"""The run's result, and every file written from it: the JUnit suite properties and each
page's ``<system-out>``, the JSON report (``--confluence-report``), the job summary
(``$GITHUB_STEP_SUMMARY``).

The result is built once, when the runtest loop ends (every item ran, or the run
stopped): before any plugin's pytest_sessionfinish, so before junitxml writes its file,
whatever order the plugins' hooks run in. Only a session that never reaches its runtest
loop (stopped during collection: ``-x`` and a collection error, Ctrl-C) builds it in
pytest_sessionfinish, and that one is ``tryfirst`` to come before junitxml's.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from . import junit
from .collection import GateCollection
from .entrypoint import absolute_path
from .evidence import build_report, evidence_text, suite_properties
from .gate import Gate
from .jobsummary import markdown_summary
from .nodeids import page_id_of
from .outputs import write_step_summary
from .result import GateResult
from .runfacts import FileDigest
from .snapshot import write_json_atomically
from .subjects import file_sha256


class Publisher:
    """Writes what the run found where auditors and CI read it."""

    def __init__(self, config: pytest.Config, gate: Gate, collection: GateCollection) -> None:
        self.config = config
        self.gate = gate
        self.collection = collection
        #: the run's one result, once the runtest loop has ended
        self.result: GateResult | None = None
        #: outputs that could not be written, in words; the run then exits 4
        self.output_errors: list[str] = []

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Attach the page's evidence to its JUnit testcase as <system-out>, in every family.

        Runs after junitxml has added the <failure> and before it closes the testcase
        at teardown. <system-out> is valid there in the XSD pytest validates against,
        and it is what Jenkins, GitLab and Azure DevOps show beside a test result.
        """
        facts = self.gate.facts
        if report.when != "call" or facts is None:
            return  # checked first: this hook runs for every phase of every test
        page_id = page_id_of(
            report.nodeid, policy=self.gate.settings.policy.path, rootpath=self.config.rootpath
        )
        if page_id is None or page_id not in facts.pages:
            return
        verdict = self.gate.verdicts.get(page_id)
        if verdict is None or not junit.enabled(self.config):
            return  # without --junitxml, no evidence text to render
        junit.add_system_out(
            self.config,
            report,
            evidence_text(verdict, facts.names, facts.as_of, self.gate.waiver(page_id)),
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            self._publish(session)

    @pytest.hookimpl(tryfirst=True)  # for a session stopped before its runtest loop (above)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._publish(session)
        if self.output_errors:
            # Evidence that could not be written is a failed run, whatever the verdicts.
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def _publish(self, session: pytest.Session) -> None:
        """Build the run's result (once) and write every output from it."""
        if self.result is not None or self.gate.page_set is None:
            return  # published already, or the session ended before collection
        self.result = result = self.gate.result(
            deselected=self.collection.deselected,
            policy_path=_display_path(self.gate.settings.policy.path, session.config.rootpath),
            node_ids=self.collection.node_ids(),
        )
        for name, value, limit in suite_properties(result):
            junit.add_suite_property(self.config, name, value, limit)
        options = self.gate.settings.options
        report_written = False
        if report := options.report:
            try:
                write_json_atomically(report, build_report(result))
                report_written = True
            except OSError as exc:
                self._output_failed(f"--confluence-report {report}", exc)
        if step_summary := os.environ.get("GITHUB_STEP_SUMMARY"):
            try:
                write_step_summary(Path(step_summary), markdown_summary(result))
            except OSError as exc:
                self._output_failed(f"GITHUB_STEP_SUMMARY {step_summary}", exc)
        if html := options.html:
            from .html_report import HtmlReportInput, whom_to_chase, write_html_report

            try:
                write_html_report(html, HtmlReportInput(result, whom_to_chase(result)))
            except OSError as exc:
                self._output_failed(f"--confluence-html {html}", exc)
        if attestation := options.attestation:
            # Last: the files it names (snapshot, JSON report) are complete by now.
            self._attest(attestation, result, report if report_written else None, session)

    def _attest(
        self, path: Path, result: GateResult, report: Path | None, session: pytest.Session
    ) -> None:
        from .attestation import AttestationInput, write_attestation

        options, root = self.gate.settings.options, session.config.rootpath
        snapshot = options.replay or options.record
        if snapshot is not None and not snapshot.exists():
            snapshot = None  # --confluence-record of a run that fetched nothing: no file
        try:
            facts = AttestationInput(
                subjects=self.gate.settings.subjects,
                result=result,
                snapshot=_digest(snapshot, root) if snapshot else None,
                report=_digest(report, root) if report else None,
            )
            write_attestation(path, facts)
        except OSError as exc:
            self._output_failed(f"--confluence-attestation {path}", exc)

    def _output_failed(self, what: str, exc: OSError) -> None:
        self.output_errors.append(
            f"could not write {what}: {exc.strerror or exc}; the run's evidence is incomplete"
        )


def _digest(path: Path, root: Path) -> FileDigest:
    """A file the run read or wrote, named as the outputs name the policy; raises OSError."""
    return FileDigest(_display_path(absolute_path(path), root), file_sha256(path))


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()

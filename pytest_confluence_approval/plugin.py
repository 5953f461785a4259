"""pytest glue of an enabled gate: one item per policy page, failure text, header, summary.

Imported only once the gate is on (see entrypoint.py), so it may import freely.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import bin_xml_escape, xml_key
from _pytest.terminal import TerminalReporter

from .confluence import ConfigurationError
from .entrypoint import MARKER
from .evidence import build_report, evidence_fields, evidence_text, markdown_summary, page_sort_key
from .gate import Gate, GateOptions, GateSettings
from .policy import PageQuery, PageRule, PolicyError
from .snapshot import SnapshotError, dump_snapshot, utc_iso, write_json_atomically
from .verdict import Outcome

HANDOFF_KEY = "confluence_approval_handoff"
gate_key = pytest.StashKey[Gate]()


def enable_gate(config: pytest.Config, policy: Path) -> None:
    """Turn the gate on for this session (called by the entry point's pytest_configure)."""
    option = config.option
    options = GateOptions(
        policy=policy,
        url=option.confluence_url,
        concurrency=option.confluence_concurrency,
        timeout=option.confluence_timeout,
        retries=option.confluence_retries,
        as_of=option.confluence_as_of,
        record=_path(option.confluence_record),
        replay=_path(option.confluence_replay),
        report=_path(option.confluence_report),
        insecure_http=option.confluence_insecure_http,
        deadline=option.confluence_deadline,
        wait=option.confluence_wait,
        poll=option.confluence_poll,
    )
    handed = getattr(config, "workerinput", {}).get(HANDOFF_KEY)
    if handed is not None:
        # An xdist worker: the controller fetched once for the whole run and handed
        # the facts over as a snapshot (as pytest-randomly hands over its seed).
        options = replace(
            options,
            replay=Path(handed["snapshot"]),
            as_of=handed["as_of"],
            record=None,
            report=None,
            wait=None,  # the controller already waited
        )
    try:
        settings = GateSettings.resolve(options)
    except (PolicyError, SnapshotError, ConfigurationError) as exc:
        raise pytest.UsageError(f"confluence approval gate: {exc}") from None
    gate = Gate(settings)
    config.stash[gate_key] = gate
    config.pluginmanager.register(GateReporter(config, gate), "confluence-approval-reporter")
    # With no positional arguments the gate runs alone (testpaths are not collected);
    # with some, it runs beside them.
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(policy)]
    elif not any(_same_file(arg, policy) for arg in config.args):
        config.args.append(str(policy))


def _path(value: str | None) -> Path | None:
    return Path(value).absolute() if value else None


def _same_file(arg: str, path: Path) -> bool:
    try:
        return Path(arg.split("::")[0]).absolute().resolve() == path.resolve()
    except OSError:
        return False


class PolicyFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        gate = self.config.stash[gate_key]
        rules = [*gate.settings.policy.pages]
        for query in gate.settings.policy.queries:
            rules += [gate.rules[page_id] for page_id in gate.query_pages.get(query.cql, [])]
        for rule in rules:
            name = f"page[{rule.page_id} {rule.name}]" if rule.name else f"page[{rule.page_id}]"
            yield ApprovalItem.from_parent(self, name=name, rule=rule)
        for query in gate.settings.policy.queries:
            result = (gate.query_results or {}).get(query.cql)
            if result is None or result.failure is not None or not result.pages:
                label = query.rule.name or query.cql
                yield QueryItem.from_parent(self, name=f"query[{label}]", query=query)


class GateItem(pytest.Item):
    """An item of the gate: marked, and failing with plain-language text, not a traceback."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(MARKER)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


class GateFailure(Exception):
    """A failing gate item; the message is the whole failure text."""


class QueryItem(GateItem):
    """A ``cql:`` entry that found no page, or could not run: it fails, never passes."""

    def __init__(self, *, query: PageQuery, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query = query

    def runtest(self) -> None:
        result = (self.config.stash[gate_key].query_results or {}).get(self.query.cql)
        if result is not None and result.failure is not None:
            raise GateFailure(
                f"{self.query.label} could not be run:\n  - could not verify: "
                f"{result.failure.message}\n  CQL: {self.query.cql}"
            )
        raise GateFailure(
            f"{self.query.label} matched no pages: a query that finds nothing must not pass; "
            f"check the CQL and that the gate's account can see the pages\n  CQL: {self.query.cql}"
        )

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.query.rule.line - 1, self.query.label


_ITEM_NAME = re.compile(r"::page\[(\d+)[ \]]")


def page_id_of(nodeid: str) -> str | None:
    """The page id in an item's node id (``policy.yaml::page[<id> <name>]``).

    Reports reach the xdist controller as node ids only, without the item.
    """
    found = _ITEM_NAME.search(nodeid)
    return found.group(1) if found else None


class ExpiredWaiverWarning(pytest.PytestWarning):
    """A waiver in the policy has expired: the page is judged as if it had none."""


class ApprovalItem(GateItem):
    """One page of the policy: passes only when its approval is complete and current."""

    def __init__(self, *, rule: PageRule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = rule

    def runtest(self) -> None:
        gate = self.config.stash[gate_key]
        verdict = gate.verdict(self.rule.page_id)
        # Per-testcase <properties> are invalid in xunit2 (the default family), so
        # there the evidence goes to <system-out> only (see pytest_runtest_logreport).
        waiver = gate.waiver(self.rule.page_id)
        if self.config.getini("junit_family") in ("xunit1", "legacy"):
            self.user_properties.extend(evidence_fields(verdict, gate.names, waiver))
        if verdict.passed:
            return
        if waiver is not None and waiver[1] == "applied":
            w = waiver[0]
            pytest.xfail(
                f"waived until {w.expires.isoformat()} ({w.reason}); not approved: "
                + "; ".join(verdict.reasons)
            )
        if waiver is not None and waiver[1] == "expired":
            warnings.warn(
                ExpiredWaiverWarning(
                    f"the waiver for {self.rule.label} expired on "
                    f"{waiver[0].expires.isoformat()} and was ignored ({waiver[0].reason})"
                ),
                stacklevel=1,
            )
        raise GateFailure(verdict.explain())

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.rule.line - 1, f"Confluence approval of {self.rule.label}"


class GateReporter:
    """The session-time hooks: fetch before the run, evidence during it, outputs after it."""

    def __init__(self, config: pytest.Config, gate: Gate) -> None:
        self.config = config
        self.gate = gate
        #: an xdist worker: the controller writes the outputs
        self.is_worker = hasattr(config, "workerinput")
        self.handoff_dir: Path | None = None

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.gate.settings
        auth = "none needed (replay)" if s.mode == "replay" else s.credentials.describe()
        queries = f", {len(s.policy.queries)} CQL queries" if s.policy.queries else ""
        pages = f"{len(s.policy.pages)} pages{queries}"
        return [
            f"confluence approval gate: policy {s.policy.path} ({pages})",
            f"confluence approval gate: site {s.site}, mode {s.mode}, auth {auth}",
        ]

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Collector | None:
        if file_path == self.gate.settings.policy.path:
            return PolicyFile.from_parent(parent, path=file_path)
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        """Resolve cql: entries into pages before the policy file is collected."""
        self._resolve_queries()

    def _resolve_queries(self) -> None:
        try:
            self.gate.resolve_queries()
        except ConfigurationError as exc:
            raise pytest.UsageError(f"confluence approval gate: {exc}") from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        # session.items is final here: deselected pages are neither fetched nor judged.
        page_ids = [i.rule.page_id for i in session.items if isinstance(i, ApprovalItem)]
        if page_ids and not session.config.option.collectonly:
            # Fetch every selected page at once, before the first item runs, so the
            # items themselves only look up their verdicts.
            self.gate.prepare(page_ids, self._progress)
        return (yield)

    def _progress(self, message: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(message)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: fetch once for the whole run and hand the facts to each worker.

        The controller does not collect, so it fetches every page of the policy;
        workers replay that snapshot at the controller's as-of instant, so their
        verdicts are exactly those of a single-process run.
        """
        if self.config.option.collectonly:
            return
        if self.handoff_dir is None:
            gate = self.gate
            self._resolve_queries()
            gate.prepare(list(gate.rules), self._progress)
            assert gate.as_of is not None
            self.handoff_dir = Path(tempfile.mkdtemp(prefix="confluence-approval-"))
            dump_snapshot(
                self.handoff_dir / "facts.json",
                site=gate.settings.site,
                recorded_at=gate.recorded_at or gate.as_of,
                facts=gate.facts,
                names=gate.names,
                queries=gate.query_results or {},
            )
        assert self.gate.as_of is not None
        node.workerinput[HANDOFF_KEY] = {
            "snapshot": str(self.handoff_dir / "facts.json"),
            "as_of": utc_iso(self.gate.as_of),
        }

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Attach the page's evidence to its JUnit testcase as <system-out>, in every family.

        Runs after junitxml has added the <failure> and before it closes the testcase
        at teardown. <system-out> is valid there in the XSD pytest validates against,
        and it is what Jenkins, GitLab and Azure DevOps show beside a test result.
        """
        page_id = page_id_of(report.nodeid)
        if report.when != "call" or page_id not in self.gate.facts or self.gate.as_of is None:
            return
        verdict = self.gate.verdicts.get(page_id)
        if verdict is None and self.handoff_dir is not None:
            # The xdist controller judges the same facts the worker did, for the
            # evidence here and for the summary and report at the end.
            verdict = self.gate.verdict(page_id)
        if verdict is None:
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is not None:
            element = ET.Element("system-out")
            element.text = bin_xml_escape(
                evidence_text(verdict, self.gate.names, self.gate.as_of, self.gate.waiver(page_id))
            )
            xml.node_reporter(report).append(element)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.handoff_dir is not None:
            shutil.rmtree(self.handoff_dir, ignore_errors=True)
        gate = self.gate
        if self.is_worker or not gate.verdicts or gate.as_of is None:
            return
        s = gate.settings
        if s.options.report:
            report = build_report(
                gate.verdicts.values(),
                waivers={p: w for p in gate.verdicts if (w := gate.waiver(p))},
                queries=[
                    (q, gate.query_results[q.cql], gate.query_pages.get(q.cql, []))
                    for q in s.policy.queries
                    if gate.query_results and q.cql in gate.query_results
                ],
                site=s.site,
                mode=s.mode,
                auth="none" if s.mode == "replay" else s.credentials.kind,
                policy_path=_display_path(s.policy.path, session.config.rootpath),
                policy_sha256=s.policy.sha256,
                as_of=gate.as_of,
                recorded_at=gate.recorded_at,
                names=gate.names,
                facts=gate.facts,
            )
            write_json_atomically(s.options.report, report)
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as stream:
                stream.write(markdown_summary(gate.verdicts.values(), gate.names, gate.waived()))

    def pytest_terminal_summary(self, terminalreporter: TerminalReporter) -> None:
        gate = self.gate
        if self.is_worker or not gate.verdicts:
            return
        counts = gate.counts()
        waived = len(gate.waived())
        terminalreporter.section("Confluence approval gate")
        terminalreporter.line(
            f"{counts[Outcome.APPROVED]} approved, {counts[Outcome.NOT_APPROVED]} not approved"
            + (f" ({waived} waived)" if waived else "")
            + f", {counts[Outcome.UNVERIFIABLE]} not verifiable"
        )
        for verdict in sorted(gate.verdicts.values(), key=page_sort_key):
            if not verdict.passed:
                more = len(verdict.reasons) - 1
                waiver = gate.waiver(verdict.rule.page_id)
                label = "WAIVED" if waiver and waiver[1] == "applied" else None
                terminalreporter.line(
                    f"{label or verdict.outcome.value.upper()}: {verdict.rule.label}: "
                    f"{verdict.reasons[0]}" + (f" (+{more} more)" if more else "")
                )


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()

"""pytest glue of an enabled gate: one item per policy page, failure text, header, summary.

Imported only once the gate is on (see entrypoint.py), so it may import freely.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from _pytest.terminal import TerminalReporter

from . import junit
from .entrypoint import MARKER, ON_CONTROLLER, XDIST_DECLINED, absolute_path, names_file
from .evidence import build_report, evidence_properties, evidence_text, suite_properties
from .gate import Gate, GateOptions, GateSettings
from .jobsummary import markdown_summary
from .outputs import OutputError, check_outputs, write_step_summary
from .ownership import (
    OWN_VERDICT,
    GateFailure,
    GateItem,
    agrees,
    own_report,
    pytest_status,
    reported,
)
from .policy import PageQuery, PageRule, PolicyError
from .result import GateResult, WaiverState
from .scope import NOT_JUDGED_LIMIT
from .site import ConfigurationError
from .snapshot import SnapshotError, write_json_atomically
from .terminal import SECTION, summary_lines
from .untrusted import render_line, render_lines
from .verdict import Outcome

gate_key = pytest.StashKey[Gate]()
#: The name the gate's session hooks are registered under.
REPORTER = "confluence-approval-reporter"


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
    try:
        settings = GateSettings.resolve(options)
        # Before any request: an output must never overwrite an input or another output.
        check_outputs(
            policy=policy,
            replay=options.replay,
            report=options.report,
            record=options.record,
            junitxml=_junitxml_path(getattr(option, "xmlpath", None)),
            step_summary=_path(os.environ.get("GITHUB_STEP_SUMMARY")),
        )
    except (PolicyError, SnapshotError, ConfigurationError, OutputError) as exc:
        raise usage_error(exc) from None
    if getattr(option, "xmlpath", None) and (problem := junit.check_pytest_junitxml()):
        raise usage_error(problem)
    gate = Gate(settings)
    config.stash[gate_key] = gate
    if config.pluginmanager.register(GateReporter(config, gate), REPORTER) is None:
        raise pytest.UsageError(
            f"confluence approval gate: -p no:{REPORTER} blocks the gate's own plugin, so no "
            "page would be judged; remove it from the command line or addopts"
        )
    # With no positional arguments the gate runs alone (testpaths are not collected);
    # with some, it runs beside them.
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(policy)]
    elif not any(names_file(arg, policy) for arg in config.args):
        config.args.append(str(policy))


def usage_error(problem: Exception | str) -> pytest.UsageError:
    """A usage error (exit 4) whose every line is rendered like any other line the gate
    prints: policy text, a path or a URL in it can neither start a line of its own nor
    carry a CI command (``##vso[``, ``::error::``) or a control character."""
    lines: Sequence[str] = getattr(problem, "lines", None) or (str(problem),)
    first, *rest = lines
    return pytest.UsageError(render_lines([f"confluence approval gate: {first}", *rest]))


def _path(value: str | None) -> Path | None:
    return absolute_path(value) if value else None


def _junitxml_path(value: str | None) -> Path | None:
    """The file pytest's junitxml will write: it expands ``$VARS`` and ``~`` first."""
    return _path(os.path.expanduser(os.path.expandvars(value))) if value else None


class PolicyFile(pytest.File):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Marked once here, not on each item: -m and get_closest_marker see a parent's
        # markers, and thousands of pages need not carry a copy each.
        self.add_marker(MARKER)

    def collect(self) -> Iterator[pytest.Item]:
        gate = self.config.stash[gate_key]
        policy, page_set = gate.settings.policy, gate.resolve()
        # (rule, the name its test id shows): the policy's words only. A cql: entry's page
        # is not named by its Confluence title here (the failure text does that): -k and
        # -m match test ids, and a page's editor must not choose whether it is judged.
        named = [(rule, rule.name) for rule in policy.pages]
        for query in policy.queries:
            named += [(page_set.rules[p], query.rule.name) for p in page_set.query_pages[query.cql]]
        for rule, shown in named:
            name = f"page[{rule.page_id} {shown}]" if shown else f"page[{rule.page_id}]"
            yield ApprovalItem.from_parent(self, rule=rule, **self._named(render_line(name)))
        for query in policy.queries:
            result = page_set.query_results[query.cql]
            if result.failure is not None or not result.pages:
                label = query.rule.name or query.cql
                item_name = self._named(render_line(f"query[{label}]"))
                yield QueryItem.from_parent(self, query=query, **item_name)

    def _named(self, name: str) -> dict[str, str]:
        """An item's name and its node id, spelled out.

        pytest 9.2 keeps node ids structured: one parsed from a string (the --lf cache,
        --deselect) splits "page[101 x]" into a name and its brackets, while a name
        joined to its parent's id does not, so the two never compared equal and --lf
        re-ran every page. A node id given as a string is parsed the same way as theirs.
        """
        return {"name": name, "nodeid": f"{self.nodeid}::{name}"}


class QueryItem(GateItem):
    """A ``cql:`` entry that found no page, or could not run: it fails, never passes."""

    def __init__(self, *, query: PageQuery, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query = query

    @property
    def label(self) -> str:
        return self.query.label

    def conclusion(self) -> GateFailure:
        result = self.config.stash[gate_key].resolve().query_results[self.query.cql]
        if result.failure is not None:
            return GateFailure(
                render_lines(
                    [
                        f"{self.query.label} could not be run:",
                        f"  - could not verify: {result.failure.message}",
                        f"  CQL: {self.query.cql}",
                    ]
                )
            )
        return GateFailure(
            render_lines(
                [
                    f"{self.query.label} matched no pages: a query that finds nothing must not "
                    "pass; check the CQL and that the gate's account can see the pages",
                    f"  CQL: {self.query.cql}",
                ]
            )
        )

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.query.rule.line - 1, render_line(self.query.label)


_ITEM_NAME = re.compile(r"::page\[(\d+)[ \]]")


def page_id_of(nodeid: str, *, policy: Path, rootpath: Path) -> str | None:
    """The page id in one of the gate's node ids (``policy.yaml::page[<id> <name>]``).

    Reports reach the xdist controller as node ids only, without the item. Only an
    item of the policy file is a page: a repository test that happens to be called
    ``page[101]`` must not count as judging page 101.
    """
    file_part, _, rest = nodeid.partition("::")
    found = _ITEM_NAME.match("::" + rest)
    if found is None or not _is_policy(file_part, policy, rootpath):
        return None
    return found.group(1)


@functools.lru_cache(maxsize=64)
def _is_policy(file_part: str, policy: Path, rootpath: Path) -> bool:
    try:
        return (rootpath / file_part).resolve() == policy.resolve()
    except OSError:
        return False


class ExpiredWaiverWarning(pytest.PytestWarning):
    """A waiver in the policy has expired: the page is judged as if it had none."""


class ApprovalItem(GateItem):
    """One page of the policy: passes only when its approval is complete and current."""

    def __init__(self, *, rule: PageRule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = rule

    @property
    def label(self) -> str:
        return self.rule.label

    def runtest(self) -> None:
        gate = self.config.stash[gate_key]
        verdict = gate.verdict(self.rule.page_id)  # judged: from now on in the gate's record
        # Per-testcase <properties> are invalid in xunit2 (the default family), so
        # there the evidence goes to <system-out> only (see pytest_runtest_logreport).
        waiver = gate.waiver(self.rule.page_id)
        if self.config.getini("junit_family") in ("xunit1", "legacy"):
            assert gate.facts is not None
            self.user_properties.extend(evidence_properties(verdict, gate.facts.names, waiver))
        if waiver is not None and waiver.state is WaiverState.EXPIRED:
            warnings.warn(
                ExpiredWaiverWarning(
                    render_line(
                        f"the waiver for {self.rule.label} expired on "
                        f"{waiver.waiver.expires.isoformat()} and was ignored "
                        f"({waiver.waiver.reason})"
                    )
                ),
                stacklevel=1,
            )
        super().runtest()

    def conclusion(self) -> BaseException | None:
        gate = self.config.stash[gate_key]
        verdict = gate.verdicts.get(self.rule.page_id)
        if verdict is None:
            return GateFailure(
                render_line(f"{self.rule.label} was not judged: its check did not run")
            )
        if verdict.passed:
            return None
        waiver = gate.waiver(self.rule.page_id)
        if waiver is not None and waiver.applied:
            w = waiver.waiver
            return pytest.xfail.Exception(
                render_line(
                    f"waived until {w.expires.isoformat()} ({w.reason}); not approved: "
                    + "; ".join(verdict.reasons)
                )
            )
        return GateFailure(verdict.explain())

    def reportinfo(self) -> tuple[Path, int, str]:
        return (
            self.path,
            self.rule.line - 1,
            render_line(f"Confluence approval of {self.rule.label}"),
        )


class GateReporter:
    """The session-time hooks: fetch before the run, evidence during it, outputs after it."""

    def __init__(self, config: pytest.Config, gate: Gate) -> None:
        self.config = config
        self.gate = gate
        #: the gate's items, when this is a pytest-xdist controller that runs them itself
        self.controller_items: list[pytest.Item] | None = None
        #: how many items the xdist workers collected (the repository's tests)
        self.worker_items = 0
        #: page ids -k, -m or --deselect dropped from this session
        self.deselected: set[str] = set()
        #: the CQL of queries whose items -k, -m or --deselect dropped
        self.deselected_queries: set[str] = set()
        #: the gate's items as collection selected them (the command line's node ids, or
        #: all), by node id: before any plugin could reorder or drop them
        self.selected: dict[str, GateItem] = {}
        #: what the gate fails although pytest would have passed the run, in words
        self.overturned = ""
        #: gate items whose reports were changed after the gate made them, in words
        self.rewritten: list[str] = []
        #: outputs that could not be written, in words; the run then exits 4
        self.output_errors: list[str] = []
        #: the run's one result, once the session has finished
        self.result: GateResult | None = None

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.gate.settings
        auth = "none needed (replay)" if s.mode == "replay" else s.credentials.describe()
        queries = f", {len(s.policy.queries)} CQL queries" if s.policy.queries else ""
        pages = f"{len(s.policy.pages)} pages{queries}"
        lines = [
            render_line(f"confluence approval gate: policy {s.policy.path} ({pages})"),
            render_line(f"confluence approval gate: site {s.site}, mode {s.mode}, auth {auth}"),
        ]
        if (workers := config.stash.get(XDIST_DECLINED, None)) is not None:
            lines.append(
                render_line(
                    "confluence approval gate: runs alone (no test paths given), so in one "
                    f"process: the pytest-xdist workers asked for (-n {workers}) would have "
                    "no test to run"
                )
            )
        return lines

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Collector | None:
        if file_path != self.gate.settings.policy.path:
            return None
        root = self.config.rootpath
        if file_path.is_relative_to(root):
            return PolicyFile.from_parent(parent, path=file_path)
        # Outside the rootdir (e.g. an ini's `confluence_policy = ../policy.yaml`) pytest
        # would give the file an empty node id, and every page an id like "::page[..]".
        nodeid = os.path.relpath(file_path, root).replace(os.sep, "/")
        return PolicyFile.from_parent(parent, path=file_path, nodeid=nodeid)

    def _resolve_queries(self) -> None:
        try:
            self.gate.resolve()
        except ConfigurationError as exc:
            raise usage_error(exc) from None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """A pytest-xdist controller: it, not the workers, runs the gate's items.

        xdist sends each item's reports over its channel and re-emits them here, which
        costs more than judging a page: 5,000 pages took 1.7x (-n 2) to 2.3x (-n 4) the
        time of one process. So the workers never collect the policy file (see
        entrypoint.py) and the controller collects and runs exactly the gate's items,
        through pytest's own collection and runtest protocol: -k, -m, --deselect, node
        ids, the terminal, --junitxml and the outputs see what one process sees.

        What this leans on in xdist (tests/test_xdist.py fails loudly if it changes):
        its controller collects nothing (DSession.pytest_collection returns True), and
        it sets session.testscollected to the workers' count alone.
        """
        if self.controller_items is None:  # (also called for a crashed worker's successor)
            self.controller_items = []
        node.workerinput[ON_CONTROLLER] = True

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        """Resolve cql: entries into pages before the policy file is collected."""
        self._resolve_queries()
        result = yield  # xdist's controller collects nothing: the workers do
        if self.controller_items is not None:
            policy = self.gate.settings.policy.path
            args = [arg for arg in self.config.args if names_file(arg, policy)]
            self.controller_items = list(session.perform_collect(args or [str(policy)]))
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        # session.items is final here: deselected pages are neither fetched nor judged.
        page_ids = [i.rule.page_id for i in session.items if isinstance(i, ApprovalItem)]
        if page_ids and not session.config.option.collectonly:
            # Fetch every selected page at once, before the first item runs, so the
            # items themselves only look up their verdicts.
            self._prepare(page_ids)
        if self.controller_items:
            # While the workers start and collect, as pytest's own loop would.
            self._run_on_controller(session, self.controller_items)
        try:
            return (yield)
        finally:
            self._count_collected(session)

    def _run_on_controller(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        """pytest's own runtest loop (_pytest/main.py), for the gate's items only."""
        if session.testsfailed and not self.config.option.continue_on_collection_errors:
            errors = session.testsfailed
            raise session.Interrupted(
                f"{errors} error{'s' if errors != 1 else ''} during collection"
            )
        for i, item in enumerate(items):
            nextitem = items[i + 1] if i + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.config.get_verbosity() <= 0:
            reporter.write_line("")  # end the gate's line of dots before xdist's own lines

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """Count a worker's items, and refuse one that collected the gate's pages.

        Called before xdist schedules anything, so no such item runs: a worker in another
        environment (``--tx``) may run another version of the plugin, which ignores the
        controller's word, and would judge pages a second time, in a second process.
        """
        self.worker_items = len(ids)
        policy, root = self.gate.settings.policy.path, self.config.rootpath
        # Each file once: a worker may collect tens of thousands of tests in a few files.
        files = {i.partition("::")[0] for i in ids}
        policy_files = {f for f in files if _is_policy(f, policy, root)}
        pages = [i for i in ids if i.partition("::")[0] in policy_files]
        if pages:
            raise usage_error(
                f"pytest-xdist worker {node.gateway.id} collected the gate's pages "
                f"({pages[0]}{' and more' if pages[1:] else ''}), which this controller "
                "judges itself: they would be judged twice; install the same "
                "pytest-confluence-approval on every node"
            )

    def pytest_runtest_logstart(self) -> None:
        if self.controller_items:
            self._count_collected(self.controller_items[0].session)

    def _count_collected(self, session: pytest.Session) -> None:
        """xdist sets the count to the workers' items alone; the terminal's progress
        percentage and the "no tests collected" exit count the gate's items too."""
        if self.controller_items is not None:
            session.testscollected = self.worker_items + len(self.controller_items)

    def _prepare(self, page_ids: list[str]) -> None:
        try:
            self.gate.prepare(page_ids, self._progress)
        except OSError as exc:  # only writing --confluence-record touches the disk here
            raise usage_error(
                f"could not write --confluence-record {self.gate.settings.options.record}: "
                f"{exc.strerror or exc}"
            ) from None

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        if isinstance(item, GateItem):
            self.selected[item.nodeid] = item

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            if isinstance(item, ApprovalItem):
                self.deselected.add(item.rule.page_id)
            elif isinstance(item, QueryItem):
                self.deselected_queries.add(item.query.cql)

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
        if isinstance(report, pytest.TestReport) and report.nodeid in self.selected:
            return pytest_status(report)  # not a repository's word for a gate item
        return status

    def _progress(self, message: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(render_line(message))

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Attach the page's evidence to its JUnit testcase as <system-out>, in every family.

        Runs after junitxml has added the <failure> and before it closes the testcase
        at teardown. <system-out> is valid there in the XSD pytest validates against,
        and it is what Jenkins, GitLab and Azure DevOps show beside a test result.

        Also notes a gate item's report that no longer says what the gate concluded
        (rewritten while it was logged, or by a makereport wrapper outside the gate's).
        """
        item = self.selected.get(report.nodeid)
        if item is not None and not agrees(item, report):
            self.rewritten.append(f"{item.label}: {reported(report)}")
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

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        gate = self.gate
        if gate.page_set is None:
            return  # the session ended before collection
        self._overturn(session)
        self.result = result = gate.result(
            deselected=self.deselected,
            policy_path=_display_path(gate.settings.policy.path, session.config.rootpath),
        )
        for name, value, limit in suite_properties(result):
            junit.add_suite_property(self.config, name, value, limit)
        if report := gate.settings.options.report:
            try:
                write_json_atomically(report, build_report(result))
            except OSError as exc:
                self._output_failed(f"--confluence-report {report}", exc)
        if step_summary := os.environ.get("GITHUB_STEP_SUMMARY"):
            try:
                write_step_summary(Path(step_summary), markdown_summary(result))
            except OSError as exc:
                self._output_failed(f"GITHUB_STEP_SUMMARY {step_summary}", exc)
        if self.output_errors:
            # Evidence that could not be written is a failed run, whatever the verdicts.
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def _overturn(self, session: pytest.Session) -> None:
        """Fail a run that pytest would pass while the gate's own record fails it."""
        status = session.exitstatus
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            return  # the run fails (or was stopped) anyway
        if failing := self._failing():
            self.overturned = (
                f"pytest would have ended this run with exit code {int(status)}, but the gate "
                f"fails it: {failing}; their checks were skipped, xfailed, dropped or rewritten "
                "(by a marker, hook, fixture or plugin of this repository, or an option such as "
                f"--setup-only); {OWN_VERDICT}"
            )
        if self.overturned or self.rewritten:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _failing(self) -> str:
        """What fails the gate in this run by its own record, in words ("" if nothing): the
        pages judged and neither approved nor waived, and, of the entries due, the pages
        not judged and the queries that could not run or matched nothing.

        Due is what the command line selected, less what -k, -m or --deselect dropped:
        with node ids of the policy (or --lf) what pytest's collection matched, else the
        whole policy, so items dropped from the run or a policy file never collected do
        not leave pages out. --collect-only judges nothing, and fails nothing (it lists).
        """
        config, gate, page_set = self.config, self.gate, self.gate.resolve()
        if config.option.collectonly:
            return ""
        policy = gate.settings.policy
        if getattr(config.option, "lf", False) or any(
            "::" in arg and names_file(arg, policy.path) for arg in config.args
        ):
            pages = {i.rule.page_id for i in self.selected.values() if isinstance(i, ApprovalItem)}
            queries = {i.query.cql for i in self.selected.values() if isinstance(i, QueryItem)}
        else:
            pages, queries = set(page_set.rules), {q.cql for q in policy.queries}
        verdicts = gate.verdicts
        not_judged, empty_queries = "not judged", "could not run or matched no pages"
        failing: dict[str, list[str]] = {
            kind: [] for kind in (Outcome.NOT_APPROVED.value, Outcome.UNVERIFIABLE.value)
        }
        failing |= {not_judged: [], empty_queries: []}
        for page_id in page_set.rules:
            if (verdict := verdicts.get(page_id)) is not None:
                waiver = gate.waiver(page_id)
                if not verdict.passed and not (waiver is not None and waiver.applied):
                    failing[verdict.outcome.value].append(page_id)
            elif page_id in pages and page_id not in self.deselected:
                failing[not_judged].append(page_id)
        for query in policy.queries:
            result = page_set.query_results[query.cql]
            if (result.failure is not None or not result.pages) and (
                query.cql in queries and query.cql not in self.deselected_queries
            ):
                failing[empty_queries].append(query.label)
        return "; ".join(f"{kind}: {', '.join(found)}" for kind, found in failing.items() if found)

    def _output_failed(self, what: str, exc: OSError) -> None:
        self.output_errors.append(
            f"could not write {what}: {exc.strerror or exc}; the run's evidence is incomplete"
        )

    def pytest_terminal_summary(self, terminalreporter: TerminalReporter) -> None:
        if self.result is None:
            return  # the session ended before collection
        terminalreporter.section(SECTION)
        for line in summary_lines(self.result):
            terminalreporter.line(line)
        errors = [self.overturned] if self.overturned else []
        if self.rewritten:
            errors.append(
                "this repository's pytest setup changed reports of the gate's items after the "
                f"gate made them ({'; '.join(self.rewritten)}): pytest's counts and the JUnit "
                "file may not show the gate's verdicts, this summary does, and the run fails"
            )
        for error in errors:
            terminalreporter.line(
                render_line(f"ERROR: confluence approval gate: {error}", NOT_JUDGED_LIMIT),
                red=True,
            )
        for error in self.output_errors:
            terminalreporter.line(
                render_line(f"ERROR: confluence approval gate: {error}"), red=True
            )


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()

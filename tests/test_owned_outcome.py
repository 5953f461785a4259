"""The gate owns its items' outcome (README, "Security"): no marker, fixture, hook or plugin
of the repository under test turns a page that is not approved into a pass, a skip or an
xfail, or makes a page vanish. Each pattern is a conftest.py such as repositories write,
run in one process and under ``-n 2`` with the policy named (the xdist controller runs
the gate's items); the findings also with ``-n 2`` and the gate alone (which runs in one
process, see test_xdist.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.conftest import QUIET, GateRunner, PytestRun, approved_page
from tests.fake_confluence import approval_value

pytest.importorskip("xdist")


@dataclass(frozen=True)
class Held:
    """What a run must show when the gate holds: pytest's outcome counts, each gate
    item's JUnit outcome, the first line of the gate's summary and its ERROR lines."""

    outcomes: dict[str, int]
    junit: dict[str, str]
    summary: str
    #: the gate's own ERROR lines, where reports did not show what the gate concluded
    errors: tuple[str, ...] = ()


#: Every page and the query judged: the waiver's xfail is the only one left.
JUDGED = Held(
    {"passed": 1, "failed": 2, "xfailed": 1},
    {"101": "passed", "102": "failure", "103": "skipped", "query": "failure"},
    "1 approved, 2 not approved (1 waived), 0 not verifiable; "
    'NOT JUDGED: 1 query matched no pages (query "Nightly")',
)
NOT_RUN = (
    "0 approved, 0 not approved, 0 not verifiable; NOT JUDGED: 3 pages not run "
    '(101, 102, 103), 1 query matched no pages (query "Nightly")'
)
#: Stopped before the gate could judge (a skip or xfail at setup): each item an error.
STOPPED_AT_SETUP = Held(
    {"errors": 4}, {"101": "error", "102": "error", "103": "error", "query": "error"}, NOT_RUN
)
#: Stopped in the call, before the gate could judge: each item a failure.
STOPPED_IN_CALL = Held(
    {"failed": 4},
    {"101": "failure", "102": "failure", "103": "failure", "query": "failure"},
    NOT_RUN,
)
#: No gate item ran, or none reported: the gate's record alone fails the run.
NOTHING_REPORTED = Held(
    {},
    {},
    NOT_RUN,
    (
        "ERROR: confluence approval gate: pytest would have ended this run with exit code ?, "
        "but the gate fails it: not judged: 101, 102, 103; "
        'could not run or matched no pages: query "Nightly";*',
    ),
)
REWRITTEN = (
    "ERROR: confluence approval gate: this repository's pytest setup changed reports of the "
    "gate's items after the gate made them (page 102: its check passed; "
    'query "Nightly": its check passed): *'
)
#: Reports rewritten outside the gate's makereport wrapper: named, and the exit fails.
REWRITTEN_IN_MAKEREPORT = Held(
    {"passed": 3, "xfailed": 1},
    {"101": "passed", "102": "passed", "103": "skipped", "query": "passed"},
    JUDGED.summary,
    (
        "ERROR: confluence approval gate: pytest would have ended this run with exit code 0, "
        "but the gate fails it: not approved: 102; "
        'could not run or matched no pages: query "Nightly";*',
        REWRITTEN,
    ),
)
#: Rewritten while logged, after pytest counted the failures: named.
REWRITTEN_WHILE_LOGGED = Held(
    REWRITTEN_IN_MAKEREPORT.outcomes, REWRITTEN_IN_MAKEREPORT.junit, JUDGED.summary, (REWRITTEN,)
)

PATTERNS = {
    # The finding: every item without some marker becomes an expected failure.
    "xfail-unless-marked": (
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if not item.get_closest_marker("integration"):
                    item.add_marker(pytest.mark.xfail(reason="not an integration test"))
        """,
        JUDGED,
    ),
    "xfail-not-strict-on-the-policy-file": (
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                item.parent.add_marker(pytest.mark.xfail(strict=False))
        """,
        JUDGED,
    ),
    "xfail-run-false-at-itemcollected": (
        """
        import pytest

        def pytest_itemcollected(item):
            item.add_marker(pytest.mark.xfail(run=False, reason="slow"))
        """,
        STOPPED_AT_SETUP,
    ),
    "skip-marker": (
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                item.add_marker(pytest.mark.skip(reason="not on CI"))
        """,
        STOPPED_AT_SETUP,
    ),
    "skipif-on-the-session": (
        """
        import pytest

        def pytest_collection_modifyitems(session):
            session.add_marker(pytest.mark.skipif(True, reason="no network"))
        """,
        STOPPED_AT_SETUP,
    ),
    # The finding: a skip in pytest_runtest_setup.
    "skip-in-runtest-setup": (
        """
        import pytest

        def pytest_runtest_setup(item):
            pytest.skip("not today")
        """,
        STOPPED_AT_SETUP,
    ),
    "xfail-in-runtest-setup": (
        """
        import pytest

        def pytest_runtest_setup(item):
            pytest.xfail("flaky")
        """,
        STOPPED_AT_SETUP,
    ),
    "fail-and-xfail-marker": (
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                item.add_marker(pytest.mark.xfail)

        def pytest_runtest_setup(item):
            pytest.fail("no database")
        """,
        STOPPED_AT_SETUP,
    ),
    # Fixtures reach python tests only; held already, and must stay so.
    "autouse-fixture-skips": (
        """
        import pytest

        @pytest.fixture(autouse=True)
        def offline():
            pytest.skip("offline")
        """,
        JUDGED,
    ),
    "call-wrapper-swallows-the-failure": (
        """
        import pytest

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_call(item):
            outcome = yield
            outcome.force_result(None)
        """,
        JUDGED,
    ),
    "call-wrapper-skips-before-the-check": (
        """
        import pytest

        @pytest.hookimpl(wrapper=True, tryfirst=True)
        def pytest_runtest_call(item):
            pytest.skip("quarantined")
            yield
        """,
        STOPPED_IN_CALL,
    ),
    "makereport-rewrites-the-outcome": (
        """
        import pytest

        @pytest.hookimpl(hookwrapper=True, tryfirst=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            outcome.get_result().outcome = "passed"
        """,
        JUDGED,
    ),
    "makereport-sets-wasxfail": (
        """
        import pytest

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(item, call):
            report = yield
            if report.failed:
                report.wasxfail = "known issue"  # still failed, yet no longer counted
            return report
        """,
        JUDGED,
    ),
    "teststatus-says-passed": (
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_report_teststatus(report):
            if report.when == "call":
                return "passed", ".", "PASSED"
        """,
        JUDGED,
    ),
    # Registered after the gate's own plugin, so its wrapper runs outside the gate's.
    "late-makereport-wrapper": (
        """
        import pytest

        class Rewriter:
            @pytest.hookimpl(wrapper=True, tryfirst=True)
            def pytest_runtest_makereport(self, item, call):
                report = yield
                if report.failed and item.nodeid.startswith("policy.yaml"):
                    report.outcome = "passed"
                return report

        @pytest.hookimpl(trylast=True)
        def pytest_configure(config):
            config.pluginmanager.register(Rewriter())
        """,
        REWRITTEN_IN_MAKEREPORT,
    ),
    "logreport-rewrites-the-outcome": (
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_logreport(report):
            if report.failed and report.nodeid.startswith("policy.yaml"):
                report.outcome = "passed"
        """,
        REWRITTEN_WHILE_LOGGED,
    ),
    "items-emptied": (
        """
        def pytest_collection_modifyitems(items):
            items[:] = []
        """,
        NOTHING_REPORTED,
    ),
    "gate-items-removed": (
        """
        def pytest_collection_modifyitems(items):
            items[:] = [i for i in items if not i.nodeid.startswith("policy.yaml")]
        """,
        NOTHING_REPORTED,
    ),
    # The gate names the policy file on the command line, where no ignore reaches: held
    # already, and must stay so.
    "collect-ignore": ('collect_ignore = ["policy.yaml"]', JUDGED),
    "ignore-collect-hook": (
        """
        def pytest_ignore_collect(collection_path):
            return True if collection_path.name == "policy.yaml" else None
        """,
        JUDGED,
    ),
    "runtestloop-runs-nothing": (
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtestloop(session):
            return True
        """,
        NOTHING_REPORTED,
    ),
    "protocol-runs-nothing": (
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_protocol(item):
            return True
        """,
        NOTHING_REPORTED,
    ),
    "exit-zero-at-setup": (
        """
        import pytest

        def pytest_runtest_setup(item):
            pytest.exit("done early", returncode=0)
        """,
        NOTHING_REPORTED,
    ),
}


#: Under xdist the controller runs the gate's items before its runtestloop goes on
#: (xdist_support.py), so a repository's runtestloop that runs nothing comes too late to stop them.
UNDER_THE_XDIST_CONTROLLER = {"runtestloop-runs-nothing": JUDGED}


@pytest.fixture
def site(gate: GateRunner) -> GateRunner:
    """101 approved; 102 not approved; 103 not approved but waived; a query finding nothing."""
    approved_page(gate.site, "101")
    for page_id in ("102", "103"):
        gate.site.add_page(page_id, title=f"Page {page_id}")
        gate.site.set_approval(page_id, approval_value(pending=["acc-b"], complete=False))
    gate.site.add_cql("label = nightly", [])
    gate.write_policy(
        [
            {"id": "101"},
            {"id": "102"},
            {"id": "103"},
            {"cql": "label = nightly", "name": "Nightly"},
        ],
        waivers=[{"page": "103", "reason": "CAB-7", "expires": "2099-01-01"}],
    )
    return gate


def _junit_outcomes(run: PytestRun) -> dict[str, str]:
    """Each gate testcase's outcome element ("passed" without one), by page id or "query"."""
    if run.junit is None:
        return {}
    cases = {}
    for case in run.junit.iter("testcase"):
        name = case.get("name", "")
        key = "query" if name.startswith("query[") else name[len("page[") :].rstrip("]")
        tags = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        cases[key] = tags[0] if tags else "passed"
    return cases


#: The findings, also with the gate alone under -n 2 (which runs in one process).
FINDINGS = ("xfail-unless-marked", "skip-in-runtest-setup")
RUNS = [
    pytest.param(pattern, how, id=f"{pattern}-{name}")
    for pattern in PATTERNS
    for name, how in [
        ("one-process", ()),
        ("n2", ("-n", "2", "policy.yaml")),
        *([("alone-n2", ("-n", "2"))] if pattern in FINDINGS else []),
    ]
]


@pytest.mark.parametrize(("pattern", "how"), RUNS)
def test_repository_code_cannot_pass_skip_xfail_or_drop_a_page(
    site: GateRunner, pattern: str, how: tuple[str, ...]
) -> None:
    conftest, held = PATTERNS[pattern]
    if "policy.yaml" in how:
        held = UNDER_THE_XDIST_CONTROLLER.get(pattern, held)
    site.pytester.makeconftest(conftest)
    report = site.pytester.path / "report.json"

    run = site.run("--confluence-report", report, *how)

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    outcomes = run.result.parseoutcomes()
    outcomes.pop("warnings", None)
    assert outcomes == held.outcomes
    assert _junit_outcomes(run) == held.junit
    run.result.stdout.fnmatch_lines([held.summary])
    not_run = ["101", "102", "103"] if held.summary == NOT_RUN else []
    assert json.loads(report.read_text())["not_judged"]["not_run"] == not_run
    errors = [line for line in run.result.stdout.lines if line.startswith("ERROR: confluence")]
    assert len(errors) == len(held.errors)
    run.result.stdout.fnmatch_lines(list(held.errors))


@pytest.fixture
def two_pages(gate: GateRunner) -> GateRunner:
    """101 approved, 102 not approved; a passing repository test beside them."""
    approved_page(gate.site, "101")
    gate.site.add_page("102", title="Page 102")
    gate.site.set_approval("102", approval_value(pending=["acc-b"], complete=False))
    gate.write_policy([{"id": "101"}, {"id": "102"}])
    gate.pytester.makepyfile(test_repo="def test_repo():\n    pass\n")
    return gate


@pytest.mark.parametrize(
    ("args", "not_judged"),
    [
        (("-k", "101"), "1 page deselected (102)"),
        (("--deselect", "policy.yaml::page[102]"), "1 page deselected (102)"),
        (("policy.yaml::page[101]",), "1 page not run (102)"),
        (("-m", "not confluence_approval", "test_repo.py"), "2 pages deselected (101, 102)"),
    ],
    ids=["k", "deselect", "node-id", "m"],
)
def test_explicit_selection_still_leaves_pages_unjudged_and_named(
    two_pages: GateRunner, args: tuple[str, ...], not_judged: str
) -> None:
    run = two_pages.run(*args)

    assert run.result.ret == pytest.ExitCode.OK, run.output
    run.result.stdout.fnmatch_lines([f"*; NOT JUDGED: {not_judged}"])
    assert "ERROR: confluence" not in run.output


def test_collect_only_lists_the_pages_and_nothing_else(two_pages: GateRunner) -> None:
    # Scripts read --collect-only's listing: no page is judged, and no summary follows.
    run = two_pages.run("--collect-only", "-q")

    assert run.result.ret == pytest.ExitCode.OK, run.output
    lines = run.result.stdout.lines
    assert [line for line in lines if "::page[" in line] == [
        "policy.yaml::page[101]",
        "policy.yaml::page[102]",
    ]
    assert "Confluence approval gate" not in run.output
    assert "NOT JUDGED" not in run.output


def test_last_failed_skipping_the_policy_file_still_passes(two_pages: GateRunner) -> None:
    # Nothing of the policy failed last time (it was deselected), so --lf does not even
    # collect it: the user's selection, named as today.
    two_pages.pytester.makepyfile(test_repo="def test_repo():\n    assert False\n")
    cache = ("-p", "cacheprovider")
    two_pages.run(*cache, "-k", "101 or test_repo", "test_repo.py").result.assert_outcomes(
        passed=1, failed=1, deselected=1
    )
    two_pages.pytester.makepyfile(test_repo="def test_repo():\n    pass\n")

    run = two_pages.run(*cache, "--lf", "test_repo.py")

    assert run.result.ret == pytest.ExitCode.OK, run.output
    run.result.assert_outcomes(passed=1)
    run.result.stdout.fnmatch_lines(["*; NOT JUDGED: 2 pages not run (101, 102)"])


def test_setup_only_judges_nothing_and_fails_the_run(two_pages: GateRunner) -> None:
    run = two_pages.run("--setup-only")

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    run.result.stdout.fnmatch_lines(
        [
            "ERROR: confluence approval gate: pytest would have ended this run with exit code 0, "
            "but the gate fails it: not judged: 101, 102; *--setup-only*"
        ]
    )


def test_blocking_the_gates_plugin_is_a_usage_error(two_pages: GateRunner) -> None:
    result = two_pages.pytester.runpytest(
        "--confluence-policy",
        "policy.yaml",
        "--confluence-url",
        two_pages.site.url,
        "-p",
        "no:confluence-approval-reporter",
        *QUIET,
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*-p no:confluence-approval-reporter blocks the gate's own plugin*"]
    )
    assert two_pages.site.requests == []


@pytest.mark.parametrize("part", ["collection", "outcome", "outputs", "console", "xdist"])
def test_blocking_a_part_of_the_gates_plugin_is_a_usage_error(
    two_pages: GateRunner, part: str
) -> None:
    # The gate is one plugin per concern: without its outcome hooks a repository could
    # pass a page, without its outputs the evidence would be missing. Whole or not at all.
    result = two_pages.pytester.runpytest(
        "--confluence-policy",
        "policy.yaml",
        "--confluence-url",
        two_pages.site.url,
        "-p",
        f"no:confluence-approval-{part}",
        *QUIET,
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*-p no:confluence-approval-{part} blocks part of the gate's own plugin*"]
    )
    assert two_pages.site.requests == []

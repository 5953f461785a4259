"""Under pytest-xdist the controller runs the gate's items itself (README, "Performance").

xdist serializes every item's reports on a worker and re-emits them on the controller,
which costs more than judging a replayed page. So the workers never collect the policy
file, and the controller collects and runs exactly the gate's items through pytest's own
collection and runtest protocol. These tests run real ``-n 2`` command lines and hold
the result to what one process shows: terminal, JUnit XML, JSON report, job summary,
exit code.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import QUIET, GateRunner, PytestRun
from tests.test_plugin import MIXED_POLICY, mixed_site

pytest.importorskip("xdist")

#: Repository tests beside the policy: one passes, one fails.
REPO_TESTS = """
def test_repo_passes():
    pass

def test_repo_fails():
    assert False, "a repository test failed"
"""

#: Every worker writes the node ids it collected, so a test can see where items ran.
WORKER_LOG = """
import os

def pytest_collection_finish(session):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        with open(f"collected-{worker}.txt", "w") as out:
            out.write("\\n".join(item.nodeid for item in session.items))
"""


@pytest.fixture
def replayed(gate: GateRunner) -> Path:
    """The mixed site, recorded once: replays judge alike however often they run."""
    mixed_site(gate.site)
    gate.write_policy(MIXED_POLICY)
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot)
    gate.pytester.makepyfile(test_repo=REPO_TESTS)
    return snapshot


def _replay(gate: GateRunner, snapshot: Path, *args: str) -> tuple[PytestRun, bytes]:
    """One replay; the run, and its JSON report and GitHub job summary, as bytes."""
    report, summary = gate.pytester.path / "report.json", gate.pytester.path / "summary.md"
    report.unlink(missing_ok=True)
    summary.unlink(missing_ok=True)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GITHUB_STEP_SUMMARY", str(summary))
        run = gate.run(
            "--confluence-replay", snapshot, "--confluence-report", report, *args, url=False
        )
    outputs = b"".join(f.read_bytes() if f.exists() else b"-" for f in (report, summary))
    return run, outputs


def _gate_section(run: PytestRun) -> list[str]:
    """The gate's terminal summary, without the pace line (timing decides its number)."""
    lines = run.result.stdout.lines
    start = next((i for i, line in enumerate(lines) if "Confluence approval gate =" in line), -1)
    if start < 0:
        return []
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("="))
    return [line for line in lines[start + 1 : end] if not line.startswith("fetched ")]


def _testcases(run: PytestRun) -> dict[str, tuple[str, str, str]]:
    """JUnit testcase -> (outcome element, its message, <system-out>); no timings."""
    if run.junit is None:
        return {}
    cases = {}
    for case in run.junit.iter("testcase"):
        outcome = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        out = case.find("system-out")
        cases[f"{case.get('classname')}::{case.get('name')}"] = (
            "passed" if outcome is None else outcome.tag,
            "" if outcome is None else outcome.get("message", ""),
            "" if out is None else out.text or "",
        )
    return cases


def _suite_properties(run: PytestRun) -> dict[str, str]:
    assert run.junit is not None
    return {p.get("name", ""): p.get("value", "") for p in run.junit.iter("property")}


@pytest.mark.parametrize(
    "args",
    [
        # Run alone (no path given), the gate runs in one process whatever -n says (see
        # test_the_gate_alone_runs_in_one_process_whatever_n_says); so every other case
        # names a path, and xdist's workers start.
        pytest.param((), id="policy-only"),
        pytest.param(("policy.yaml",), id="policy-named"),
        pytest.param(("test_repo.py", "policy.yaml"), id="beside-repository-tests"),
        pytest.param(("-k", "not 103", "policy.yaml"), id="k"),
        pytest.param(
            ("--deselect", "policy.yaml::page[102 Risk assessment]", "policy.yaml"), id="deselect"
        ),
        pytest.param(("policy.yaml::page[101 Release checklist]",), id="node-id"),
        pytest.param(("-m", "confluence_approval", "policy.yaml"), id="m"),
        # (Not -m confluence_approval beside repository tests: xdist's summary never counts
        # the tests its workers deselect, gate or not.)
        pytest.param(("-m", "not confluence_approval", "test_repo.py", "policy.yaml"), id="not-m"),
        pytest.param(("-x", "policy.yaml"), id="x"),
        pytest.param(("--maxfail", "2", "policy.yaml"), id="maxfail"),
        pytest.param(("-k", "no_such_page", "policy.yaml"), id="all-deselected"),
        pytest.param(("policy.yaml::page[999]",), id="unknown-node-id"),
    ],
)
def test_under_xdist_the_gate_reports_exactly_what_one_process_reports(
    gate: GateRunner, replayed: Path, args: tuple[str, ...]
) -> None:
    one, one_outputs = _replay(gate, replayed, *args)
    spread, spread_outputs = _replay(gate, replayed, "-n", "2", *args)

    assert spread.result.ret == one.result.ret, spread.output
    assert spread.result.parseoutcomes() == one.result.parseoutcomes()
    assert _gate_section(spread) == _gate_section(one)
    assert spread_outputs == one_outputs  # the JSON report and the job summary
    assert _testcases(spread) == _testcases(one)
    if one.junit is not None and one.result.ret != pytest.ExitCode.NO_TESTS_COLLECTED:
        assert _suite_properties(spread) == _suite_properties(one)
    errors = [line for line in one.output.splitlines() if line.startswith("ERROR")]
    assert [line for line in spread.output.splitlines() if line.startswith("ERROR")] == errors


@pytest.mark.parametrize("workers", ["2", "auto"])
def test_the_gate_alone_runs_in_one_process_whatever_n_says(
    gate: GateRunner, replayed: Path, workers: str
) -> None:
    # No path on the command line: the gate runs alone, and xdist's workers would start,
    # collect nothing and stop (addopts = -n auto and a separate gate step). Their start
    # cost about a second of CPU on two cores, for nothing.
    one, one_outputs = _replay(gate, replayed)
    alone, alone_outputs = _replay(gate, replayed, "-n", workers)

    alone.result.stdout.fnmatch_lines(
        [
            "confluence approval gate: runs alone (no test paths given), so in one process: "
            "the pytest-xdist workers asked for (-n *) would have no test to run"
        ]
    )
    assert "created:" not in alone.output and "[gw" not in alone.output  # no worker started
    assert alone.result.ret == one.result.ret == pytest.ExitCode.TESTS_FAILED
    assert alone.result.parseoutcomes() == one.result.parseoutcomes()
    assert _gate_section(alone) == _gate_section(one)
    assert alone_outputs == one_outputs
    assert _testcases(alone) == _testcases(one)

    # A path on the command line (the policy's own, or the repository's) keeps xdist.
    named, _ = _replay(gate, replayed, "-n", workers, "policy.yaml")
    named.result.stdout.fnmatch_lines(["created: 2/2 workers" if workers == "2" else "created: *"])
    assert "runs alone" not in named.output


def test_under_xdist_no_worker_collects_a_page_and_the_repository_tests_run_there(
    gate: GateRunner, replayed: Path
) -> None:
    gate.pytester.makeconftest(WORKER_LOG)

    run, _ = _replay(gate, replayed, "-n", "2", "-v", "test_repo.py", "policy.yaml")

    run.result.assert_outcomes(passed=2, failed=4)
    collected = [
        line
        for log in gate.pytester.path.glob("collected-gw*.txt")
        for line in log.read_text().splitlines()
    ]
    assert len(list(gate.pytester.path.glob("collected-gw*.txt"))) == 2
    assert set(collected) == {"test_repo.py::test_repo_passes", "test_repo.py::test_repo_fails"}
    # The gate's items ran in the controller (no "[gwN]" prefix), the repository's on workers.
    run.result.stdout.fnmatch_lines(["policy.yaml::page[[]101 Release checklist[]] PASSED *"])
    run.result.stdout.fnmatch_lines(["[[]gw?[]] *PASSED test_repo.py::test_repo_passes*"])


def test_under_xdist_the_progress_counts_the_gate_and_the_workers_items(
    gate: GateRunner, replayed: Path
) -> None:
    # Relies on xdist internals, so it must fail loudly when they change: xdist's
    # controller sets session.testscollected to the workers' count alone (dsession.py),
    # which the terminal's percentage divides by and which decides exit 5 "no tests
    # collected"; the gate adds its own items back (xdist_support.py,
    # pytest_runtest_logstart).
    run, _ = _replay(gate, replayed, "-n", "2", "-v", "test_repo.py", "policy.yaml")

    percentages = [int(p) for p in re.findall(r"\[\s*(\d+)%\]", run.result.stdout.str())]
    assert percentages[-1] == 100
    assert max(percentages) == 100, percentages  # never "[150%]": 6 items, not 2
    # xdist's controller collects nothing itself (its pytest_collection returns True), so
    # the only collection there is the gate's.
    collected = [line for line in run.result.stdout.lines if line.startswith("collected")]
    assert collected == ["collected 4 items"]
    run.result.stdout.fnmatch_lines(["2 workers [[]2 items[]]"])

    only_gate, _ = _replay(gate, replayed, "-n", "2", "-k", "101", "policy.yaml")
    assert only_gate.result.ret == pytest.ExitCode.OK  # the workers ran nothing: not exit 5
    only_gate.result.assert_outcomes(passed=1, deselected=3)


def test_a_crashing_worker_leaves_the_gates_verdicts_whole(
    gate: GateRunner, replayed: Path
) -> None:
    gate.pytester.makepyfile(
        test_crash="""
        import os

        def test_crashes_its_worker():
            os._exit(1)
        """
    )

    report = gate.pytester.path / "report.json"
    run, _ = _replay(gate, replayed, "-n", "2", "test_crash.py", "policy.yaml")

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    run.result.assert_outcomes(passed=1, failed=4)  # 3 pages and the crashed test
    assert "worker 'gw" in run.output and "crashed while running" in run.output
    assert len(json.loads(report.read_text())["pages"]) == 4
    assert "1 approved, 3 not approved, 0 not verifiable" in run.output


def test_ctrl_c_during_the_gate_under_xdist_stops_the_run_as_in_one_process(
    gate: GateRunner, replayed: Path
) -> None:
    # A KeyboardInterrupt raised where Ctrl-C would land: in the controller, while the
    # gate's item for page 102 reports. (A subprocess: in-process, it would stop this run.)
    gate.pytester.makeconftest(
        """
        def pytest_runtest_logreport(report):
            if report.when == "call" and "page[102" in report.nodeid:
                raise KeyboardInterrupt
        """
    )
    replay = ("--confluence-policy", "policy.yaml", "--confluence-replay", str(replayed), *QUIET)
    one = gate.pytester.runpytest_subprocess(*replay)
    spread = gate.pytester.runpytest_subprocess(*replay, "-n", "2", "test_repo.py", "policy.yaml")

    for result in (one, spread):
        assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
        assert "! KeyboardInterrupt !" in result.stdout.str()
        result.stdout.fnmatch_lines(
            ["1 approved, 1 not approved, 0 not verifiable; NOT JUDGED: 2 pages not run (103, 104)"]
        )
    assert "test_repo_fails" not in spread.stdout.str()  # no repository test ran afterwards


def test_collect_only_under_xdist_lists_the_pages_and_fetches_nothing(
    gate: GateRunner, replayed: Path
) -> None:
    gate.site.requests.clear()

    run = gate.run("-n", "2", "--collect-only", "-q")

    assert run.result.ret == pytest.ExitCode.OK
    run.result.stdout.fnmatch_lines(["policy.yaml::page[[]101 Release checklist[]]", "4 tests*"])
    assert gate.site.requests == []


def test_junit_evidence_of_a_page_is_its_system_out_under_xdist(
    gate: GateRunner, replayed: Path
) -> None:
    run, _ = _replay(gate, replayed, "-n", "2", "policy.yaml")

    assert run.junit is not None
    case = next(c for c in run.junit.iter("testcase") if c.get("name", "").startswith("page[104"))
    out = case.find("system-out")
    assert out is not None and "rejected" in (out.text or "")
    assert ET.tostring(case).count(b"<system-out>") == 1


def test_last_failed_under_xdist_reruns_the_pages_one_process_would(
    gate: GateRunner, replayed: Path
) -> None:
    cache = ("-p", "cacheprovider")  # the fixture's runs leave it off
    sections = []
    for workers in ((), ("-n", "2", "policy.yaml")):
        _replay(gate, replayed, *cache, "--cache-clear", *workers)
        again, _ = _replay(gate, replayed, *cache, "--lf", *workers)

        again.result.assert_outcomes(failed=3, deselected=1)
        again.result.stdout.fnmatch_lines(["run-last-failure: rerun previous 3 failures"])
        sections.append(_gate_section(again))
    assert sections[0] == sections[1]
    assert sections[0][0].endswith("NOT JUDGED: 1 page deselected (101)")


def test_a_worker_not_told_that_the_controller_judges_refuses_to_run(
    gate: GateRunner, replayed: Path
) -> None:
    # Should xdist ever stop passing the controller's word on, the workers would drop the
    # policy while nothing judged it: the run must fail, not pass on the repository's tests.
    gate.pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_configure_node(node):
            node.workerinput.pop("confluence_approval_on_controller")
        """
    )

    run, _ = _replay(gate, replayed, "-n", "2", "test_repo.py", "policy.yaml")

    assert run.result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    assert "was not told that its controller runs the gate's pages" in run.output


@pytest.mark.parametrize("dist", ["load", "each"])
def test_waivers_and_cql_entries_under_xdist_report_what_one_process_reports(
    gate: GateRunner, dist: str
) -> None:
    # A page found by two queries and listed by id is judged once, on the controller; a
    # waiver applied, one expired (its warning) and one unused read as in one process.
    mixed_site(gate.site)
    gate.site.add_cql("label = a", ["101", "102", "103"])
    gate.site.add_cql("label = b", ["103", "104"])
    gate.site.add_cql("label = none", [])
    gate.write_policy(
        [
            {"id": "102", "name": "Risk"},
            {"cql": "label = a", "name": "A"},
            {"cql": "label = b"},
            {"cql": "label = none"},
        ],
        waivers=[
            {"page": "103", "reason": "CAB-1", "expires": "2099-01-01"},
            {"page": "104", "reason": "CAB-2", "expires": "2000-01-01"},
            {"page": "101", "reason": "CAB-3", "expires": "2099-01-01"},
        ],
    )
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot)

    one, one_outputs = _replay(gate, snapshot, "-rA")
    spread, spread_outputs = _replay(
        gate, snapshot, "-rA", "-n", "2", "--dist", dist, "policy.yaml"
    )

    assert spread.result.ret == one.result.ret == pytest.ExitCode.TESTS_FAILED
    spread.result.assert_outcomes(passed=1, failed=3, xfailed=1, warnings=1)
    assert spread.result.parseoutcomes() == one.result.parseoutcomes()
    assert _gate_section(spread) == _gate_section(one)
    assert spread_outputs == one_outputs
    assert _testcases(spread) == _testcases(one)
    assert len(_testcases(spread)) == 5  # four pages and the empty query, each once


#: A worker that collects the policy file anyway, as one running another version of the
#: plugin (xdist's --tx can start workers in another environment) might.
WORKER_COLLECTING_THE_POLICY = """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if hasattr(config, "workerinput"):
        config.args.append("policy.yaml")

class OtherPolicyFile(pytest.File):
    def collect(self):
        yield OtherPageItem.from_parent(self, name="page[104 Security review]")

class OtherPageItem(pytest.Item):
    def runtest(self):
        pass  # "approved", by a judge the controller knows nothing of

def pytest_collect_file(file_path, parent):
    if file_path.name == "policy.yaml" and hasattr(parent.config, "workerinput"):
        return OtherPolicyFile.from_parent(parent, path=file_path)
"""


def test_a_worker_that_collects_the_gates_pages_stops_the_run(
    gate: GateRunner, replayed: Path
) -> None:
    # The controller judges the pages; a worker that collected them too would report a
    # second verdict of its own for the same page (here a pass of page 104, which the
    # controller fails): two verdicts, from two processes, for one page.
    gate.pytester.makeconftest(WORKER_COLLECTING_THE_POLICY)

    run, _ = _replay(gate, replayed, "-n", "2", "test_repo.py", "policy.yaml")

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "collected the gate's pages" in run.output
    assert "PASSED policy.yaml::page[104" not in run.output
    assert not [c for c in _testcases(run) if "104" in c and _testcases(run)[c][0] == "passed"]


#: Writes which of the gate's plugins this session registered.
REGISTERED_PARTS = """
def pytest_sessionstart(session):
    manager = session.config.pluginmanager
    parts = ("collection", "outcome", "outputs", "console", "xdist")
    with open("parts.txt", "w") as out:
        out.write(" ".join(p for p in parts if manager.has_plugin(f"confluence-approval-{p}")))
"""


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        pytest.param((), "collection outcome outputs console xdist", id="xdist-loaded"),
        pytest.param(("-p", "no:xdist"), "collection outcome outputs console", id="no-xdist"),
    ],
)
def test_the_xdist_part_is_registered_only_where_xdist_is_loaded(
    gate: GateRunner, replayed: Path, args: tuple[str, ...], parts: str
) -> None:
    gate.pytester.makeconftest(REGISTERED_PARTS)

    run, _ = _replay(gate, replayed, *args)

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    assert (gate.pytester.path / "parts.txt").read_text() == parts


#: What a change in pytest-xdist would take away, as a conftest (loaded before the gate
#: checks) or a patch of xdist's controller class.
XDIST_CHANGES = {
    "option dist": "def pytest_configure(config):\n    del config.option.dist\n",
    "DSession.pytest_collection": None,
}


@pytest.mark.parametrize("missing", list(XDIST_CHANGES))
def test_an_xdist_without_what_the_gate_relies_on_is_a_usage_error(
    gate: GateRunner, replayed: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    # Like the JUnit adapter's check: at start-up, naming what changed, before any
    # worker starts or any page is fetched; never pages judged twice or not at all.
    from xdist.dsession import DSession

    if (conftest := XDIST_CHANGES[missing]) is not None:
        gate.pytester.makeconftest(conftest)
    else:
        monkeypatch.delattr(DSession, "pytest_collection")

    run, _ = _replay(gate, replayed, "-n", "2", "test_repo.py", "policy.yaml")

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert f"this pytest-xdist or pytest has no {missing}; the gate cannot run" in run.output
    assert "created:" not in run.output  # no worker started


def test_an_xdist_controller_that_collects_tests_itself_is_a_usage_error(
    gate: GateRunner, replayed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gate collects its items on the controller because xdist's controller collects
    # nothing (its pytest_collection returns True); one that did would run every page
    # twice: once on the controller as pytest's own, once as the gate's.
    from xdist.dsession import DSession

    def collects_itself(self: object) -> None:
        return None

    monkeypatch.setattr(DSession, "pytest_collection", collects_itself)

    run, _ = _replay(gate, replayed, "-n", "2", "test_repo.py", "policy.yaml")

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "pytest-xdist's controller collected tests itself" in run.output
    assert "PASSED" not in run.output and "FAILED" not in run.output

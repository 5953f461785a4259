"""The policy is the gate's scope: every output names what a run did not judge."""

from __future__ import annotations

import pytest

from tests.conftest import GateRunner, approved_page
from tests.markdown import render
from tests.test_evidence import assert_valid_report

NOT_JUDGED_LINE = (
    "1 approved, 0 not approved, 0 not verifiable; NOT JUDGED: 2 pages deselected (102, 103)"
)


def three_pages(gate: GateRunner) -> None:
    for page_id in ("101", "102", "103"):
        approved_page(gate.site, page_id)
    gate.write_policy([{"id": "101"}, {"id": "102"}, {"id": "103"}])


def summary_section(output: str) -> list[str]:
    return output[output.index("= Confluence approval gate =") :].splitlines()[1:]


def test_deselected_pages_are_named_in_every_output(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_pages(gate)
    path = gate.pytester.path
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path / "summary.md"))

    run = gate.run("-k", "101", "--confluence-report", str(path / "report.json"))

    assert run.result.ret == pytest.ExitCode.OK  # the exit code rules stay as they are
    assert summary_section(run.output)[0] == NOT_JUDGED_LINE
    report = assert_valid_report(path / "report.json")
    assert report["not_judged"] == {
        "deselected": ["102", "103"],
        "not_run": [],
        "queries_failed": [],
        "queries_empty": [],
    }
    rendered = render((path / "summary.md").read_text())
    assert "NOT JUDGED: 2 pages deselected (102, 103)" in rendered.paragraphs
    [table] = rendered.tables
    assert [row[2] for row in table[1:]] == [
        "✅ approved",
        "⏭️ not judged (deselected)",
        "⏭️ not judged (deselected)",
    ]
    assert run.junit is not None
    testsuite = run.junit.find("testsuite")
    assert testsuite is not None
    suite = {p.get("name"): p.get("value") for p in testsuite.iter("property")}
    assert suite["confluence.approved"] == "1"
    assert suite["confluence.not_judged"] == "NOT JUDGED: 2 pages deselected (102, 103)"


def test_deselect_from_addopts_counts_too(gate: GateRunner) -> None:
    three_pages(gate)
    gate.pytester.makeini(
        "[pytest]\naddopts = --deselect policy.yaml::page[102] --deselect policy.yaml::page[103]\n"
    )

    run = gate.run()

    assert summary_section(run.output)[0] == NOT_JUDGED_LINE


def test_a_run_that_judged_nothing_says_so(gate: GateRunner) -> None:
    three_pages(gate)
    report = gate.pytester.path / "report.json"

    run = gate.run("-m", "not confluence_approval", "--confluence-report", str(report))

    assert run.result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert summary_section(run.output)[0] == (
        "0 approved, 0 not approved, 0 not verifiable; "
        "NOT JUDGED: 3 pages deselected (101, 102, 103)"
    )
    assert assert_valid_report(report)["as_of"] is None
    assert gate.site.count("/wiki/api/v2/pages") == 0  # nothing was fetched


def test_pages_left_out_by_a_node_id_are_not_run(gate: GateRunner) -> None:
    three_pages(gate)
    policy = gate.pytester.path / "policy.yaml"

    run = gate.run(f"{policy}::page[101]")

    assert summary_section(run.output)[0] == (
        "1 approved, 0 not approved, 0 not verifiable; NOT JUDGED: 2 pages not run (102, 103)"
    )


def test_a_query_that_matched_nothing_is_named_beside_the_counts(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.site.add_cql("label = none", [])
    gate.write_policy([{"id": "101"}, {"cql": "label = none", "name": "Runbooks"}])

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    assert summary_section(run.output)[0] == (
        "1 approved, 0 not approved, 0 not verifiable; NOT JUDGED: 1 query matched no pages "
        '(query "Runbooks")'
    )

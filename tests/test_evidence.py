"""Audit evidence as auditors get it: JUnit in every family, the JSON report, summaries, names."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from pytest_confluence_approval.schemas import load_schema
from tests.conftest import GateRunner, approved_page
from tests.fake_confluence import (
    APPROVAL_APP_ACCOUNT,
    FakeConfluence,
    approval_value,
    status,
)
from tests.markdown import render
from tests.test_plugin import MIXED_POLICY, mixed_site

EXAMPLES = Path(__file__).parent.parent / "examples"


def assert_valid_report(path: Path) -> dict[str, object]:
    report: dict[str, object] = json.loads(path.read_text())
    Draft202012Validator(load_schema("report")).validate(report)
    return report


def evidence_of(case: ET.Element) -> dict[str, str]:
    out = case.find("system-out")
    assert out is not None and out.text is not None
    lines = out.text.splitlines()
    assert lines[0] == "Confluence approval evidence"
    return dict(line.split(": ", 1) for line in lines[1:])


# Elements and attributes of the JUnit XSD that pytest validates its xunit2 output against
# (junit-10.xsd): a structural check, so the project does not carry a copy of the XSD.
XUNIT2_TESTCASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}
XUNIT2_TESTCASE_ATTRIBUTES = {"name", "time", "classname", "group"}


def test_xunit2_carries_evidence_in_system_out_and_stays_xsd_shaped(gate: GateRunner) -> None:
    mixed_site(gate.site)
    gate.site.add_user("acc-a", "Priya Raman")
    gate.write_policy(MIXED_POLICY)

    run = gate.run()

    cases = run.testcases()
    for case in cases.values():
        assert {child.tag for child in case} <= XUNIT2_TESTCASE_CHILDREN
        assert set(case.attrib) <= XUNIT2_TESTCASE_ATTRIBUTES
    approved = evidence_of(cases["101"])
    assert approved["page_id"] == "101"
    assert approved["title"] == "Page 101"
    assert approved["version"] == "3"
    assert approved["verdict"] == "approved"
    assert approved["approved_by"] == "Priya Raman (acc-a), acc-b"
    assert approved["approval_completed"] == "2025-07-15T10:33:14.000Z"
    pending = evidence_of(cases["102"])
    assert pending["verdict"] == "not approved"
    assert pending["pending"] == "acc-b"
    assert pending["approval_completed"] == "-"  # completedAt means nothing while pending
    assert evidence_of(cases["104"])["rejected_by"] == "acc-c"
    # the failure message stays the plain-language text
    failure = cases["102"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith('page 102 "Risk assessment" is not approved:')


@pytest.mark.parametrize("family", ["xunit1", "legacy"])
def test_older_junit_families_also_carry_properties(gate: GateRunner, family: str) -> None:
    mixed_site(gate.site)
    gate.write_policy(MIXED_POLICY)

    run = gate.run("-o", f"junit_family={family}")

    case = run.testcases()["103"]
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["confluence.page_id"] == "103"
    assert properties["confluence.version"] == "7"
    assert properties["confluence.verdict"] == "not approved"
    assert properties["confluence.approved_by"] == "acc-approver"
    assert str(properties["confluence.reason.1"]).startswith("page was edited after approval")
    assert evidence_of(case)["verdict"] == "not approved"


def test_report_describes_every_page_and_validates(gate: GateRunner) -> None:
    mixed_site(gate.site)
    gate.site.add_user("acc-b", "Jonas Weber")
    gate.write_policy([*MIXED_POLICY, {"id": "105", "name": "Gone"}])
    report_path = gate.pytester.path / "evidence.json"

    gate.run("--confluence-report", report_path, "--confluence-as-of", "2025-08-04T09:00:00Z")

    report = assert_valid_report(report_path)
    assert report["format"] == "pytest-confluence-approval report" and report["version"] == 1
    assert report["site"] == gate.site.url and report["mode"] == "live"
    assert report["auth"] == "anonymous"
    assert report["as_of"] == "2025-08-04T09:00:00.000Z" and report["recorded_at"] is None
    policy = report["policy"]
    assert isinstance(policy, dict)
    assert (
        policy["sha256"]
        == hashlib.sha256((gate.pytester.path / "policy.yaml").read_bytes()).hexdigest()
    )
    assert report["summary"] == {"approved": 1, "not_approved": 3, "not_verifiable": 1}
    pages = {p["id"]: p for p in report["pages"]}  # type: ignore[attr-defined]
    assert list(pages) == ["101", "102", "103", "104", "105"]
    approval = pages["101"]["facts"]["approval"]
    assert {"account_id": "acc-b", "display_name": "Jonas Weber"} in approval["approved"]
    assert pages["103"]["facts"]["version"]["number"] == 7
    assert pages["103"]["reasons"][0].startswith("page was edited after approval")
    assert pages["105"]["verdict"] == "not verifiable"
    assert pages["105"]["facts"]["fetch_failure"]["http_status"] == 404
    assert pages["101"]["link"].startswith(gate.site.url)


def test_reports_from_the_same_snapshot_are_byte_identical(gate: GateRunner) -> None:
    first = gate.pytester.path / "one.json"
    second = gate.pytester.path / "two.json"
    policy = EXAMPLES / "policy.yaml"
    snapshot = EXAMPLES / "snapshot.json"

    gate.run(
        "--confluence-replay", snapshot, "--confluence-report", first, url=False, policy=policy
    )
    gate.run(
        "--confluence-replay", snapshot, "--confluence-report", second, url=False, policy=policy
    )

    assert first.read_bytes() == second.read_bytes()
    report = assert_valid_report(first)
    assert report["mode"] == "replay" and report["auth"] == "none"
    assert report["recorded_at"] == "2025-08-04T09:00:00.000Z"


def test_terminal_summary_counts_and_lists_failing_pages(gate: GateRunner) -> None:
    mixed_site(gate.site)
    gate.write_policy([*MIXED_POLICY, {"id": "105"}])

    run = gate.run()

    run.result.stdout.fnmatch_lines(
        [
            "*= Confluence approval gate =*",
            "1 approved, 3 not approved, 1 not verifiable",
            'NOT APPROVED: page 102 "Risk assessment": the approval is not complete yet*',
            "NOT APPROVED: page 103: page was edited after approval*",
            'NOT APPROVED: page 104 "Security review": the approval was rejected*(+*more)',
            "NOT VERIFIABLE: page 105: could not verify: page 105 was not found (HTTP 404)*",
        ]
    )


def test_github_step_summary_gets_a_markdown_table(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed_site(gate.site)
    gate.site.add_user("acc-a", "Priya | Raman")
    gate.write_policy(MIXED_POLICY)
    summary = gate.pytester.path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    gate.run()

    text = summary.read_text()
    assert text.startswith("earlier step\n### Confluence approval gate")  # appended
    rendered = render(text)
    assert rendered.headings == ["h3 Confluence approval gate"]
    assert rendered.html == []
    [table] = rendered.tables
    assert table[0] == ["Page", "Title", "Verdict", "Approvers", "Reason"]
    rows = {row[0].split(" ")[0]: row for row in table[1:]}
    assert list(rows) == ["101", "102", "103", "104"]
    assert rows["101"][:4] == [
        "101 Release checklist",
        "Page 101",
        "✅ approved",
        '2 approvers: "Priya | Raman" (acc-a), acc-b',
    ]
    assert (
        rows["103"][2] == "❌ not approved" and "page was edited after approval" in rows["103"][4]
    )
    # Links are built from the configured site and the page id, not from Confluence's.
    assert rendered.links == [
        f"{gate.site.url}/pages/viewpage.action?pageId={page_id}" for page_id in rows
    ]


def test_display_names_replace_ids_in_failure_text(gate: GateRunner) -> None:
    gate.site.add_page("101")
    gate.site.set_approval(
        "101", approval_value(approved=["acc-a"], pending=["acc-b"], complete=False)
    )
    gate.site.add_user("acc-a", "Priya Raman")
    gate.site.add_user("acc-b", "Jonas Weber")
    gate.write_policy([{"id": "101", "required_approvers": ["acc-c"]}])

    run = gate.run()

    text = run.failure_text("101")
    assert "still pending: Jonas Weber" in text
    assert "required approvers have not approved: acc-c" in text  # no name granted: bare id
    bulk = [r for r in gate.site.requests if r.path.endswith("/users-bulk")]
    assert len(bulk) == 1 and bulk[0].method == "POST"
    # Also the page's author and the approval property's writer, for the evidence.
    assert sorted(json.loads(bulk[0].body)["accountIds"]) == sorted(
        ["acc-a", "acc-b", "acc-c", "acc-author", APPROVAL_APP_ACCOUNT]
    )


def test_names_are_looked_up_in_batches_of_100(gate: GateRunner) -> None:
    accounts = [f"acc-{n:03d}" for n in range(150)]
    gate.site.add_page("101")
    gate.site.set_approval("101", approval_value(approved=accounts))
    for account in accounts:
        gate.site.add_user(account, account.upper())
    gate.write_policy([{"id": "101"}])

    gate.run().result.assert_outcomes(passed=1)

    assert gate.site.count("/wiki/api/v2/users-bulk") == 2


def test_a_refused_name_lookup_falls_back_to_ids(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.site.add_page("102")
    gate.site.set_approval("102", approval_value(pending=["acc-b"], complete=False))
    gate.site.add_user("acc-b", "Jonas Weber")
    gate.site.fault("/wiki/api/v2/users-bulk", status(403))
    gate.write_policy([{"id": "101"}, {"id": "102"}])

    run = gate.run()

    run.result.assert_outcomes(passed=1, failed=1)
    assert "still pending: acc-b" in run.failure_text("102")


def test_replay_shows_the_names_recorded_in_the_snapshot(
    gate: GateRunner, confluence: FakeConfluence
) -> None:
    confluence.add_page("101")
    confluence.set_approval("101", approval_value(pending=["acc-b"], complete=False))
    confluence.add_user("acc-b", "Jonas Weber")
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot)
    asked = len(confluence.requests)

    replay = gate.run("--confluence-replay", snapshot, url=False)

    assert "still pending: Jonas Weber" in replay.failure_text("101")
    assert len(confluence.requests) == asked

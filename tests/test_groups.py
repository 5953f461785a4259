"""Capable's approval model against the fake site: teams as Confluence groups, calendar expiry.

Runs the gate as users run it (pytester, real command lines) and reads its outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from pytest_confluence_approval.confluence import GROUP_SCOPE
from pytest_confluence_approval.schemas import load_schema
from tests.conftest import GateRunner
from tests.fake_confluence import RecordedRequest, approval_value, next_link

MEMBERS = "/wiki/rest/api/group/member"


def team_site(gate: GateRunner) -> None:
    """Page 101 approved by Alice (qa, security), Bob (qa) and Carol (security)."""
    site = gate.site
    for account, name in [("acc-alice", "Alice"), ("acc-bob", "Bob"), ("acc-carol", "Carol")]:
        site.add_user(account, name)
    # Five members at two a page: three requests, the approvers on every page of them.
    site.add_group("qa", ["acc-x1", "acc-alice", "acc-x2", "acc-x3", "acc-bob"])
    site.add_group("security-team", ["acc-carol", "acc-alice"])
    site.add_page("101", title="Release checklist")
    site.set_approval("101", approval_value(approved=["acc-alice", "acc-bob", "acc-carol"]))


TEAMS = [{"group": "qa", "min": 2}, {"group": "security-team", "min": 1}]


def member_requests(gate: GateRunner, group: str) -> list[RecordedRequest]:
    return [r for r in gate.site.requests if r.path == MEMBERS and r.query["name"] == [group]]


def report_of(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator(load_schema("report")).validate(report)
    return report


def test_enough_approvers_from_each_group_pass_across_member_pagination(gate: GateRunner) -> None:
    team_site(gate)
    gate.site.add_page("102")
    gate.site.set_approval("102", approval_value(approved=["acc-alice", "acc-bob"]))
    gate.write_policy(
        [{"id": "101", "required_groups": TEAMS}, {"id": "102"}],
        defaults={"required_groups": [{"group": "qa", "min": 2}]},
    )
    report = gate.pytester.path / "report.json"

    run = gate.run("--confluence-report", report)

    run.result.assert_outcomes(passed=2)
    # Every page of the listing was read, once per group for the whole run.
    assert [r.query.get("start") for r in member_requests(gate, "qa")] == [["0"], ["2"], ["4"]]
    assert len(member_requests(gate, "security-team")) == 1
    evidence = run.testcases()["101"].find("system-out")
    assert evidence is not None
    assert "group.1: qa: 2 of 2 required: Alice (acc-alice), Bob (acc-bob)\n" in str(evidence.text)
    assert "group.2: security-team: 2 of 1 required: Alice (acc-alice), Carol (acc-carol)\n" in str(
        evidence.text
    )
    page = {p["id"]: p for p in report_of(report)["pages"]}["101"]
    assert page["rule"]["required_groups"] == TEAMS
    assert page["facts"]["groups"][0] == {
        "group": "qa",
        "min": 2,
        "approvers_counted": [
            {"account_id": "acc-alice", "display_name": "Alice"},
            {"account_id": "acc-bob", "display_name": "Bob"},
        ],
        "failure": None,
    }


def test_an_approver_who_left_the_group_does_not_count_for_it(gate: GateRunner) -> None:
    team_site(gate)
    gate.site.add_group("qa", ["acc-alice", "acc-x1"])  # Bob moved to another team
    gate.write_policy([{"id": "101", "required_groups": TEAMS}])

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("101")
    assert 'only 1 of 2 required approvals from group "qa"' in text
    assert "members who approved: Alice; approved, but not in the group: Bob, Carol" in text
    assert "security-team" not in text


def test_a_group_the_account_may_not_read_makes_the_page_not_verifiable(gate: GateRunner) -> None:
    team_site(gate)
    gate.site.add_group("security-team", ["acc-carol"], readable=False)
    gate.write_policy([{"id": "101", "required_groups": TEAMS}])

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("101")
    assert "could not be verified" in text
    assert 'the account may not read the members of group "security-team" (HTTP 403)' in text
    assert GROUP_SCOPE == "read:group:confluence"
    assert GROUP_SCOPE in text
    run.result.stdout.fnmatch_lines(["0 approved, 0 not approved, 1 not verifiable"])


def test_a_group_that_does_not_exist_makes_the_page_not_verifiable(gate: GateRunner) -> None:
    team_site(gate)
    gate.write_policy([{"id": "101", "required_groups": [{"group": "qa-team", "min": 1}]}])

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("101")
    assert "could not be verified" in text
    assert 'group "qa-team" was not found (HTTP 404)' in text
    assert "check the group name in the policy's required_groups" in text


def test_the_gate_waits_for_the_approver_a_group_still_lacks(gate: GateRunner) -> None:
    team_site(gate)
    gate.site.set_approval("101", approval_value(approved=["acc-alice", "acc-carol"]))
    gate.write_policy([{"id": "101", "required_groups": TEAMS}])
    asked: list[RecordedRequest] = []

    def bob_approves_before_the_second_look(request: RecordedRequest) -> None:
        if request.path == "/wiki/api/v2/pages/101/properties":
            asked.append(request)
            if len(asked) == 2:
                value = approval_value(approved=["acc-alice", "acc-carol", "acc-bob"])
                gate.site.set_approval("101", value)

    gate.site.on_request = bob_approves_before_the_second_look

    run = gate.run("--confluence-wait", "1m", "--confluence-poll", "1s")

    run.result.assert_outcomes(passed=1)
    run.result.stdout.fnmatch_lines(["*waiting for approvers on 1 page(s): page 101*"])
    # Membership is read once per run, not on every poll.
    assert len(member_requests(gate, "qa")) == 3


def test_a_recorded_run_with_groups_replays_to_byte_identical_reports(gate: GateRunner) -> None:
    team_site(gate)
    gate.site.add_page("102", title="Left the team")
    gate.site.set_approval("102", approval_value(approved=["acc-alice", "acc-carol"]))
    gate.write_policy(
        [
            {"id": "101", "required_groups": TEAMS, "max_age": "1 month"},
            {"id": "102", "required_groups": TEAMS, "expires_on": "2025-08-01"},
        ]
    )
    snapshot = gate.pytester.path / "snapshot.json"
    recorded = gate.run("--confluence-record", snapshot, "--confluence-as-of", "2025-07-20")
    recorded.result.assert_outcomes(passed=1, failed=1)
    stored = json.loads(snapshot.read_text(encoding="utf-8"))
    assert stored["groups"]["qa"] == {
        "members": sorted(["acc-x1", "acc-alice", "acc-x2", "acc-x3", "acc-bob"])
    }
    asked = len(gate.site.requests)

    reports = []
    for n in (1, 2):
        report = gate.pytester.path / f"replay-{n}.json"
        replay = gate.run(
            "--confluence-replay",
            snapshot,
            "--confluence-report",
            report,
            "--confluence-as-of",
            "2025-07-20",
            url=False,
        )
        replay.result.assert_outcomes(passed=1, failed=1)
        assert 'only 1 of 2 required approvals from group "qa"' in replay.failure_text("102")
        reports.append(report.read_bytes())

    assert len(gate.site.requests) == asked  # a replay needs no network
    assert reports[0] == reports[1]
    pages = {p["id"]: p for p in report_of(gate.pytester.path / "replay-1.json")["pages"]}
    assert pages["101"]["rule"]["max_age"] == "1 month"
    assert pages["101"]["facts"]["approval_expires_at"] == "2025-08-15T10:33:14.000Z"
    assert pages["102"]["rule"]["expires_on"] == "2025-08-01"


def test_a_snapshot_without_a_group_the_policy_now_requires_is_not_verifiable(
    gate: GateRunner,
) -> None:
    team_site(gate)
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snapshot.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=1)
    gate.write_policy([{"id": "101", "required_groups": TEAMS}])

    replay = gate.run("--confluence-replay", snapshot, url=False)

    replay.result.assert_outcomes(failed=1)
    assert 'group "qa" is not in the snapshot; record a new snapshot' in replay.failure_text("101")


def test_max_age_in_calendar_months_says_when_the_approval_expired(gate: GateRunner) -> None:
    team_site(gate)  # the approval completed 2025-07-15T10:33:14Z
    gate.write_policy([{"id": "101", "max_age": "1 month"}])

    assert gate.run("--confluence-as-of", "2025-08-15T10:33:14Z").result.ret == 0
    late = gate.run("--confluence-as-of", "2025-08-15T10:33:15Z")

    late.result.assert_outcomes(failed=1)
    assert (
        "the approval is too old: it expired on 2025-08-15T10:33:14Z (completed "
        "2025-07-15T10:33:14Z, max_age 1 month" in late.failure_text("101")
    )


def test_expires_on_fails_from_the_start_of_that_day(gate: GateRunner) -> None:
    team_site(gate)
    gate.write_policy([{"id": "101", "expires_on": "2025-08-01"}])

    assert gate.run("--confluence-as-of", "2025-07-31T23:59:59Z").result.ret == 0
    late = gate.run("--confluence-as-of", "2025-08-01T00:00:00Z")

    late.result.assert_outcomes(failed=1)
    assert "approval expired on 2025-08-01" in late.failure_text("101")


def test_max_age_with_max_age_days_in_one_entry_is_a_usage_error(gate: GateRunner) -> None:
    gate.write_policy([{"id": "101", "max_age": "1 month", "max_age_days": 30}])

    run = gate.run()

    assert run.result.ret == 4
    assert "max_age and max_age_days are two spellings of one setting" in run.output


def test_a_member_listing_that_points_to_another_site_is_not_followed(gate: GateRunner) -> None:
    team_site(gate)
    gate.site.fault(MEMBERS, next_link("https://attacker.example/rest/api/group/member?start=2"))
    gate.write_policy([{"id": "101", "required_groups": TEAMS}])

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("101")
    assert 'could not verify the approvers from group "qa"' in text
    assert "points to another site (https://attacker.example:443)" in text


def test_under_xdist_groups_are_read_once_and_judged_alike(gate: GateRunner) -> None:
    team_site(gate)
    gate.site.add_page("102", title="Left the team")
    gate.site.set_approval("102", approval_value(approved=["acc-alice", "acc-carol"]))
    gate.write_policy(
        [{"id": "101"}, {"id": "102"}, {"id": "103"}], defaults={"required_groups": TEAMS}
    )
    gate.site.add_page("103")
    gate.site.set_approval("103", approval_value(approved=["acc-bob", "acc-alice", "acc-carol"]))

    run = gate.run("-n", "2", "policy.yaml")  # named: the gate alone runs in one process

    run.result.assert_outcomes(passed=2, failed=1)
    assert 'only 1 of 2 required approvals from group "qa"' in run.failure_text("102")
    assert len(member_requests(gate, "qa")) == 3  # one listing, three pages of it
    assert len(member_requests(gate, "security-team")) == 1

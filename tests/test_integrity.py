"""Verdict integrity end to end: contradictory, incomplete or forged approval data never passes.

Each attack is a page the gate once passed against this fake; every one must now fail, next
to a sound page that still passes (so the gate is not simply failing everything).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pytest_confluence_approval.schemas import load_schema
from tests.conftest import GateRunner
from tests.fake_confluence import APPROVAL_APP_ACCOUNT, APPROVAL_APP_NAME, approval_value

AS_OF = "2025-08-04T09:00:00Z"
APPROVED_AT_MS = 1752575594000  # approval_value's completedAt: 2025-07-15T10:33:14Z
BEFORE = "2025-07-01T10:00:00.000Z"  # before the approval completed
AFTER = ["2025-07-20T10:00:00.000Z", "2025-07-21T10:00:00.000Z", "2025-07-22T10:00:00.000Z"]


def sound_page(gate: GateRunner, page_id: str = "100") -> None:
    gate.site.add_page(page_id, version_created_at=BEFORE)
    gate.site.set_approval(page_id, approval_value(approved=["acc-a", "acc-b"]))


def run_gate(gate: GateRunner, entries: list[dict[str, Any]], *args: str) -> Any:
    gate.write_policy([{"id": "100"}, *entries])
    run = gate.run("--confluence-as-of", AS_OF, *args)
    run.result.assert_outcomes(passed=1, failed=len(entries))
    return run


def test_contradictory_approval_data_fails(gate: GateRunner) -> None:
    sound_page(gate)
    values = {
        "101": approval_value(approved=["acc-a", "acc-b"], pending=["acc-b"]),
        "102": approval_value(
            approved=["acc-a", "acc-b"], rejected=["acc-b"], minimum_rejections=2
        ),
        # a year after the as-of instant: it would never go stale nor age out
        "103": approval_value(completed_at_ms=APPROVED_AT_MS + 365 * 86_400_000),
    }
    for page_id, value in values.items():
        gate.site.add_page(page_id, version_created_at=BEFORE)
        gate.site.set_approval(page_id, value)

    run = run_gate(gate, [{"id": p} for p in values])

    assert "acc-b listed as both approved and pending" in run.failure_text("101")
    assert "acc-b listed as both approved and rejected" in run.failure_text("102")
    assert "an approval cannot complete in the future" in run.failure_text("103")


@pytest.mark.parametrize("twin", ["acc-a ", "\u200bacc-a", "acc-a\n"])
def test_one_person_cannot_be_counted_twice_under_a_look_alike_id(
    gate: GateRunner, twin: str
) -> None:
    sound_page(gate)
    gate.site.add_page("101", version_created_at=BEFORE)
    gate.site.set_approval("101", approval_value(approved=["acc-a", twin], minimum_approvers=2))

    run = run_gate(gate, [{"id": "101"}])

    text = run.failure_text("101")
    assert "is malformed, so it cannot be trusted" in text
    assert "$.approved[1]:" in text and "is not an Atlassian account id" in text


def test_four_eyes_fails_closed_when_the_author_is_unknown(gate: GateRunner) -> None:
    sound_page(gate)
    gate.site.add_page("101", version_created_at=BEFORE, version_author_id=None)
    gate.site.set_approval("101", approval_value(approved=["acc-a"]))

    run = run_gate(gate, [{"id": "101", "forbid_self_approval": True}])

    assert (
        "four eyes (forbid_self_approval) cannot be checked: Confluence does not say who "
        "published version 1" in run.failure_text("101")
    )


def test_minor_edits_fail_closed_on_a_gap_or_an_incomplete_entry(gate: GateRunner) -> None:
    sound_page(gate)
    # v3 approved, v5 minor, no v4
    gate.site.add_page("101", version=3, version_created_at=BEFORE)
    gate.site.add_version("101", 5, AFTER[1], minor_edit=True)
    gate.site.set_approval("101", approval_value())
    # v3 approved, v4 without a publication time, v5 minor
    gate.site.add_page("102", version=3, version_created_at=BEFORE)
    gate.site.add_version("102", 4, None, minor_edit=False)
    gate.site.add_version("102", 5, AFTER[1], minor_edit=True)
    gate.site.set_approval("102", approval_value())

    run = run_gate(gate, [{"id": p, "ignore_minor_edits": True} for p in ("101", "102")])

    assert "(version 4 is missing from the version history)" in run.failure_text("101")
    assert "(the version history gives no publication time for version 4)" in run.failure_text(
        "102"
    )


def test_the_author_of_the_approved_version_cannot_approve_it_after_a_minor_edit(
    gate: GateRunner,
) -> None:
    sound_page(gate)
    gate.site.add_page("101", version=3, version_created_at=BEFORE, version_author_id="acc-a")
    gate.site.add_version("101", 4, AFTER[0], author_id="acc-b", minor_edit=True)
    gate.site.set_approval("101", approval_value(approved=["acc-a"]))
    gate.site.add_user("acc-a", "Ann Author")

    run = run_gate(gate, [{"id": "101", "ignore_minor_edits": True, "forbid_self_approval": True}])

    assert (
        "only 0 of 1 required approvals (approved: nobody; not counted: Ann Author, who "
        "published the approved version or a later one (forbid_self_approval))"
    ) in run.failure_text("101")


def test_approval_data_written_by_a_page_editor_fails_when_writers_are_pinned(
    gate: GateRunner,
) -> None:
    sound_page(gate)
    gate.site.add_page("101", version_created_at=BEFORE)
    # Any page editor can PUT this through the REST API.
    gate.site.set_approval(
        "101",
        approval_value(approved=["acc-cfo", "acc-ciso"], complete="true"),
        author_id="acc-editor",
    )
    gate.site.add_user("acc-editor", "Eve Editor")

    gate.write_policy(
        [{"id": "100"}, {"id": "101"}], defaults={"approval_writers": [APPROVAL_APP_ACCOUNT]}
    )

    run = gate.run("--confluence-as-of", AS_OF)

    run.result.assert_outcomes(passed=1, failed=1)

    assert (
        "approval data last written by Eve Editor (acc-editor), who is not one of "
        "approval_writers" in run.failure_text("101")
    )
    assert "was not checked" not in run.output  # provenance was judged for every page


def test_a_run_that_does_not_check_provenance_says_so(gate: GateRunner) -> None:
    gate.site.add_page("100", version_created_at=BEFORE)
    gate.site.set_approval("100", approval_value(approved=["acc-a"]))
    gate.site.add_page("101", version_created_at=BEFORE)
    gate.site.set_approval("101", approval_value(approved=["acc-a"]))
    gate.write_policy(
        [{"id": "100"}, {"id": "101", "approval_writers": [APPROVAL_APP_ACCOUNT]}],
    )

    run = gate.run("--confluence-as-of", AS_OF)

    run.result.assert_outcomes(passed=2)
    run.result.stdout.fnmatch_lines(
        ["note: who last wrote the approval data was not checked for 1 of 2 judged pages *"]
    )


def test_the_history_is_followed_across_pages(gate: GateRunner) -> None:
    gate.site.versions_max_page_size = 25  # the client asks for more; the site gives 25
    gate.site.add_page("101", version=3, version_created_at=BEFORE)
    for number in range(4, 64):
        at = f"2025-07-{20 + number // 24:02d}T{number % 24:02d}:00:00.000Z"
        gate.site.add_version("101", number, at, minor_edit=True)
    gate.site.set_approval("101", approval_value())
    gate.write_policy([{"id": "101", "ignore_minor_edits": True}])

    run = gate.run("--confluence-as-of", AS_OF)

    run.result.assert_outcomes(passed=1)
    assert gate.site.count("/wiki/api/v2/pages/101/versions") == 3  # 63 versions, 25 a page


def test_provenance_and_settings_are_evidence(gate: GateRunner) -> None:
    gate.site.add_page("101", version_created_at=BEFORE)
    gate.site.set_approval(
        "101", approval_value(), author_id=APPROVAL_APP_ACCOUNT, created_at=AFTER[0]
    )
    gate.site.add_user(APPROVAL_APP_ACCOUNT, APPROVAL_APP_NAME)
    gate.write_policy(
        [{"id": "101", "forbid_self_approval": True}],
        defaults={"approval_writers": [APPROVAL_APP_ACCOUNT]},
    )
    report_path = gate.pytester.path / "evidence.json"
    snapshot = gate.pytester.path / "snap.json"

    run = gate.run(
        "--confluence-as-of",
        AS_OF,
        "--confluence-report",
        report_path,
        "--confluence-record",
        snapshot,
        "-o",
        "junit_family=xunit1",
    )

    run.result.assert_outcomes(passed=1)
    report = json.loads(report_path.read_text())
    Draft202012Validator(load_schema("report")).validate(report)
    app = {"account_id": APPROVAL_APP_ACCOUNT, "display_name": APPROVAL_APP_NAME}
    page = report["pages"][0]
    assert page["facts"]["approval"]["property_version"] == {
        "number": 1,
        "written_at": "2025-07-20T10:00:00.000Z",
        "author": app,
    }
    assert page["rule"] == {
        "min_approvers": 1,
        "required_approvers": [],
        "max_age_days": None,
        "allowed_statuses": ["current"],
        "require_current_version": True,
        "forbid_self_approval": True,
        "ignore_minor_edits": False,
        "max_age": None,
        "expires_on": None,
        "required_groups": [],
        "approval_writers": [app],
        "max_rejections": None,
    }
    assert run.junit is not None
    properties = {p.get("name"): p.get("value") for p in run.junit.iter("property")}
    assert properties["confluence.approval_property_version"] == "1"
    assert properties["confluence.approval_written"] == "2025-07-20T10:00:00.000Z"
    assert properties["confluence.approval_written_by"] == (
        f"{APPROVAL_APP_NAME} ({APPROVAL_APP_ACCOUNT})"
    )
    # The snapshot keeps the raw property (with its version) and the writer's name.
    recorded = json.loads(snapshot.read_text())
    text = json.dumps(recorded)
    assert f'"authorId": "{APPROVAL_APP_ACCOUNT}"' in text
    assert APPROVAL_APP_NAME in text
    replayed = gate.run("--confluence-replay", snapshot, url=False)
    replayed.result.assert_outcomes(passed=1)


def test_a_waiver_never_covers_a_page_whose_history_could_not_be_read(gate: GateRunner) -> None:
    """A waiver covers "not approved", never "could not verify": a site that fails to
    answer for a version history must not turn into a waived (green) page."""
    from tests.fake_confluence import status

    sound_page(gate)
    for page_id in ("101", "102"):
        gate.site.add_page(page_id, version=3, version_created_at=BEFORE)
        gate.site.add_version(page_id, 4, AFTER[0], author_id="acc-editor", minor_edit=True)
        gate.site.set_approval(page_id, approval_value())
        gate.site.fault(f"/wiki/api/v2/pages/{page_id}/versions", status(500))
    waivers = [
        {"page": p, "reason": "accepted risk", "expires": "2099-01-01"} for p in ("101", "102")
    ]
    gate.write_policy(
        [
            {"id": "100"},
            {"id": "101", "ignore_minor_edits": True},
            {"id": "102", "forbid_self_approval": True, "require_current_version": False},
        ],
        waivers=waivers,
    )

    run = gate.run("--confluence-as-of", AS_OF)

    run.result.assert_outcomes(passed=1, failed=2)
    assert "0 not approved, 2 not verifiable" in run.output
    for page_id in ("101", "102"):
        text = run.failure_text(page_id)
        assert "could not be verified" in text
        assert "the version history could not be fetched" in text

"""SPEC section 9 against the fake site: four eyes, minor edits, waivers, CQL, waiting."""

from __future__ import annotations

import pytest

from tests.conftest import Gate
from tests.fake_confluence import approval_value, status

APPROVED_AT = "2025-07-15T10:33:14.000Z"  # approval_value's default completedAt


# -- four eyes ------------------------------------------------------------------------------


def test_an_approval_by_the_author_of_the_current_version_does_not_count(gate: Gate) -> None:
    gate.site.add_page("101", version_author_id="acc-author")
    gate.site.set_approval("101", approval_value(approved=["acc-author"]))
    gate.site.add_page("102", version_author_id="acc-author")
    gate.site.set_approval("102", approval_value(approved=["acc-author", "acc-b"]))
    gate.site.add_user("acc-author", "Ann Author")
    gate.site.add_page("103", version_author_id="acc-author")
    gate.site.set_approval("103", approval_value(approved=["acc-author"]))
    gate.write_policy(
        [{"id": "101"}, {"id": "102"}, {"id": "103", "forbid_self_approval": False}],
        defaults={"forbid_self_approval": True},
    )

    run = gate.run()

    run.result.assert_outcomes(passed=2, failed=1)
    text = run.failure_text("101")
    assert "only 0 of 1 required approvals (approved: nobody; not counted: Ann Author, who " in text
    assert "published the current version (forbid_self_approval)" in text


def test_a_self_approving_required_approver_is_named(gate: Gate) -> None:
    gate.site.add_page("101", version_author_id="acc-lead")
    gate.site.set_approval("101", approval_value(approved=["acc-lead", "acc-b"]))
    gate.write_policy(
        [{"id": "101", "required_approvers": ["acc-lead"], "forbid_self_approval": True}]
    )

    text = gate.run().failure_text("101")

    assert "required approvers have not approved: acc-lead; not counted: acc-lead" in text


# -- minor edits ----------------------------------------------------------------------------


def edited_after_approval(gate: Gate, page_id: str, *, minor: list[bool]) -> None:
    """Version 1 before the approval, then one version per flag after it."""
    gate.site.add_page(page_id, version=1, version_created_at="2025-07-01T10:00:00.000Z")
    for n, is_minor in enumerate(minor, start=2):
        gate.site.add_version(page_id, n, f"2025-08-0{n}T10:00:00.000Z", minor_edit=is_minor)
    gate.site.set_approval(page_id, approval_value())


def test_minor_edits_after_approval_can_be_ignored(gate: Gate) -> None:
    edited_after_approval(gate, "101", minor=[True, True])
    edited_after_approval(gate, "102", minor=[True, False, True])
    gate.site.add_page("103")  # approved after its only version: needs no history
    gate.site.set_approval("103", approval_value())
    gate.write_policy(
        [{"id": "101"}, {"id": "102"}, {"id": "103"}], defaults={"ignore_minor_edits": True}
    )

    run = gate.run()

    run.result.assert_outcomes(passed=2, failed=1)
    text = run.failure_text("102")
    assert "page was edited after approval: version 4 published" in text
    assert "version 3 after the approval was not a minor edit" in text
    # The history is fetched only for pages that need it.
    assert gate.site.count("/wiki/api/v2/pages/101/versions") == 1
    assert gate.site.count("/wiki/api/v2/pages/103/versions") == 0


def test_minor_edits_count_as_edits_unless_the_policy_says_otherwise(gate: Gate) -> None:
    edited_after_approval(gate, "101", minor=[True])
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    assert "page was edited after approval: version 2" in run.failure_text("101")
    assert gate.site.count("/wiki/api/v2/pages/101/versions") == 0


def test_minor_edit_history_is_recorded_and_replayed(gate: Gate) -> None:
    edited_after_approval(gate, "101", minor=[True])
    gate.write_policy([{"id": "101", "ignore_minor_edits": True}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=1)
    asked = len(gate.site.requests)

    gate.run("--confluence-replay", snapshot, url=False).result.assert_outcomes(passed=1)

    assert len(gate.site.requests) == asked


def test_an_unreadable_history_keeps_the_page_stale(gate: Gate) -> None:
    edited_after_approval(gate, "101", minor=[True])
    gate.site.fault("/wiki/api/v2/pages/101/versions", status(500))
    gate.write_policy([{"id": "101", "ignore_minor_edits": True}])

    text = gate.run("--confluence-retries", "0").failure_text("101")

    assert "whether those edits were minor could not be checked" in text
    assert "HTTP 500" in text


@pytest.mark.parametrize("flag", ["forbid_self_approval", "ignore_minor_edits"])
def test_new_settings_must_be_booleans(gate: Gate, flag: str) -> None:
    gate.write_policy([{"id": "101", flag: "yes please"}])

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"pages[0].{flag}: must be a boolean" in run.output

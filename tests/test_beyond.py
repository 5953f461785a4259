"""SPEC section 9 against the fake site: four eyes, minor edits, waivers, CQL, waiting."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import GateRunner
from tests.fake_confluence import RecordedRequest, approval_value, status

APPROVED_AT = "2025-07-15T10:33:14.000Z"  # approval_value's default completedAt


# -- four eyes ------------------------------------------------------------------------------


def test_an_approval_by_the_author_of_the_current_version_does_not_count(gate: GateRunner) -> None:
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


def test_a_self_approving_required_approver_is_named(gate: GateRunner) -> None:
    gate.site.add_page("101", version_author_id="acc-lead")
    gate.site.set_approval("101", approval_value(approved=["acc-lead", "acc-b"]))
    gate.write_policy(
        [{"id": "101", "required_approvers": ["acc-lead"], "forbid_self_approval": True}]
    )

    text = gate.run().failure_text("101")

    assert "required approvers have not approved: acc-lead; not counted: acc-lead" in text


# -- minor edits ----------------------------------------------------------------------------


def edited_after_approval(gate: GateRunner, page_id: str, *, minor: list[bool]) -> None:
    """Version 1 before the approval, then one version per flag after it."""
    gate.site.add_page(page_id, version=1, version_created_at="2025-07-01T10:00:00.000Z")
    for n, is_minor in enumerate(minor, start=2):
        gate.site.add_version(page_id, n, f"2025-08-0{n}T10:00:00.000Z", minor_edit=is_minor)
    gate.site.set_approval(page_id, approval_value())


def test_minor_edits_after_approval_can_be_ignored(gate: GateRunner) -> None:
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


def test_minor_edits_count_as_edits_unless_the_policy_says_otherwise(gate: GateRunner) -> None:
    edited_after_approval(gate, "101", minor=[True])
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    assert "page was edited after approval: version 2" in run.failure_text("101")
    assert gate.site.count("/wiki/api/v2/pages/101/versions") == 0


def test_minor_edit_history_is_recorded_and_replayed(gate: GateRunner) -> None:
    edited_after_approval(gate, "101", minor=[True])
    gate.write_policy([{"id": "101", "ignore_minor_edits": True}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=1)
    asked = len(gate.site.requests)

    gate.run("--confluence-replay", snapshot, url=False).result.assert_outcomes(passed=1)

    assert len(gate.site.requests) == asked


def test_an_unreadable_history_keeps_the_page_stale(gate: GateRunner) -> None:
    edited_after_approval(gate, "101", minor=[True])
    gate.site.fault("/wiki/api/v2/pages/101/versions", status(500))
    gate.write_policy([{"id": "101", "ignore_minor_edits": True}])

    text = gate.run("--confluence-retries", "0").failure_text("101")

    assert "whether those edits were minor could not be checked" in text
    assert "HTTP 500" in text


@pytest.mark.parametrize("flag", ["forbid_self_approval", "ignore_minor_edits"])
def test_new_settings_must_be_booleans(gate: GateRunner, flag: str) -> None:
    gate.write_policy([{"id": "101", flag: "yes please"}])

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"pages[0].{flag}: must be a boolean" in run.output


# -- waivers --------------------------------------------------------------------------------


def waiver_site(gate: GateRunner) -> None:
    gate.site.add_page("101")
    gate.site.set_approval("101", approval_value())  # approved
    gate.site.add_page("102", title="Risk assessment")
    gate.site.set_approval("102", approval_value(pending=["acc-b"], complete=False))
    gate.site.add_page("103", title="Old checklist")
    gate.site.set_approval("103", approval_value(pending=["acc-b"], complete=False))


WAIVERS = [
    {"page": "101", "reason": "never needed", "expires": "2025-12-31"},
    {"page": 102, "reason": "CAB-123: risk accepted by the CTO", "expires": "2025-09-30"},
    {"page": "103", "reason": "CAB-99", "expires": "2025-08-01"},
]


def test_an_unexpired_waiver_turns_a_failure_into_an_xfail(gate: GateRunner) -> None:
    waiver_site(gate)
    gate.write_policy([{"id": "101"}, {"id": "102"}, {"id": "103"}], waivers=WAIVERS)
    report = gate.pytester.path / "report.json"

    run = gate.run(
        "--confluence-as-of", "2025-08-15T00:00:00Z", "--confluence-report", report, "-rxX"
    )

    run.result.assert_outcomes(passed=1, xfailed=1, failed=1, warnings=1)
    skipped = run.testcases()["102"].find("skipped")
    assert skipped is not None
    assert skipped.get("type") == "pytest.xfail"
    message = skipped.get("message", "")
    assert "waived until 2025-09-30 (CAB-123: risk accepted by the CTO)" in message
    assert "the approval is not complete yet" in message
    run.result.stdout.fnmatch_lines(
        [
            "*ExpiredWaiverWarning: the waiver for page 103 expired on 2025-08-01 and was "
            "ignored (CAB-99)",
            "1 approved, 2 not approved (1 waived), 0 not verifiable",
        ]
    )
    assert "the approval is not complete yet" in run.failure_text("103")
    pages = {p["id"]: p for p in json.loads(report.read_text())["pages"]}
    assert pages["101"]["waiver"]["state"] == "unused"
    assert pages["102"]["waiver"] == {
        "reason": "CAB-123: risk accepted by the CTO",
        "expires": "2025-09-30",
        "state": "applied",
    }
    assert pages["103"]["waiver"]["state"] == "expired"


def test_a_waiver_expires_at_the_start_of_its_day(gate: GateRunner) -> None:
    waiver_site(gate)
    gate.write_policy([{"id": "102"}], waivers=[WAIVERS[1]])

    before = gate.run("--confluence-as-of", "2025-09-29T23:59:59Z")
    on_the_day = gate.run("--confluence-as-of", "2025-09-30T00:00:00Z")

    before.result.assert_outcomes(xfailed=1)
    assert before.result.ret == pytest.ExitCode.OK
    on_the_day.result.assert_outcomes(failed=1, warnings=1)


def test_a_waiver_never_covers_a_page_that_could_not_be_verified(gate: GateRunner) -> None:
    gate.write_policy(
        [{"id": "404"}], waivers=[{"page": "404", "reason": "x", "expires": "2999-01-01"}]
    )

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    assert "HTTP 404" in run.failure_text("404")


@pytest.mark.parametrize(
    ("waiver", "expected"),
    [
        (
            {"page": "999", "reason": "x", "expires": "2025-09-30"},
            "page 999 is not in the policy's pages",
        ),
        ({"page": "101", "reason": "x"}, "missing required key 'expires'"),
        ({"page": "101", "expires": "2025-09-30"}, "missing required key 'reason'"),
        ({"page": "101", "reason": "x", "expires": "next week"}, "must be a date such as"),
        ({"page": "101", "reason": "x", "expires": "2025-02-30"}, "is not a calendar date"),
    ],
    ids=["unknown-page", "no-expiry", "no-reason", "not-a-date", "impossible-date"],
)
def test_bad_waivers_are_usage_errors(
    gate: GateRunner, waiver: dict[str, object], expected: str
) -> None:
    gate.write_policy([{"id": "101"}], waivers=[waiver])

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "policy.yaml:" in run.output and expected in run.output
    assert gate.site.requests == []


def test_a_yaml_date_is_accepted_as_expiry(gate: GateRunner) -> None:
    waiver_site(gate)
    (gate.pytester.path / "policy.yaml").write_text(
        "version: 1\npages:\n  - id: 102\nwaivers:\n"
        "  - page: 102\n    reason: accepted\n    expires: 2999-01-01\n"
    )

    gate.run().result.assert_outcomes(xfailed=1)


# -- dynamic page sets (cql:) ---------------------------------------------------------------

RELEASE_CQL = 'type = page AND label = "release-2025-08"'


def labelled_pages(gate: GateRunner, count: int) -> list[str]:
    ids = [str(5000 + n) for n in range(count)]
    for page_id in ids:
        gate.site.add_page(page_id, title=f"Release page {page_id}")
        gate.site.set_approval(page_id, approval_value())
    gate.site.add_cql(RELEASE_CQL, ids)
    return ids


def test_a_query_becomes_one_item_per_page_across_pagination(gate: GateRunner) -> None:
    ids = labelled_pages(gate, 120)  # more than one page of search results (limit 100)
    gate.write_policy([{"cql": RELEASE_CQL, "name": "Release 2025-08"}])

    run = gate.run()

    run.result.assert_outcomes(passed=120)
    assert sorted(run.testcases()) == sorted(ids)
    searches = [r for r in gate.site.requests if r.path == "/wiki/rest/api/content/search"]
    assert len(searches) == 2
    assert searches[0].query["cql"] == [RELEASE_CQL]
    assert run.testcases()[ids[0]].get("name") == f"page[{ids[0]} Release 2025-08]"


def test_an_explicit_entry_wins_over_a_query(gate: GateRunner) -> None:
    ids = labelled_pages(gate, 3)  # each has one approval
    gate.write_policy(
        [{"id": ids[0], "name": "Checklist"}, {"cql": RELEASE_CQL, "min_approvers": 2}]
    )

    run = gate.run()

    run.result.assert_outcomes(passed=1, failed=2)  # the explicit entry asks for one approval
    assert run.testcases()[ids[0]].find("failure") is None
    assert "only 1 of 2 required approvals" in run.failure_text(ids[1])


def test_a_query_that_finds_nothing_fails(gate: GateRunner) -> None:
    approved = labelled_pages(gate, 1)
    gate.write_policy([{"id": approved[0]}, {"cql": "label = nothing-here", "name": "Hotfix"}])

    run = gate.run()

    run.result.assert_outcomes(passed=1, failed=1)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    run.result.stdout.fnmatch_lines(['*query "Hotfix" matched no pages*'])


def test_a_query_that_cannot_run_fails_and_says_why(gate: GateRunner) -> None:
    gate.site.fault("/wiki/rest/api/content/search", status(400, body=b'{"message": "bad cql"}'))
    gate.write_policy([{"cql": "label = ("}])

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(["*could not be run:*", "*could not verify*HTTP 400*"])


def test_queries_are_recorded_so_replay_needs_no_network(gate: GateRunner) -> None:
    ids = labelled_pages(gate, 3)
    gate.write_policy(
        [{"cql": RELEASE_CQL}], waivers=[{"page": ids[0], "reason": "r", "expires": "2999-01-01"}]
    )
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=3)
    asked = len(gate.site.requests)

    replay = gate.run("--confluence-replay", snapshot, url=False)

    replay.result.assert_outcomes(passed=3)
    assert len(gate.site.requests) == asked
    assert json.loads(snapshot.read_text())["queries"][RELEASE_CQL]["pages"][0]["id"] == ids[0]


def test_a_waiver_for_a_page_no_query_finds_is_a_usage_error(gate: GateRunner) -> None:
    labelled_pages(gate, 2)
    gate.write_policy(
        [{"cql": RELEASE_CQL}], waivers=[{"page": "42", "reason": "r", "expires": "2999-01-01"}]
    )

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "page 42 is neither in the policy's pages nor found by its queries" in run.output


def test_under_xdist_the_query_pages_are_found_once_and_judged_once(gate: GateRunner) -> None:
    pytest.importorskip("xdist")
    labelled_pages(gate, 6)
    gate.write_policy([{"cql": RELEASE_CQL}])

    run = gate.run("-n", "2", "policy.yaml")  # named: the gate alone runs in one process

    run.result.assert_outcomes(passed=6)
    assert gate.site.count("/wiki/rest/api/content/search") == 1  # the controller's only
    assert gate.site.count("/wiki/api/v2/pages") == 1


# -- waiting for approvers ------------------------------------------------------------------


def test_the_gate_waits_for_an_approval_that_completes_meanwhile(gate: GateRunner) -> None:
    gate.site.add_page("101", title="Ready")
    gate.site.set_approval("101", approval_value())
    gate.site.add_page("102", title="Almost")
    gate.site.set_approval("102", approval_value(pending=["acc-b"], complete=False))
    gate.write_policy([{"id": "101"}, {"id": "102"}])
    approver = threading.Timer(
        0.7,
        lambda: gate.site.set_approval("102", approval_value(approved=["acc-approver", "acc-b"])),
    )
    approver.start()
    try:
        started = time.monotonic()
        run = gate.run("--confluence-wait", "20s", "--confluence-poll", "1s")
        elapsed = time.monotonic() - started
    finally:
        approver.cancel()

    run.result.assert_outcomes(passed=2)
    assert elapsed < 10
    run.result.stdout.fnmatch_lines(
        [
            "*waiting for approvers on 1 page(s): page 102; next check in 1.0 s, 20 s left",
            "*now approved: page 102*",
        ]
    )
    # Only the waiting page was asked for again.
    assert gate.site.count("/wiki/api/v2/pages/101/properties") == 1
    assert gate.site.count("/wiki/api/v2/pages/102/properties") >= 2


def test_the_gate_gives_up_when_the_wait_runs_out(gate: GateRunner) -> None:
    gate.site.add_page("102")
    gate.site.set_approval("102", approval_value(pending=["acc-b"], complete=False))
    gate.write_policy([{"id": "102"}])

    started = time.monotonic()
    run = gate.run("--confluence-wait", "1s", "--confluence-poll", "1s")
    elapsed = time.monotonic() - started

    run.result.assert_outcomes(failed=1)
    assert 1 <= elapsed < 6
    assert "the approval is not complete yet" in run.failure_text("102")
    run.result.stdout.fnmatch_lines(["*stopped waiting after 1.0 s*page 102*"])


def test_pages_no_waiting_can_fix_fail_at_once(gate: GateRunner) -> None:
    gate.site.add_page("101")
    gate.site.set_approval("101", approval_value(rejected=["acc-c"], complete=False))
    gate.site.add_page("102", version=7, version_created_at="2025-08-01T10:00:00.000Z")
    gate.site.set_approval("102", approval_value())
    # 104: its required approver published the current version; their approval never
    # counts under four eyes, however long the gate waits.
    gate.site.add_page("104", version_author_id="acc-author")
    gate.site.set_approval("104", approval_value(approved=["acc-approver", "acc-author"]))
    four_eyes = {"forbid_self_approval": True, "required_approvers": ["acc-author"]}
    gate.write_policy(
        [{"id": "101"}, {"id": "102"}, {"id": "103"}, {"id": "104", **four_eyes}]
    )  # 103: not found

    started = time.monotonic()
    run = gate.run("--confluence-wait", "30s", "--confluence-poll", "1s")

    assert time.monotonic() - started < 10
    run.result.assert_outcomes(failed=4)
    assert "waiting for approvers" not in run.output
    assert gate.site.count("/wiki/api/v2/pages") == 1


def test_waiting_cannot_be_combined_with_replay(gate: GateRunner) -> None:
    gate.write_policy([{"id": "101"}])
    examples_snapshot = gate.pytester.path / "snap.json"
    examples_snapshot.write_text("{}")

    run = gate.run("--confluence-wait", "1m", "--confluence-replay", examples_snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--confluence-wait cannot be combined with --confluence-replay" in run.output


def test_waiting_under_xdist_happens_once_on_the_controller(gate: GateRunner) -> None:
    pytest.importorskip("xdist")
    gate.site.add_page("101")
    gate.site.set_approval("101", approval_value(pending=["acc-b"], complete=False))
    gate.write_policy([{"id": "101"}])
    looks: list[RecordedRequest] = []

    def approve_before_the_second_look(request: RecordedRequest) -> None:
        # Not a timer: a busy machine may start the workers after any fixed delay.
        if request.path == "/wiki/api/v2/pages/101/properties":
            looks.append(request)
            if len(looks) == 2:
                gate.site.set_approval("101", approval_value(approved=["acc-b"]))

    gate.site.on_request = approve_before_the_second_look
    run = gate.run("-n", "2", "policy.yaml", "--confluence-wait", "20s", "--confluence-poll", "1s")

    run.result.assert_outcomes(passed=1)
    assert gate.site.count("/wiki/api/v2/pages") >= 2  # the controller polled
    assert len(looks) == 2  # ...and no worker asked again


def test_a_page_title_cannot_steer_k_to_deselect_its_page(gate: GateRunner) -> None:
    # Node ids of a cql: entry's pages carried the Confluence title, and -k matches names:
    # a page editor who titles an unapproved page "slow" drops it under the CI's usual
    # `-k "not slow"`, and the run exits 0 with the page merely "not judged".
    approved = labelled_pages(gate, 1)
    gate.site.add_page("6001", title="Benchmarks (slow)")
    gate.site.set_approval("6001", approval_value(complete=False, pending=["acc-b"]))
    gate.site.add_cql("label = rollout", ["6001"])
    gate.write_policy([{"id": approved[0]}, {"cql": "label = rollout"}])

    run = gate.run("-k", "not slow")

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    run.result.assert_outcomes(passed=1, failed=1)
    assert "Benchmarks (slow)" in run.failure_text("6001")  # still named in the evidence

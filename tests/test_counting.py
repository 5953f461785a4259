"""Counting people: one person counts once, a name never reads as two people, and
rejections cannot be voted away. Judging stays linear in what the server sends.

The unit tests judge plain values with the helpers of tests/test_verdict.py; the
end-to-end tests run the gate against the fake Confluence and read its outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pytest_confluence_approval.evidence import evidence_text
from pytest_confluence_approval.facts import GroupMembers, PageFacts
from pytest_confluence_approval.policy import GroupRequirement, PageRule, PolicyError, parse_policy
from pytest_confluence_approval.schemas import load_schema, validator
from pytest_confluence_approval.verdict import (
    ApprovalProperty,
    Outcome,
    PageVersion,
    PageView,
    Rule,
    Verdict,
    evaluate,
)
from tests.conftest import GateRunner
from tests.fake_confluence import approval_value
from tests.test_verdict import (
    ALICE,
    APP,
    AS_OF,
    AUTHOR,
    BOB,
    CAROL,
    KEY,
    PAGE_ID,
    PAGE_LINK,
    PUBLISHED,
    SITE,
    V3,
    V4,
    V5,
    approval,
    assert_approved,
    edited,
    entry,
    judge,
    page,
    prop,
    rule,
    the_reason,
    version,
)

#: the approval schema's cap on each account list
CAP = 1000


def accounts(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


def reasons_of(verdict: Verdict) -> str:
    return "\n".join(verdict.reasons)


def report_of(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator(load_schema("report")).validate(report)
    return report


# --- capped account lists -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["pending", "approved", "rejected", "commented"])
def test_an_account_list_longer_than_the_cap_makes_the_approval_malformed(name: str) -> None:
    verdict = judge(approval(**{name: accounts("acc", CAP + 1)}))

    assert verdict.outcome is Outcome.NOT_APPROVED
    assert verdict.failed_rules == (Rule.NO_APPROVAL,)
    assert the_reason(verdict) == (
        f"approval property {KEY!r} is malformed, so it cannot be trusted: $.{name}: lists "
        f"{CAP + 1} accounts; an approval lists at most {CAP}"
    )


def test_a_list_at_the_cap_is_read() -> None:
    assert_approved(judge(approval(approved=accounts("acc", CAP))))


def test_the_schema_caps_every_account_list_at_the_same_count() -> None:
    schema = load_schema("approval")
    assert schema["$defs"]["accounts"]["maxItems"] == CAP
    assert not validator("approval").is_valid(approval(approved=accounts("acc", CAP + 1)))
    assert validator("approval").is_valid(approval(approved=accounts("acc", CAP)))


class _CountedId(str):
    """An account id that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        _CountedId.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_every_check_compares_each_account_a_bounded_number_of_times() -> None:
    """Contradictions, counting, four eyes, required approvers and groups over lists at the
    cap: quadratic checks would compare millions of times (seconds), linear ones a few
    thousand. Counted, not timed."""
    approved, pending, rejected = (
        tuple(_CountedId(a) for a in accounts(prefix, CAP))
        for prefix in ("acc-a", "acc-p", "acc-r")
    )
    the_approval = ApprovalProperty(
        key=KEY,
        pending=pending,
        approved=approved,
        rejected=rejected,
        is_complete=False,
        completed_at=None,
        minimum_approvers=1,
        minimum_rejections=CAP + 1,
    )
    view = PageView(
        PAGE_LINK,
        title="Release checklist",
        status="current",
        version=PageVersion(7, PUBLISHED, AUTHOR, False),
        approval=the_approval,
    )
    policy = rule(
        forbid_self_approval=True,
        required_approvers=(*(str(a) for a in approved[::2]), "acc-x"),
        required_groups=(GroupRequirement("qa", CAP), GroupRequirement("cab", 1)),
    )
    groups = {
        "qa": GroupMembers(frozenset(str(a) for a in approved[: CAP // 2])),
        "cab": GroupMembers(frozenset(accounts("acc-c", CAP))),
    }
    _CountedId.comparisons = 0

    verdict = evaluate(policy, PageFacts(PAGE_ID), as_of=AS_OF, site=SITE, groups=groups, view=view)

    assert Rule.GROUPS in verdict.failed_rules and Rule.REQUIRED_APPROVERS in verdict.failed_rules
    assert _CountedId.comparisons <= 10 * CAP, _CountedId.comparisons


def test_a_page_listing_30000_accounts_fails_as_malformed_without_looking_them_up(
    gate: GateRunner,
) -> None:
    gate.site.add_page("100")
    value = approval_value(
        approved=accounts("acc-a", 10_000),
        pending=accounts("acc-p", 10_000),
        rejected=accounts("acc-r", 10_000),
    )
    gate.site.set_approval("100", value)
    gate.write_policy([{"id": "100"}])

    run = gate.run("--confluence-deadline", "20s")

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("100")
    assert "is malformed, so it cannot be trusted" in text
    for name in ("approved", "pending", "rejected"):
        assert f"$.{name}: lists 10000 accounts; an approval lists at most {CAP}" in text
    # Nothing of the lists was used: no display name of theirs was asked for.
    asked = [
        account
        for request in gate.site.requests
        if request.path == "/wiki/api/v2/users-bulk"
        for account in json.loads(request.body)["accountIds"]
    ]
    assert asked == ["acc-author"]  # the page's author, named in the evidence


# --- one person counts once: account ids are compared ignoring case -----------------------


def test_ids_that_differ_only_in_case_are_one_approver() -> None:
    verdict = judge(approval(approved=[ALICE, ALICE.upper()]), policy=rule(min_approvers=2))

    assert verdict.outcome is Outcome.NOT_APPROVED
    assert the_reason(verdict) == f"only 1 of 2 required approvals (approved: {ALICE})"


def test_one_person_approving_and_rejecting_under_two_spellings_is_a_contradiction() -> None:
    verdict = judge(approval(approved=[ALICE, BOB], rejected=[ALICE.upper()], minimumRejections=2))

    assert verdict.failed_rules == (Rule.CONTRADICTION,)
    assert f"{ALICE} listed as both approved and rejected" in the_reason(verdict)


def test_four_eyes_sees_the_publisher_approve_under_another_spelling() -> None:
    policy = rule(forbid_self_approval=True, min_approvers=2)
    upper_approver = judge(approval(approved=[AUTHOR.upper(), BOB]), policy=policy)
    upper_publisher = judge(
        approval(approved=[AUTHOR, BOB]),
        page_payload=page(version=version(authorId=AUTHOR.upper())),
        policy=policy,
    )

    for verdict in (upper_approver, upper_publisher):
        assert verdict.outcome is Outcome.NOT_APPROVED
        assert the_reason(verdict) == (
            f"only 1 of 2 required approvals (approved: {BOB}; not counted: {AUTHOR}, who "
            "published the current version (forbid_self_approval))"
        )


def test_four_eyes_sees_a_later_publisher_in_the_history_under_another_spelling() -> None:
    history = [entry(5, V5, CAROL.upper()), entry(4, V4, BOB), entry(3, V3, AUTHOR)]

    verdict = judge(
        approval(approved=[ALICE, CAROL]),
        page_payload=edited(5, authorId=CAROL),
        policy=rule(forbid_self_approval=True, require_current_version=False, min_approvers=2),
        versions=history,
    )

    assert verdict.failed_rules == (Rule.APPROVALS,)
    assert f"not counted: {CAROL}, who published the approved version" in the_reason(verdict)


@pytest.mark.parametrize(("required", "approver"), [(ALICE.upper(), ALICE), (ALICE, ALICE.upper())])
def test_a_required_approver_is_found_whatever_the_case(required: str, approver: str) -> None:
    verdict = judge(approval(approved=[approver]), policy=rule(required_approvers=(required,)))

    assert_approved(verdict)


def test_a_required_approver_who_published_is_caught_whatever_the_case() -> None:
    verdict = judge(
        approval(approved=[ALICE, BOB]),
        policy=rule(forbid_self_approval=True, required_approvers=(AUTHOR.upper(),)),
    )

    assert verdict.failed_rules == (Rule.SELF_APPROVAL,)


def test_group_members_from_confluence_are_matched_whatever_the_case() -> None:
    policy = rule(required_groups=(GroupRequirement("qa", 2),))
    facts = PageFacts(PAGE_ID, page=page(), properties=[prop(approval(approved=[ALICE, BOB]))])
    groups = {"qa": GroupMembers(frozenset({ALICE.upper(), BOB}))}

    verdict = evaluate(policy, facts, as_of=AS_OF, site=SITE, groups=groups)

    assert_approved(verdict)
    assert verdict.groups[0].members_counted == (ALICE, BOB)


@pytest.mark.parametrize(("policy_writer", "writer"), [(APP.upper(), APP), (APP, APP.upper())])
def test_approval_writers_match_whatever_the_case(policy_writer: str, writer: str) -> None:
    verdict = judge(
        properties=[prop(approval(), authorId=writer)],
        policy=rule(approval_writers=(policy_writer,)),
    )

    assert_approved(verdict)


@pytest.mark.parametrize("setting", ["required_approvers", "approval_writers"])
def test_a_policy_listing_one_account_in_two_spellings_is_refused(setting: str) -> None:
    text = f"version: 1\npages:\n  - id: 5\n    {setting}: [acc-qa, acc-b, ACC-QA]\n"

    with pytest.raises(PolicyError) as error:
        parse_policy(text.encode(), Path("policy.yaml"))

    assert str(error.value) == (
        f"policy.yaml:4: pages[0].{setting}[2]: 'ACC-QA' is 'acc-qa' (item 0) again: account "
        "ids that differ only in case are one account; list it once"
    )


def test_policy_account_ids_are_read_in_one_spelling() -> None:
    text = b"version: 1\ndefaults:\n  required_approvers: [ACC-QA]\npages:\n  - id: 5\n"

    policy = parse_policy(text, Path("policy.yaml"))

    assert policy.pages[0].required_approvers == ("acc-qa",)
    assert PageRule("5", None, 1, approval_writers=("Acc-App",)).approval_writers == ("acc-app",)


def test_case_variants_count_once_end_to_end(gate: GateRunner) -> None:
    site = gate.site
    site.add_user("acc-jonas", "Jonas Weber")
    site.add_page("100", version_author_id="acc-author")
    site.set_approval("100", approval_value(approved=["ACC-AUTHOR", "ACC-JONAS", "acc-jonas"]))
    gate.write_policy([{"id": "100", "forbid_self_approval": True, "min_approvers": 2}])
    report = gate.pytester.path / "report.json"

    run = gate.run("--confluence-report", report)

    run.result.assert_outcomes(failed=1)
    assert (
        "only 1 of 2 required approvals (approved: Jonas Weber; not counted: acc-author, who "
        "published the current version (forbid_self_approval))"
    ) in run.failure_text("100")
    approved = report_of(report)["pages"][0]["facts"]["approval"]["approved"]
    assert approved == [
        {"account_id": "acc-author", "display_name": None},
        {"account_id": "acc-jonas", "display_name": "Jonas Weber"},
    ]


# --- a name never reads as two people -----------------------------------------------------


def test_a_name_that_reads_as_two_people_is_quoted_with_its_account_id() -> None:
    verdict = judge(
        approval(approved=[ALICE]),
        policy=rule(min_approvers=2),
        names={ALICE: "Priya Raman, Jonas Weber"},
    )

    assert the_reason(verdict) == (
        f'only 1 of 2 required approvals (approved: "Priya Raman, Jonas Weber" ({ALICE}))'
    )


@pytest.mark.parametrize(
    "name",
    [
        "Priya Raman; Jonas Weber",
        "Priya Raman and Jonas Weber",
        "Priya Raman AND Jonas Weber",
        "Priya Raman or Jonas Weber",
        "Priya Raman & Jonas Weber",
        "Priya Raman / Jonas Weber",
        "Priya Raman + Jonas Weber",
        "Priya Raman (Security)",
        "Priya Raman:",
        "Priya  Raman",
        "Priya\u00a0Raman",
        "Priya Raman\u3001Jonas Weber",
    ],
)
def test_names_that_are_not_plain_come_with_their_account_id(name: str) -> None:
    verdict = judge(approval(isComplete="false", pending=[ALICE]), names={ALICE: name})

    assert f"(still pending: {json.dumps(name, ensure_ascii=False)} ({ALICE}))" in reasons_of(
        verdict
    )


def test_plain_names_stand_alone_in_any_script() -> None:
    names = {ALICE: "Priya Raman", BOB: "José María O'Neill-Núñez Jr.", CAROL: "山田 太郎"}

    verdict = judge(
        approval(approved=[ALICE, BOB, CAROL]), policy=rule(min_approvers=4), names=names
    )

    assert the_reason(verdict) == (
        "only 3 of 4 required approvals (approved: Priya Raman, José María O'Neill-Núñez Jr., "
        "山田 太郎)"
    )


def test_two_accounts_with_one_name_are_told_apart_by_their_ids() -> None:
    names = {ALICE: "Priya Raman", BOB: "Priya Raman"}

    verdict = judge(
        approval(isComplete="false", approved=[ALICE], pending=[BOB]),
        policy=rule(min_approvers=2),
        names=names,
    )

    assert verdict.reasons == (
        f"the approval is not complete yet (still pending: Priya Raman ({BOB}))",
        f"only 1 of 2 required approvals (approved: Priya Raman ({ALICE}))",
    )


@pytest.mark.parametrize("name", ["5b10ac8d82e05b22cc7d4ef5", "5B10AC8D82E05B22CC7D4EF5"])
def test_a_name_that_is_another_accounts_id_comes_with_its_own_id(name: str) -> None:
    other = "5b10ac8d82e05b22cc7d4ef5"
    verdict = judge(
        approval(isComplete="false", approved=[ALICE], pending=[other]),
        policy=rule(min_approvers=2),
        names={ALICE: name},
    )

    assert f"(approved: {name} ({ALICE}))" in reasons_of(verdict)
    assert f"(still pending: {other})" in reasons_of(verdict)


def test_quotes_and_backslashes_inside_a_name_cannot_close_its_quotes() -> None:
    verdict = judge(
        approval(approved=[ALICE]), policy=rule(min_approvers=2), names={ALICE: 'A" (x), "B\\'}
    )

    assert f'(approved: "A\\" (x), \\"B\\\\" ({ALICE}))' in the_reason(verdict)


def test_an_odd_writer_id_from_confluence_is_quoted() -> None:
    verdict = judge(
        properties=[prop(approval(), authorId="Priya Raman (acc-1), Jonas Weber")],
        policy=rule(approval_writers=(APP,)),
    )

    assert the_reason(verdict).startswith(
        'approval data last written by "Priya Raman (acc-1), Jonas Weber", who is not one of'
    )


def test_the_evidence_quotes_a_name_that_reads_as_two_people() -> None:
    names = {ALICE: "Priya Raman, Jonas Weber", BOB: "Amara Okafor"}
    verdict = judge(approval(approved=[ALICE, BOB]), names=names)

    text = evidence_text(verdict, names, AS_OF)

    assert f'approved_by: "Priya Raman, Jonas Weber" ({ALICE}), Amara Okafor ({BOB})\n' in text


# --- rejections cannot be voted away: max_rejections ---------------------------------------


def test_rejections_the_property_tolerates_pass_without_a_policy_cap() -> None:
    assert_approved(judge(approval(rejected=[BOB, CAROL], minimumRejections=5)))


def test_max_rejections_0_makes_any_rejection_block() -> None:
    verdict = judge(approval(rejected=[BOB], minimumRejections=5), policy=rule(max_rejections=0))

    assert verdict.failed_rules == (Rule.REJECTED,)
    assert the_reason(verdict) == (
        f"the approval was rejected (rejected by: {BOB}; 1 rejection is more than the "
        "policy's max_rejections of 0, whatever the approval's minimumRejections of 5 says)"
    )


@pytest.mark.parametrize(("rejections", "passes"), [(2, True), (3, False)])
def test_max_rejections_tolerates_up_to_its_count(rejections: int, passes: bool) -> None:
    rejected = [BOB, CAROL, AUTHOR][:rejections]

    verdict = judge(approval(rejected=rejected, minimumRejections=5), policy=rule(max_rejections=2))

    assert verdict.passed is passes
    if not passes:
        assert "3 rejections are more than the policy's max_rejections of 2" in the_reason(verdict)


@pytest.mark.parametrize(
    ("minimum", "rejected", "why"),
    [
        (1, [BOB], "1 rejection reaches the approval's minimumRejections of 1"),
        (2, [BOB, CAROL], "2 rejections reach the approval's minimumRejections of 2"),
        (0, [BOB], "one rejection is enough whatever the approval's minimumRejections of 0 says"),
    ],
)
def test_the_property_threshold_is_named_where_it_is_the_stricter(
    minimum: int, rejected: list[str], why: str
) -> None:
    verdict = judge(
        approval(rejected=rejected, minimumRejections=minimum), policy=rule(max_rejections=3)
    )

    assert verdict.failed_rules == (Rule.REJECTED,)
    assert the_reason(verdict) == (
        f"the approval was rejected (rejected by: {', '.join(rejected)}; {why})"
    )


@pytest.mark.parametrize(
    ("minimum", "cap", "why"),
    [
        # A tie: the policy changes nothing, so the approval's own threshold is named.
        (2, 1, "2 rejections reach the approval's minimumRejections of 2"),
        # One below the approval's own threshold: the policy's cap is what rejects.
        (
            3,
            1,
            "2 rejections are more than the policy's max_rejections of 1, whatever the "
            "approval's minimumRejections of 3 says",
        ),
    ],
)
def test_max_rejections_is_named_only_where_it_is_the_stricter(
    minimum: int, cap: int, why: str
) -> None:
    verdict = judge(
        approval(rejected=[BOB, CAROL], minimumRejections=minimum),
        policy=rule(max_rejections=cap),
    )

    assert verdict.failed_rules == (Rule.REJECTED,)
    assert the_reason(verdict) == f"the approval was rejected (rejected by: {BOB}, {CAROL}; {why})"


def test_without_max_rejections_the_property_threshold_is_named() -> None:
    verdict = judge(approval(rejected=[BOB]))

    assert the_reason(verdict) == (
        f"the approval was rejected (rejected by: {BOB}; 1 rejection reaches the approval's "
        "minimumRejections of 1)"
    )


def parse(text: str) -> list[PageRule]:
    return list(parse_policy(text.encode(), Path("policy.yaml")).pages)


def test_max_rejections_comes_from_defaults_or_the_page_entry() -> None:
    first, second, third = parse(
        "version: 1\ndefaults:\n  max_rejections: 0\npages:\n  - id: 5\n  - id: 6\n"
        "    max_rejections: 2\n  - id: 7\n    max_rejections: null\n"
    )

    assert (first.max_rejections, second.max_rejections, third.max_rejections) == (0, 2, None)
    assert parse("version: 1\npages:\n  - id: 5\n")[0].max_rejections is None
    assert first.settings()["max_rejections"] == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "pages[0].max_rejections: must be 0 or more, got -1"),
        ("1001", "pages[0].max_rejections: must be at most 1000, got 1001"),
        ("1.5", "pages[0].max_rejections: must be an integer or null, got number 1.5"),
        ("true", "pages[0].max_rejections: must be an integer or null, got boolean True"),
        ("none", "pages[0].max_rejections: must be an integer or null, got string 'none'"),
    ],
)
def test_max_rejections_must_be_a_count(value: str, message: str) -> None:
    with pytest.raises(PolicyError) as error:
        parse(f"version: 1\npages:\n  - id: 5\n    max_rejections: {value}\n")

    assert str(error.value) == f"policy.yaml:4: {message}"


def test_max_rejections_blocks_rejections_the_property_tolerates_end_to_end(
    gate: GateRunner,
) -> None:
    site = gate.site
    site.add_user("acc-amara", "Amara Okafor")
    rejected = ["acc-amara", "acc-r2", "acc-r3", "acc-r4"]
    for page_id in ("100", "101"):
        site.add_page(page_id)
        site.set_approval(page_id, approval_value(rejected=rejected, minimum_rejections=5))
    gate.write_policy(
        [{"id": "100"}, {"id": "101", "max_rejections": None}], defaults={"max_rejections": 0}
    )
    report = gate.pytester.path / "report.json"

    run = gate.run("--confluence-report", report)

    run.result.assert_outcomes(failed=1, passed=1)
    assert (
        "the approval was rejected (rejected by: Amara Okafor, acc-r2, acc-r3, acc-r4; 4 "
        "rejections are more than the policy's max_rejections of 0, whatever the approval's "
        "minimumRejections of 5 says)"
    ) in run.failure_text("100")
    pages = {p["id"]: p for p in report_of(report)["pages"]}
    assert pages["100"]["rule"]["max_rejections"] == 0
    assert pages["101"]["rule"]["max_rejections"] is None
    assert pages["100"]["facts"]["approval"]["rejection_threshold"] == {
        "rejections": 1,
        "set_by": "max_rejections",
    }
    assert pages["101"]["facts"]["approval"]["rejection_threshold"] == {
        "rejections": 5,
        "set_by": "minimumRejections",
    }

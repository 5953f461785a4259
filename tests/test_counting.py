"""Counting people: one person counts once, a name never reads as two people, and
rejections cannot be voted away. Judging stays linear in what the server sends.

The unit tests judge plain values with the helpers of tests/test_verdict.py; the
end-to-end tests run the gate against the fake Confluence and read its outputs.
"""

from __future__ import annotations

import json

import pytest

from pytest_confluence_approval.facts import GroupMembers, PageFacts
from pytest_confluence_approval.policy import GroupRequirement
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
from tests.conftest import Gate
from tests.fake_confluence import approval_value
from tests.test_verdict import (
    AS_OF,
    AUTHOR,
    KEY,
    PAGE_ID,
    PAGE_LINK,
    PUBLISHED,
    SITE,
    approval,
    assert_approved,
    judge,
    rule,
    the_reason,
)

#: the approval schema's cap on each account list
CAP = 1000


def accounts(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


def reasons_of(verdict: Verdict) -> str:
    return "\n".join(verdict.reasons)


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
    gate: Gate,
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

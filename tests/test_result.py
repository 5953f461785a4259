"""The run's one result (result.py): sorted, counted and waived once, for every output."""

from __future__ import annotations

from datetime import date, datetime, timezone

from pytest_confluence_approval.gate import waiver_use
from pytest_confluence_approval.policy import PageRule, Waiver
from pytest_confluence_approval.result import (
    JudgedPage,
    RunFacts,
    UnjudgedPage,
    WaiverState,
    gate_result,
)
from pytest_confluence_approval.scope import NotJudged
from pytest_confluence_approval.verdict import Failure, Outcome, Rule, Verdict

SITE = "https://acme.atlassian.net/wiki"
FACTS = RunFacts(
    mode="replay",
    site=SITE,
    policy_path="policy.yaml",
    policy_sha256="0" * 64,
    auth="none",
    gate_version="0",
)
AS_OF = datetime(2025, 8, 1, tzinfo=timezone.utc)


def verdict(
    page_id: str, outcome: Outcome, approval_writers: tuple[str, ...] | None = None
) -> Verdict:
    failures = () if outcome is Outcome.APPROVED else (Failure(Rule.APPROVALS, "not yet"),)
    rule = PageRule(page_id, None, line=1, approval_writers=approval_writers)
    return Verdict(rule, outcome, failures, SITE)


def waiver(page_id: str, expires: date) -> Waiver:
    return Waiver(page_id, "CAB-1", expires, line=1)


def test_pages_come_in_page_order_judged_or_not() -> None:
    verdicts = [verdict(p, Outcome.APPROVED) for p in ("101", "9", "1000")]
    skipped = NotJudged(deselected=("20",), not_run=("5", "100"))

    result = gate_result(verdicts, facts=FACTS, not_judged=skipped)

    assert [p.page_id for p in result.judged] == ["9", "101", "1000"]
    assert [p.page_id for p in result.pages] == ["5", "9", "20", "100", "101", "1000"]
    assert [type(p) for p in result.pages[:3]] == [UnjudgedPage, JudgedPage, UnjudgedPage]
    assert [p.deselected for p in result.pages if isinstance(p, UnjudgedPage)] == [
        False,
        True,
        False,
    ]


def test_only_a_waiver_that_applies_counts_as_waived() -> None:
    # A waiver covers "not approved" only, and only until it expires: the counts every
    # output shows take "waived" from the one WaiverUse of each page.
    applied = verdict("101", Outcome.NOT_APPROVED)
    expired = verdict("102", Outcome.NOT_APPROVED)
    unused = verdict("103", Outcome.UNVERIFIABLE)
    approved = verdict("104", Outcome.APPROVED, approval_writers=("acc-app",))
    waivers = {
        "101": waiver_use(waiver("101", date(2099, 1, 1)), applied, AS_OF),
        "102": waiver_use(waiver("102", date(2000, 1, 1)), expired, AS_OF),
        "103": waiver_use(waiver("103", date(2099, 1, 1)), unused, AS_OF),
    }

    result = gate_result([approved, unused, expired, applied], facts=FACTS, waivers=waivers)

    assert [w.state for w in waivers.values()] == [
        WaiverState.APPLIED,
        WaiverState.EXPIRED,
        WaiverState.UNUSED,
    ]
    assert [p.waived for p in result.judged] == [True, False, False, False]
    counts = result.counts
    assert (counts.approved, counts.not_approved, counts.not_verifiable) == (1, 2, 1)
    assert (counts.waived, counts.judged, counts.writers_unchecked) == (1, 4, 3)

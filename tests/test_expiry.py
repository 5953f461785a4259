"""Calendar expiry (max_age, expires_on) and teams (required_groups), judged on plain values.

Starts from the fully approved page of test_verdict and states only what differs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_confluence_approval.expiry import (
    Duration,
    DurationError,
    add_calendar,
    parse_calendar_duration,
)
from pytest_confluence_approval.facts import FetchFailure, GroupMembers, PageFacts
from pytest_confluence_approval.policy import GroupRequirement, PageRule
from pytest_confluence_approval.verdict import Outcome, Rule, Verdict, evaluate
from tests.test_verdict import (
    ALICE,
    AUTHOR,
    BOB,
    CAROL,
    PAGE_ID,
    SITE,
    approval,
    assert_approved,
    iso,
    ms,
    page,
    prop,
    rule,
    the_reason,
    version,
)

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def judge_completed(
    completed: datetime,
    as_of: datetime,
    policy: PageRule,
    groups: dict[str, GroupMembers] | None = None,
    **value: object,
) -> Verdict:
    """A page approved by ALICE, completed at ``completed``, published just before it."""
    published = completed - timedelta(hours=1)
    facts = PageFacts(
        page_id=PAGE_ID,
        page=page(version=version(createdAt=iso(published))),
        properties=[prop(approval(completedAt=ms(completed), **value))],
    )
    return evaluate(policy, facts, as_of=as_of, site=SITE, groups=groups or {})


# --- durations as a policy writes them ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "months", "days"),
    [
        ("90 days", 0, 90),
        ("1 day", 0, 1),
        ("2 weeks", 0, 14),
        ("1 week", 0, 7),
        ("1 month", 1, 0),
        ("3 months", 3, 0),
        ("6 months", 6, 0),
        ("1 year", 12, 0),
        ("2 years", 24, 0),
        ("1 months", 1, 0),  # singular and plural are both accepted
        ("6 Months", 6, 0),
        ("90days", 0, 90),
        ("P6M", 6, 0),
        ("P1Y2M", 14, 0),
        ("P2W", 0, 14),
        ("P90D", 0, 90),
        ("P1Y2M3D", 14, 3),
        ("P0D", 0, 0),
    ],
)
def test_durations_in_words_and_iso_8601(text: str, months: int, days: int) -> None:
    duration = parse_calendar_duration(text)
    assert (duration.months, duration.days) == (months, days)
    assert duration.text == text


@pytest.mark.parametrize(
    "text", ["", "6", "months", "6 fortnights", "P", "p6m", "PT5H", "P1DT2H", "-1 day", "1.5 years"]
)
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(DurationError, match="is not a duration"):
        parse_calendar_duration(text)


def test_hours_are_refused_with_the_reason() -> None:
    with pytest.raises(DurationError, match="calendar days"):
        parse_calendar_duration("PT36H")


@pytest.mark.parametrize("text", ["101 years", "P1300M", "36900 days"])
def test_more_than_a_century_is_refused(text: str) -> None:
    with pytest.raises(DurationError, match="longer than 100 years"):
        parse_calendar_duration(text)


# --- calendar arithmetic ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        # The README's example: the day is clamped to the end of a shorter month.
        ("2026-01-31T10:00:00Z", 1, "2026-02-28T10:00:00Z"),
        ("2028-01-31T10:00:00Z", 1, "2028-02-29T10:00:00Z"),  # leap year
        ("2100-01-31T10:00:00Z", 1, "2100-02-28T10:00:00Z"),  # a century is not a leap year
        ("2000-01-31T10:00:00Z", 1, "2000-02-29T10:00:00Z"),  # but every 400th year is
        ("2026-03-31T23:59:59Z", 1, "2026-04-30T23:59:59Z"),
        ("2026-08-31T10:00:00Z", 6, "2027-02-28T10:00:00Z"),
        ("2025-12-15T10:00:00Z", 1, "2026-01-15T10:00:00Z"),  # across the year's end
        ("2024-02-29T10:00:00Z", 12, "2025-02-28T10:00:00Z"),  # leap day + 1 year
        ("2024-02-29T10:00:00Z", 48, "2028-02-29T10:00:00Z"),
        ("2026-01-30T10:00:00Z", 1, "2026-02-28T10:00:00Z"),
        ("2026-02-28T10:00:00Z", 1, "2026-03-28T10:00:00Z"),  # never "to the month's end"
    ],
)
def test_calendar_months_clamp_to_the_months_end(start: str, months: int, end: str) -> None:
    assert add_calendar(at(start), months=months) == at(end)


def test_months_are_added_before_days_as_iso_8601_orders_them() -> None:
    # 31 Jan + 1 month = 28 Feb, + 1 day = 1 Mar (days first would give 1 Feb + 1 month = 1 Mar
    # too, but 30 Jan + P1M1D shows the order: 28 Feb + 1 day = 1 Mar, not 31 Jan -> 3 Mar).
    assert add_calendar(at("2026-01-30T00:00:00Z"), months=1, days=1) == at("2026-03-01T00:00:00Z")


def test_calendar_arithmetic_is_done_in_utc_whatever_the_offset() -> None:
    # 31 Jan 23:00 in UTC-05:00 is 1 Feb 04:00 UTC: a month later is 1 Mar 04:00 UTC.
    local = datetime(2026, 1, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert add_calendar(local, months=1) == at("2026-03-01T04:00:00Z")


def test_beyond_the_calendar_means_never() -> None:
    assert add_calendar(at("9999-06-01T00:00:00Z"), months=12) is None
    assert add_calendar(at("9999-12-01T00:00:00Z"), days=365) is None
    assert Duration.of_days(10**12).after(at("2026-01-01T00:00:00Z")) is None


# --- max_age in the verdict ---------------------------------------------------------------


def test_one_month_after_31_january_ends_on_28_february() -> None:
    policy = rule(max_age=parse_calendar_duration("1 month"))
    completed = at("2026-01-31T10:00:00Z")

    assert_approved(judge_completed(completed, at("2026-02-28T10:00:00Z"), policy))
    late = judge_completed(completed, at("2026-02-28T10:00:00.001Z"), policy)

    assert late.outcome is Outcome.NOT_APPROVED
    assert late.failed_rules == (Rule.TOO_OLD,)
    assert late.expires_at == at("2026-02-28T10:00:00Z")
    reason = the_reason(late)
    assert "the approval is too old: it expired on 2026-02-28T10:00:00Z" in reason
    assert "completed 2026-01-31T10:00:00Z, max_age 1 month" in reason


def test_one_month_after_31_january_of_a_leap_year_ends_on_29_february() -> None:
    policy = rule(max_age=parse_calendar_duration("P1M"))
    completed = at("2028-01-31T10:00:00Z")

    assert_approved(judge_completed(completed, at("2028-02-29T10:00:00Z"), policy))
    late = judge_completed(completed, at("2028-02-29T10:00:01Z"), policy)
    assert "expired on 2028-02-29T10:00:00Z" in the_reason(late)


@pytest.mark.parametrize("offset_hours", [-12, -5, 0, 5.5, 14])
def test_the_as_of_instant_is_compared_as_an_instant_whatever_its_offset(
    offset_hours: float,
) -> None:
    policy = rule(max_age=parse_calendar_duration("1 month"))
    completed = at("2026-01-31T10:00:00Z")
    zone = timezone(timedelta(hours=offset_hours))
    # The same instants as above, written in another zone (some on another local date).
    just_in = at("2026-02-28T10:00:00Z").astimezone(zone)
    just_out = at("2026-02-28T10:00:01Z").astimezone(zone)

    assert_approved(judge_completed(completed, just_in, policy))
    reason = the_reason(judge_completed(completed, just_out, policy))
    assert "expired on 2026-02-28T10:00:00Z" in reason  # reported in UTC
    assert "before 2026-02-28T10:00:01Z" in reason


@pytest.mark.parametrize("completed", ["9999-12-31T23:59:59Z", "2036-01-01T00:00:00Z"])
def test_a_completion_after_the_as_of_instant_never_passes(completed: str) -> None:
    # A property value saying it completed in 9999 gives an expiry "beyond the calendar",
    # i.e. never; one in 2036 would count until 2036 plus max_age. The approval cannot
    # have completed after the instant judged: contradictory data fails closed.
    policy = rule(max_age=parse_calendar_duration("6 months"))
    verdict = judge_completed(at(completed), at("2026-01-01T00:00:00Z"), policy)

    assert not verdict.passed
    assert Rule.CONTRADICTION in verdict.failed_rules
    assert f"completed {completed}, after the as-of instant 2026-01-01T00:00:00Z" in "; ".join(
        verdict.reasons
    )


def test_a_completion_minutes_ahead_of_the_gates_clock_is_clock_skew() -> None:
    policy = rule(max_age=parse_calendar_duration("1 day"))
    as_of = at("2026-01-01T00:00:00Z")
    assert_approved(judge_completed(as_of + timedelta(minutes=4), as_of, policy))


def test_max_age_days_is_an_alias_with_the_same_failure_text() -> None:
    policy = rule(max_age_days=30)
    completed = at("2026-01-31T10:00:00Z")
    reason = the_reason(judge_completed(completed, at("2026-03-03T10:00:00Z"), policy))
    assert "it expired on 2026-03-02T10:00:00Z" in reason
    assert "max_age_days 30 days" in reason


def test_an_incomplete_approval_has_no_age() -> None:
    policy = rule(max_age=parse_calendar_duration("1 day"))
    verdict = judge_completed(
        at("2020-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"), policy, isComplete="false"
    )
    assert verdict.failed_rules == (Rule.INCOMPLETE,)
    assert verdict.expires_at is None


# --- expires_on -----------------------------------------------------------------------------


def test_expires_on_ends_the_approval_at_the_start_of_that_day_utc() -> None:
    policy = rule(expires_on=date(2026, 6, 30))
    completed = at("2026-01-31T10:00:00Z")

    assert_approved(judge_completed(completed, at("2026-06-29T23:59:59.999Z"), policy))
    verdict = judge_completed(completed, at("2026-06-30T00:00:00Z"), policy)
    assert verdict.failed_rules == (Rule.EXPIRED,)
    assert "approval expired on 2026-06-30" in the_reason(verdict)
    assert not verdict.waitable


def test_expires_on_is_judged_at_the_as_of_instant_in_utc_not_its_local_date() -> None:
    policy = rule(expires_on=date(2026, 6, 30))
    completed = at("2026-01-31T10:00:00Z")
    # 30 June 08:00 in UTC+09:00 is still 29 June in UTC: the approval still counts.
    tokyo_morning = datetime(2026, 6, 30, 8, 0, tzinfo=timezone(timedelta(hours=9)))
    assert_approved(judge_completed(completed, tokyo_morning, policy))
    # 29 June 20:00 in UTC-05:00 is already 30 June 01:00 UTC: it no longer counts.
    chicago_evening = datetime(2026, 6, 29, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert "expired on 2026-06-30" in the_reason(
        judge_completed(completed, chicago_evening, policy)
    )


def test_an_expired_date_makes_waiting_for_an_incomplete_approval_pointless() -> None:
    policy = rule(expires_on=date(2026, 6, 30))
    verdict = judge_completed(
        at("2026-01-31T10:00:00Z"), at("2026-07-01T00:00:00Z"), policy, isComplete="false"
    )
    assert set(verdict.failed_rules) == {Rule.INCOMPLETE, Rule.EXPIRED}
    assert not verdict.waitable


def test_both_limits_report_both_reasons() -> None:
    policy = rule(expires_on=date(2026, 2, 1), max_age=parse_calendar_duration("2 weeks"))
    verdict = judge_completed(at("2026-01-01T00:00:00Z"), at("2026-03-01T00:00:00Z"), policy)
    assert set(verdict.failed_rules) == {Rule.EXPIRED, Rule.TOO_OLD}


# --- required_groups ----------------------------------------------------------------------

QA = GroupRequirement("qa", 2)
SECURITY = GroupRequirement("security-team", 1)
COMPLETED = at("2026-01-31T10:00:00Z")
AS_OF = at("2026-02-01T10:00:00Z")


def judge_groups(
    groups: dict[str, GroupMembers],
    approved: list[str],
    requirements: tuple[GroupRequirement, ...] = (QA, SECURITY),
    *,
    forbid_self_approval: bool = False,
) -> Verdict:
    policy = rule(required_groups=requirements, forbid_self_approval=forbid_self_approval)
    return judge_completed(COMPLETED, AS_OF, policy, groups, approved=approved)


def test_enough_counted_approvers_from_every_group_pass_and_say_who_counted() -> None:
    groups = {
        "qa": GroupMembers(frozenset({ALICE, BOB, "acc-idle"})),
        "security-team": GroupMembers(frozenset({CAROL})),
    }
    verdict = judge_groups(groups, [ALICE, BOB, CAROL])
    assert_approved(verdict)
    assert [(t.requirement.group, t.members_counted) for t in verdict.groups] == [
        ("qa", (ALICE, BOB)),
        ("security-team", (CAROL,)),
    ]


def test_too_few_approvers_from_a_group_fails_naming_the_group_and_is_waitable() -> None:
    groups = {
        "qa": GroupMembers(frozenset({ALICE, BOB})),
        "security-team": GroupMembers(frozenset({CAROL})),
    }
    verdict = judge_groups(groups, [ALICE, CAROL])
    assert verdict.outcome is Outcome.NOT_APPROVED
    assert verdict.failed_rules == (Rule.GROUPS,)
    assert verdict.waitable
    reason = the_reason(verdict)
    assert 'only 1 of 2 required approvals from group "qa"' in reason
    assert f"approved, but not in the group: {CAROL}" in reason


def test_a_self_approval_excluded_by_four_eyes_does_not_count_for_a_group() -> None:
    groups = {"qa": GroupMembers(frozenset({ALICE, AUTHOR}))}
    verdict = judge_groups(groups, [ALICE, AUTHOR], requirements=(QA,), forbid_self_approval=True)
    assert verdict.failed_rules == (Rule.GROUPS,)
    assert verdict.groups[0].members_counted == (ALICE,)


@pytest.mark.parametrize(
    "members",
    [
        GroupMembers(failure=FetchFailure('group "qa" was not found (HTTP 404)', 404)),
        GroupMembers(failure=FetchFailure("may not read (HTTP 403) read:group:confluence", 403)),
        None,  # never fetched: e.g. a snapshot recorded before the policy named the group
    ],
)
def test_a_group_that_cannot_be_read_makes_the_page_not_verifiable(
    members: GroupMembers | None,
) -> None:
    groups = {"security-team": GroupMembers(frozenset({CAROL}))}
    if members is not None:
        groups["qa"] = members
    verdict = judge_groups(groups, [ALICE, BOB, CAROL])
    assert verdict.outcome is Outcome.UNVERIFIABLE
    assert verdict.failed_rules == (Rule.GROUPS_UNVERIFIABLE,)
    assert not verdict.waitable
    assert 'could not verify the approvers from group "qa"' in the_reason(verdict)


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2400, 12, 31), timezones=st.just(UTC)
    ),
    months=st.integers(min_value=0, max_value=1200),
)
def test_calendar_months_land_in_the_right_month_never_past_its_end(
    start: datetime, months: int
) -> None:
    end = add_calendar(start, months=months)
    assert end is not None
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    assert end.time() == start.time()
    # The same day of the month, or the month's last day when the month is shorter.
    assert end.day == start.day or (end.day < start.day and (end + timedelta(days=1)).day == 1)
    assert end >= start

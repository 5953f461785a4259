"""The rules of the README's "When a page passes", each a function of one :class:`Counting`.

``verdict.evaluate`` reads a page once, counts its approval once into a
:class:`Counting` (who approved, who counts after four eyes, which versions the
approval answers for) and runs :data:`APPROVAL_RULES` over it in order. A rule
only reads the counting, so no rule depends on another having run, and each
returns every failure it finds: a failing verdict lists all of them.

Pure: no I/O, no pytest, no clock. Import the names from ``verdict``, the public face.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from .accounts import people, person
from .instants import utc_iso
from .policy import PageRule

if TYPE_CHECKING:  # verdict builds the counting from these; the rules only read them
    from .verdict import ApprovalProperty, GroupTally, PageVersion

#: How far the approval app's clock may run ahead of the as-of instant: a completion
#: later than this is a contradiction (an approval from the future never goes stale).
CLOCK_SKEW = timedelta(minutes=5)


class Rule(enum.Enum):
    """A rule a page can fail; the value is the short code the outputs may show."""

    FETCH = "fetch"  # the page or its properties could not be fetched or read
    STATUS = "status"
    NO_APPROVAL = "no-approval"  # none, ambiguous or malformed: nothing to trust
    WRITER = "approval-writer"  # approval data written by an account not in approval_writers
    CONTRADICTION = "contradiction"
    REJECTED = "rejected"
    INCOMPLETE = "incomplete"
    APPROVALS = "approvals"
    REQUIRED_APPROVERS = "required-approvers"
    #: a required approver published a version the approval answers for (four eyes):
    #: their approval never counts, so waiting cannot help
    SELF_APPROVAL = "self-approval"
    AUTHOR_UNKNOWN = "author-unknown"  # four eyes cannot be checked
    GROUPS = "groups"  # too few counted approvers from a required group
    GROUPS_UNVERIFIABLE = "groups-unverifiable"  # a required group's members unknown
    #: the version history a rule needs could not be fetched (or is not in the snapshot)
    HISTORY_UNVERIFIABLE = "history-unverifiable"
    EXPIRED = "expired"  # expires_on reached
    NO_COMPLETION_TIME = "no-completion-time"
    STALE = "stale"
    TOO_OLD = "too-old"


@dataclass(frozen=True, slots=True)
class Failure:
    rule: Rule
    reason: str


@dataclass(frozen=True, slots=True)
class Counting:
    """One page's approval as every rule reads it, computed once (``verdict`` builds it).

    Accounts are compared in their one spelling (accounts.account_key), as the
    approval, the page and the history were read.
    """

    rule: PageRule
    approval: ApprovalProperty
    #: the page's current version
    version: PageVersion
    as_of: datetime
    names: Mapping[str, str]
    #: names shown with their account id wherever they appear (accounts.ambiguous_names)
    ambiguous: frozenset[str]
    #: the completion time once the approval is complete (before, the app's value means nothing)
    completed: datetime | None
    #: the current version was published after the approval completed
    edited_after: bool
    #: the approved version and every later one, oldest first (just the current version
    #: where no history is needed); None: they could not be told apart (``chain_problem``)
    chain: tuple[PageVersion, ...] | None
    chain_problem: str
    #: HISTORY_UNVERIFIABLE where the history could not be read at all: then a rule that
    #: needed it makes the page not verifiable (no waiver may cover an unreachable site)
    history_rule: Rule | None
    #: who published a version in ``chain`` (forbid_self_approval; else nobody)
    publishers: frozenset[str]
    #: the approvers who count, in the approval's order: approved, and no publisher
    counted: tuple[str, ...]
    #: the approvers who do not count because they are publishers
    excluded: tuple[str, ...]
    #: one per required group: the counted approvers who are members
    tallies: tuple[GroupTally, ...]
    #: when the completed approval stops counting under max_age (None: no limit or never)
    expires_at: datetime | None

    def named(self, accounts: Iterable[str]) -> str:
        return people(accounts, self.names, ambiguous=self.ambiguous)

    @property
    def published_what(self) -> str:
        """Which versions a publisher published, as the four-eyes reasons say it."""
        return (
            "the approved version or a later one"
            if len(self.chain or ()) > 1
            else "the current version"
        )

    @property
    def not_counted(self) -> str:
        """The approvers four eyes excluded, as a clause; "" where there are none."""
        if not self.excluded:
            return ""
        return (
            f"; not counted: {self.named(self.excluded)}, who published {self.published_what} "
            "(forbid_self_approval)"
        )


#: What a rule returns: each failure it finds, none if the page passes it.
Failures = Iterator[Failure]


def allowed_status(rule: PageRule, status: str | None) -> Failures:
    """The page status: judged on every page read, with an approval or not."""
    if status not in rule.allowed_statuses:
        yield Failure(
            Rule.STATUS,
            f"page status is {status!r}; the policy allows only {', '.join(rule.allowed_statuses)}",
        )


def trusted_writer(c: Counting) -> Failures:
    """Provenance: page editors can write content properties too (REST), so where the
    policy names the accounts that write approvals, anyone else's data is not trusted."""
    if c.rule.approval_writers is None:
        return
    writer = c.approval.written.author_id if c.approval.written else None
    if writer is None:
        yield Failure(
            Rule.WRITER,
            "Confluence does not say who last wrote the approval data (its property "
            "version has no authorId), so it cannot be checked against approval_writers",
        )
    elif writer not in c.rule.approval_writers:
        yield Failure(
            Rule.WRITER,
            f"approval data last written by {person(writer, c.names, with_id=True)}, who is "
            "not one of approval_writers; have the approval app record the approval again",
        )


def each_account_in_one_list(c: Counting) -> Failures:
    """No account listed as two of approved, pending and rejected."""
    lists = (
        ("approved", c.approval.approved),
        ("pending", c.approval.pending),
        ("rejected", c.approval.rejected),
    )
    # (Sets: a server may send lists of a thousand ids; tuples would make this quadratic.)
    for i, (first, first_accounts) in enumerate(lists):
        for second, second_accounts in lists[i + 1 :]:
            others = set(second_accounts)
            both = [a for a in first_accounts if a in others]
            if both:
                yield Failure(
                    Rule.CONTRADICTION,
                    f"the approval contradicts itself: {c.named(both)} listed as both {first} "
                    f"and {second}; ask the approvers to decide again",
                )


def completed_by_as_of(c: Counting) -> Failures:
    """An approval cannot complete after the instant it is judged at (give or take skew)."""
    # (Subtracted from the completion, at least 1970: the as-of may be the calendar's end.)
    if c.completed is not None and c.completed - CLOCK_SKEW > c.as_of:
        yield Failure(
            Rule.CONTRADICTION,
            f"the approval claims to have completed {_iso(c.completed)}, after the as-of "
            f"instant {_iso(c.as_of)}: an approval cannot complete in the future",
        )


def not_rejected(c: Counting) -> Failures:
    """By the approval's own threshold, or the policy's lower max_rejections."""
    rejected = c.approval.rejected
    rejections, set_by = rejection_threshold(c.rule, c.approval)
    if len(rejected) >= rejections:
        yield Failure(
            Rule.REJECTED,
            f"the approval was rejected (rejected by: {c.named(rejected)}; "
            f"{_why_rejected(len(rejected), set_by, c.rule, c.approval)})",
        )


def complete(c: Counting) -> Failures:
    if not c.approval.is_complete:
        pending = c.approval.pending
        waiting = f" (still pending: {c.named(pending)})" if pending else ""
        yield Failure(Rule.INCOMPLETE, f"the approval is not complete yet{waiting}")


def four_eyes_checkable(c: Counting) -> Failures:
    """forbid_self_approval needs to know who published every version in the chain."""
    if not c.rule.forbid_self_approval:
        return
    if c.chain is None:
        yield Failure(
            c.history_rule or Rule.AUTHOR_UNKNOWN,
            f"four eyes (forbid_self_approval) cannot be checked: {c.chain_problem}",
        )
        return
    unknown = [v.number for v in c.chain if v.author_id is None]
    if unknown:
        yield Failure(
            Rule.AUTHOR_UNKNOWN,
            "four eyes (forbid_self_approval) cannot be checked: Confluence does not "
            f"say who published version {_numbers(unknown)}",
        )


def enough_approvals(c: Counting) -> Failures:
    """Enough distinct counted approvers. Never fewer than one: an approval that nobody
    gave is not an approval, whatever a policy or the app's settings say."""
    needed = max(1, c.rule.min_approvers, c.approval.minimum_approvers)
    if len(c.counted) < needed:
        yield Failure(
            Rule.APPROVALS,
            f"only {len(c.counted)} of {needed} required approvals "
            f"(approved: {c.named(c.counted) or 'nobody'}{c.not_counted})",
        )


def required_approvers(c: Counting) -> Failures:
    """Every named approver among the counted ones."""
    counted = set(c.counted)
    missing = [a for a in c.rule.required_approvers if a not in counted]
    if not missing:
        return
    # excluded: approved but published; never_count: published, not (yet) approved
    excluded = set(c.excluded)
    never_count = [a for a in missing if a in c.publishers and a not in excluded]
    cannot = (
        f"; {c.named(never_count)} published {c.published_what}, so their approval cannot "
        "count (forbid_self_approval)"
        if never_count
        else ""
    )
    yield Failure(
        Rule.SELF_APPROVAL if any(a in c.publishers for a in missing) else Rule.REQUIRED_APPROVERS,
        f"required approvers have not approved: {c.named(missing)}"
        + (c.not_counted if any(a in excluded for a in missing) else "")
        + cannot,
    )


def required_groups(c: Counting) -> Failures:
    """Teams: enough counted approvers from each required Confluence group."""
    for tally in c.tallies:
        group, needed = tally.requirement.group, tally.requirement.min
        if tally.failure is not None:
            yield Failure(
                Rule.GROUPS_UNVERIFIABLE,
                f'could not verify the approvers from group "{group}": {tally.failure}',
            )
        elif len(tally.members_counted) < needed:
            members = set(tally.members_counted)
            others = [a for a in c.counted if a not in members]
            outside = f"; approved, but not in the group: {c.named(others)}" if others else ""
            yield Failure(
                Rule.GROUPS,
                f"only {len(tally.members_counted)} of {needed} required approvals from group "
                f'"{group}" (members who approved: {c.named(tally.members_counted) or "nobody"}'
                f"{outside})",
            )


def before_expires_on(c: Counting) -> Failures:
    """From the start of ``expires_on`` (UTC) on, the approval no longer counts. An exact
    end date holds whether or not the approval is complete: waiting cannot help."""
    expires_on = c.rule.expires_on
    if expires_on is not None and c.as_of >= datetime.combine(
        expires_on, time.min, tzinfo=timezone.utc
    ):
        yield Failure(
            Rule.EXPIRED,
            f"the approval expired on {expires_on.isoformat()} (expires_on in the policy; "
            f"judged at {_iso(c.as_of)}); request a new approval",
        )


def completion_time_known(c: Counting) -> Failures:
    """Current and fresh speak of a completed approval, from the time it completed."""
    if c.approval.is_complete and c.completed is None:
        yield Failure(
            Rule.NO_COMPLETION_TIME, "the approval is marked complete but has no completion time"
        )


def current_version(c: Counting) -> Failures:
    """require_current_version: no edit after the approval (but minor ones, if allowed)."""
    if c.completed is None or not (c.rule.require_current_version and c.edited_after):
        return
    edited = (
        f"page was edited after approval: version {c.version.number} published "
        f"{_iso(c.version.created_at)}, approval completed {_iso(c.completed)}"
    )
    advice = "; request a new approval of the current version"
    if not c.rule.ignore_minor_edits:
        yield Failure(c.history_rule or Rule.STALE, edited + advice)
    elif c.chain is None:
        yield Failure(
            c.history_rule or Rule.STALE,
            f"{edited}; whether those edits were minor could not be checked ({c.chain_problem})",
        )
    else:
        major = [v.number for v in c.chain[1:] if not v.minor_edit]
        if major:
            verb = "was not a minor edit" if len(major) == 1 else "were not minor edits"
            yield Failure(
                c.history_rule or Rule.STALE,
                f"{edited}; version {_numbers(major)} after the approval {verb}{advice}",
            )


def within_max_age(c: Counting) -> Failures:
    """Calendar-aware age: the completed approval counts until ``expires_at``."""
    expires_at = c.expires_at
    # Aware datetimes compare as instants, whatever the as-of's offset.
    if expires_at is None or c.as_of <= expires_at:
        return
    # (expires_at is set only for a completed approval under an age limit.)
    completed, limit = c.completed, c.rule.age_limit
    assert completed is not None
    assert limit is not None
    setting = "max_age" if c.rule.max_age is not None else "max_age_days"
    age = c.as_of - completed
    yield Failure(
        Rule.TOO_OLD,
        f"the approval is too old: it expired on {_iso(expires_at)} (completed "
        f"{_iso(completed)}, {setting} {limit.text}; {age.days} days before "
        f"{_iso(c.as_of)}); request a new approval",
    )


#: Judged in this order on every page with an approval to trust (after its status), so
#: a verdict's failures always come in this order.
APPROVAL_RULES: tuple[Callable[[Counting], Failures], ...] = (
    trusted_writer,
    each_account_in_one_list,
    completed_by_as_of,
    not_rejected,
    complete,
    four_eyes_checkable,
    enough_approvals,
    required_approvers,
    required_groups,
    before_expires_on,
    completion_time_known,
    current_version,
    within_max_age,
)


def rejection_threshold(rule: PageRule, approval: ApprovalProperty) -> tuple[int, str]:
    """How many rejections reject the approval, and which setting says so.

    The approval's own ``minimumRejections`` (never below 1), lowered by the policy's
    ``max_rejections`` (at most that many are tolerated): whoever requested the approval
    chose the first, and must not be able to make rejections count for nothing. On a tie
    the approval's own threshold is named: the policy changed nothing.
    """
    own = max(1, approval.minimum_rejections)
    if rule.max_rejections is not None and rule.max_rejections + 1 < own:
        return rule.max_rejections + 1, "max_rejections"
    return own, "minimumRejections"


def _why_rejected(count: int, set_by: str, rule: PageRule, approval: ApprovalProperty) -> str:
    """Which threshold the rejections reached, in the words of the setting that set it."""
    rejections = f"{count} rejection{'s' if count != 1 else ''}"
    own = approval.minimum_rejections
    if set_by == "max_rejections":
        verb = "are" if count != 1 else "is"
        return (
            f"{rejections} {verb} more than the policy's max_rejections of {rule.max_rejections}, "
            f"whatever the approval's minimumRejections of {own} says"
        )
    if own < 1:
        return f"one rejection is enough whatever the approval's minimumRejections of {own} says"
    verb = "reaches" if count == 1 else "reach"
    return f"{rejections} {verb} the approval's minimumRejections of {own}"


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(map(str, sorted(numbers)))


def _iso(instant: datetime) -> str:
    """An instant in failure text: UTC, to the second (instants.utc_iso)."""
    return utc_iso(instant, timespec="seconds")

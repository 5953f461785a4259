"""The rules of the README's "When a page passes": policy rule + page facts + as-of -> Verdict.

Pure: no I/O, no pytest, no clock. Every rule that can be judged is judged, so a
failing verdict lists all its failures, not only the first. Each page's payloads
are read once into a :class:`PageView` (the approval property validated once);
``evaluate``, ``needs_versions`` and ``mentioned_accounts`` all work from it.

Fail closed: missing, contradictory or unverifiable data never passes.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Any, TypeGuard

from jsonschema import ValidationError

from .accounts import account_key, ambiguous_names, people, person
from .facts import GroupMembers, PageFacts
from .policy import GroupRequirement, PageRule
from .schemas import json_path, surely_valid, validator
from .untrusted import render_lines

APPROVAL_KEY_SUFFIX = "_capable_approval"
#: How far the approval app's clock may run ahead of the as-of instant: a completion
#: later than this is a contradiction (an approval from the future never goes stale).
CLOCK_SKEW = timedelta(minutes=5)


class Outcome(enum.Enum):
    APPROVED = "approved"
    NOT_APPROVED = "not approved"
    UNVERIFIABLE = "not verifiable"


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


#: Failed rules that waiting can fix: the approvers are simply not done yet.
WAITABLE = frozenset({Rule.INCOMPLETE, Rule.APPROVALS, Rule.REQUIRED_APPROVERS, Rule.GROUPS})
#: Failed rules that make a page not verifiable rather than not approved.
UNVERIFIABLE_RULES = frozenset({Rule.FETCH, Rule.GROUPS_UNVERIFIABLE, Rule.HISTORY_UNVERIFIABLE})


@dataclass(frozen=True, slots=True)
class GroupTally:
    """One ``required_groups`` entry as judged: the counted approvers who are members."""

    requirement: GroupRequirement
    members_counted: tuple[str, ...]
    #: why the group's members could not be read (then nothing is counted)
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    rule: Rule
    reason: str


@dataclass(frozen=True, slots=True)
class PageVersion:
    number: int
    created_at: datetime
    author_id: str | None
    #: None where Confluence did not say
    minor_edit: bool | None = None


@dataclass(frozen=True, slots=True)
class PropertyVersion:
    """The approval property's own version: who last wrote the approval data, and when."""

    number: int | None
    created_at: datetime | None
    author_id: str | None


@dataclass(frozen=True, slots=True)
class ApprovalProperty:
    """The Capable Approval value, with the app's quirks ironed out."""

    key: str
    pending: tuple[str, ...]
    approved: tuple[str, ...]
    rejected: tuple[str, ...]
    is_complete: bool
    #: meaningless until ``is_complete``: the app fills it in while still pending
    completed_at: datetime | None
    minimum_approvers: int
    minimum_rejections: int
    #: the property's own version (None: Confluence sent none)
    written: PropertyVersion | None = None

    @classmethod
    def from_value(
        cls, key: str, value: dict[str, Any], written: PropertyVersion | None = None
    ) -> ApprovalProperty:
        """Build from a value that already passed the approval schema."""
        return cls(
            key=key,
            pending=_distinct(value["pending"]),
            approved=_distinct(value["approved"]),
            rejected=_distinct(value["rejected"]),
            is_complete=value["isComplete"] in (True, "true"),
            completed_at=_from_epoch_ms(value["completedAt"]),
            minimum_approvers=value.get("minimumApprovers", 1),
            minimum_rejections=value.get("minimumRejections", 1),
            written=written,
        )


@dataclass(frozen=True, slots=True)
class PageView:
    """One page's payloads read once into what the rules need.

    ``problem`` set: the page cannot be verified at all (``link`` is still usable).
    ``approval`` None: ``no_approval`` says why there is no approval to trust.
    """

    link: str
    problem: str | None = None
    title: str | None = None
    status: str | None = None
    version: PageVersion | None = None
    approval: ApprovalProperty | None = None
    no_approval: str = ""


def read_page(facts: PageFacts, *, site: str, property_key: str | None = None) -> PageView:
    """Parse (and validate) one page's payloads; never raises for untrusted data."""
    fallback = f"{site}/pages/viewpage.action?pageId={facts.page_id}"
    if facts.failure is not None:
        return PageView(fallback, problem=f"could not verify: {facts.failure.message}")
    page, problem = _page(facts.page, site)
    if page is None:
        return PageView(fallback, problem=f"could not verify: {problem}")
    title, status, version, link = page
    known = PageView(link or fallback, title=title, status=status, version=version)
    properties = facts.properties
    if not _properties_ok(properties):
        return replace(
            known,
            problem="could not verify: Confluence sent the page's properties in an "
            "unexpected shape",
        )
    approval, no_approval = find_approval(properties, property_key)
    return replace(known, approval=approval, no_approval=no_approval)


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: PageRule
    outcome: Outcome
    failures: tuple[Failure, ...]
    link: str
    title: str | None = None
    status: str | None = None
    version: PageVersion | None = None
    approval: ApprovalProperty | None = None
    #: where the policy requires groups: who counted for which group
    groups: tuple[GroupTally, ...] = ()
    #: when the completed approval stops counting under max_age (None: no limit or never)
    expires_at: datetime | None = None

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.reason for f in self.failures)

    @property
    def failed_rules(self) -> tuple[Rule, ...]:
        return tuple(f.rule for f in self.failures)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.APPROVED

    @property
    def waitable(self) -> bool:
        """Not approved only because approvers are not done yet: waiting may fix it."""
        return (
            self.outcome is Outcome.NOT_APPROVED
            and bool(self.failures)
            and all(f.rule in WAITABLE for f in self.failures)
        )

    def explain(self) -> str:
        """The failure text the README shows: every reason, then the page's link."""
        if self.passed:
            return render_lines([f"{self.rule.label} is approved", f"  {self.link}"])
        heading = (
            "could not be verified" if self.outcome is Outcome.UNVERIFIABLE else "is not approved"
        )
        lines = [f"{self.rule.label} {heading}:"]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines.append(f"  {self.link}")
        return render_lines(lines)  # Confluence text in reasons cannot forge a line


def unverifiable(rule: PageRule, reason: str, link: str, **facts: Any) -> Verdict:
    return Verdict(rule, Outcome.UNVERIFIABLE, (Failure(Rule.FETCH, reason),), link, **facts)


def evaluate(
    rule: PageRule,
    facts: PageFacts,
    *,
    as_of: datetime,
    site: str,
    property_key: str | None = None,
    names: Mapping[str, str] = MappingProxyType({}),
    groups: Mapping[str, GroupMembers] = MappingProxyType({}),
    view: PageView | None = None,
) -> Verdict:
    """Judge every rule; ``names`` maps account ids to display names, ``groups`` group
    names to their members (for ``required_groups``).

    ``view`` is ``read_page(facts, ...)`` where the caller already has it (so the
    approval property is validated once per page); the version history is read here.
    """
    if view is None:
        view = read_page(facts, site=site, property_key=property_key)
    # A name that two of the page's accounts share, or that is one of their ids, comes
    # with the account id wherever it is shown (accounts.person).
    ambiguous = ambiguous_names(mentioned_accounts(rule, view), names)

    def named(accounts: Iterable[str]) -> str:
        return people(accounts, names, ambiguous=ambiguous)

    link, version = view.link, view.version
    if view.problem is not None:
        return unverifiable(
            rule, view.problem, link, title=view.title, status=view.status, version=version
        )
    assert version is not None, "read_page gives a version whenever it finds no problem"
    failures: list[Failure] = []

    def fail(failed: Rule, reason: str) -> None:
        failures.append(Failure(failed, reason))

    # The page status.
    if view.status not in rule.allowed_statuses:
        fail(
            Rule.STATUS,
            f"page status is {view.status!r}; the policy allows only "
            f"{', '.join(rule.allowed_statuses)}",
        )

    # Exactly one approval property, with a value we can trust.
    approval = view.approval
    if approval is None:
        fail(Rule.NO_APPROVAL, view.no_approval)
        return Verdict(
            rule, Outcome.NOT_APPROVED, tuple(failures), link, view.title, view.status, version
        )

    # Provenance: page editors can write content properties too (REST), so where the
    # policy names the accounts that write approvals, anyone else's data is not trusted.
    if rule.approval_writers is not None:
        writer = approval.written.author_id if approval.written else None
        if writer is None:
            fail(
                Rule.WRITER,
                "Confluence does not say who last wrote the approval data (its property "
                "version has no authorId), so it cannot be checked against approval_writers",
            )
        elif writer not in rule.approval_writers:
            fail(
                Rule.WRITER,
                f"approval data last written by {person(writer, names, with_id=True)}, who is "
                "not one of approval_writers; have the approval app record the approval again",
            )

    # Contradictions: one account in two lists, or an approval completed in the future.
    lists = (
        ("approved", approval.approved),
        ("pending", approval.pending),
        ("rejected", approval.rejected),
    )
    # (Sets: a server may send lists of a thousand ids; tuples would make this quadratic.)
    for i, (first, first_accounts) in enumerate(lists):
        for second, second_accounts in lists[i + 1 :]:
            if not (first_accounts and second_accounts):
                continue
            others = set(second_accounts)
            both = [a for a in first_accounts if a in others]
            if both:
                fail(
                    Rule.CONTRADICTION,
                    f"the approval contradicts itself: {named(both)} listed as both {first} "
                    f"and {second}; ask the approvers to decide again",
                )
    completed = approval.completed_at if approval.is_complete else None
    # (Subtracted from the completion, at least 1970: the as-of may be the calendar's end.)
    if completed is not None and completed - CLOCK_SKEW > as_of:
        fail(
            Rule.CONTRADICTION,
            f"the approval claims to have completed {_iso(completed)}, after the as-of "
            f"instant {_iso(as_of)}: an approval cannot complete in the future",
        )

    # Not rejected: by the approval's own threshold, or the policy's lower max_rejections.
    rejections, set_by = rejection_threshold(rule, approval)
    if len(approval.rejected) >= rejections:
        fail(
            Rule.REJECTED,
            f"the approval was rejected (rejected by: {named(approval.rejected)}; "
            f"{_why_rejected(len(approval.rejected), set_by, rule, approval)})",
        )

    # Complete.
    if not approval.is_complete:
        waiting = f" (still pending: {named(approval.pending)})" if approval.pending else ""
        fail(Rule.INCOMPLETE, f"the approval is not complete yet{waiting}")

    # Which versions the approval must answer for: the approved one (the version
    # current when the approval completed) and every later one. Only a history can
    # tell those apart once the page was edited after the approval.
    edited_after = completed is not None and completed < version.created_at
    chain: tuple[PageVersion, ...] | None = (version,)
    chain_problem = ""
    if edited_after and _history_needed(rule):
        assert completed is not None
        minor_matters = rule.require_current_version and rule.ignore_minor_edits
        chain, chain_problem = _versions_since(completed, version, facts, minor_matters)
    # A history that could not be read makes the page not verifiable, not merely not
    # approved: no waiver may cover it (an unreachable site must not pass on waivers).
    unread = chain is None and (facts.versions is None or facts.versions_failure is not None)
    history_rule = Rule.HISTORY_UNVERIFIABLE if unread else None

    # Four eyes: nobody who published the approved version or a later one counts.
    publishers: set[str] = set()
    if rule.forbid_self_approval:
        if chain is None:
            fail(
                history_rule or Rule.AUTHOR_UNKNOWN,
                f"four eyes (forbid_self_approval) cannot be checked: {chain_problem}",
            )
        else:
            unknown = [v.number for v in chain if v.author_id is None]
            if unknown:
                fail(
                    Rule.AUTHOR_UNKNOWN,
                    "four eyes (forbid_self_approval) cannot be checked: Confluence does not "
                    f"say who published version {_numbers(unknown)}",
                )
            publishers = {v.author_id for v in chain if v.author_id is not None}
    counted = tuple(a for a in approval.approved if a not in publishers)
    counted_set = set(counted)
    excluded = [a for a in approval.approved if a in publishers]
    which = "the approved version or a later one" if len(chain or ()) > 1 else "the current version"
    not_counted = (
        f"; not counted: {named(excluded)}, who published {which} (forbid_self_approval)"
        if excluded
        else ""
    )

    # Enough distinct approvers. Never fewer than one: an approval that nobody gave
    # is not an approval, whatever a policy or the app's settings say.
    needed = max(1, rule.min_approvers, approval.minimum_approvers)
    if len(counted) < needed:
        fail(
            Rule.APPROVALS,
            f"only {len(counted)} of {needed} required approvals "
            f"(approved: {named(counted) or 'nobody'}{not_counted})",
        )

    # Named approvers.
    missing = [a for a in rule.required_approvers if a not in counted_set]
    if missing:
        # excluded: approved but published; never_count: published, not (yet) approved
        excluded_set = set(excluded)
        never_count = [a for a in missing if a in publishers and a not in excluded_set]
        cannot = (
            f"; {named(never_count)} published {which}, so their approval cannot count "
            "(forbid_self_approval)"
            if never_count
            else ""
        )
        fail(
            Rule.SELF_APPROVAL
            if any(a in publishers for a in missing)
            else Rule.REQUIRED_APPROVERS,
            f"required approvers have not approved: {named(missing)}"
            + (not_counted if any(a in excluded_set for a in missing) else "")
            + cannot,
        )

    # Teams: enough counted approvers from each required Confluence group.
    tallies = tuple(tally_group(r, counted, groups.get(r.group)) for r in rule.required_groups)
    for tally in tallies:
        for failed, reason in _group_failures(tally, counted, named):
            fail(failed, reason)

    # An exact end date holds whether or not the approval is complete: waiting cannot help.
    if rule.expires_on is not None:
        expired = _expired_on(rule.expires_on, as_of)
        if expired:
            fail(Rule.EXPIRED, expired)

    # Current and fresh speak of a completed approval: before that completedAt means nothing.
    expires_at: datetime | None = None
    if approval.is_complete:
        if completed is None:
            fail(
                Rule.NO_COMPLETION_TIME,
                "the approval is marked complete but has no completion time",
            )
        else:
            if rule.require_current_version and edited_after:
                stale = _stale(completed, version, rule, chain, chain_problem)
                if stale:
                    fail(history_rule or Rule.STALE, stale)
            limit = rule.age_limit
            if limit is not None:
                expires_at = limit.after(completed)
                too_old = _too_old(rule, limit.text, completed, expires_at, as_of)
                if too_old:
                    fail(Rule.TOO_OLD, too_old)
    outcome = Outcome.NOT_APPROVED if failures else Outcome.APPROVED
    if any(f.rule in UNVERIFIABLE_RULES for f in failures):
        outcome = Outcome.UNVERIFIABLE
    return Verdict(
        rule,
        outcome,
        tuple(failures),
        link,
        view.title,
        view.status,
        version,
        approval,
        groups=tallies,
        expires_at=expires_at,
    )


def _too_old(
    rule: PageRule, limit: str, completed: datetime, expires_at: datetime | None, as_of: datetime
) -> str:
    """Calendar-aware age: why the approval is too old, or "" while it counts."""
    # Aware datetimes compare as instants, whatever the as-of's offset.
    if expires_at is None or as_of <= expires_at:
        return ""
    setting = "max_age" if rule.max_age is not None else "max_age_days"
    age = as_of - completed
    return (
        f"the approval is too old: it expired on {_iso(expires_at)} (completed "
        f"{_iso(completed)}, {setting} {limit}; {age.days} days before {_iso(as_of)}); "
        "request a new approval"
    )


def _expired_on(expires_on: date, as_of: datetime) -> str:
    """``expires_on``: from the start of that day (UTC) on, the approval no longer counts."""
    if as_of < datetime.combine(expires_on, time.min, tzinfo=timezone.utc):
        return ""
    return (
        f"the approval expired on {expires_on.isoformat()} (expires_on in the policy; judged at "
        f"{_iso(as_of)}); request a new approval"
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


def tally_group(
    requirement: GroupRequirement, counted: Sequence[str], members: GroupMembers | None
) -> GroupTally:
    if members is None:
        return GroupTally(
            requirement, (), "its members were not fetched; record a snapshot that includes them"
        )
    if members.failure is not None:
        return GroupTally(requirement, (), members.failure.message)
    return GroupTally(requirement, tuple(a for a in counted if a in members.keys))


def _group_failures(
    tally: GroupTally, counted: Sequence[str], people: Callable[[Iterable[str]], str]
) -> list[tuple[Rule, str]]:
    group, needed = tally.requirement.group, tally.requirement.min
    if tally.failure is not None:
        return [
            (
                Rule.GROUPS_UNVERIFIABLE,
                f'could not verify the approvers from group "{group}": {tally.failure}',
            )
        ]
    if len(tally.members_counted) >= needed:
        return []
    members = set(tally.members_counted)
    others = [a for a in counted if a not in members]
    outside = f"; approved, but not in the group: {people(others)}" if others else ""
    return [
        (
            Rule.GROUPS,
            f"only {len(tally.members_counted)} of {needed} required approvals from group "
            f'"{group}" (members who approved: {people(tally.members_counted) or "nobody"}'
            f"{outside})",
        )
    ]


def _history_needed(rule: PageRule) -> bool:
    """Whether, for a page edited after its approval, the verdict needs the version history.

    With ``ignore_minor_edits`` (and ``require_current_version``): to see which edits
    were minor. With ``forbid_self_approval`` and edits allowed: to see who published
    every version since the approved one. Otherwise the page is stale whatever it says.
    """
    if rule.require_current_version:
        return rule.ignore_minor_edits
    return rule.forbid_self_approval


def _stale(
    completed: datetime,
    version: PageVersion,
    rule: PageRule,
    chain: tuple[PageVersion, ...] | None,
    chain_problem: str,
) -> str:
    """Why the approval is stale, or "" when every later edit was minor and that is allowed."""
    edited = (
        f"page was edited after approval: version {version.number} published "
        f"{_iso(version.created_at)}, approval completed {_iso(completed)}"
    )
    advice = "; request a new approval of the current version"
    if not rule.ignore_minor_edits:
        return edited + advice
    if chain is None:
        return f"{edited}; whether those edits were minor could not be checked ({chain_problem})"
    major = [v.number for v in chain[1:] if not v.minor_edit]
    if major:
        verb = "was not a minor edit" if len(major) == 1 else "were not minor edits"
        return f"{edited}; version {_numbers(major)} after the approval {verb}{advice}"
    return ""


def _versions_since(
    completed: datetime, current: PageVersion, facts: PageFacts, minor_matters: bool
) -> tuple[tuple[PageVersion, ...] | None, str]:
    """The approved version, then every later one up to the current, oldest first.

    The approved version is the one current when the approval completed: the
    highest-numbered version published at or before ``completedAt``. Fail closed:
    every number from it to the current must be in the history, with its publication
    time and, where ``minor_matters``, whether each later one was a minor edit; else
    (None, why).
    """
    if facts.versions_failure is not None:
        return None, f"the version history could not be fetched: {facts.versions_failure.message}"
    if facts.versions is None:
        return None, "the version history was not fetched; record a new snapshot"
    history: dict[int, tuple[datetime | None, str | None, bool | None]] = {}
    for raw in facts.versions:
        if not isinstance(raw, dict):
            continue
        number = raw.get("number")
        if not isinstance(number, int) or isinstance(number, bool):
            continue
        author, minor = raw.get("authorId"), raw.get("minorEdit")
        entry = (
            _parse_instant(raw.get("createdAt")),
            account_key(author) if isinstance(author, str) and author else None,
            minor if isinstance(minor, bool) else None,
        )
        if history.setdefault(number, entry) != entry:
            return None, f"the version history lists version {number} twice, differently"
    newest = max(history, default=current.number)
    if newest > current.number:
        return None, (
            f"the version history shows version {newest}, newer than the page's current "
            f"version {current.number} (the page changed while the gate read it); run it again"
        )
    chain: list[PageVersion] = []
    for number in range(current.number, 0, -1):
        if number not in history:
            return None, f"version {number} is missing from the version history"
        created_at, author, minor = history[number]
        if created_at is None:
            return None, f"the version history gives no publication time for version {number}"
        if number == current.number and (
            (created_at, author) != (current.created_at, current.author_id)
            or (None not in (minor, current.minor_edit) and minor != current.minor_edit)
        ):
            return None, (
                f"the version history and the page disagree on version {number}: who "
                "published it, when, or whether it was minor"
            )
        # Times that go backwards would move the approved version (the highest-numbered
        # one published by completedAt) past an edit made after the approval.
        if chain and created_at > chain[-1].created_at:
            return None, _backwards(number, number + 1)
        chain.append(PageVersion(number, created_at, author, minor))
        if created_at <= completed:
            below = history.get(number - 1, (None,))[0]
            if below is not None and below > created_at:
                return None, _backwards(number - 1, number)
            return tuple(reversed(chain)), ""
        if minor is None and minor_matters:
            return None, f"the version history does not say whether version {number} was minor"
    return None, "no version of the page was published before the approval completed"


def _backwards(earlier: int, later: int) -> str:
    return (
        f"the version history contradicts itself: version {earlier} is dated after version {later}"
    )


def needs_versions(rule: PageRule, view: PageView) -> bool:
    """Whether judging this page needs its version history (edits after the approval)."""
    approval, version = view.approval, view.version
    if view.problem is not None or approval is None or version is None:
        return False
    if not (approval.is_complete and approval.completed_at is not None):
        return False
    return _history_needed(rule) and approval.completed_at < version.created_at


def mentioned_accounts(rule: PageRule, view: PageView) -> set[str]:
    """Every account a verdict or report on this page may name, to look names up in one go."""
    accounts = set(rule.required_approvers) | set(rule.approval_writers or ())
    if view.version is not None and view.version.author_id is not None:
        accounts.add(view.version.author_id)
    approval = view.approval
    if approval is not None:
        accounts.update(approval.approved, approval.pending, approval.rejected)
        if approval.written is not None and approval.written.author_id is not None:
            accounts.add(approval.written.author_id)
    return accounts


def find_approval(
    properties: list[dict[str, Any]], property_key: str | None
) -> tuple[ApprovalProperty | None, str]:
    """The one approval property, parsed, or why there is none to trust."""
    if property_key:
        found = [p for p in properties if p["key"] == property_key]
    else:
        found = [p for p in properties if p["key"].endswith(APPROVAL_KEY_SUFFIX)]
    if not found:
        wanted = f"{property_key!r}" if property_key else f"a key ending in {APPROVAL_KEY_SUFFIX}"
        return None, (
            f"no approval has been requested (the page has no content property {wanted}); "
            "request an approval with Capable Approval"
        )
    if len(found) > 1:
        keys = ", ".join(sorted(p["key"] for p in found))
        return None, (
            f"ambiguous approval: several properties end in {APPROVAL_KEY_SUFFIX} ({keys}); "
            "set property_key in the policy to the one to check"
        )
    key, value = _shared(found[0]["key"]), found[0].get("value")
    untrusted = f"approval property {key!r} is malformed, so it cannot be trusted"
    if not isinstance(value, dict):
        return None, f"{untrusted}: $: its value is {type(value).__name__}, not an object"
    # The quick check first: jsonschema only where it may find something to report.
    if not _approval_ok(value):
        # A list beyond the cap is refused before anything reads its items (jsonschema
        # would check every one of them: seconds for a hostile ten-megabyte property).
        too_long = [
            f"$.{name}: lists {len(value[name])} accounts; an approval lists at most "
            f"{MAX_ACCOUNTS_PER_LIST}"
            for name in _ACCOUNT_LISTS
            if isinstance(value.get(name), list) and len(value[name]) > MAX_ACCOUNTS_PER_LIST
        ]
        if too_long:
            return None, f"{untrusted}: {'; '.join(too_long)}"
        violations = sorted(validator("approval").iter_errors(value), key=_path_order)
        if violations:
            details = "; ".join(
                f"{json_path(e.absolute_path)}: {_violation(e)}" for e in violations[:10]
            )
            more = f" (and {len(violations) - 10} more)" if len(violations) > 10 else ""
            return None, f"{untrusted}: {details}{more}"
    return ApprovalProperty.from_value(key, value, _property_version(found[0].get("version"))), ""


_ACCOUNT_LISTS = ("pending", "approved", "rejected", "commented")
#: schemas/approval.schema.json's cap on each account list (its accounts' maxItems): far
#: beyond any real approval, and it keeps judging one page cheap whatever a server sends
MAX_ACCOUNTS_PER_LIST = 1000


def _approval_ok(value: dict[str, Any]) -> bool:
    """True only if ``value`` surely matches schemas/approval.schema.json.

    Validating every page's approval with jsonschema cost more than judging it. False
    means "let the schema decide" (so error messages stay the schema's), never
    "invalid": the check is compiled from the schema (schemas.surely_valid).
    """
    return surely_valid("approval")(value)


def _violation(error: ValidationError) -> str:
    if error.validator == "pattern":
        return (
            f"{error.instance!r} is not an Atlassian account id (letters, digits, ':', '-' and "
            "'_' only; no spaces or invisible characters)"
        )
    return error.message


def _property_version(raw: Any) -> PropertyVersion | None:
    if not isinstance(raw, dict):
        return None
    number, author = raw.get("number"), raw.get("authorId")
    return PropertyVersion(
        number=number if isinstance(number, int) and not isinstance(number, bool) else None,
        created_at=_parse_instant(raw.get("createdAt")),
        author_id=_shared(account_key(author)) if isinstance(author, str) and author else None,
    )


def _path_order(error: ValidationError) -> list[tuple[int, int | str]]:
    # $.pending[2] before $.pending[10]: indexes compare as numbers.
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]


def _properties_ok(properties: Any) -> TypeGuard[list[dict[str, Any]]]:
    return isinstance(properties, list) and all(
        isinstance(p, dict) and isinstance(p.get("key"), str) for p in properties
    )


def _page(
    payload: Any,
    site: str,
) -> tuple[tuple[str | None, str, PageVersion, str | None] | None, str]:
    """Read what the rules need from a page payload, or say what is missing."""
    if not isinstance(payload, dict):
        return None, "Confluence sent no page data"
    status = payload.get("status")
    if not isinstance(status, str):
        return None, "Confluence sent a page without a status"
    raw_version = payload.get("version")
    if not isinstance(raw_version, dict):
        return None, "Confluence sent a page without version information"
    number = raw_version.get("number")
    created_at = _parse_instant(raw_version.get("createdAt"))
    if not isinstance(number, int) or isinstance(number, bool) or created_at is None:
        return None, "Confluence sent a page version without a number or publication time"
    author, minor = raw_version.get("authorId"), raw_version.get("minorEdit")
    version = PageVersion(
        number,
        created_at,
        _shared(account_key(author)) if isinstance(author, str) and author else None,
        minor if isinstance(minor, bool) else None,
    )
    title = payload.get("title")
    links = payload.get("_links")
    link = None
    if isinstance(links, dict) and isinstance(links.get("webui"), str):
        # Batch answers carry the base URL once for all pages, not in each page.
        base = links.get("base")
        link = (base if isinstance(base, str) else site) + links["webui"]
        # The link is Confluence's word too: shown only if it lies under the configured
        # site (a proxy's "_links.base" of another host would send auditors there).
        if not link.startswith(site.rstrip("/") + "/"):
            link = None
    return (title if isinstance(title, str) else None, _shared(status), version, link), ""


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(map(str, sorted(numbers)))


def _distinct(accounts: Sequence[str]) -> tuple[str, ...]:
    """Each account once, in its one spelling (accounts.account_key), in the app's order."""
    return tuple(dict.fromkeys(_shared(account_key(a)) for a in accounts))


def _shared(text: str) -> str:
    """One copy of a string that repeats across pages: account ids, statuses, keys.

    A run keeps every verdict until its outputs are written; with thousands of pages,
    the same few approvers' ids would otherwise be held once per page.
    """
    return sys.intern(text) if type(text) is str else text


def _from_epoch_ms(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=value)


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # RFC 3339 allows a lowercase "z" (and "t"); fromisoformat takes neither "z" nor
        # "Z" on every Python version, so the offset is spelled out.
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        # An instant without an offset cannot be compared safely: treat it as unknown.
        # Normalising here keeps every instant the rules see in UTC and in range.
        return parsed.astimezone(timezone.utc) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _iso(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

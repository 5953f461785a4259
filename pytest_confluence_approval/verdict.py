"""The rules of "When a page passes" (README): policy rule + fetched facts + as-of -> Verdict.

Pure: no I/O, no pytest, no clock. Every rule that can be judged is judged, so a
failing verdict lists all its reasons, not only the first.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Any, TypeGuard

from jsonschema import ValidationError

from .facts import GroupMembers, PageFacts
from .policy import GroupRequirement, PageRule
from .schemas import json_path, validator
from .untrusted import render_lines

APPROVAL_KEY_SUFFIX = "_capable_approval"


class Outcome(enum.Enum):
    APPROVED = "approved"
    NOT_APPROVED = "not approved"
    UNVERIFIABLE = "not verifiable"


@dataclass(frozen=True)
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

    @classmethod
    def from_value(cls, key: str, value: dict[str, Any]) -> ApprovalProperty:
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
        )


@dataclass(frozen=True)
class PageVersion:
    number: int
    created_at: datetime
    author_id: str | None


#: Failed rules that waiting can fix: the approvers are simply not done yet.
WAITABLE = frozenset({"incomplete", "approvals", "required-approvers", "groups"})
#: Failed rules that make a page not verifiable rather than not approved.
UNVERIFIABLE_RULES = frozenset({"groups-unverifiable", "completed-later"})
#: How far ahead of the gate's clock (the as-of instant) a completion may lie and still be
#: the app's server clock running a little fast, not a completion that has not happened.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class GroupTally:
    """One ``required_groups`` entry as judged: the counted approvers who are members."""

    requirement: GroupRequirement
    members_counted: tuple[str, ...]
    #: why the group's members could not be read (then nothing is counted)
    failure: str | None = None


@dataclass(frozen=True)
class Verdict:
    rule: PageRule
    outcome: Outcome
    reasons: tuple[str, ...]
    link: str
    title: str | None = None
    status: str | None = None
    version: PageVersion | None = None
    approval: ApprovalProperty | None = None
    #: a short code per reason (same order): "fetch", "status", "no-approval",
    #: "rejected", "incomplete", "approvals", "required-approvers", "stale", "too-old"...
    failed_rules: tuple[str, ...] = ()
    #: where the policy requires groups: who counted for which group
    groups: tuple[GroupTally, ...] = ()
    #: when the completed approval stops counting under max_age (None: no limit or never)
    expires_at: datetime | None = None

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.APPROVED

    @property
    def waitable(self) -> bool:
        """Not approved only because approvers are not done yet: waiting may fix it."""
        return (
            self.outcome is Outcome.NOT_APPROVED
            and bool(self.failed_rules)
            and set(self.failed_rules) <= WAITABLE
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
    return Verdict(rule, Outcome.UNVERIFIABLE, (reason,), link, failed_rules=("fetch",), **facts)


def evaluate(
    rule: PageRule,
    facts: PageFacts,
    *,
    as_of: datetime,
    site: str,
    property_key: str | None = None,
    names: Mapping[str, str] = MappingProxyType({}),
    groups: Mapping[str, GroupMembers] = MappingProxyType({}),
) -> Verdict:
    """Judge every rule of "When a page passes"; ``names`` maps account ids to display names,
    ``groups`` group names to their members (for ``required_groups``)."""

    def people(accounts: Sequence[str]) -> str:
        return ", ".join(names.get(a, a) for a in accounts)

    fallback_link = f"{site}/pages/viewpage.action?pageId={rule.page_id}"

    # Rule 1: the page and its properties could be fetched, in a shape we understand.
    if facts.failure is not None:
        return unverifiable(rule, f"could not verify: {facts.failure.message}", fallback_link)
    page, problem = _page(facts.page, site)
    if page is None:
        return unverifiable(rule, f"could not verify: {problem}", fallback_link)
    title, status, version, link = page
    link = link or fallback_link
    properties = facts.properties
    if not _properties_ok(properties):
        return unverifiable(
            rule,
            "could not verify: Confluence sent the page's properties in an unexpected shape",
            link,
            title=title,
            status=status,
            version=version,
        )

    reasons: list[str] = []
    codes: list[str] = []
    tallies: tuple[GroupTally, ...] = ()
    expires_at: datetime | None = None

    def fail(code: str, reason: str) -> None:
        codes.append(code)
        reasons.append(reason)

    def verdict(approval: ApprovalProperty | None = None) -> Verdict:
        outcome = Outcome.NOT_APPROVED if reasons else Outcome.APPROVED
        if UNVERIFIABLE_RULES.intersection(codes):
            outcome = Outcome.UNVERIFIABLE
        return Verdict(
            rule,
            outcome,
            tuple(reasons),
            link,
            title,
            status,
            version,
            approval,
            tuple(codes),
            groups=tallies,
            expires_at=expires_at,
        )

    # Rule 2: page status.
    if status not in rule.allowed_statuses:
        fail(
            "status",
            f"page status is {status!r}; the policy allows only {', '.join(rule.allowed_statuses)}",
        )

    # Rules 3 and 4: exactly one approval property, and a value we can trust.
    approval, problem = find_approval(properties, property_key)
    if approval is None:
        fail("no-approval", problem)
        return verdict()

    # Rule 5: not rejected.
    if len(approval.rejected) >= max(1, approval.minimum_rejections):
        fail("rejected", f"the approval was rejected (rejected by: {people(approval.rejected)})")

    # Rule 6: complete.
    if not approval.is_complete:
        waiting = f" (still pending: {people(approval.pending)})" if approval.pending else ""
        fail("incomplete", f"the approval is not complete yet{waiting}")

    # Four eyes: whoever published the current version cannot approve it.
    self_approved = (
        rule.forbid_self_approval
        and version.author_id is not None
        and version.author_id in approval.approved
    )
    counted = tuple(a for a in approval.approved if not (self_approved and a == version.author_id))
    not_counted = (
        f"; not counted: {people([version.author_id])}, who published the current version "
        "(forbid_self_approval)"
        if self_approved and version.author_id
        else ""
    )

    # Rule 7: enough distinct approvers. Never fewer than one: an approval that nobody
    # gave is not an approval, whatever a policy or the app's settings say.
    needed = max(1, rule.min_approvers, approval.minimum_approvers)
    if len(counted) < needed:
        fail(
            "approvals",
            f"only {len(counted)} of {needed} required approvals "
            f"(approved: {people(counted) or 'nobody'}{not_counted})",
        )

    # Rule 8: named approvers.
    missing = [a for a in rule.required_approvers if a not in counted]
    if missing:
        fail(
            "required-approvers",
            f"required approvers have not approved: {people(missing)}"
            + (not_counted if version.author_id in missing else ""),
        )

    # Teams: enough counted approvers from each required Confluence group.
    tallies = tuple(tally_group(r, counted, groups.get(r.group)) for r in rule.required_groups)
    for tally in tallies:
        for code, reason in _group_failures(tally, counted, people):
            fail(code, reason)

    # An exact end date holds whether or not the approval is complete: waiting cannot help.
    if rule.expires_on is not None:
        expired = _expired_on(rule.expires_on, as_of)
        if expired:
            fail("expired", expired)

    # Rules 9 and 10 speak of a completed approval: before that completedAt means nothing.
    if approval.is_complete:
        completed = approval.completed_at
        if completed is None:
            fail("no-completion-time", "the approval is marked complete but has no completion time")
        elif completed > as_of + CLOCK_SKEW:
            # Not yet completed at the instant judged: a completion in 9999 would otherwise
            # expire "beyond the calendar" (never), one in 2036 count until 2036 + max_age.
            fail(
                "completed-later",
                f"the approval says it completed at {_iso(completed)}, after the instant "
                f"judged ({_iso(as_of)}); check the page's approval (and --confluence-as-of)",
            )
        else:
            if rule.require_current_version and completed < version.created_at:
                stale = _edits_after(completed, version, facts, rule.ignore_minor_edits)
                if stale:
                    fail("stale", stale)
            limit = rule.age_limit
            if limit is not None:
                expires_at = limit.after(completed)
                too_old = _too_old(rule, limit.text, completed, expires_at, as_of)
                if too_old:
                    fail("too-old", too_old)
    return verdict(approval)


def _too_old(
    rule: PageRule, limit: str, completed: datetime, expires_at: datetime | None, as_of: datetime
) -> str:
    """Rule 10 with calendar months: why the approval is too old, or "" while it counts."""
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


def tally_group(
    requirement: GroupRequirement, counted: Sequence[str], members: GroupMembers | None
) -> GroupTally:
    if members is None:
        return GroupTally(
            requirement, (), "its members were not fetched; record a snapshot that includes them"
        )
    if members.failure is not None:
        return GroupTally(requirement, (), members.failure.message)
    return GroupTally(requirement, tuple(a for a in counted if a in members.members))


def _group_failures(
    tally: GroupTally, counted: Sequence[str], people: Callable[[Sequence[str]], str]
) -> list[tuple[str, str]]:
    group, needed = tally.requirement.group, tally.requirement.min
    if tally.failure is not None:
        return [
            (
                "groups-unverifiable",
                f'could not verify the approvers from group "{group}": {tally.failure}',
            )
        ]
    if len(tally.members_counted) >= needed:
        return []
    others = [a for a in counted if a not in tally.members_counted]
    outside = f"; approved, but not in the group: {people(others)}" if others else ""
    return [
        (
            "groups",
            f"only {len(tally.members_counted)} of {needed} required approvals from group "
            f'"{group}" (members who approved: {people(tally.members_counted) or "nobody"}'
            f"{outside})",
        )
    ]


def _edits_after(
    completed: datetime, version: PageVersion, facts: PageFacts, ignore_minor: bool
) -> str:
    """Why the approval is stale, or "" when every later edit was minor and that is allowed."""
    edited = (
        f"page was edited after approval: version {version.number} published "
        f"{_iso(version.created_at)}, approval completed {_iso(completed)}"
    )
    advice = "; request a new approval of the current version"
    if not ignore_minor:
        return edited + advice
    if facts.versions_failure is not None:
        why = facts.versions_failure.message
        return f"{edited}; whether those edits were minor could not be checked ({why})"
    later: list[tuple[int, bool]] = []
    for raw in facts.versions or []:
        if not isinstance(raw, dict):
            continue
        created_at, number = _parse_instant(raw.get("createdAt")), raw.get("number")
        if created_at is None or not isinstance(number, int) or created_at <= completed:
            continue
        later.append((number, raw.get("minorEdit") is True))
    # Fail closed: the history must account for the current version itself.
    if version.number not in {number for number, _ in later}:
        return f"{edited}; the version history does not show which edits were minor{advice}"
    major = sorted(number for number, minor in later if not minor)
    if major:
        listed = ", ".join(map(str, major))
        verb = "was not a minor edit" if len(major) == 1 else "were not minor edits"
        return f"{edited}; version {listed} after the approval {verb}{advice}"
    return ""


def needs_versions(rule: PageRule, facts: PageFacts, property_key: str | None = None) -> bool:
    """Whether judging this page needs its version history (minor edits after approval)."""
    if not (rule.ignore_minor_edits and rule.require_current_version) or facts.failure:
        return False
    page, _ = _page(facts.page, "")
    properties = facts.properties
    if page is None or not _properties_ok(properties):
        return False
    approval, _ = find_approval(properties, property_key)
    if approval is None or not approval.is_complete or approval.completed_at is None:
        return False
    return approval.completed_at < page[2].created_at


def find_approval(
    properties: list[dict[str, Any]], property_key: str | None
) -> tuple[ApprovalProperty | None, str]:
    """Rules 3 and 4: the one approval property, parsed, or why there is none to trust."""
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
    key, value = found[0]["key"], found[0].get("value")
    untrusted = f"approval property {key!r} is malformed, so it cannot be trusted"
    if not isinstance(value, dict):
        return None, f"{untrusted}: $: its value is {type(value).__name__}, not an object"
    violations = sorted(validator("approval").iter_errors(value), key=_path_order)
    if violations:
        details = "; ".join(f"{json_path(e.absolute_path)}: {e.message}" for e in violations[:10])
        more = f" (and {len(violations) - 10} more)" if len(violations) > 10 else ""
        return None, f"{untrusted}: {details}{more}"
    return ApprovalProperty.from_value(key, value), ""


def _path_order(error: ValidationError) -> list[tuple[int, int | str]]:
    # $.pending[2] before $.pending[10]: indexes compare as numbers.
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]


def mentioned_accounts(
    rule: PageRule, facts: PageFacts, property_key: str | None = None
) -> set[str]:
    """Every account a verdict on this page may name, so names can be looked up in one go."""
    accounts = set(rule.required_approvers)
    properties = facts.properties
    if facts.failure is None and _properties_ok(properties):
        approval, _ = find_approval(properties, property_key)
        if approval is not None:
            accounts.update(approval.approved, approval.pending, approval.rejected)
    return accounts


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
    author = raw_version.get("authorId")
    version = PageVersion(number, created_at, author if isinstance(author, str) else None)
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
    return (title if isinstance(title, str) else None, status, version, link), ""


def _distinct(accounts: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(accounts))


def _from_epoch_ms(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=value)


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # An instant without an offset cannot be compared safely: treat it as unknown.
        # Normalising here keeps every instant the rules see in UTC and in range.
        return parsed.astimezone(timezone.utc) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _iso(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

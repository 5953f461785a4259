"""The README's "When a page passes": policy rule + page facts + as-of -> Verdict.

Pure: no I/O, no pytest, no clock. Each page's payloads are read once into a
:class:`PageView` (the approval property validated once); ``evaluate``,
``needs_versions`` and ``mentioned_accounts`` all work from it. ``evaluate``
counts the approval once into a ``rules.Counting`` and judges every rule in
``rules.py`` on it, so a failing verdict lists all its failures, not only the first.

Fail closed: missing, contradictory or unverifiable data never passes.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeGuard

from jsonschema import ValidationError

from .accounts import account_key, ambiguous_names
from .facts import GroupMembers, PageFacts
from .instants import from_epoch_ms as _from_epoch_ms
from .instants import instant_or_none as _parse_instant
from .policy import GroupRequirement, PageRule

# The rules' vocabulary is public here, where every other module imports it from.
from .rules import APPROVAL_RULES, Counting, allowed_status
from .rules import CLOCK_SKEW as CLOCK_SKEW
from .rules import Failure as Failure
from .rules import Rule as Rule
from .rules import rejection_threshold as rejection_threshold
from .schemas import json_path, surely_valid, validator
from .untrusted import render_lines

APPROVAL_KEY_SUFFIX = "_capable_approval"


class Outcome(enum.Enum):
    APPROVED = "approved"
    NOT_APPROVED = "not approved"
    UNVERIFIABLE = "not verifiable"


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
    link, version = view.link, view.version
    if view.problem is not None:
        return unverifiable(
            rule, view.problem, link, title=view.title, status=view.status, version=version
        )
    assert version is not None, "read_page gives a version whenever it finds no problem"
    failures = list(allowed_status(rule, view.status))
    # Exactly one approval property, with a value we can trust: else nothing to count.
    approval = view.approval
    if approval is None:
        failures.append(Failure(Rule.NO_APPROVAL, view.no_approval))
        return Verdict(
            rule, Outcome.NOT_APPROVED, tuple(failures), link, view.title, view.status, version
        )
    counting = _count(rule, view, approval, version, facts, as_of=as_of, names=names, groups=groups)
    for check in APPROVAL_RULES:
        failures.extend(check(counting))
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
        groups=counting.tallies,
        expires_at=counting.expires_at,
    )


def _count(
    rule: PageRule,
    view: PageView,
    approval: ApprovalProperty,
    version: PageVersion,
    facts: PageFacts,
    *,
    as_of: datetime,
    names: Mapping[str, str],
    groups: Mapping[str, GroupMembers],
) -> Counting:
    """What the rules read, computed once: the version chain, who counts, group tallies."""
    completed = approval.completed_at if approval.is_complete else None
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
    # Four eyes: nobody who published the approved version or a later one counts.
    publishers: frozenset[str] = (
        frozenset(v.author_id for v in chain if v.author_id is not None)
        if rule.forbid_self_approval and chain is not None
        else frozenset()
    )
    counted = tuple(a for a in approval.approved if a not in publishers)
    limit = rule.age_limit
    return Counting(
        rule=rule,
        approval=approval,
        version=version,
        as_of=as_of,
        names=names,
        # A name that two of the page's accounts share, or that is one of their ids,
        # comes with the account id wherever it is shown (accounts.person).
        ambiguous=ambiguous_names(mentioned_accounts(rule, view), names),
        completed=completed,
        edited_after=edited_after,
        chain=chain,
        chain_problem=chain_problem,
        history_rule=Rule.HISTORY_UNVERIFIABLE if unread else None,
        publishers=publishers,
        counted=counted,
        excluded=tuple(a for a in approval.approved if a in publishers),
        tallies=tuple(tally_group(r, counted, groups.get(r.group)) for r in rule.required_groups),
        expires_at=limit.after(completed) if limit is not None and completed is not None else None,
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
    return GroupTally(requirement, tuple(a for a in counted if a in members.keys))


def _history_needed(rule: PageRule) -> bool:
    """Whether, for a page edited after its approval, the verdict needs the version history.

    With ``ignore_minor_edits`` (and ``require_current_version``): to see which edits
    were minor. With ``forbid_self_approval`` and edits allowed: to see who published
    every version since the approved one. Otherwise the page is stale whatever it says.
    """
    if rule.require_current_version:
        return rule.ignore_minor_edits
    return rule.forbid_self_approval


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
    history = _history_by_number(facts.versions)
    if isinstance(history, str):
        return None, history
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


#: one version as the history lists it: publication time, publisher, whether it was minor
_HistoryEntry = tuple[datetime | None, str | None, bool | None]


def _history_by_number(versions: list[Any]) -> dict[int, _HistoryEntry] | str:
    """The versions by number (entries without a number skipped), or why not: one twice."""
    history: dict[int, _HistoryEntry] = {}
    for raw in versions:
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
            return f"the version history lists version {number} twice, differently"
    return history


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


def _distinct(accounts: Sequence[str]) -> tuple[str, ...]:
    """Each account once, in its one spelling (accounts.account_key), in the app's order."""
    return tuple(dict.fromkeys(_shared(account_key(a)) for a in accounts))


def _shared(text: str) -> str:
    """One copy of a string that repeats across pages: account ids, statuses, keys.

    A run keeps every verdict until its outputs are written; with thousands of pages,
    the same few approvers' ids would otherwise be held once per page.
    """
    return sys.intern(text) if type(text) is str else text

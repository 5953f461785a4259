"""The whole run as one frozen record: what every output shows, decided once.

After the verdicts, the gate builds one :class:`GateResult` (gate.py, ``Gate.result``):
the pages in the order outputs show them, each with its verdict and its waiver, what was
not judged, the run's facts and its counts. The terminal summary (terminal.py), the
JUnit suite properties and the JSON report (evidence.py) and the job summary
(jobsummary.py) are each a function of it: none sorts, counts or decides again whether a
page was waived or judged, so no two outputs can disagree about the run.

Pure: knows nothing of pytest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Protocol

from .facts import PageFacts, QueryResult
from .policy import PageQuery, PageRule, Waiver
from .scope import EVERYTHING_JUDGED, NotJudged
from .verdict import Outcome, PageVersion, Verdict


class WaiverState(Enum):
    """What a page's waiver does to its verdict at the run's as-of instant."""

    #: it covers the page's "not approved": the page xfails
    APPLIED = "applied"
    #: it would cover it, but it expired before the as-of instant: the page fails
    EXPIRED = "expired"
    #: the page is approved, or could not be verified (never waived): nothing to cover
    UNUSED = "unused"


@dataclass(frozen=True)
class WaiverUse:
    """A page's waiver from the policy, and what it does to the page's verdict."""

    waiver: Waiver
    state: WaiverState

    @property
    def applied(self) -> bool:
        """Whether the waiver turns the page's failure into an xfail."""
        return self.state is WaiverState.APPLIED


def page_order(page_id: str) -> tuple[int, str]:
    """The order every output shows pages in: page ids are digits, so by number."""
    return len(page_id), page_id


@dataclass(frozen=True)
class JudgedPage:
    """A page this run judged: its verdict, and its waiver if the policy has one."""

    verdict: Verdict
    waiver: WaiverUse | None = None
    #: the gate item's pytest node id (``policy.yaml::page[101 Release notes]``); "" where
    #: the caller knows none
    node_id: str = ""
    #: the label of the ``cql:`` entry that brought the page in (``query "Orion page"``);
    #: None for a page the policy lists
    found_by: str | None = None
    #: under ``ignore_minor_edits``: the version the approval answers for (None: the
    #: current one, or not known)
    approved_version: PageVersion | None = None
    #: under ``ignore_minor_edits``: each minor edit after the approved version that the
    #: verdict tolerated, oldest first
    tolerated_edits: tuple[PageVersion, ...] = ()

    @property
    def page_id(self) -> str:
        return self.verdict.rule.page_id

    @property
    def waived(self) -> bool:
        """Not approved, and a waiver covers it (never a page that could not be verified,
        whatever the waiver's state says: fail closed)."""
        return (
            self.waiver is not None
            and self.waiver.applied
            and self.verdict.outcome is Outcome.NOT_APPROVED
        )


@dataclass(frozen=True)
class UnjudgedPage:
    """A page in the policy's scope that this run did not judge."""

    page_id: str
    #: its policy entry (None only where the caller knows none)
    rule: PageRule | None
    #: dropped by -k, -m or --deselect; else not run (-x, a node id, --collect-only)
    deselected: bool


@dataclass(frozen=True)
class Counts:
    """The judged pages counted, once for every output."""

    approved: int
    not_approved: int
    not_verifiable: int
    #: of the not approved, those a waiver covers
    waived: int
    #: judged pages whose policy entry names no approval_writers (provenance not checked)
    writers_unchecked: int

    @property
    def judged(self) -> int:
        return self.approved + self.not_approved + self.not_verifiable


@dataclass(frozen=True)
class QueryOutcome:
    """A ``cql:`` entry of the policy: what it found, and which of those it brought in."""

    query: PageQuery
    result: QueryResult
    #: the pages it brings into the run (not listed by id, nor found by a query before it)
    judged_here: tuple[str, ...]
    #: the node id of its gate item, which exists only when it judged no page (see
    #: :attr:`judged_nothing`); "" where there is none or the caller knows none
    node_id: str = ""

    @property
    def judged_nothing(self) -> bool:
        """The search failed or matched no pages: its gate item fails the run."""
        return self.result.failure is not None or not self.result.pages


@dataclass(frozen=True)
class RunFacts:
    """What the run was: where it looked, how, at which instant, against which policy."""

    mode: str
    site: str
    #: the policy file as the outputs name it (relative to the rootdir where it is inside)
    policy_path: str
    policy_sha256: str
    #: "none" (a replay sends nothing), "basic", "bearer" or "anonymous"
    auth: str
    gate_version: str
    #: the instant the pages were judged at (None: no page was fetched)
    as_of: datetime | None = None
    #: when the replayed snapshot was recorded (None in a live run)
    recorded_at: datetime | None = None
    #: "fetched N requests at up to M in flight (...)", or None if nothing was sent
    pace: str | None = None
    #: ``--confluence-audit``: judged and reported, never enforced (never a pass in evidence)
    audit: bool = False
    #: the CI run's address (runfacts.ci_run_url); None when not known
    ci_run_url: str | None = None
    #: ``--confluence-var NAME=VALUE``: name -> value
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class GateResult:
    """One run of the gate, as every output shows it."""

    facts: RunFacts
    #: the pages judged, in page order
    judged: tuple[JudgedPage, ...]
    #: every page in scope, judged or not, in page order (the job summary's rows)
    pages: tuple[JudgedPage | UnjudgedPage, ...]
    not_judged: NotJudged
    counts: Counts
    #: the policy's cql: entries, in policy order
    queries: tuple[QueryOutcome, ...]
    #: account id -> display name, as the site gave them
    names: Mapping[str, str]
    #: what was fetched of each page (read by the JSON report for its fetch failure only:
    #: a replayed page is decoded when it is read)
    fetched: Mapping[str, PageFacts]


def gate_result(
    verdicts: Iterable[Verdict],
    *,
    facts: RunFacts,
    waivers: Mapping[str, WaiverUse] | None = None,
    not_judged: NotJudged = EVERYTHING_JUDGED,
    rules: Mapping[str, PageRule] | None = None,
    queries: Iterable[QueryOutcome] = (),
    names: Mapping[str, str] | None = None,
    fetched: Mapping[str, PageFacts] | None = None,
    node_ids: Mapping[str, str] | None = None,
) -> GateResult:
    """The run's result: its pages sorted and counted here, once.

    ``node_ids``: the gate items' node ids, by page id (page items) and by CQL (the
    items of queries that judged no page).
    """
    waivers, rules, node_ids = waivers or {}, rules or {}, node_ids or {}
    queries = tuple(replace(q, node_id=q.node_id or node_ids.get(q.query.cql, "")) for q in queries)
    found_by = {p: q.query.label for q in queries for p in q.judged_here}
    judged = tuple(
        JudgedPage(
            v,
            waivers.get(v.rule.page_id),
            node_id=node_ids.get(v.rule.page_id, ""),
            found_by=found_by.get(v.rule.page_id),
        )
        for v in sorted(verdicts, key=lambda v: page_order(v.rule.page_id))
    )
    deselected = frozenset(not_judged.deselected)  # asked of every page: a set
    judged_ids = frozenset(page.page_id for page in judged)
    unjudged = [
        UnjudgedPage(p, rules.get(p), p in deselected)
        for p in dict.fromkeys([*not_judged.deselected, *not_judged.not_run])
        if p not in judged_ids
    ]
    pages: list[JudgedPage | UnjudgedPage] = [*judged, *unjudged]
    pages.sort(key=lambda page: page_order(page.page_id))
    return GateResult(
        facts=facts,
        judged=judged,
        pages=tuple(pages),
        not_judged=not_judged,
        counts=count_pages(judged),
        queries=queries,
        names=names or {},
        fetched=fetched or {},
    )


class _Judged(Protocol):
    @property
    def verdict(self) -> Verdict: ...
    @property
    def waived(self) -> bool: ...


def count_pages(judged: Iterable[_Judged]) -> Counts:
    """The one count of judged pages (each output reads it from the result)."""
    outcomes = dict.fromkeys(Outcome, 0)
    waived = writers_unchecked = 0
    for page in judged:
        outcomes[page.verdict.outcome] += 1
        waived += page.waived
        writers_unchecked += page.verdict.rule.approval_writers is None
    return Counts(
        approved=outcomes[Outcome.APPROVED],
        not_approved=outcomes[Outcome.NOT_APPROVED],
        not_verifiable=outcomes[Outcome.UNVERIFIABLE],
        waived=waived,
        writers_unchecked=writers_unchecked,
    )

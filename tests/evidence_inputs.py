"""Inputs for the evidence outputs (attestation, HTML report), built as the gate builds them.

Verdicts come from the real rules (``verdict.evaluate``) over page payloads shaped as
Confluence sends them, or from the advanced example's policy and snapshot, so the
outputs are tested on what the gate would really hand them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from pytest_confluence_approval.facts import FetchFailure, PageFacts, QueryResult
from pytest_confluence_approval.gate import waiver_use
from pytest_confluence_approval.policy import PageQuery, PageRule, Waiver, load_policy
from pytest_confluence_approval.result import (
    GateResult,
    JudgedPage,
    QueryOutcome,
    RunFacts,
    WaiverState,
    WaiverUse,
    gate_result,
)
from pytest_confluence_approval.scope import EVERYTHING_JUDGED, NotJudged
from pytest_confluence_approval.snapshot import load_snapshot
from pytest_confluence_approval.verdict import Verdict, evaluate, read_page
from tests.fake_confluence import APPROVAL_APP_ACCOUNT, DEFAULT_APPROVAL_KEY, approval_value

EXAMPLES = Path(__file__).parent.parent / "examples"
SITE = "https://acme.atlassian.net/wiki"
AS_OF = datetime(2025, 8, 4, 12, 0, tzinfo=timezone.utc)
POLICY_SHA256 = "ab" * 32


def run_facts(**changes: Any) -> RunFacts:
    facts = RunFacts(
        mode="replay",
        site=SITE,
        policy_path="release/policy.yaml",
        policy_sha256=POLICY_SHA256,
        auth="none",
        gate_version="0.1.0",
        as_of=AS_OF,
        recorded_at=datetime(2025, 8, 4, 9, 30, tzinfo=timezone.utc),
    )
    return replace(facts, **changes)


def failed_query(node_id: str, name: str, cql: str, failure: str | None = None) -> QueryOutcome:
    """A ``cql:`` entry named ``name`` whose search failed (``failure``) or matched nothing."""
    return QueryOutcome(
        PageQuery(cql, PageRule(page_id="", name=name, line=1)),
        QueryResult(failure=FetchFailure(failure)) if failure is not None else QueryResult(),
        judged_here=(),
        node_id=node_id,
    )


def result_of(
    pages: Iterable[JudgedPage],
    *,
    run: RunFacts | None = None,
    names: Mapping[str, str] | None = None,
    failed_queries: Iterable[QueryOutcome] = (),
    not_judged: NotJudged = EVERYTHING_JUDGED,
) -> GateResult:
    """The run's one result as the gate builds it (result.gate_result), holding these pages
    as given (with the node ids, query labels and edits the tests chose)."""
    given = {page.page_id: page for page in pages}
    result = gate_result(
        [page.verdict for page in given.values()],
        facts=run or run_facts(),
        waivers={p: page.waiver for p, page in given.items() if page.waiver is not None},
        not_judged=not_judged,
        queries=failed_queries,
        names=names,
    )
    return replace(
        result,
        judged=tuple(given[page.page_id] for page in result.judged),
        pages=tuple(given.get(page.page_id, page) for page in result.pages),
    )


def page_payload(
    page_id: str,
    *,
    title: str | None = None,
    version: int = 3,
    published: str = "2025-07-14T08:55:00.000Z",
    author: str = "acc-author",
    status: str = "current",
) -> dict[str, Any]:
    return {
        "id": page_id,
        "status": status,
        "title": title if title is not None else f"Page {page_id}",
        "version": {"number": version, "createdAt": published, "authorId": author},
        "_links": {"base": SITE, "webui": f"/spaces/ENG/pages/{page_id}"},
    }


def approval_property(writer: str = APPROVAL_APP_ACCOUNT, **value: Any) -> dict[str, Any]:
    return {
        "key": DEFAULT_APPROVAL_KEY,
        "value": approval_value(**value),
        "version": {"number": 2, "createdAt": "2025-07-15T10:33:14.000Z", "authorId": writer},
    }


def judged(
    page_id: str,
    *,
    name: str | None = None,
    title: str | None = None,
    rule: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    properties: list[dict[str, Any]] | None = None,
    facts: PageFacts | None = None,
    waiver: tuple[str, date, str] | None = None,
    node_id: str | None = None,
    **approval: Any,
) -> JudgedPage:
    """One page judged by the real rules: approved by ``acc-approver`` unless told otherwise."""
    page_rule = PageRule(page_id=page_id, name=name, line=1, **(rule or {}))
    if facts is None:
        facts = PageFacts(
            page_id,
            page=page_payload(page_id, title=title),
            properties=properties if properties is not None else [approval_property(**approval)],
        )
    verdict = evaluate(page_rule, facts, as_of=AS_OF, site=SITE, names=names or {})
    return JudgedPage(
        node_id=node_id or item_id(page_rule),
        verdict=verdict,
        waiver=None
        if waiver is None
        else WaiverUse(Waiver(page_id, waiver[0], waiver[1], line=1), WaiverState(waiver[2])),
    )


def item_id(rule: PageRule, policy: str = "release/policy.yaml") -> str:
    shown = f" {rule.name}" if rule.name else ""
    return f"{policy}::page[{rule.page_id}{shown}]"


def approved(page_id: str, **kwargs: Any) -> JudgedPage:
    return judged(page_id, **kwargs)


def pending(page_id: str, **kwargs: Any) -> JudgedPage:
    return judged(page_id, approved=(), pending=("acc-approver",), complete=False, **kwargs)


def unverifiable(page_id: str, **kwargs: Any) -> JudgedPage:
    return judged(page_id, facts=PageFacts.failed(page_id, "HTTP 503 from Confluence"), **kwargs)


def example_pages() -> tuple[list[JudgedPage], dict[str, str]]:
    """The advanced example replayed: every listed and found page, as the gate judges it."""
    policy = load_policy(EXAMPLES / "advanced-policy.yaml")
    snapshot = load_snapshot(EXAMPLES / "advanced-snapshot.json")
    rules: dict[str, tuple[PageRule, str | None]] = {r.page_id: (r, None) for r in policy.pages}
    for query in policy.queries:
        result = snapshot.queries[query.cql]
        for page_id, title in result.pages:
            if page_id not in rules:
                found = replace(query.rule, page_id=page_id, name=query.rule.name or title or None)
                rules[page_id] = (found, query.label)
    waivers = {w.page_id: w for w in policy.waivers}
    as_of = snapshot.recorded_at
    pages: list[JudgedPage] = []
    for page_id, (rule, found_by) in rules.items():
        facts = snapshot.pages[page_id]
        verdict: Verdict = evaluate(
            rule,
            facts,
            as_of=as_of,
            site=snapshot.site,
            property_key=policy.property_key,
            names=snapshot.names,
            groups=snapshot.groups,
            view=read_page(facts, site=snapshot.site, property_key=policy.property_key),
        )
        waiver = waivers.get(page_id)
        use = None if waiver is None else waiver_use(waiver, verdict, as_of)
        pages.append(
            JudgedPage(
                node_id=item_id(rule, "examples/advanced-policy.yaml"),
                verdict=verdict,
                waiver=use,
                found_by=found_by,
            )
        )
    return pages, dict(snapshot.names)


def node_ids(pages: Sequence[JudgedPage]) -> list[str]:
    return sorted(p.node_id for p in pages)

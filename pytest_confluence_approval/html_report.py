"""The audit report as one self-contained HTML file: opened offline, archived, printed.

The verdict first, then the run's facts (policies and their SHA-256s, site, as-of,
live or replay, gate version, CI run, variables), the counts, what was not judged
and whom to chase, then every page with everything its verdict rests on.

Rendered by Jinja2 (imported only here, when a report is asked for) from the
template ``templates/report.html.j2``, with two locks on every value it prints:

- the template environment's ``finalize`` passes each value through untrusted.py's
  :func:`~pytest_confluence_approval.untrusted.neutral` (no control, bidi or
  zero-width character, no endless text), whatever the template author remembers;
- autoescaping then makes it HTML text: a title ``<img src=x onerror=alert(1)>``
  shows as those characters, never as an element.

The file holds no script and loads nothing: its Content-Security-Policy is
``default-src 'none'`` with the SHA-256 of its one stylesheet (``templates/report.css``),
so even a mistake in the template could not fetch or run anything. Links go only to
the configured site's pages, built from the site and the page id (never a URL
Confluence sent), and to the CI run when its URL is a plain https one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from . import TOOL_NAME
from .accounts import person
from .jobsummary import page_url
from .policy import ACCOUNT_SETTINGS, PageRule
from .result import GateResult, JudgedPage, QueryOutcome, RunFacts, WaiverState, WaiverUse
from .runfacts import Standing, https_url, standing
from .scope import EVERYTHING_JUDGED, NotJudged
from .snapshot import utc_iso, write_text_atomically
from .terminal import counts_sentence
from .untrusted import neutral, render_line
from .verdict import Outcome, PageVersion, Verdict, rejection_threshold

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"

#: One person to chase: their account id and the pages (ids) waiting for them.
Chase = tuple[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class HtmlReportInput:
    """Everything the report states, and nothing else: the run's one result, and whom
    to chase."""

    result: GateResult
    #: whom to chase: each person and the pages waiting for them, in the order to show
    chase: tuple[Chase, ...] = ()


def whom_to_chase(result: GateResult) -> tuple[Chase, ...]:
    """Each person a page that is not approved waits for, with those pages (page order).

    A page waits for its pending approvers and for each required approver who has not
    approved (a rejection is an answer: nobody to chase for it). A page that could not
    be verified waits for no person: its facts are missing. The people who hold up the
    most pages come first, then by account id, so the list is the same for the same run.
    """
    waiting: dict[str, list[str]] = {}
    for page in result.judged:
        approval = page.verdict.approval
        if page.verdict.outcome is not Outcome.NOT_APPROVED or approval is None:
            continue
        answered = {*approval.approved, *approval.rejected}
        required = [a for a in page.verdict.rule.required_approvers if a not in answered]
        for account in dict.fromkeys([*approval.pending, *required]):
            if account not in answered:
                waiting.setdefault(account, []).append(page.page_id)
    ranked = sorted(waiting.items(), key=lambda entry: (-len(entry[1]), entry[0]))
    return tuple((account, tuple(pages)) for account, pages in ranked)


def render_html(report: HtmlReportInput) -> str:
    """The report as one HTML document. The same inputs give the same text."""
    import jinja2  # here, not at the top: only a run that asks for HTML loads Jinja2
    from markupsafe import Markup

    templates = resources.files(__package__) / "templates"
    stylesheet = (templates / STYLESHEET).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        loader=jinja2.DictLoader({TEMPLATE: (templates / TEMPLATE).read_text(encoding="utf-8")}),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_shown,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    digest = base64.b64encode(hashlib.sha256(stylesheet.encode("utf-8")).digest()).decode()
    return environment.get_template(TEMPLATE).render(
        # Our own file, hashed into the CSP: the one value not escaped.
        stylesheet=Markup(stylesheet),  # noqa: S704
        style_hash=f"sha256-{digest}",
        **_view(report),
    )


def write_html_report(path: Path, report: HtmlReportInput) -> None:
    """Write the report atomically: a reader sees the old file or the whole new one."""
    write_text_atomically(path, render_html(report))


def _shown(value: object) -> object:
    """Every value the template prints, made inert text (autoescaping comes after this)."""
    from markupsafe import Markup

    if isinstance(value, Markup):
        return value  # only the stylesheet (render_html)
    if value is None or isinstance(value, (bytes, Mapping)):
        raise TypeError(f"the report template printed a {type(value).__name__}")
    return neutral(str(value))


# --- the view: plain strings, lists and dicts for the template --------------------------------


_HEADLINE = {
    Standing.APPROVED: ("approved", "APPROVED", "Every page in scope is approved."),
    Standing.APPROVED_WITH_WAIVERS: (
        "waived",
        "APPROVED WITH WAIVERS",
        "Every page in scope is approved, except pages whose waiver covers them until it expires.",
    ),
    Standing.PARTIAL: (
        "partial",
        "PARTIAL",
        "Every page judged is approved, but not every page in scope was judged: this run "
        "does not approve the release.",
    ),
    Standing.NOT_APPROVED: ("not-approved", "NOT APPROVED", "Not every page in scope is approved."),
}


def _view(report: HtmlReportInput) -> dict[str, Any]:
    result = report.result
    run, names, pages = result.facts, result.names, result.judged  # pages in page order
    stands = standing(result)
    kind, headline, explanation = _HEADLINE[stands]
    if run.audit:
        kind, headline = "audit", "AUDIT"
        explanation = (
            "Judged and reported, not enforced: this run approves nothing. "
            f"Enforced, it would have been {stands.value}."
        )
    # The terminal's own counts line: the two never disagree.
    counts = render_line(counts_sentence(result.counts, EVERYTHING_JUDGED))
    shown = [_page(n, page, run.site, names) for n, page in enumerate(pages, 1)]
    return {
        "title": "Confluence approval report",
        "tool": TOOL_NAME,
        "verdict": {"kind": kind, "headline": headline, "explanation": explanation},
        "run": _run(run),
        "counts": counts,
        "not_judged": _not_judged(result.not_judged, result.queries, run.site),
        "chase": [
            {
                "person": person(account, names, with_id=True),
                "pages": [_page_link(run.site, p) for p in page_ids],
            }
            for account, page_ids in report.chase
        ],
        "pages": shown,
    }


def _run(run: RunFacts) -> dict[str, Any]:
    if run.mode == "replay":
        recorded = utc_iso(run.recorded_at) if run.recorded_at else "an unknown time"
        mode = f"replay of a snapshot recorded {recorded}"
    else:
        mode = "live: fetched from Confluence during the run"
    return {
        "policies": [{"path": run.policy_path, "sha256": run.policy_sha256}],
        "site": run.site,
        "as_of": utc_iso(run.as_of) if run.as_of else "no page was fetched",
        "mode": mode,
        "audit": run.audit,
        "gate": f"{TOOL_NAME} {run.gate_version}",
        "ci_run": https_url(run.ci_run_url),
        "variables": [{"name": k, "value": run.variables[k]} for k in sorted(run.variables)],
    }


def _not_judged(
    not_judged: NotJudged, queries: Iterable[QueryOutcome], site: str
) -> dict[str, Any]:
    """Each kind of gap with its entries, one value each (a long list is never cut short)."""
    kinds = [
        ("deselected (-k, -m or --deselect)", not_judged.deselected),
        ("not run (not collected, -x, --collect-only)", not_judged.not_run),
    ]
    failed_queries = [q for q in queries if q.judged_nothing]
    shown: list[dict[str, str | None]] = [
        {
            "label": q.query.label,
            "cql": q.query.cql,
            "why": "matched no pages"
            if q.result.failure is None
            else f"could not be run: {q.result.failure.message}",
        }
        for q in failed_queries
    ]
    listed = {q["label"] for q in shown}
    # Queries the run names as not judged but whose items it did not run (deselected).
    shown += [
        {"label": label, "cql": None, "why": why}
        for labels, why in (
            (not_judged.queries_failed, "could not be run"),
            (not_judged.queries_empty, "matched no pages"),
        )
        for label in labels
        if label not in listed
    ]
    return {
        "any": bool(not_judged or failed_queries),
        "pages": [
            {"kind": kind, "pages": [_page_link(site, p) for p in ids]}
            for kind, ids in kinds
            if ids
        ],
        "queries": shown,
    }


def _page_link(site: str, page_id: str) -> dict[str, str | None]:
    return {"id": page_id, "href": _href(site, page_id)}


def _href(site: str, page_id: str) -> str | None:
    """The page's address from the configured site and the page id only; never Confluence's."""
    if not (site.startswith(("https://", "http://")) and page_id.isdigit() and page_id.isascii()):
        return None
    return page_url(site, page_id)


_OUTCOME = {
    Outcome.APPROVED: ("approved", "approved"),
    Outcome.NOT_APPROVED: ("not-approved", "not approved"),
    Outcome.UNVERIFIABLE: ("unverifiable", "not verifiable"),
}


def _page(n: int, page: JudgedPage, site: str, names: Mapping[str, str]) -> dict[str, Any]:
    verdict, rule = page.verdict, page.verdict.rule
    kind, outcome = _OUTCOME[verdict.outcome]
    if page.waived:
        kind, outcome = "waived", "waived: not approved, covered by a waiver"

    def who(accounts: Iterable[str]) -> list[str]:
        return [person(a, names, with_id=True) for a in accounts]

    return {
        "anchor": f"page-{n}",
        "id": rule.page_id,
        "title": verdict.title or rule.name or f"page {rule.page_id}",
        "href": _href(site, rule.page_id),
        "policy_name": rule.name,
        "found_by": page.found_by,
        "node_id": page.node_id,
        "kind": kind,
        "outcome": outcome,
        "failures": [{"rule": f.rule.value, "reason": f.reason} for f in verdict.failures],
        "waiver": _waiver(page.waiver, verdict),
        "facts": _facts(page, names, who),
        "settings": _settings(rule, who),
    }


def _waiver(waiver: WaiverUse | None, verdict: Verdict) -> dict[str, str] | None:
    if waiver is None:
        return None
    expires = waiver.waiver.expires.isoformat()
    if waiver.state is WaiverState.APPLIED:
        state = f"applied: covers this page until {expires} (start of the day, UTC)"
    elif waiver.state is WaiverState.EXPIRED:
        state = f"expired on {expires}: the page is judged as if it had none"
    elif verdict.outcome is Outcome.UNVERIFIABLE:
        state = "not applied: a waiver never covers a page that could not be verified"
    else:
        state = "not needed: the page is approved"
    return {"reason": waiver.waiver.reason, "expires": expires, "state": state}


def _version(version: PageVersion, names: Mapping[str, str]) -> str:
    by = f" by {person(version.author_id, names, with_id=True)}" if version.author_id else ""
    minor = " (a minor edit)" if version.minor_edit else ""
    return f"version {version.number}, published {utc_iso(version.created_at)}{by}{minor}"


def _facts(page: JudgedPage, names: Mapping[str, str], who: Any) -> list[dict[str, Any]]:
    """The page's facts as (label, values) rows, in the order an auditor reads them."""
    verdict, rule, approval = page.verdict, page.verdict.rule, page.verdict.approval
    rows: list[tuple[str, list[str]]] = [
        ("Page status", [verdict.status or "not known"]),
        (
            "Current version",
            [_version(verdict.version, names)] if verdict.version else ["not known"],
        ),
    ]
    if page.approved_version is not None:
        rows.append(("Approved version", [_version(page.approved_version, names)]))
    if page.tolerated_edits:
        rows.append(
            (
                "Minor edits tolerated (ignore_minor_edits)",
                [_version(v, names) for v in page.tolerated_edits],
            )
        )
    if approval is None:
        return [{"label": label, "values": values} for label, values in rows]
    state = {a: "approved" for a in approval.approved}
    state.update({a: "pending" for a in approval.pending if a not in state})
    state.update({a: "rejected" for a in approval.rejected if a not in state})
    rejections, set_by = rejection_threshold(rule, approval)
    written = approval.written
    rows += [
        ("Approval property", [approval.key]),
        (
            "Approval complete",
            [
                f"yes, completed {utc_iso(approval.completed_at)}"
                if approval.is_complete and approval.completed_at
                else ("yes, but with no completion time" if approval.is_complete else "no")
            ],
        ),
        ("Approved by", who(approval.approved) or ["nobody"]),
        ("Pending", who(approval.pending) or ["nobody"]),
        ("Rejected by", who(approval.rejected) or ["nobody"]),
        (
            "Approvals required",
            [
                f"min_approvers {rule.min_approvers} (policy), minimumApprovers "
                f"{approval.minimum_approvers} (the approval)"
            ],
        ),
        ("Rejections that reject", [f"{rejections} ({set_by})"]),
    ]
    if rule.required_approvers:
        rows.append(
            (
                "Required approvers",
                [
                    f"{person(a, names, with_id=True)}: {state.get(a, 'not asked')}"
                    for a in rule.required_approvers
                ],
            )
        )
    for tally in verdict.groups:
        group = tally.requirement
        if tally.failure is not None:
            value = f"not verifiable: {tally.failure}"
        else:
            counted = ", ".join(who(tally.members_counted)) or "nobody"
            value = f"{len(tally.members_counted)} of {group.min} required counted: {counted}"
        rows.append((f"Group {group.group}", [value]))
    writer = (
        f"{person(written.author_id, names, with_id=True)}"
        if written and written.author_id
        else "not known"
    )
    when = f", {utc_iso(written.created_at)}" if written and written.created_at else ""
    number = (
        f" (property version {written.number})" if written and written.number is not None else ""
    )
    rows.append(("Approval data written by", [f"{writer}{when}{number}"]))
    rows.append(
        (
            "Accepted approval writers",
            who(rule.approval_writers)
            if rule.approval_writers is not None
            else ["anyone (no approval_writers in the policy): not checked"],
        )
    )
    if verdict.expires_at is not None:
        rows.append(("Approval counts until", [utc_iso(verdict.expires_at) + " (max_age)"]))
    if rule.expires_on is not None:
        rows.append(("Approval expires on", [rule.expires_on.isoformat() + " (expires_on)"]))
    return [{"label": label, "values": values} for label, values in rows]


def _settings(rule: PageRule, who: Any) -> list[dict[str, str]]:
    """Every policy setting applied to the page, as the policy writes it."""
    shown = []
    for name, value in rule.settings().items():
        if name in ACCOUNT_SETTINGS and value is not None:
            text = ", ".join(who(value)) or "none"
        elif isinstance(value, list):
            text = (
                ", ".join(
                    f"{v['group']} (at least {v['min']})" if isinstance(v, dict) else str(v)
                    for v in value
                )
                or "none"
            )
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = "not set" if value is None else str(value)
        shown.append({"name": name, "value": text})
    return shown

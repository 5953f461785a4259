"""What auditors read: per-page evidence fields and text, the run's JUnit suite
properties, and the JSON report.

Pure rendering: a page's evidence is a function of its verdict (written while its
testcase is open), the suite properties and the report are functions of the run's
result (result.py); the plugin decides where each piece is written. Human text (the
evidence lines, JUnit properties) goes through untrusted.py; the JSON report keeps the
raw values (JSON escapes them). The job summary is jobsummary.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from . import TOOL_NAME
from .accounts import people, person
from .facts import PageFacts
from .policy import ACCOUNT_SETTINGS, PageRule
from .result import GateResult, JudgedPage, WaiverUse
from .scope import NOT_JUDGED_LIMIT
from .snapshot import utc_iso
from .untrusted import MAX_SHOWN, render_line, render_lines
from .verdict import ApprovalProperty, GroupTally, PropertyVersion, Verdict, rejection_threshold

REPORT_FORMAT = "pytest-confluence-approval report"
REPORT_VERSION = 1


def _people(accounts: Iterable[str], names: Mapping[str, str]) -> str:
    """Evidence names every account with its id (accounts.person)."""
    return people(accounts, names, with_id=True) or "-"


def evidence_fields(
    verdict: Verdict, names: Mapping[str, str], waiver: WaiverUse | None = None
) -> list[tuple[str, str]]:
    """The facts an auditor needs about one page, as ordered (name, value) pairs.

    The same pairs become JUnit properties (xunit1) and the testcase's system-out
    (every family), so the two never disagree.
    """
    rule, approval, version = verdict.rule, verdict.approval, verdict.version
    fields = [
        ("confluence.page_id", rule.page_id),
        ("confluence.title", verdict.title or "-"),
        ("confluence.verdict", verdict.outcome.value),
        ("confluence.link", verdict.link),
        ("confluence.page_status", verdict.status or "-"),
        ("confluence.version", str(version.number) if version else "-"),
        ("confluence.version_published", utc_iso(version.created_at) if version else "-"),
    ]
    if approval is not None:
        fields += _approval_fields(approval, names)
    if verdict.expires_at is not None:
        fields.append(("confluence.approval_expires", utc_iso(verdict.expires_at)))
    if rule.expires_on is not None:
        fields.append(("confluence.approval_expires_on", rule.expires_on.isoformat()))
    fields += [
        (f"confluence.group.{n}", _group_text(tally, names))
        for n, tally in enumerate(verdict.groups, 1)
    ]
    fields += [(f"confluence.reason.{n}", reason) for n, reason in enumerate(verdict.reasons, 1)]
    if waiver is not None:
        w, state = waiver.waiver, waiver.state.value
        fields.append(
            ("confluence.waiver", f"{state}, expires {w.expires.isoformat()}: {w.reason}")
        )
    return fields


def _approval_fields(approval: ApprovalProperty, names: Mapping[str, str]) -> list[tuple[str, str]]:
    """The approval property's state, and who last wrote it, when."""
    written = approval.written
    return [
        ("confluence.approval_property", approval.key),
        ("confluence.approved_by", _people(approval.approved, names)),
        ("confluence.pending", _people(approval.pending, names)),
        ("confluence.rejected_by", _people(approval.rejected, names)),
        ("confluence.approval_complete", "yes" if approval.is_complete else "no"),
        (
            "confluence.approval_completed",
            utc_iso(approval.completed_at)
            if approval.is_complete and approval.completed_at
            else "-",
        ),
        (
            "confluence.approval_property_version",
            str(written.number) if written and written.number is not None else "-",
        ),
        (
            "confluence.approval_written",
            utc_iso(written.created_at) if written and written.created_at else "-",
        ),
        (
            "confluence.approval_written_by",
            person(written.author_id, names, with_id=True)
            if written and written.author_id
            else "-",
        ),
    ]


def _group_text(tally: GroupTally, names: Mapping[str, str]) -> str:
    group, needed = tally.requirement.group, tally.requirement.min
    if tally.failure is not None:
        return f"{group}: not verifiable ({tally.failure})"
    counted = len(tally.members_counted)
    return f"{group}: {counted} of {needed} required: {_people(tally.members_counted, names)}"


def evidence_text(
    verdict: Verdict,
    names: Mapping[str, str],
    as_of: datetime,
    waiver: WaiverUse | None = None,
) -> str:
    lines = [
        f"{key.removeprefix('confluence.')}: {value}"
        for key, value in evidence_fields(verdict, names, waiver)
    ]
    lines.append(f"judged_at: {utc_iso(as_of)}")
    # One field per line, each rendered safe: a title with "\nverdict: approved"
    # stays inside its own line.
    return render_lines(["Confluence approval evidence", *lines]) + "\n"


def evidence_properties(
    verdict: Verdict, names: Mapping[str, str], waiver: WaiverUse | None = None
) -> list[tuple[str, str]]:
    """evidence_fields with every value rendered safe, for JUnit properties (xunit1)."""
    return [(key, render_line(value)) for key, value in evidence_fields(verdict, names, waiver)]


def _accounts(accounts: Iterable[str], names: Mapping[str, str]) -> list[dict[str, str | None]]:
    return [{"account_id": a, "display_name": names.get(a)} for a in accounts]


def suite_properties(result: GateResult) -> list[tuple[str, str, int]]:
    """The run's JUnit testsuite properties: (name, value, the most it shows)."""
    counts, not_judged = result.counts, result.not_judged
    return [
        ("confluence.approved", str(counts.approved), MAX_SHOWN),
        ("confluence.not_approved", str(counts.not_approved), MAX_SHOWN),
        ("confluence.not_verifiable", str(counts.not_verifiable), MAX_SHOWN),
        ("confluence.not_judged", not_judged.sentence() or "none", NOT_JUDGED_LIMIT),
    ]


def build_report(result: GateResult) -> dict[str, Any]:
    """The JSON evidence report (schemas/report.schema.json). Same result, same document."""
    facts, counts = result.facts, result.counts
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "tool": {"name": TOOL_NAME, "version": facts.gate_version},
        "site": facts.site,
        "mode": facts.mode,
        "auth": facts.auth,
        "policy": {"path": facts.policy_path, "sha256": facts.policy_sha256},
        "as_of": utc_iso(facts.as_of) if facts.as_of else None,
        "recorded_at": utc_iso(facts.recorded_at) if facts.recorded_at else None,
        "summary": {
            "approved": counts.approved,
            "not_approved": counts.not_approved,
            "not_verifiable": counts.not_verifiable,
        },
        "not_judged": result.not_judged.as_json(),
        "pages": [_page(page, result) for page in result.judged],
        "queries": [
            {
                "cql": q.query.cql,
                "name": q.query.rule.name,
                "found": [page_id for page_id, _ in q.result.pages],
                "judged_here": list(q.judged_here),
                "failure": q.result.failure.message if q.result.failure else None,
            }
            for q in result.queries
        ],
    }


def _page(page: JudgedPage, result: GateResult) -> dict[str, Any]:
    v, names = page.verdict, result.names
    a = v.approval
    return {
        "id": v.rule.page_id,
        "name": v.rule.name,
        "title": v.title,
        "link": v.link,
        "verdict": v.outcome.value,
        "reasons": list(v.reasons),
        "waiver": _waiver(page.waiver),
        "rule": _settings(v.rule, names),
        "facts": {
            "fetch_failure": _failure(result.fetched.get(v.rule.page_id)),
            "approval_expires_at": utc_iso(v.expires_at) if v.expires_at else None,
            "groups": [
                {
                    "group": t.requirement.group,
                    "min": t.requirement.min,
                    "approvers_counted": _accounts(t.members_counted, names),
                    "failure": t.failure,
                }
                for t in v.groups
            ],
            "status": v.status,
            "version": None
            if v.version is None
            else {
                "number": v.version.number,
                "published_at": utc_iso(v.version.created_at),
                "author": _accounts([v.version.author_id], names)[0]
                if v.version.author_id
                else None,
            },
            "approval": None
            if a is None
            else {
                "property_key": a.key,
                "is_complete": a.is_complete,
                "completed_at": utc_iso(a.completed_at)
                if a.is_complete and a.completed_at
                else None,
                "minimum_approvers": a.minimum_approvers,
                "minimum_rejections": a.minimum_rejections,
                "rejection_threshold": _rejection_threshold(v.rule, a),
                "approved": _accounts(a.approved, names),
                "pending": _accounts(a.pending, names),
                "rejected": _accounts(a.rejected, names),
                "property_version": _written(a.written, names),
            },
        },
    }


def _settings(rule: PageRule, names: Mapping[str, str]) -> dict[str, Any]:
    """Every setting applied to the page (so an auditor sees, say, that four eyes was on)."""
    return {
        name: _accounts(value, names) if name in ACCOUNT_SETTINGS and value is not None else value
        for name, value in rule.settings().items()
    }


def _rejection_threshold(rule: PageRule, approval: ApprovalProperty) -> dict[str, Any]:
    """How many rejections rejected (or would reject) the approval, and which setting said so."""
    rejections, set_by = rejection_threshold(rule, approval)
    return {"rejections": rejections, "set_by": set_by}


def _written(written: PropertyVersion | None, names: Mapping[str, str]) -> dict[str, Any] | None:
    """The approval property's own version: who last wrote the approval data, and when."""
    if written is None:
        return None
    return {
        "number": written.number,
        "written_at": utc_iso(written.created_at) if written.created_at else None,
        "author": _accounts([written.author_id], names)[0] if written.author_id else None,
    }


def _waiver(waiver: WaiverUse | None) -> dict[str, str] | None:
    if waiver is None:
        return None
    w = waiver.waiver
    return {"reason": w.reason, "expires": w.expires.isoformat(), "state": waiver.state.value}


def _failure(facts: PageFacts | None) -> dict[str, Any] | None:
    if facts is None or facts.failure is None:
        return None
    return facts.failure.to_report_json()

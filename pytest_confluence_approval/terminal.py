"""The terminal summary section: counts, what was not judged, one line per failing page."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .scope import NotJudged
from .untrusted import render_line
from .verdict import Outcome, Verdict

SECTION = "Confluence approval gate"
#: The counts line names every page not judged: far longer than a line of Confluence text.
NOT_JUDGED_LIMIT = 1_000_000


def summary_lines(
    verdicts: Iterable[Verdict],
    *,
    is_waived: Callable[[str], bool],
    skipped: NotJudged,
) -> list[str]:
    """The section's lines, each rendered safe (untrusted.py) and ready to print."""
    ordered = sorted(verdicts, key=lambda v: (len(v.rule.page_id), v.rule.page_id))
    counts = dict.fromkeys(Outcome, 0)
    for v in ordered:
        counts[v.outcome] += 1
    waived = sum(1 for v in ordered if not v.passed and is_waived(v.rule.page_id))
    first = (
        f"{counts[Outcome.APPROVED]} approved, {counts[Outcome.NOT_APPROVED]} not approved"
        + (f" ({waived} waived)" if waived else "")
        + f", {counts[Outcome.UNVERIFIABLE]} not verifiable"
        + (f"; {skipped.sentence()}" if skipped else "")
    )
    lines = [first]
    for verdict in ordered:
        if verdict.passed:
            continue
        more = len(verdict.reasons) - 1
        label = "WAIVED" if is_waived(verdict.rule.page_id) else verdict.outcome.value.upper()
        lines.append(
            f"{label}: {verdict.rule.label}: {verdict.reasons[0]}"
            + (f" (+{more} more)" if more else "")
        )
    unpinned = sum(1 for v in ordered if v.rule.approval_writers is None)
    if unpinned:
        # Provenance is part of what was not judged: say so where the verdicts are read.
        lines.append(
            f"note: who last wrote the approval data was not checked for {unpinned} of "
            f"{len(ordered)} judged pages (no approval_writers in the policy); anyone who can "
            'edit a page can write its approval property: see the README, "Approval provenance"'
        )
    # The first line is our words and page ids only (a -k run may leave hundreds unjudged).
    return [render_line(first, NOT_JUDGED_LIMIT)] + [render_line(line) for line in lines[1:]]

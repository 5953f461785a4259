"""The terminal summary section: counts, what was not judged, one line per failing page."""

from __future__ import annotations

from .result import Counts, GateResult
from .scope import NOT_JUDGED_LIMIT, NotJudged
from .untrusted import render_line

SECTION = "Confluence approval gate"


def counts_sentence(counts: Counts, not_judged: NotJudged) -> str:
    """``2 approved, 3 not approved (1 waived), 0 not verifiable``: every output's counts."""
    return (
        f"{counts.approved} approved, {counts.not_approved} not approved"
        + (f" ({counts.waived} waived)" if counts.waived else "")
        + f", {counts.not_verifiable} not verifiable"
        + (f"; {not_judged.sentence()}" if not_judged else "")
    )


def summary_lines(result: GateResult) -> list[str]:
    """The section's lines, each rendered safe (untrusted.py) and ready to print."""
    counts, not_judged = result.counts, result.not_judged
    first = counts_sentence(counts, not_judged)
    lines = [first]
    for page in result.judged:
        verdict = page.verdict
        if verdict.passed:
            continue
        more = len(verdict.reasons) - 1
        label = "WAIVED" if page.waived else verdict.outcome.value.upper()
        lines.append(
            f"{label}: {verdict.rule.label}: {verdict.reasons[0]}"
            + (f" (+{more} more)" if more else "")
        )
    if counts.writers_unchecked:
        # Provenance is part of what was not judged: say so where the verdicts are read.
        lines.append(
            f"note: who last wrote the approval data was not checked for "
            f"{counts.writers_unchecked} of {counts.judged} judged pages (no approval_writers "
            "in the policy); anyone who can edit a page can write its approval property: see "
            'the README, "Approval provenance"'
        )
    # The first line is our words and page ids only (a -k run may leave hundreds unjudged).
    rendered = [render_line(first, NOT_JUDGED_LIMIT)] + [render_line(line) for line in lines[1:]]
    if result.facts.pace:
        rendered.append(result.facts.pace)  # our own counts, nothing from the site
    return rendered

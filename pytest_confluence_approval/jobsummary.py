"""The CI job summary (``$GITHUB_STEP_SUMMARY``): a Markdown table built as structure.

Every cell is untrusted text made safe twice: first by the one neutralising layer
(untrusted.py: no control, bidi or zero-width character, so no cell can end the
table's line), then by escaping every ASCII punctuation character with a
backslash, which CommonMark and GitHub render as the character itself. So ``|``
cannot split a cell, and ``<``, ``&``, ``[``, backticks, ``*``, ``_``, ``~``, ``#``
and ``:`` cannot start HTML, a comment, a link, code, emphasis, a heading or an
emoji. GitHub's renderer (cmark-gfm) also links a bare e-mail address (``mailto:`` and
``xmpp:`` too) in text, escaped or not, as it looks for them after escapes are read: so
every ``@`` is preceded by a word joiner (U+2060, written as the entity ``&#8288;``):
invisible, it ends the address's local part, and no address is left to link (``www.``
and ``http://`` are not found behind escaped punctuation in the first place). Links are
built from the configured site and the page id, never from a URL Confluence sent.

Approvers are shown as the count, then each as "Name (account id)" (the id alone where
the site gave no name): a display name such as "Priya Raman, Jonas Weber" cannot pass
for two people.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Collection, Mapping
from urllib.parse import quote

from .accounts import people
from .policy import PageRule
from .result import GateResult, JudgedPage, UnjudgedPage
from .untrusted import neutral
from .verdict import Outcome

HEADING = "### Confluence approval gate"

_ICON = {Outcome.APPROVED: "✅", Outcome.NOT_APPROVED: "❌", Outcome.UNVERIFIABLE: "⚠️"}
#: Before "@": see above. The gate's own markup, never from Confluence (untrusted.py shows
#: a U+2060 in untrusted text as the visible escape "\\u2060").
_WORD_JOINER = "&#8288;"
_MARKDOWN_PUNCTUATION = str.maketrans(
    {**{c: "\\" + c for c in string.punctuation}, "@": _WORD_JOINER + "\\@"}
)


#: GitHub drops a job summary over 1 MiB whole (every row with it): stay well below.
MAX_SUMMARY_BYTES = 1_000_000
#: The most characters a table cell shows, and the fewer it shows when the table is large.
CELL_LIMITS = (1000, 100)


def cell(text: str, limit: int = CELL_LIMITS[0]) -> str:
    """Untrusted text as the content of one table cell (or one paragraph): inert."""
    return neutral(text, limit).translate(_MARKDOWN_PUNCTUATION).strip() or "\\-"


def page_url(site: str, page_id: str) -> str:
    """The page's address built from the configured site and the (digits only) page id."""
    # A link destination ends at ")" or whitespace: percent-encode anything unusual.
    return quote(f"{site}/pages/viewpage.action?pageId={page_id}", safe=":/?=&%~@!$'*+,;.-_")


def markdown_summary(result: GateResult) -> str:
    """Heading, counts, what was not judged, and one row per policy page or failed query."""
    counts, not_judged = result.counts, result.not_judged
    lines = [
        HEADING,
        "",
        # Our own words and numbers: left as they are, so they read (and grep) as in the terminal.
        f"{counts.approved} approved, {counts.not_approved} not approved, "
        f"{counts.not_verifiable} not verifiable",
        "",
    ]
    if not_judged:
        # Our words and page ids (digits), however many: only bounded by the summary's size.
        lines += [f"**{cell(not_judged.sentence(), MAX_SUMMARY_BYTES // 4)}**", ""]
    for limit in CELL_LIMITS:
        text = "\n".join([*lines, *_table(result, limit)])
        if len(text.encode("utf-8")) <= MAX_SUMMARY_BYTES:
            return text + "\n\n"
    # Even short cells do not fit: the counts and what was not judged above still do.
    lines.append(
        f"The table of {len(result.pages)} pages "
        "is too large for a job summary; see the JUnit file and the JSON report."
    )
    return "\n".join(lines) + "\n\n"


def _table(result: GateResult, limit: int) -> list[str]:
    """The table, one row per policy page or failed query, each cell at most ``limit``."""

    def text(value: str) -> str:
        return cell(value, limit)

    lines = [
        "| Page | Title | Verdict | Approvers | Reason |",
        "| --- | --- | --- | --- | --- |",
    ]
    for page in result.pages:
        lines.append("| " + " | ".join(_row(page, result, text)) + " |")
    for query_label, why in [
        *((q, "could not be run") for q in result.not_judged.queries_failed),
        *((q, "matched no pages") for q in result.not_judged.queries_empty),
    ]:
        lines.append(f"| {text(query_label)} | \\- | ❌ {why} | \\- | \\- |")
    return lines


def _row(
    page: JudgedPage | UnjudgedPage, result: GateResult, text: Callable[[str], str]
) -> list[str]:
    """A page's cells: the policy's words for it, its title linked, verdict, approvers, reasons."""
    page_id, site = page.page_id, result.facts.site
    if isinstance(page, UnjudgedPage):
        link = f"[{text(page_id)}]({page_url(site, page_id)})"
        why = "deselected" if page.deselected else "not run"
        return [text(_entry(page_id, page.rule)), link, f"⏭️ not judged ({why})", "\\-", "\\-"]
    verdict = page.verdict
    link = f"[{text(verdict.title or page_id)}]({page_url(site, page_id)})"
    approval, outcome = verdict.approval, verdict.outcome
    approvers = _approvers(approval.approved, result.names) if approval else ""
    status = "⏸️ waived" if page.waived else f"{_ICON[outcome]} {outcome.value}"
    return [
        text(_entry(page_id, verdict.rule)),
        link,
        status,
        text(approvers),
        text("; ".join(verdict.reasons)),
    ]


def _entry(page_id: str, rule: PageRule | None) -> str:
    """The page as the policy names it: ``101 Release checklist``."""
    return page_id + (f" {rule.name}" if rule is not None and rule.name else "")


def _approvers(accounts: Collection[str], names: Mapping[str, str]) -> str:
    """``2 approvers: Priya Raman (557058:aaa), 557058:bbb``: one person per account, a name
    that is not plain quoted (``"Priya Raman, Jonas Weber" (557058:aaa)``)."""
    if not accounts:
        return ""
    # The one formatter every output uses, always with the id here: a table cell has no
    # room to say which of two same-named people approved.
    listed = people(accounts, names, with_id=True)
    return f"{len(accounts)} {'approver' if len(accounts) == 1 else 'approvers'}: {listed}"

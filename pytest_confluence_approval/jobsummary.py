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
from collections.abc import Collection, Iterable, Mapping
from urllib.parse import quote

from .accounts import people
from .policy import PageRule
from .scope import EVERYTHING_JUDGED, NotJudged
from .untrusted import neutral
from .verdict import Outcome, Verdict

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


def markdown_summary(
    verdicts: Iterable[Verdict],
    names: Mapping[str, str],
    waived: Collection[str] = (),
    *,
    site: str,
    rules: Mapping[str, PageRule],
    skipped: NotJudged = EVERYTHING_JUDGED,
) -> str:
    """Heading, counts, what was not judged, and one row per policy page or failed query."""
    by_page = {v.rule.page_id: v for v in verdicts}
    counts = dict.fromkeys(Outcome, 0)
    for verdict in by_page.values():
        counts[verdict.outcome] += 1
    lines = [
        HEADING,
        "",
        # Our own words and numbers: left as they are, so they read (and grep) as in the terminal.
        f"{counts[Outcome.APPROVED]} approved, {counts[Outcome.NOT_APPROVED]} not approved, "
        f"{counts[Outcome.UNVERIFIABLE]} not verifiable",
        "",
    ]
    if skipped:
        # Our words and page ids (digits), however many: only bounded by the summary's size.
        lines += [f"**{cell(skipped.sentence(), MAX_SUMMARY_BYTES // 4)}**", ""]
    for limit in CELL_LIMITS:
        text = "\n".join([*lines, *_table(by_page, names, waived, site, rules, skipped, limit)])
        if len(text.encode("utf-8")) <= MAX_SUMMARY_BYTES:
            return text + "\n\n"
    # Even short cells do not fit: the counts and what was not judged above still do.
    lines.append(
        f"The table of {len(by_page) + len(skipped.deselected) + len(skipped.not_run)} pages "
        "is too large for a job summary; see the JUnit file and the JSON report."
    )
    return "\n".join(lines) + "\n\n"


def _table(
    by_page: Mapping[str, Verdict],
    names: Mapping[str, str],
    waived: Collection[str],
    site: str,
    rules: Mapping[str, PageRule],
    skipped: NotJudged,
    limit: int,
) -> list[str]:
    """The table, one row per policy page or failed query, each cell at most ``limit``."""

    def text(value: str) -> str:
        return cell(value, limit)

    lines = [
        "| Page | Title | Verdict | Approvers | Reason |",
        "| --- | --- | --- | --- | --- |",
    ]
    deselected = frozenset(skipped.deselected)  # asked of every row: a set, not the tuple
    shown = [*by_page, *skipped.deselected, *skipped.not_run]
    for page_id in sorted(dict.fromkeys(shown), key=lambda p: (len(p), p)):
        judged = by_page.get(page_id)
        rule = judged.rule if judged is not None else rules.get(page_id)
        page = page_id + (f" {rule.name}" if rule is not None and rule.name else "")
        title = judged.title if judged is not None and judged.title else page_id
        link = f"[{text(title)}]({page_url(site, page_id)})"
        if judged is None:
            why = "deselected" if page_id in deselected else "not run"
            row = [text(page), link, f"⏭️ not judged ({why})", "\\-", "\\-"]
        else:
            approval, outcome = judged.approval, judged.outcome
            approvers = _approvers(approval.approved, names) if approval else ""
            status = "⏸️ waived" if page_id in waived else f"{_ICON[outcome]} {outcome.value}"
            row = [text(page), link, status, text(approvers), text("; ".join(judged.reasons))]
        lines.append("| " + " | ".join(row) + " |")
    for label, why in [
        *((q, "could not be run") for q in skipped.queries_failed),
        *((q, "matched no pages") for q in skipped.queries_empty),
    ]:
        lines.append(f"| {text(label)} | \\- | ❌ {why} | \\- | \\- |")
    return lines


def _approvers(accounts: Collection[str], names: Mapping[str, str]) -> str:
    """``2 approvers: Priya Raman (557058:aaa), 557058:bbb``: one person per account, a name
    that is not plain quoted (``"Priya Raman, Jonas Weber" (557058:aaa)``)."""
    if not accounts:
        return ""
    # The one formatter every output uses, always with the id here: a table cell has no
    # room to say which of two same-named people approved.
    listed = people(accounts, names, with_id=True)
    return f"{len(accounts)} {'approver' if len(accounts) == 1 else 'approvers'}: {listed}"

"""The job summary as GitHub shows it: linear in its rows, one person per approver."""

from __future__ import annotations

import random
import re

from pytest_confluence_approval.jobsummary import markdown_summary
from pytest_confluence_approval.scope import NotJudged

SITE = "https://acme.atlassian.net/wiki"


class CountedId(str):
    """A page id that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountedId.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_the_summary_compares_page_ids_a_linear_number_of_times() -> None:
    # Each row asked whether its page was deselected by scanning every deselected page:
    # 40,000 deselected pages took 55 s. Counted, not timed: 3,000 pages compared
    # 4.5 million times then; sorting them needs about n log n comparisons.
    count = 3000
    ids = [CountedId(str(10_000 + n)) for n in range(2 * count)]
    random.Random(18).shuffle(ids)
    skipped = NotJudged(deselected=tuple(ids[:count]), not_run=tuple(ids[count:]))
    CountedId.comparisons = 0

    text = markdown_summary([], {}, site=SITE, rules={}, skipped=skipped)

    assert CountedId.comparisons < 20 * len(ids), CountedId.comparisons
    rows = [line for line in text.splitlines() if "not judged" in line]
    assert sum("(deselected)" in row for row in rows) == count
    assert sum("(not run)" in row for row in rows) == count


def test_forty_thousand_deselected_pages_still_make_a_summary() -> None:
    ids = tuple(str(10**6 + n) for n in range(40_000))

    text = markdown_summary([], {}, site=SITE, rules={}, skipped=NotJudged(deselected=ids))

    shown = re.sub(r"\\(.)", r"\1", text)  # as Markdown shows its backslash escapes
    assert "**NOT JUDGED: 40000 pages deselected (1000000, 1000001, " in shown
    assert "The table of 40000 pages is too large for a job summary" in shown
    assert len(text.encode("utf-8")) <= 1_000_000

"""The job summary as GitHub shows it: linear in its rows, one person per approver."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_confluence_approval.jobsummary import markdown_summary
from pytest_confluence_approval.policy import PageRule
from pytest_confluence_approval.result import RunFacts, gate_result
from pytest_confluence_approval.scope import EVERYTHING_JUDGED, NotJudged
from pytest_confluence_approval.untrusted import neutral
from pytest_confluence_approval.verdict import (
    ApprovalProperty,
    Failure,
    Outcome,
    Rule,
    Verdict,
    unverifiable,
)
from tests.conftest import GateRunner
from tests.fake_confluence import approval_value
from tests.markdown import RENDERERS

SITE = "https://acme.atlassian.net/wiki"


def job_summary(
    verdicts: list[Verdict],
    names: dict[str, str],
    *,
    site: str = SITE,
    skipped: NotJudged = EVERYTHING_JUDGED,
) -> str:
    """The job summary of a run that judged ``verdicts`` and left ``skipped`` unjudged."""
    facts = RunFacts(
        mode="live",
        site=site,
        policy_path="policy.yaml",
        policy_sha256="0" * 64,
        auth="anonymous",
        gate_version="0",
    )
    return markdown_summary(gate_result(verdicts, facts=facts, names=names, not_judged=skipped))


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

    text = job_summary([], {}, skipped=skipped)

    assert CountedId.comparisons < 20 * len(ids), CountedId.comparisons
    rows = [line for line in text.splitlines() if "not judged" in line]
    assert sum("(deselected)" in row for row in rows) == count
    assert sum("(not run)" in row for row in rows) == count


def test_forty_thousand_deselected_pages_still_make_a_summary() -> None:
    ids = tuple(str(10**6 + n) for n in range(40_000))

    text = job_summary([], {}, skipped=NotJudged(deselected=ids))

    shown = re.sub(r"\\(.)", r"\1", text)  # as Markdown shows its backslash escapes
    assert "**NOT JUDGED: 40000 pages deselected (1000000, 1000001, " in shown
    assert "The table of 40000 pages is too large for a job summary" in shown
    assert len(text.encode("utf-8")) <= 1_000_000


# -- no text from Confluence becomes a link, as GitHub renders it ---------------------------

#: Every form GitHub's autolinker (cmark-gfm's autolink extension) knows, and then some.
LINKISH = [
    "user@host.tld",
    "mailto:user@host.tld",
    "xmpp:user@host.tld/phone",
    "a.b+c-d_e@sub.host.tld.",
    "x@y.z@w.v",
    "www.evil.test/path?q=1",
    "WWW.EVIL.TEST",
    "http://evil.test/x",
    "https://evil.test/(x)",
    "ftp://evil.test",
    "<https://evil.test>",
    "<user@host.tld>",
    "[click](https://evil.test)",
    "![img](https://evil.test/i.png)",
    "[ref]\n\n[ref]: https://evil.test",
    "(https://evil.test)",
    "*www.evil.test*",
    "~user@host.tld~",
    '"user@host.tld"',
    "javascript:alert(1)",
]
SITE_LINKS = [f"{SITE}/pages/viewpage.action?pageId={p}" for p in ("101", "102")]


def _rule(page_id: str, name: str | None) -> PageRule:
    return PageRule(page_id, name, line=1)


def _approval(approved: tuple[str, ...]) -> ApprovalProperty:
    return ApprovalProperty(
        key="njyzjq_capable_approval",
        pending=(),
        approved=approved,
        rejected=(),
        is_complete=True,
        completed_at=None,
        minimum_approvers=1,
        minimum_rejections=1,
    )


def _summary(text: str, approvers: dict[str, str] | None = None) -> str:
    """A summary with ``text`` as everything Confluence or the policy says: a title, a
    display name, a reason, an entry's name, a query's label."""
    approvers = approvers if approvers is not None else {"acc-1": text}
    hostile = Verdict(
        _rule("101", text),
        Outcome.NOT_APPROVED,
        (Failure(Rule.APPROVALS, text),),
        "https://evil.test/",
        title=text,
        approval=_approval(tuple(approvers)),
    )
    plain = unverifiable(_rule("102", None), text, SITE)
    skipped = NotJudged(queries_failed=(text,), queries_empty=(text,))
    return job_summary([hostile, plain], approvers, skipped=skipped)


def visible(text: str) -> str:
    """The text a reader sees: without the word joiners the summary puts before each "@"
    (invisible, and never from Confluence: untrusted text has every format character
    shown as an escape)."""
    return text.replace("\u2060", "")


@pytest.mark.parametrize("renderer", list(RENDERERS))
@pytest.mark.parametrize("text", LINKISH)
def test_no_title_name_or_reason_becomes_a_link(renderer: str, text: str) -> None:
    # cmark-gfm, GitHub's renderer, linked e-mail addresses even with every punctuation
    # character backslash-escaped: its autolinker looks at the text after escapes.
    rendered = RENDERERS[renderer](_summary(text))

    assert rendered.links == SITE_LINKS
    assert rendered.html == []
    [table] = rendered.tables
    assert [len(row) for row in table] == [5] * 5
    hostile = table[1]
    assert visible(hostile[1]) == neutral(text).strip()  # the title, as it was
    assert visible(hostile[4]) == neutral(text).strip()  # the reason, as it was


def test_the_summary_of_a_hostile_site_links_only_to_its_pages(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = gate.site
    site.add_page("101", title="Call ops@acme.test or www.acme.test", version=3)
    site.set_approval("101", approval_value(approved=["acc-1"]))
    site.add_user("acc-1", "priya@acme.test")
    gate.write_policy([{"id": "101", "name": "xmpp:release@acme.test"}])
    summary = gate.pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    gate.run().result.assert_outcomes(passed=1)

    for renderer in RENDERERS.values():
        rendered = renderer(summary.read_text(encoding="utf-8"))
        assert rendered.links == [f"{site.url}/pages/viewpage.action?pageId=101"]
        [table] = rendered.tables
        assert [visible(cell) for cell in table[1][:2]] == [
            "101 xmpp:release@acme.test",
            "Call ops@acme.test or www.acme.test",
        ]
        assert visible(table[1][3]) == '1 approver: "priya@acme.test" (acc-1)'


_LINK_PARTS = st.sampled_from(
    [
        *("www.", "http", "https", "ftp", "mailto", "xmpp", "://", ":", "@", ".", "/", "a"),
        *("b1", "com", "-", "_", "+", "~", "*", "(", ")", "[", "]", "<", ">", "!", " ", "\\"),
        *("&", "#", ";", "&#64;", "\n", "\u2060", "\u00e9", "\u3002", "\uff20"),
        *("a@b.co", "www.a.co", *LINKISH),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINK_PARTS, max_size=12).map("".join))
def test_no_text_built_of_link_parts_becomes_a_link(text: str) -> None:
    for renderer in RENDERERS.values():
        rendered = renderer(_summary(text))
        assert rendered.links == SITE_LINKS, text
        assert rendered.html == [], text


# -- one person per approver ----------------------------------------------------------------


@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_each_approver_shows_with_their_account_id_after_the_count(renderer: str) -> None:
    # A display name "Priya Raman, Jonas Weber" on one account read as two approvers.
    names = {"557058:aaa": "Priya Raman, Jonas Weber", "557058:bbb": "Amara Okafor"}
    one = Verdict(
        _rule("101", None),
        Outcome.APPROVED,
        (),
        SITE,
        title="One",
        approval=_approval(("557058:aaa",)),
    )
    two = Verdict(
        _rule("102", None),
        Outcome.APPROVED,
        (),
        SITE,
        title="Two",
        approval=_approval(("557058:aaa", "557058:bbb", "557058:ccc")),
    )

    text = job_summary([one, two], names)

    [table] = RENDERERS[renderer](text).tables
    assert [row[3] for row in table[1:]] == [
        '1 approver: "Priya Raman, Jonas Weber" (557058:aaa)',
        '3 approvers: "Priya Raman, Jonas Weber" (557058:aaa), Amara Okafor (557058:bbb), '
        "557058:ccc",
    ]

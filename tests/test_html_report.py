"""The HTML audit report: what an auditor opens offline, archives and prints.

The source is checked for what must never be in it; the page as a real browser shows
it (headless Chromium, network closed: tests/browser.py) for its rendered text per
section, console errors, requests and its A4 print.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_confluence_approval.facts import PageFacts
from pytest_confluence_approval.html_report import (
    HtmlReportInput,
    render_html,
    whom_to_chase,
    write_html_report,
)
from pytest_confluence_approval.scope import NotJudged
from pytest_confluence_approval.verdict import PageVersion
from tests.browser import INSTALL, Browser, Loaded, require_browser
from tests.evidence_inputs import (
    approval_property,
    approved,
    example_pages,
    failed_query,
    judged,
    page_payload,
    pending,
    result_of,
    run_facts,
    unverifiable,
)
from tests.fake_confluence import APPROVAL_APP_ACCOUNT

HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
A4 = (595, 842)
WAIVER = ("RISK-42: accepted by the CAB", date(2025, 9, 30))


#: what a test may change of the run's result (the rest is the report's own input)
RESULT_CHANGES = ("run", "pages", "names", "failed_queries", "not_judged")


def example_report(**changes: Any) -> HtmlReportInput:
    pages, names = example_pages()
    of_result = {k: changes.pop(k) for k in RESULT_CHANGES if k in changes}
    of_result = {
        "run": run_facts(
            policy_path="examples/advanced-policy.yaml",
            policy_sha256="1" * 64,
            variables={"RELEASE": "2025.08"},
            ci_run_url="https://github.com/acme/orion/actions/runs/42/attempts/1",
        ),
        "pages": pages,
        "names": names,
        **of_result,
    }
    report = HtmlReportInput(
        result=result_of(of_result.pop("pages"), **of_result),
        chase=(("557058:f3a1c2d4-9e7b-4c1a-8f2e-0a1b2c3d4e5f", ("718962698",)),),
    )
    return replace(report, **changes)


def report_of(*pages: Any, **changes: Any) -> HtmlReportInput:
    of_result = {k: changes.pop(k) for k in RESULT_CHANGES if k in changes}
    return HtmlReportInput(result=result_of(pages, **of_result), **changes)


# --- the source ------------------------------------------------------------------------------


def test_jinja2_is_imported_only_when_a_report_is_rendered() -> None:
    script = (
        "import sys\n"
        "import pytest_confluence_approval.html_report as h\n"
        "assert 'jinja2' not in sys.modules, 'imported with the module'\n"
        "from tests.test_html_report import report_of\n"
        "from tests.evidence_inputs import approved\n"
        "h.render_html(report_of(approved('101')))\n"
        "assert 'jinja2' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parent.parent)


def test_the_file_can_hold_no_script_style_or_remote_resource() -> None:
    html = render_html(example_report())

    head = html[: html.index("</head>")]
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'sha256-" in head
    )
    assert "base-uri 'none'; form-action 'none'" in head
    lowered = html.lower()
    for forbidden in ("<script", "<img", "<link", "<iframe", " style=", " src=", "@import", "url("):
        assert forbidden not in lowered, forbidden
    assert head.count("<style>") == 1


def test_a_hostile_title_and_name_are_text_with_no_hidden_characters() -> None:
    names = {"acc-approver": 'Mallory</td><script>alert("x")</script>', "acc-author": "Eve"}
    page = approved("101", title=HOSTILE_TITLE + "\u202eevil\u200b", names=names)

    html = render_html(report_of(page, names=names))

    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "\\u202eevil\\u200b" in html  # bidi and zero-width shown, not obeyed
    assert "\u202e" not in html and "\u200b" not in html
    assert "Mallory&lt;/td&gt;&lt;script&gt;alert(" in html
    assert "<script" not in html and "<img" not in html


def test_links_go_only_to_the_configured_sites_pages() -> None:
    # Confluence claims another base for its links: the report never uses them.
    facts = PageFacts(
        "101",
        page={
            **page_payload("101"),
            "_links": {"base": "https://evil.example", "webui": "/phish"},
        },
        properties=[approval_property()],
    )
    report = report_of(
        judged("101", facts=facts),
        run=run_facts(ci_run_url="javascript:alert(1)"),
        not_judged=NotJudged(deselected=("102",)),
    )

    html = render_html(report)

    assert "evil.example" not in html and "javascript:" not in html
    hrefs = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    site = "https://acme.atlassian.net/wiki/pages/viewpage.action?pageId="
    assert sorted(h for h in hrefs if not h.startswith("#")) == [site + "101", site + "102"]


def test_the_same_inputs_give_the_same_file(tmp_path: Path) -> None:
    write_html_report(tmp_path / "one.html", example_report())
    write_html_report(tmp_path / "two.html", example_report())

    assert (tmp_path / "one.html").read_bytes() == (tmp_path / "two.html").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.html", "two.html"]


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = require_browser()
    with Browser.running(executable, tmp_path_factory.mktemp("chromium")) as running:
        yield running


@pytest.fixture
def show(browser: Browser, tmp_path: Path) -> Any:
    """Write a report and open it in the browser: what a reader sees, loaded and printed."""

    def shown(report: HtmlReportInput) -> Loaded:
        path = tmp_path / "report.html"
        write_html_report(path, report)
        loaded = browser.load(path)
        # Nothing fetched, nothing refused: a report that tried would log a CSP error.
        assert loaded.requests == []
        assert loaded.errors == []
        return loaded

    return shown


def test_the_browser_check_would_see_requests_scripts_and_refused_styles(
    browser: Browser, tmp_path: Path
) -> None:
    """The assertions below can fail: a page that tries to load or run anything is caught."""
    path = tmp_path / "bad.html"
    path.write_text(
        "<!DOCTYPE html><html><head><meta charset=utf-8>"
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'\">"
        "</head><body><p style='color:red'>x</p><img src='https://example.com/pixel.png'>"
        "<script>console.error('ran')</script></body></html>",
        encoding="utf-8",
    )

    loaded = browser.load(path)

    assert loaded.requests == ["https://example.com/pixel.png"]
    assert len(loaded.errors) >= 2  # the image, the script and the style refused
    assert any("Content Security Policy" in e for e in loaded.errors)
    assert loaded.elements["script"] == 1 and loaded.elements["img"] == 1


def test_the_example_report_reads_verdict_first_then_the_run_then_each_page(show: Any) -> None:
    loaded = show(example_report())

    verdict = loaded.blocks["verdict"]
    assert verdict.startswith("NOT APPROVED\n")
    assert "2 approved, 3 not approved (1 waived), 0 not verifiable" in verdict
    run = loaded.blocks["run"]
    for fact in (
        "examples/advanced-policy.yaml",
        "1" * 64,
        "https://acme.atlassian.net/wiki",
        "2025-08-04T12:00:00.000Z",
        "replay of a snapshot recorded 2025-08-04T09:30:00.000Z",
        "pytest-confluence-approval 0.1.0",
        "https://github.com/acme/orion/actions/runs/42/attempts/1",
        "RELEASE = 2025.08",
    ):
        assert fact in run, fact
    assert (
        "Jonas Weber (557058:f3a1c2d4-9e7b-4c1a-8f2e-0a1b2c3d4e5f): page 718962698"
        in (loaded.blocks["chase"])
    )
    assert list(loaded.sections) == [
        "718962697",
        "718962698",
        "718962699",
        "718962701",
        "718962702",
    ]

    waived = loaded.sections["718962699"]
    assert waived.splitlines()[0] == "Change record"
    assert "Outcome: waived: not approved, covered by a waiver" in waived
    assert "CAB-1234: change record approved in the CAB meeting" in waived
    assert "applied: covers this page until 2025-09-30" in waived

    found = loaded.sections["718962698"]
    assert found.splitlines()[0] == "Risk assessment"  # its Confluence title, not the query's name
    assert 'found by query "Release 2025-08 page"' in found
    assert "the approval is not complete yet (still pending: Jonas Weber) [incomplete]" in found

    approved_page = loaded.sections["718962697"]
    assert "Outcome: approved" in approved_page
    assert "Required approvers\tPriya Raman (5b10a2844c20165700ede21g): approved" in approved_page
    assert "Group qa\t2 of 2 required counted: Priya Raman (5b10a2844c20165700ede21g), Jonas " in (
        approved_page
    )
    assert "Approval data written by\tRelease Bot (557058:1d2e3f40-" in approved_page


def test_the_report_prints_on_a4(show: Any) -> None:
    loaded = show(example_report())

    assert loaded.pdf.startswith(b"%PDF-")
    sizes = loaded.page_sizes()
    assert len(sizes) > 1 and set(sizes) == {A4}, sizes


def test_a_hostile_title_shows_as_text_and_becomes_no_element(show: Any) -> None:
    names = {"acc-approver": '"><svg onload=alert(2)>'}
    loaded = show(report_of(approved("101", title=HOSTILE_TITLE, names=names), names=names))

    assert loaded.sections["101"].splitlines()[0] == HOSTILE_TITLE
    # Quoted, its own quote escaped (accounts.person), the backslash shown (untrusted.py).
    assert '"\\\\"><svg onload=alert(2)>" (acc-approver)' in loaded.sections["101"]
    assert loaded.elements == dict.fromkeys(loaded.elements, 0)
    assert loaded.styled == 0
    assert loaded.title == "Confluence approval report: APPROVED"


@pytest.mark.parametrize(
    ("report", "headline", "explanation"),
    [
        pytest.param(
            report_of(approved("101")),
            "APPROVED",
            "Every page in scope is approved.",
            id="approved",
        ),
        pytest.param(
            report_of(approved("101"), pending("102", waiver=(*WAIVER, "applied"))),
            "APPROVED WITH WAIVERS",
            "except pages whose waiver covers them",
            id="waived",
        ),
        pytest.param(
            report_of(approved("101"), not_judged=NotJudged(deselected=("102",))),
            "PARTIAL",
            "not every page in scope was judged",
            id="partial",
        ),
        pytest.param(
            report_of(approved("101"), unverifiable("102")),
            "NOT APPROVED",
            "Not every page in scope is approved.",
            id="not approved",
        ),
        pytest.param(
            report_of(approved("101"), run=run_facts(audit=True)),
            "AUDIT",
            "Judged and reported, not enforced: this run approves nothing. Enforced, it would "
            "have been approved.",
            id="audit",
        ),
    ],
)
def test_the_verdict_comes_first_in_words(
    show: Any, report: HtmlReportInput, headline: str, explanation: str
) -> None:
    loaded = show(report)

    lines = [line for line in loaded.blocks["verdict"].splitlines() if line]
    assert lines[0] == headline
    assert explanation in lines[1]


def test_what_was_not_judged_is_named_with_every_entry(show: Any) -> None:
    deselected = tuple(str(n) for n in range(1000, 1400))  # beyond any one-line limit
    report = report_of(
        approved("101"),
        failed_queries=(
            failed_query("p.yaml::query[Orion]", "Orion", "label = orion", "HTTP 400"),
        ),
        not_judged=NotJudged(
            deselected=deselected, queries_failed=('query "Orion"',), queries_empty=('query "x"',)
        ),
    )

    text = show(report).blocks["not-judged"]

    assert "400 pages deselected (-k, -m or --deselect): 1000, 1001," in text
    assert "1399" in text
    assert 'query "Orion" could not be run: HTTP 400 (CQL label = orion)' in text
    assert 'query "x" matched no pages' in text


def test_tolerated_minor_edits_and_the_approved_version_are_shown(show: Any) -> None:
    page = approved("101", rule={"ignore_minor_edits": True}, names={"acc-editor": "Ana Lima"})
    edit = PageVersion(5, datetime(2025, 7, 20, 9, 0, tzinfo=timezone.utc), "acc-editor", True)
    page = replace(
        page,
        approved_version=PageVersion(
            4, datetime(2025, 7, 14, 8, 55, tzinfo=timezone.utc), "acc-author", False
        ),
        tolerated_edits=(edit,),
    )

    text = show(report_of(page, names={"acc-editor": "Ana Lima"})).sections["101"]

    assert "Approved version\tversion 4, published 2025-07-14T08:55:00.000Z by acc-author" in text
    assert (
        "Minor edits tolerated (ignore_minor_edits)\tversion 5, published "
        "2025-07-20T09:00:00.000Z by Ana Lima (acc-editor) (a minor edit)"
    ) in text


def test_a_missing_browser_skips_with_the_install_command_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser here

    with pytest.raises(pytest.skip.Exception, match=INSTALL):
        require_browser({})
    with pytest.raises(pytest.fail.Exception, match="in CI the browser tests must run"):
        require_browser({"CI": "true"})


def test_who_wrote_the_approval_data_and_who_may_are_both_shown(show: Any) -> None:
    writers = {"approval_writers": (APPROVAL_APP_ACCOUNT,)}
    names = {APPROVAL_APP_ACCOUNT: "Capable Approval", "acc-editor": "Ana Lima"}
    page = judged("101", rule=writers, names=names, properties=[approval_property("acc-editor")])

    text = show(report_of(page, names=names)).sections["101"]

    assert "Outcome: not approved" in text
    assert (
        "approval data last written by Ana Lima (acc-editor), who is not one of "
        "approval_writers" in text
    )
    assert "Approval data written by\tAna Lima (acc-editor), 2025-07-15T10:33:14.000Z" in text
    assert f"Accepted approval writers\tCapable Approval ({APPROVAL_APP_ACCOUNT})" in text


def test_a_page_that_could_not_be_verified_says_why_and_no_waiver_covers_it(show: Any) -> None:
    page = unverifiable("101", waiver=(*WAIVER, "unused"))

    text = show(report_of(page)).sections["101"]

    assert "Outcome: not verifiable" in text
    assert "could not verify: HTTP 503 from Confluence [fetch]" in text
    assert "Waiver\tRISK-42: accepted by the CAB" in text
    assert "not applied: a waiver never covers a page that could not be verified" in text


def test_whom_to_chase_is_read_from_the_result() -> None:
    """Pending approvers and required approvers who have not answered, of pages not
    approved; nobody for an approved page, a rejection or a page not verifiable."""
    assert whom_to_chase(example_report().result) == example_report().chase
    result = result_of(
        [
            approved("101"),
            pending("102"),
            pending("103", rule={"required_approvers": ["acc-cab", "acc-approver"]}),
            judged("104", approved=(), rejected=("acc-approver",), complete=False),
            unverifiable("105"),
        ]
    )

    assert whom_to_chase(result) == (("acc-approver", ("102", "103")), ("acc-cab", ("103",)))

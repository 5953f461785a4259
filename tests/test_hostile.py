"""A hostile page editor against every output: what they control cannot forge our word.

Titles, display names, property keys and CQL result titles come from Confluence,
where anyone who can edit a page (or their own profile) sets them. Each attack of
the threat model (README, Security) is planted in the real local fake, and the
assertions read the text that reaches each output: stdout, the JUnit file, the job
summary file and the JSON report.
"""

from __future__ import annotations

import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_confluence_approval.accounts import person
from pytest_confluence_approval.policy import PageRule
from pytest_confluence_approval.untrusted import MAX_SHOWN, neutral, render_line, render_lines
from pytest_confluence_approval.verdict import (
    ApprovalProperty,
    Failure,
    Outcome,
    Rule,
    Verdict,
    unverifiable,
)
from tests.conftest import GateRunner, PytestRun, approved_page
from tests.fake_confluence import DEFAULT_APPROVAL_KEY, approval_value
from tests.markdown import render, render_gfm
from tests.test_jobsummary import job_summary

WORKFLOW = "Plan\n::error::forged by a title\n::add-mask::x\n::stop-commands::stop"
#: GitHub's runner also takes the legacy "##[command]data" anywhere in a line (IndexOf, not
#: StartsWith), and the Azure Pipelines agent "##vso[...]": mid-line, after our own words.
MIDLINE = (
    "Plan ##[stop-commands]t0k ##[error]forged ##vso[task.prependpath]/tmp/evil "
    "##VSO[task.complete result=Succeeded;]done ##teamcity[buildStatus status='SUCCESS']"
)
CURSOR = "x)\x1b[2K\r\x1b[32mAPPROVED: page 101 is approved"
OSC8 = "\x1b]8;;https://evil.test/\x1b\\click me\x1b]8;;\x1b\\\x07"
HIDDEN = "a\u202eevil\u2066\u2069\u200b\u200d\u2060\ufeff\u061c\u200f\u2028\u2029\x85\x7fz"
SUMMARY = "Risk\r\r## ✅ Release gate passed: every page approved\r\r<!--"
EVIDENCE = "Change\nverdict: approved"
#: every attack at once, for the places only one string fits
ALL = WORKFLOW + MIDLINE + CURSOR + OSC8 + HIDDEN + SUMMARY + EVIDENCE

HIDDEN_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def hostile_site(gate: GateRunner) -> None:
    site = gate.site
    # 101: a title that would end the job summary's table; a pending approver whose
    # display name would overwrite the terminal's NOT APPROVED line.
    site.add_page("101", title=SUMMARY)
    site.set_approval("101", approval_value(pending=["acc-cursor"], complete=False))
    site.add_user("acc-cursor", CURSOR)
    # 102: workflow commands in the title, a rejecter named with hidden characters.
    site.add_page("102", title=WORKFLOW + MIDLINE)
    site.set_approval("102", approval_value(rejected=["acc-hidden"]))
    site.add_user("acc-hidden", HIDDEN + OSC8)
    # 103: a title that would add a line of evidence ahead of the real verdict.
    site.add_page("103", title=EVIDENCE)
    site.set_approval("103", approval_value(pending=["acc-x"], complete=False))
    # 104: a second approval property whose key carries the attacks (ambiguous).
    approved_page(site, "104")
    site.set_approval("104", approval_value(), key="x\n::error::key" + DEFAULT_APPROVAL_KEY)
    # 105: found by a cql: entry, so its title becomes the test id; "approved" by an
    # account id that carries the attacks (not an Atlassian account id, so the page fails
    # and the id reaches the failure text).
    site.add_page("105", title=ALL, version=3, version_created_at="2025-07-01T10:00:00.000Z")
    site.set_approval("105", approval_value(approved=["acc-a\n::error::id"]))
    site.add_cql("label = hostile", ["105"])
    gate.write_policy(
        [{"id": p} for p in ("101", "102", "103", "104")] + [{"cql": "label = hostile"}]
    )


def hostile_run(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[PytestRun, Path]:
    hostile_site(gate)
    summary = gate.pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = gate.run(
        "-rA", "-v", "--confluence-report", str(gate.pytester.path / "report.json"), *args
    )
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    return run, summary


def assert_inert(text: str, where: str) -> None:
    """No hidden character but our newlines, and no line a workflow command."""
    hidden = sorted(
        {
            f"U+{ord(c):04X}"
            for c in text
            if c != "\n" and unicodedata.category(c) in HIDDEN_CATEGORIES
        }
    )
    assert hidden == [], f"{where} emits {hidden}"
    commands = [line for line in text.split("\n") if line.lstrip().startswith("::")]
    assert commands == [], f"{where} has workflow command lines"
    midline = re.findall(r"##[a-z]*\[", text, re.IGNORECASE)
    assert midline == [], f"{where} has mid-line CI commands"


def test_stdout_shows_hostile_text_escaped_never_raw(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = hostile_run(gate, monkeypatch)

    stdout = run.result.stdout.str()
    assert_inert(stdout, "stdout")
    assert_inert(run.result.stderr.str(), "stderr")
    # The display name that tried to overwrite the line is shown, visibly escaped (and
    # quoted, with its account id: a name that is not plain could pass for someone else).
    assert 'still pending: "x)\\x1b[2K\\r\\x1b[32mAPPROVED: page 101 is approved" (acc-cursor)' in (
        stdout
    )
    assert "\\u202eevil\\u2066" in stdout and "\\x1b]8;;https://evil.test/" in stdout
    assert not any(line.startswith("APPROVED") for line in stdout.splitlines())
    summary = stdout[stdout.index("= Confluence approval gate =") :].splitlines()
    assert summary[1] == "0 approved, 5 not approved, 0 not verifiable"
    assert [line[: len("NOT APPROVED: page 10x")] for line in summary[2:7]] == [
        f"NOT APPROVED: page {page_id}" for page_id in ("101", "102", "103", "104", "105")
    ]
    assert "is not an Atlassian account id" in summary[6]


def test_test_ids_never_carry_cql_titles(gate: GateRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = hostile_run(gate, monkeypatch)

    names = (
        [case.get("name", "") for case in run.junit.iter("testcase")]
        if run.junit is not None
        else []
    )
    # -k and -m match test ids: a title there would let its editor deselect the page.
    assert "page[105]" in names
    for name in names:
        assert_inert(name, "a test id")


def test_junit_file_carries_no_forged_line_of_evidence(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile_run(gate, monkeypatch)

    raw = (gate.pytester.path / "gate.xml").read_text(encoding="utf-8")
    assert_inert(raw, "the JUnit file")
    # Only our own newlines (in the failure message attribute) needed XML's escapes.
    assert set(re.findall(r"&#\w+;", raw)) <= {"&#10;"}
    root = ET.fromstring(raw)
    for element in root.iter():
        for text in [element.text or "", *element.attrib.values()]:
            assert_inert(text, f"JUnit <{element.tag}>")
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("page[103"))
    out = case.find("system-out")
    assert out is not None and out.text is not None
    lines = out.text.splitlines()
    assert [line for line in lines if line.startswith("verdict:")] == ["verdict: not approved"]
    assert "title: Change\\nverdict: approved" in lines
    failure = case.find("failure")
    assert failure is not None and "verdict: approved" not in (failure.text or "").splitlines()


def test_xunit1_properties_are_escaped(gate: GateRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = hostile_run(gate, monkeypatch, "-o", "junit_family=xunit1")

    assert run.junit is not None
    values = [p.get("value", "") for p in run.junit.iter("property")]
    assert neutral(WORKFLOW + MIDLINE) in values
    for value in values:
        assert_inert(value, "a JUnit property")


def test_job_summary_stays_one_table_whatever_the_titles(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, summary = hostile_run(gate, monkeypatch)

    text = summary.read_text(encoding="utf-8")
    assert_inert(text, "the job summary")
    rendered = render(text)
    assert rendered.headings == ["h3 Confluence approval gate"]
    assert rendered.html == []
    [table] = rendered.tables
    assert [row[0].split(" ")[0] for row in table[1:]] == ["101", "102", "103", "104", "105"]
    assert all(len(row) == 5 for row in table)
    by_page = {row[0].split(" ")[0]: row for row in table[1:]}
    assert by_page["101"][1] == neutral(SUMMARY)  # shown as text, literally
    assert by_page["101"][2] == "❌ not approved"
    site = gate.site.url
    assert rendered.links == [f"{site}/pages/viewpage.action?pageId={p}" for p in by_page]


def test_report_keeps_the_raw_values(gate: GateRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile_run(gate, monkeypatch)

    report = json.loads((gate.pytester.path / "report.json").read_text(encoding="utf-8"))
    titles = {page["id"]: page["title"] for page in report["pages"]}
    # Not human-facing: JSON escapes control characters, and auditors need the exact value.
    assert titles["101"] == SUMMARY and titles["105"] == ALL


# -- the neutralising layer itself, over arbitrary Unicode text --------------------------

_ESCAPE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def unescape(text: str) -> str:
    def one(found: re.Match[str]) -> str:
        code = found.group(1)
        return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}.get(code) or chr(int(code[1:], 16))

    return _ESCAPE.sub(one, text)


@given(st.text(max_size=MAX_SHOWN // 10))  # escaped, each shows as at most 10
def test_neutral_text_hides_nothing_and_can_be_read_back(text: str) -> None:
    safe = neutral(text)
    assert not any(unicodedata.category(c) in HIDDEN_CATEGORIES for c in safe)
    assert unescape(safe) == text  # reversible, so two texts never look the same


@given(st.lists(st.text(max_size=MAX_SHOWN // 10)))
def test_no_rendered_line_is_a_workflow_command(lines: list[str]) -> None:
    rendered = render_lines(lines)
    assert rendered.count("\n") == max(len(lines) - 1, 0)  # only our newlines
    for line, original in zip(rendered.split("\n") if lines else [], lines, strict=True):
        assert not line.lstrip().startswith("::")
        assert unescape(line) == original
        assert render_line(original) == line


def test_known_escapes_are_the_familiar_ones() -> None:
    assert neutral("a\nb\rc\td\x1be\u202ef\u200bg\\h") == "a\\nb\\rc\\td\\x1be\\u202ef\\u200bg\\\\h"
    assert render_line("::error::x") == "\\x3a:error::x"
    assert render_line("  ::error::x") == "  \\x3a:error::x"
    assert neutral("Ünïcödé ✅ title") == "Ünïcödé ✅ title"


def _rule(page_id: str, name: str | None) -> PageRule:
    return PageRule(page_id, name, line=1)


@settings(max_examples=100, deadline=None)
@given(title=st.text(), name=st.text(), reason=st.text(), approver=st.text())
def test_any_title_stays_inside_its_cell_of_the_one_table(
    title: str, name: str, reason: str, approver: str
) -> None:
    site = "https://acme.atlassian.net/wiki"
    hostile = Verdict(
        _rule("101", name),
        Outcome.NOT_APPROVED,
        (Failure(Rule.APPROVALS, reason),),
        "https://evil.test/)",
        title=title,
        approval=ApprovalProperty("k", (), ("acc-1",), (), False, None, 1, 1),
    )
    plain = unverifiable(_rule("102", None), "could not verify: x", site)
    text = job_summary([hostile, plain], {"acc-1": approver}, site=site)

    # As markdown-it-py and as GitHub's own renderer (cmark-gfm, autolinks on) show it;
    # the word joiners the summary puts before each "@" are invisible (and never from
    # Confluence, whose format characters are shown as escapes).
    for rendered in (render(text), render_gfm(text)):
        assert rendered.headings == ["h3 Confluence approval gate"]
        assert rendered.html == []
        [table] = rendered.tables
        assert len(table) == 3 and all(len(row) == 5 for row in table)
        hostile_row = [cell.replace("\u2060", "") for cell in table[1]]
        assert hostile_row[1] == ((neutral(title).strip() or "-") if title else "101")
        # One person, as every output names one (quoted unless plain, always with the id).
        assert hostile_row[3] == neutral(
            "1 approver: " + person("acc-1", {"acc-1": approver}, with_id=True)
        )
        assert hostile_row[4] == (neutral(reason).strip() or "-")
        links = [f"{site}/pages/viewpage.action?pageId={p}" for p in ("101", "102")]
        assert rendered.links == links


# -- a broken proxy or editor sending JSON strings that are not Unicode ----------------


def test_lone_surrogates_from_confluence_make_the_page_unverifiable_not_a_crash(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # JSON may spell "\udfff" (a lone surrogate): json.loads accepts it, but no UTF-8
    # output (snapshot, report, job summary) can hold it. Recording the run crashed
    # with an INTERNALERROR and judged no page at all.
    site = gate.site
    approved_page(site, "101")
    approved_page(site, "102", approved=["acc-\udfff"])
    site.add_user("acc-approver", "Ann\ud800")
    gate.write_policy([{"id": "101"}, {"id": "102"}])
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(gate.pytester.path / "summary.md"))
    run = gate.run(
        "--confluence-record",
        str(gate.pytester.path / "snapshot.json"),
        "--confluence-report",
        str(gate.pytester.path / "report.json"),
    )

    assert "INTERNALERROR" not in run.output
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    assert "failure" not in {child.tag for child in run.testcases()["101"]}
    assert "not valid Unicode" in run.failure_text("102")
    report = json.loads((gate.pytester.path / "report.json").read_text(encoding="utf-8"))
    assert {p["id"]: p["verdict"] for p in report["pages"]} == {
        "101": "approved",
        "102": "not verifiable",
    }
    # Replaying what was recorded judges the same.
    replay = gate.run("--confluence-replay", str(gate.pytester.path / "snapshot.json"), url=False)
    assert replay.result.ret == pytest.ExitCode.TESTS_FAILED, replay.output
    assert "not valid Unicode" in replay.failure_text("102")


def test_a_megabyte_title_cannot_bloat_or_drop_the_outputs(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Confluence stops titles at 255 characters; a proxy or the API need not. A 3 MB
    # title made a 3 MB job summary (GitHub drops a summary over 1 MiB whole, with
    # every other page's row), a 12 MB JUnit file and 3 MB of terminal output.
    site = gate.site
    approved_page(site, "101")
    site.add_page("105", title="\u202e" + "T" * 3_000_000, version=3)
    site.set_approval("105", approval_value(complete=False, pending=["acc-long"]))
    site.add_user("acc-long", "N" * 2_000_000)
    site.add_cql("label = long", ["105"])
    gate.write_policy([{"id": "101"}, {"cql": "label = long"}])
    summary = gate.pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = gate.run("-rA", "-v")

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output[:2000]
    assert len(run.output) < 100_000
    assert (gate.pytester.path / "gate.xml").stat().st_size < 100_000
    assert summary.stat().st_size < 30_000
    [table] = render(summary.read_text(encoding="utf-8")).tables
    assert [row[0].split(" ")[0] for row in table[1:]] == ["101", "105"]
    assert table[2][2] == "❌ not approved"
    assert table[2][1].endswith("more characters not shown]")
    assert "more characters not shown]" in run.failure_text("105")


def test_neutral_shows_at_most_max_shown_characters() -> None:
    assert neutral("x" * MAX_SHOWN) == "x" * MAX_SHOWN
    assert neutral("x" * (MAX_SHOWN + 5)) == "x" * MAX_SHOWN + "… [5 more characters not shown]"
    # Counted as shown: a newline shows as two characters, a tag character as ten.
    half = MAX_SHOWN // 2
    assert neutral("\n" * (half + 5)) == "\\n" * half + "… [5 more characters not shown]"
    assert len(neutral("\U000e0001" * MAX_SHOWN)) < MAX_SHOWN + 40


def test_many_hostile_rows_never_push_the_job_summary_past_githubs_limit() -> None:
    # One hostile display name (the editor's own profile) pending on every page shows in
    # each row's reason; a few hundred such rows made the summary over 1 MiB, which
    # GitHub drops whole: every row, and the counts above them.
    site = "https://acme.atlassian.net/wiki"
    evil = "\U000e0041|" * 5000

    def summary(pages: int) -> str:
        verdicts = [
            Verdict(
                _rule(str(100 + n), evil),
                Outcome.NOT_APPROVED,
                (Failure(Rule.INCOMPLETE, f"not complete yet (still pending: {evil})"),),
                site,
                title=evil[:255],
                approval=None,
            )
            for n in range(pages)
        ]
        return job_summary(verdicts, {}, site=site)

    for pages in (40, 400, 5000):
        text = summary(pages)
        assert len(text.encode("utf-8")) <= 1_000_000, pages
        rendered = render(text)
        assert rendered.headings == ["h3 Confluence approval gate"]
        assert f"0 approved, {pages} not approved, 0 not verifiable" in text
        if rendered.tables:
            [table] = rendered.tables
            assert len(table) == pages + 1 and all(len(row) == 5 for row in table)
        else:
            assert f"The table of {pages} pages is too large for a job summary" in text
    assert render(summary(40)).tables  # a normal policy keeps its table


def test_midline_ci_commands_are_broken_and_can_be_read_back() -> None:
    assert neutral("a ##[error]x ##vso[task.complete]y ##teamcity[z]") == (
        "a #\\x23[error]x #\\x23vso[task.complete]y #\\x23teamcity[z]"
    )
    assert unescape(neutral("###[x")) == "###[x"
    assert neutral("C## notes ## [ok]") == "C## notes ## [ok]"

"""Snapshots are evidence: a replay refuses a file that is not what was recorded."""

from __future__ import annotations

import inspect
import json
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_confluence_approval.facts import FetchFailure, GroupMembers, PageFacts, QueryResult
from pytest_confluence_approval.gate import Gate, GateOptions, GateSettings
from pytest_confluence_approval.policy import PageRule
from pytest_confluence_approval.schemas import load_schema, validator
from pytest_confluence_approval.snapshot import (
    SnapshotError,
    _page_entry_ok,
    _split_pages,
    content_digest,
    load_snapshot,
)
from pytest_confluence_approval.verdict import Outcome, evaluate
from tests.conftest import QUIET, GateRunner
from tests.fake_confluence import approval_value


def recorded(gate: GateRunner) -> Path:
    gate.site.add_page("101")
    gate.site.set_approval("101", approval_value(pending=["acc-b"], complete=False))
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(failed=1)
    return snapshot


def test_a_snapshot_edited_after_recording_is_refused(gate: GateRunner) -> None:
    snapshot = recorded(gate)
    document = json.loads(snapshot.read_text())
    value = document["pages"]["101"]["properties"][0]["value"]
    value["isComplete"] = "true"  # "approve" the page by editing the evidence
    snapshot.write_text(json.dumps(document, indent=2))

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{snapshot}: the snapshot's content does not match its SHA-256" in run.output
    assert "Traceback" not in run.output


def test_a_snapshot_with_a_lone_surrogate_is_a_usage_error(gate: GateRunner) -> None:
    # JSON may spell "\udfff"; json.loads accepts it, but computing the SHA-256 of the
    # content (UTF-8) raised UnicodeEncodeError: a traceback instead of a usage error.
    snapshot = recorded(gate)
    document = json.loads(snapshot.read_text())
    document["pages"]["101"]["page"]["title"] = "\udfff"
    snapshot.write_text(json.dumps(document, indent=2))  # ensure_ascii: written as \udfff

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert f"{snapshot}: not a snapshot: the file is not valid JSON" in run.output
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output


@pytest.mark.parametrize(
    "data",
    [b"\xef\xbb\xbf\xef\xbb\xbf{}", "\ufeff{}".encode("utf-16"), b"\xef\xbb\xbf"],
    ids=["two-utf8-boms", "utf16-bom-then-a-bom", "only-a-bom"],
)
def test_a_snapshot_that_is_not_json_is_described_as_json_loads_describes_its_bytes(
    gate: GateRunner, data: bytes
) -> None:
    # Reading a page at a time must not change what a broken file is called. Decoded
    # first and then handed to json.loads as text, a second BOM read "Unexpected UTF-8
    # BOM (decode using utf-8-sig)", advice the loader had already followed.
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "broken.json"
    snapshot.write_bytes(data)
    with pytest.raises(ValueError) as expected:
        json.loads(data)

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"the file is not valid JSON ({expected.value})" in run.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not a snapshot: the file is not valid JSON"),
        ('{"format": "something else"}', "not a valid snapshot"),
        ("[]", "not a valid snapshot"),
    ],
    ids=["malformed-json", "wrong-format", "not-an-object"],
)
def test_a_malformed_snapshot_is_a_usage_error_naming_the_file(
    gate: GateRunner, content: str, expected: str
) -> None:
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "broken.json"
    snapshot.write_text(content)

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{snapshot}: {expected}" in run.output
    assert "Traceback" not in run.output


def test_a_missing_snapshot_is_a_usage_error(gate: GateRunner) -> None:
    gate.write_policy([{"id": "101"}])

    run = gate.run("--confluence-replay", gate.pytester.path / "nope.json", url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "nope.json: cannot read the snapshot" in run.output


def test_a_snapshot_of_another_site_is_refused(gate: GateRunner) -> None:
    snapshot = recorded(gate)

    run = gate.run(
        "--confluence-replay",
        snapshot,
        "--confluence-url",
        "https://other.atlassian.net",
        url=False,
    )

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "the snapshot was recorded from" in run.output


def test_the_shipped_example_snapshot_is_intact(gate: GateRunner) -> None:
    examples = Path(__file__).parent.parent / "examples"

    run = gate.run(
        "--confluence-replay",
        examples / "snapshot.json",
        url=False,
        policy=examples / "policy.yaml",
    )

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    run.result.assert_outcomes(passed=2, failed=3)


FAILURE = {"message": "HTTP 404", "status": 404}
PAGE_ENTRIES = [
    {"page": {"id": "101"}, "properties": []},
    {"page": {}, "properties": [], "versions": [], "versions_failure": FAILURE},
    {"failure": FAILURE},
    {"failure": {"message": "network", "status": None}},
    # not what the schema allows
    {"page": {}, "properties": {}},
    {"page": [], "properties": []},
    {"page": {}},
    {"properties": []},
    {"page": {}, "properties": [], "extra": 1},
    {"page": {}, "properties": [], "versions": {}},
    {"page": {}, "properties": [], "versions_failure": {"message": "x"}},
    {"failure": FAILURE, "page": {}, "properties": []},
    {"failure": {"message": "x", "status": True}},
    {"failure": {"message": "x", "status": 2.0}},
    {"failure": {"message": 1, "status": 404}},
    {"failure": {"message": "x", "status": 404, "more": 1}},
    {"failure": "HTTP 404"},
    [],
    None,
]


@pytest.mark.parametrize("page_id", ["101", "0101", "101\n", "x", "1" * 20])
@pytest.mark.parametrize("entry", PAGE_ENTRIES)
def test_the_quick_page_check_is_never_looser_than_the_schema(page_id: str, entry: object) -> None:
    from pytest_confluence_approval.schemas import validator
    from pytest_confluence_approval.snapshot import _page_entry_ok

    document = {**_snapshot_content({page_id: entry}), "sha256": "0" * 64}
    schema_says = validator("snapshot").is_valid(document)
    if _page_entry_ok(page_id, entry):
        assert schema_says
    if page_id == "101" and entry in PAGE_ENTRIES[:4]:
        assert _page_entry_ok(page_id, entry)  # the quick path is taken for real entries


QUERY_ENTRIES: list[object] = [
    {"pages": [{"id": "101", "title": "Release notes"}, {"id": "102", "title": ""}]},
    {"pages": []},
    {"failure": FAILURE},
    {"failure": {"message": "HTTP 400", "status": None}},
    {"pages": [{"id": "0101", "title": "t"}]},
    {"pages": [{"id": "101\n", "title": "t"}]},
    {"pages": [{"id": "1" * 20, "title": "t"}]},
    {"pages": [{"id": 101, "title": "t"}]},
    {"pages": [{"id": "101", "title": None}]},
    {"pages": [{"id": "101"}]},
    {"pages": [{"id": "101", "title": "t", "extra": 1}]},
    {"pages": [["101", "t"]]},
    {"pages": {}},
    {"pages": [], "failure": FAILURE},
    {"pages": [], "extra": 1},
    {"failure": {"message": "x", "status": True}},
    {"failure": {"message": "x", "status": 2.0}},
    {},
    [],
    None,
]


@pytest.mark.parametrize("entry", QUERY_ENTRIES)
def test_the_quick_query_check_is_never_looser_than_the_schema(entry: object) -> None:
    from pytest_confluence_approval.schemas import validator
    from pytest_confluence_approval.snapshot import _query_entry_ok

    document = {
        **_snapshot_content({}),
        "queries": {"space = ENG": entry},
        "sha256": "0" * 64,
    }
    schema_says = validator("snapshot").is_valid(document)
    if _query_entry_ok(entry):
        assert schema_says
    if entry in QUERY_ENTRIES[:4]:
        assert _query_entry_ok(entry)  # the quick path is taken for real entries


def test_a_snapshot_with_a_malformed_page_entry_is_refused_naming_it(gate: GateRunner) -> None:
    snapshot = recorded(gate)
    document = json.loads(snapshot.read_text())
    del document["pages"]["101"]["properties"]
    snapshot.write_text(json.dumps(document, indent=2))

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{snapshot}: not a valid snapshot" in run.output
    assert "$.pages.101" in run.output


def _resealed(snapshot: Path, change: dict[str, object]) -> None:
    """The user's own file, edited and sealed again: its SHA-256 is right, its content odd."""
    from pytest_confluence_approval.snapshot import content_digest

    document = {**json.loads(snapshot.read_text()), **change}
    document["sha256"] = content_digest(document)
    snapshot.write_text(json.dumps(document, indent=2))


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_recording_time_beyond_the_calendar_in_utc_is_a_usage_error(
    gate: GateRunner, instant: str
) -> None:
    snapshot = recorded(gate)
    _resealed(snapshot, {"recorded_at": instant})

    run = gate.run("--confluence-replay", snapshot, "--confluence-report", "r.json", url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert f"{snapshot}: the snapshot's recorded_at is not a valid instant" in run.output
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output


def test_a_recording_time_at_the_end_of_the_calendar_is_judged_not_crashed(
    gate: GateRunner,
) -> None:
    gate.site.add_page("101")
    gate.site.set_approval("101", approval_value())
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=1)
    _resealed(snapshot, {"recorded_at": "9999-12-31T23:59:59.999Z"})

    run = gate.run("--confluence-replay", snapshot, url=False)

    run.result.assert_outcomes(passed=1)  # judged at the calendar's end, not "internal error"


@pytest.mark.parametrize(
    "site",
    [
        "x",
        "https://evil.example/wiki?next=1",
        "https://a b/wiki",
        "ftp://acme/wiki",
        "https://[::1",
    ],
)
def test_a_snapshot_whose_site_is_not_a_base_url_is_refused(gate: GateRunner, site: str) -> None:
    # The snapshot is the user's own file: a resealed one with an odd site must not become
    # the base of every link in the outputs.
    snapshot = recorded(gate)
    document = json.loads(snapshot.read_text())
    document["site"] = site
    document["sha256"] = content_digest(document)
    snapshot.write_text(json.dumps(document, indent=2))

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "is not a plain http(s) base URL" in run.output
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output


@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00"])
def test_an_as_of_off_the_calendar_is_a_usage_error(gate: GateRunner, as_of: str) -> None:
    snapshot = recorded(gate)

    run = gate.run("--confluence-replay", snapshot, "--confluence-as-of", as_of, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert f"--confluence-as-of {as_of!r} is not an ISO 8601 instant" in run.output
    assert "INTERNALERROR" not in run.output


def _snapshot_content(pages: dict[str, object]) -> dict[str, object]:
    """A snapshot's content (before its SHA-256) with these page entries."""
    return {
        "format": "pytest-confluence-approval snapshot",
        "version": 1,
        "recorded_at": "2025-08-04T10:00:00.000Z",
        "site": SITE,
        "tool": {"name": "pytest-confluence-approval", "version": "0"},
        "pages": pages,
        "users": {},
        "queries": {},
    }


# --- the records' codecs (facts.py): what a snapshot writes, it reads back the same ---

_failures = st.builds(
    FetchFailure, st.text(max_size=8), st.none() | st.integers(min_value=100, max_value=599)
)
_payloads = st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=2)
_page_facts = st.one_of(
    _failures.map(lambda failure: PageFacts("101", failure=failure)),
    st.builds(
        lambda page, properties, versions, versions_failure: PageFacts(
            "101",
            page=page,
            properties=properties,
            versions=versions,
            versions_failure=versions_failure,
        ),
        _payloads,
        st.lists(_payloads, max_size=2),
        st.none() | st.lists(_payloads, max_size=2),
        st.none() | _failures,
    ),
)
_query_results = st.one_of(
    _failures.map(lambda failure: QueryResult(failure=failure)),
    st.lists(
        st.tuples(st.from_regex(r"[1-9][0-9]{0,18}", fullmatch=True), st.text(max_size=6)),
        max_size=3,
    ).map(lambda pages: QueryResult(pages=tuple(pages))),
)
_group_members = st.one_of(
    _failures.map(lambda failure: GroupMembers(failure=failure)),
    st.frozensets(st.text(min_size=1, max_size=8), max_size=3).map(GroupMembers),
)


@settings(max_examples=200, deadline=None)
@given(page=_page_facts, query=_query_results, group=_group_members)
def test_each_record_is_written_as_the_schema_says_and_read_back_as_it_was(
    page: PageFacts, query: QueryResult, group: GroupMembers
) -> None:
    document = {
        **_snapshot_content({page.page_id: page.to_json()}),
        "queries": {"space = ENG": query.to_json()},
        "groups": {"qa": group.to_json()},
        "sha256": "0" * 64,
    }

    assert list(validator("snapshot").iter_errors(document)) == []
    assert PageFacts.from_json(page.page_id, page.to_json()) == page
    assert QueryResult.from_json(query.to_json()) == query
    assert GroupMembers.from_json(group.to_json()) == group


@given(failure=_failures)
def test_a_fetch_failure_is_reported_as_the_report_schema_says(failure: FetchFailure) -> None:
    from jsonschema import Draft202012Validator

    facts = load_schema("report")["$defs"]["page"]["properties"]["facts"]["properties"]
    Draft202012Validator(facts["fetch_failure"]).validate(failure.to_report_json())
    assert failure.to_report_json() == {"message": failure.message, "http_status": failure.status}


def test_a_snapshot_nested_near_the_recursion_limit_loads_or_is_refused(tmp_path: Path) -> None:
    # The loader decodes the file and then encodes its content for the SHA-256 a few
    # frames deeper: JSON nested within a level or two of the limit decoded, then raised
    # RecursionError while encoding, an INTERNALERROR instead of a usage error. Every
    # depth around the limit, from where this test stands, must load or be refused.
    document = {
        **_snapshot_content({"101": {"page": {"deep": "@DEEP@"}, "properties": []}}),
        "sha256": "@SHA@",
    }
    template = json.dumps(document)
    room = sys.getrecursionlimit() - len(inspect.stack(0))
    path = tmp_path / "snap.json"
    for depth in range(room - 40, room + 10):
        text = template.replace('"@DEEP@"', "[" * depth + "]" * depth)
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 2 * depth)  # only to seal the file
        try:
            sha = content_digest(json.loads(text))
        finally:
            sys.setrecursionlimit(limit)
        path.write_text(text.replace("@SHA@", sha))
        try:
            load_snapshot(path)
        except SnapshotError as refused:
            assert "not valid JSON" in str(refused), (depth, refused)


def test_loading_a_small_snapshot_reserves_little_memory() -> None:
    # read(512 MB + 1) reserved the whole cap up front: invisible in RSS, but a failure
    # wherever the system does not overcommit memory.
    example = Path(__file__).resolve().parent.parent / "examples" / "snapshot.json"
    tracemalloc.start()
    try:
        load_snapshot(example)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024


# -- a replay holds one page's payloads at a time ---------------------------------------


def _many_pages(
    gate: GateRunner, count: int, title: str | None = None
) -> tuple[Path, Path, list[str]]:
    """A policy and a sealed snapshot of ``count`` recorded-alike pages (as a recording
    of that many pages would write them), and their ids."""
    snapshot = recorded(gate)
    document = json.loads(snapshot.read_text())
    if title is not None:
        document["pages"]["101"]["page"]["title"] = title
    entry = json.dumps(document["pages"]["101"])
    ids = [str(1000 + n) for n in range(count)]
    document["pages"] = {p: json.loads(entry.replace('"101"', f'"{p}"')) for p in ids}
    document["sha256"] = content_digest(document)
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    snapshot.write_text(text, encoding="utf-8")
    policy = gate.write_policy([{"id": p} for p in ids])
    return policy, snapshot, ids


def test_a_replay_decodes_pages_one_at_a_time_and_keeps_only_verdicts(gate: GateRunner) -> None:
    # Decoded all at once and kept for the run, the payloads of a 5,000-page replay took
    # 1.7x the peak memory of pytest running 5,000 trivial tests.
    policy, snapshot, ids = _many_pages(gate, 1500)
    size = snapshot.stat().st_size
    tracemalloc.start()
    try:
        settings = GateSettings.resolve(GateOptions(policy=policy, replay=snapshot))
        loaded, load_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        judgement = Gate(settings).prepare(ids)
        kept, judge_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(judgement.verdicts) == 1500
    assert {v.outcome for v in judgement.verdicts.values()} == {Outcome.NOT_APPROVED}
    # Reading: the file's bytes and text, then each entry's compact text; never every
    # page decoded (about three times the text).
    # Measured: reading peaks at 2.3x the file's size (its bytes, then its text, then
    # each entry's compact text), judging adds 0.7x and 1.0x is kept. Decoding every
    # page up front and keeping it took 4.5x and kept 3.0x.
    assert load_peak < 3.0 * size, (load_peak, size)
    # Judging decodes one page at a time; afterwards the verdicts stay, not the payloads.
    assert judge_peak - loaded < 1.2 * size, (judge_peak, loaded, size)
    assert kept < 1.5 * size, (kept, size)


@pytest.mark.parametrize(
    "title",
    ["Release checklist", "\U0001f680 Release checklist", "\u4e2d\u6587 Release checklist"],
    ids=["ascii", "an-emoji", "cjk"],
)
def test_a_replay_holds_its_pages_in_about_their_size_whatever_their_titles(
    gate: GateRunner, title: str
) -> None:
    # Python keeps a text in 1, 2 or 4 bytes a character, by its widest character: held
    # as text, one emoji in a title made its page entry take 4 bytes a character, and the
    # pages waiting to be judged 2.7x the file (0.9x in plain ASCII; decoded pages, as
    # before reading a page at a time, 2.3x).
    policy, snapshot, _ = _many_pages(gate, 1500, title=title)
    size = snapshot.stat().st_size
    tracemalloc.start()
    try:
        settings = GateSettings.resolve(GateOptions(policy=policy, replay=snapshot))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert settings.snapshot is not None and len(settings.snapshot.pages) == 1500
    assert held < 1.2 * size, (held, size)


def test_a_judged_replay_page_read_again_is_unverifiable_not_approved(gate: GateRunner) -> None:
    snapshot = recorded(gate)
    document = json.loads(snapshot.read_text())
    document["pages"]["101"]["properties"][0]["value"] = approval_value(approved=["acc-b"])
    document["sha256"] = content_digest(document)
    snapshot.write_text(json.dumps(document))
    loaded = load_snapshot(snapshot)
    rule = PageRule(page_id="101", name=None, line=1)

    def judged() -> Outcome:
        return evaluate(rule, loaded.facts_for("101"), as_of=loaded.recorded_at, site=SITE).outcome

    assert judged() is Outcome.APPROVED
    loaded.settle(["101"])
    # Settled, the page keeps only what the outputs report; judged again by mistake it
    # must fail closed.
    assert loaded.facts_for("101").page is None
    assert judged() is Outcome.UNVERIFIABLE


def test_a_settled_page_keeps_its_fetch_failure_for_the_report(tmp_path: Path) -> None:
    document = _snapshot_content(
        {
            "101": {"failure": {"message": "HTTP 404: no such page", "status": 404}},
            "102": {"page": {"title": "says failure"}, "properties": []},
        }
    )
    document["sha256"] = content_digest(document)
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(document))
    loaded = load_snapshot(path)

    loaded.settle(["101", "102"])

    assert loaded.facts_for("101").failure == FetchFailure("HTTP 404: no such page", 404)
    assert loaded.facts_for("102") == PageFacts("102")


#: Judging runs deeper in the stack than loading did (pytest's runtest loop, a plugin's
#: wrapper, xdist's controller): here, far deeper, so an entry nested deeply enough can
#: be read while the snapshot loads and no longer while its page is judged.
DEEPER_WHEN_JUDGING = """
import inspect
import sys

import pytest

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session):
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 300)
    try:
        return (yield)
    finally:
        sys.setrecursionlimit(limit)
"""


def test_a_page_too_deep_to_read_when_judged_fails_alone_without_crashing_the_run(
    gate: GateRunner,
) -> None:
    # A page editor controls the payloads, and this title makes the replay read the
    # entry again after judging it, where a RecursionError crashed the whole run.
    for page_id, title in (("101", "failure"), ("102", "Release notes")):
        gate.site.add_page(page_id, title=title)
        gate.site.set_approval(page_id, approval_value())
    gate.write_policy([{"id": "101"}, {"id": "102"}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=2)
    document = json.loads(snapshot.read_text())
    nested: object = "deep"
    for _ in range(500):
        nested = [nested]
    document["pages"]["101"]["page"]["extra"] = nested
    document["sha256"] = content_digest(document)
    snapshot.write_text(json.dumps(document))
    gate.pytester.makeconftest(DEEPER_WHEN_JUDGING)

    result = gate.pytester.runpytest_subprocess(
        "--confluence-policy", "policy.yaml", "--confluence-replay", snapshot, *QUIET
    )

    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    assert "INTERNALERROR" not in output and "Traceback" not in output
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "NOT VERIFIABLE: page 101: could not verify: the snapshot's entry of the page is "
            "nested too deeply to read*"
        ]
    )


SITE = "https://example.atlassian.net/wiki"

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_page_entry = st.one_of(
    st.builds(
        lambda page, props: {"page": page, "properties": props},
        st.dictionaries(st.text(max_size=5), _json, max_size=3),
        st.lists(_json, max_size=2),
    ),
    st.sampled_from(PAGE_ENTRIES),
)
_document = st.dictionaries(
    st.sampled_from(
        [
            "format",
            "version",
            "recorded_at",
            "site",
            "users",
            "queries",
            "groups",
            "sha256",
            "pages",
            "\u00e9",
        ]
    ),
    _json,
    max_size=6,
).flatmap(
    lambda rest: st.dictionaries(
        st.from_regex(r"[1-9][0-9]{0,3}", fullmatch=True) | st.text(max_size=3),
        _page_entry,
        max_size=4,
    ).map(lambda pages: {**rest, "pages": pages})
)


@settings(max_examples=300, deadline=None)
@given(
    document=_document,
    indent=st.sampled_from([None, 0, 2, "\t"]),
    separators=st.sampled_from([None, (",", ":"), (" ,", " : ")]),
    ensure_ascii=st.booleans(),
    trailing=st.sampled_from(["", "\n", " \r\n\t"]),
)
def test_reading_pages_one_at_a_time_agrees_with_json_loads(
    document: dict[str, object],
    indent: int | str | None,
    separators: tuple[str, str] | None,
    ensure_ascii: bool,
    trailing: str,
) -> None:
    text = json.dumps(document, indent=indent, separators=separators, ensure_ascii=ensure_ascii)
    text += trailing
    split = _split_pages(text)
    whole = json.loads(text)
    entries = whole["pages"]
    if all(_page_entry_ok(page_id, entry) for page_id, entry in entries.items()):
        assert split is not None  # the usual shape always takes the page-at-a-time path
    if split is not None:
        rest, texts = split
        assert rest["pages"] == {}
        assert {**rest, "pages": {p: json.loads(t) for p, t in texts.items()}} == whole
        assert content_digest(rest, texts) == content_digest(whole)


@pytest.mark.parametrize(
    "text",
    [
        # a repeated key: json.loads keeps the last
        '{"pages": {"101": {"failure": {"message": "a", "status": null}},'
        ' "101": {"page": {}, "properties": []}}}',
        '{"pages": {"101": {"page": {}, "properties": []}}, "pages": {}}',
        '{"pages": {}, "site": "a", "site": "b"}',
        # the BOM-less, space-less, and whitespace-heavy forms
        '{"pages":{"7":{"page":{},"properties":[]}}}',
        ' \n{ "pages" : { "7" : { "page" : { } , "properties" : [ ] } } }\r\n',
    ],
)
def test_repeated_keys_and_spacing_read_as_json_loads_reads_them(text: str) -> None:
    split = _split_pages(text)
    assert split is not None
    rest, texts = split
    assert {**rest, "pages": {p: json.loads(t) for p, t in texts.items()}} == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{}",
        '{"pages": []}',
        '{"pages": {"101": {"page": {}}}}',  # the schema will say what is missing
        '{"pages": {}} trailing',
        '{"pages": {},}',
        '{"pages": {"101": {"page": {}, "properties": []},}}',
    ],
)
def test_an_unusual_document_is_left_to_json_loads_and_the_schema(text: str) -> None:
    assert _split_pages(text) is None

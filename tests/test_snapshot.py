"""Snapshots are evidence: a replay refuses a file that is not what was recorded."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from pytest_confluence_approval.snapshot import content_digest, load_snapshot
from tests.conftest import Gate
from tests.fake_confluence import approval_value


def recorded(gate: Gate) -> Path:
    gate.site.add_page("101")
    gate.site.set_approval("101", approval_value(pending=["acc-b"], complete=False))
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(failed=1)
    return snapshot


def test_a_snapshot_edited_after_recording_is_refused(gate: Gate) -> None:
    snapshot = recorded(gate)
    document = json.loads(snapshot.read_text())
    value = document["pages"]["101"]["properties"][0]["value"]
    value["isComplete"] = "true"  # "approve" the page by editing the evidence
    snapshot.write_text(json.dumps(document, indent=2))

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{snapshot}: the snapshot's content does not match its SHA-256" in run.output
    assert "Traceback" not in run.output


def test_a_snapshot_with_a_lone_surrogate_is_a_usage_error(gate: Gate) -> None:
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
    ("content", "expected"),
    [
        ("{not json", "not a snapshot: the file is not valid JSON"),
        ('{"format": "something else"}', "not a valid snapshot"),
        ("[]", "not a valid snapshot"),
    ],
    ids=["malformed-json", "wrong-format", "not-an-object"],
)
def test_a_malformed_snapshot_is_a_usage_error_naming_the_file(
    gate: Gate, content: str, expected: str
) -> None:
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "broken.json"
    snapshot.write_text(content)

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{snapshot}: {expected}" in run.output
    assert "Traceback" not in run.output


def test_a_missing_snapshot_is_a_usage_error(gate: Gate) -> None:
    gate.write_policy([{"id": "101"}])

    run = gate.run("--confluence-replay", gate.pytester.path / "nope.json", url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "nope.json: cannot read the snapshot" in run.output


def test_a_snapshot_of_another_site_is_refused(gate: Gate) -> None:
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


def test_the_shipped_example_snapshot_is_intact(gate: Gate) -> None:
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

    document = {
        "format": "pytest-confluence-approval snapshot",
        "version": 1,
        "recorded_at": "2025-08-01T10:00:00.000Z",
        "site": "https://acme.atlassian.net/wiki",
        "tool": {"name": "t", "version": "1"},
        "pages": {page_id: entry},
        "sha256": "0" * 64,
    }
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
        "format": "pytest-confluence-approval snapshot",
        "version": 1,
        "recorded_at": "2025-08-01T10:00:00.000Z",
        "site": "https://acme.atlassian.net/wiki",
        "tool": {"name": "t", "version": "1"},
        "pages": {},
        "queries": {"space = ENG": entry},
        "sha256": "0" * 64,
    }
    schema_says = validator("snapshot").is_valid(document)
    if _query_entry_ok(entry):
        assert schema_says
    if entry in QUERY_ENTRIES[:4]:
        assert _query_entry_ok(entry)  # the quick path is taken for real entries


def test_a_snapshot_with_a_malformed_page_entry_is_refused_naming_it(gate: Gate) -> None:
    snapshot = recorded(gate)
    document = json.loads(snapshot.read_text())
    del document["pages"]["101"]["properties"]
    snapshot.write_text(json.dumps(document, indent=2))

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{snapshot}: not a valid snapshot" in run.output
    assert "$.pages.101" in run.output


def test_an_altered_xdist_handoff_is_refused_before_it_is_unpickled(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from pytest_confluence_approval.snapshot import (
        Snapshot,
        SnapshotError,
        dump_handoff,
        load_snapshot,
    )

    handoff = tmp_path / "handoff.pickle"
    snapshot = Snapshot(
        recorded_at=datetime(2025, 8, 1, tzinfo=timezone.utc), site="https://x", pages={}, names={}
    )
    key = dump_handoff(handoff, snapshot)
    assert load_snapshot(handoff, handoff_key=key) == snapshot

    blob = bytearray(handoff.read_bytes())
    blob[-1] ^= 1
    handoff.write_bytes(bytes(blob))
    with pytest.raises(SnapshotError, match="handoff was altered"):
        load_snapshot(handoff, handoff_key=key)
    with pytest.raises(SnapshotError, match="handoff was altered"):
        load_snapshot(handoff, handoff_key="00" * 32)


def _resealed(snapshot: Path, change: dict[str, object]) -> None:
    """The user's own file, edited and sealed again: its SHA-256 is right, its content odd."""
    from pytest_confluence_approval.snapshot import content_digest

    document = {**json.loads(snapshot.read_text()), **change}
    document["sha256"] = content_digest(document)
    snapshot.write_text(json.dumps(document, indent=2))


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_recording_time_beyond_the_calendar_in_utc_is_a_usage_error(
    gate: Gate, instant: str
) -> None:
    snapshot = recorded(gate)
    _resealed(snapshot, {"recorded_at": instant})

    run = gate.run("--confluence-replay", snapshot, "--confluence-report", "r.json", url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert f"{snapshot}: the snapshot's recorded_at is not a valid instant" in run.output
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output


def test_a_recording_time_at_the_end_of_the_calendar_is_judged_not_crashed(gate: Gate) -> None:
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
def test_a_snapshot_whose_site_is_not_a_base_url_is_refused(gate: Gate, site: str) -> None:
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
def test_an_as_of_off_the_calendar_is_a_usage_error(gate: Gate, as_of: str) -> None:
    snapshot = recorded(gate)

    run = gate.run("--confluence-replay", snapshot, "--confluence-as-of", as_of, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert f"--confluence-as-of {as_of!r} is not an ISO 8601 instant" in run.output
    assert "INTERNALERROR" not in run.output


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

"""Snapshots are evidence: a replay refuses a file that is not what was recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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

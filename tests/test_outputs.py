"""Outputs never destroy inputs or each other, and a failed write is a clean exit 4."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import GateRunner, approved_page


def one_page(gate: GateRunner) -> Path:
    approved_page(gate.site, "101")
    return gate.write_policy([{"id": "101"}])


def assert_refused(gate: GateRunner, run_output: str, ret: int, *words: str) -> None:
    assert ret == pytest.ExitCode.USAGE_ERROR, run_output
    assert "INTERNALERROR" not in run_output and "Traceback" not in run_output
    for word in words:
        assert word in run_output
    assert gate.site.requests == []  # refused before any request


def test_report_onto_the_policy_is_refused_and_the_policy_survives(gate: GateRunner) -> None:
    policy = one_page(gate)
    before = policy.read_bytes()

    run = gate.run("--confluence-report", "policy.yaml")

    assert_refused(gate, run.output, run.result.ret, "--confluence-report", "the policy file")
    assert policy.read_bytes() == before


def test_report_onto_the_replayed_snapshot_is_refused(gate: GateRunner) -> None:
    one_page(gate)
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot)
    gate.site.requests.clear()
    before = snapshot.read_bytes()

    run = gate.run("--confluence-replay", snapshot, "--confluence-report", snapshot, url=False)

    assert_refused(gate, run.output, run.result.ret, "--confluence-replay")
    assert snapshot.read_bytes() == before


def test_two_outputs_onto_one_file_are_refused(gate: GateRunner) -> None:
    one_page(gate)

    run = gate.run("--confluence-report", gate.pytester.path / "gate.xml")  # also --junitxml

    assert_refused(gate, run.output, run.result.ret, "--junitxml", "--confluence-report")


@pytest.mark.parametrize("spelling", ["~/policy.yaml", "$GATE_DIR/policy.yaml"])
def test_junitxml_spelled_with_home_or_a_variable_is_the_file_pytest_writes(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    # pytest expands ~ and $VARS in --junitxml (as in an ini's addopts, where no shell
    # does): the gate compared the literal text, and pytest overwrote the policy.
    policy = one_page(gate)
    before = policy.read_bytes()
    monkeypatch.setenv("HOME", str(gate.pytester.path))
    monkeypatch.setenv("GATE_DIR", str(gate.pytester.path))

    run = gate.run("--junitxml", spelling)

    assert_refused(gate, run.output, run.result.ret, "--junitxml", "the policy file")
    assert policy.read_bytes() == before


def test_a_symlink_to_the_policy_is_the_policy(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = one_page(gate)
    link = gate.pytester.path / "summary.md"
    link.symlink_to(policy)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(link))

    run = gate.run()

    assert_refused(gate, run.output, run.result.ret, "GITHUB_STEP_SUMMARY", "the policy file")


def test_a_hard_link_to_the_record_is_refused(gate: GateRunner) -> None:
    one_page(gate)
    record = gate.pytester.path / "snap.json"
    record.write_text("{}")
    report = gate.pytester.path / "report.json"
    os.link(record, report)

    run = gate.run("--confluence-record", record, "--confluence-report", report)

    assert_refused(gate, run.output, run.result.ret, "--confluence-record")


def test_a_directory_as_output_is_refused(gate: GateRunner) -> None:
    one_page(gate)

    run = gate.run("--confluence-report", gate.pytester.path)

    assert_refused(gate, run.output, run.result.ret, "is a directory")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a full disk)")
def test_a_full_disk_under_the_job_summary_is_a_clean_error(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_page(gate)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "/dev/full")

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR  # the pages passed, the evidence is lost
    assert "INTERNALERROR" not in run.output
    assert (
        "ERROR: confluence approval gate: could not write GITHUB_STEP_SUMMARY /dev/full: "
        "No space left on device; the run's evidence is incomplete" in run.output
    )


def test_a_report_that_cannot_be_written_is_a_clean_error(gate: GateRunner) -> None:
    one_page(gate)
    blocker = gate.pytester.path / "not-a-dir"
    blocker.write_text("")

    run = gate.run("--confluence-report", blocker / "report.json")

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in run.output
    assert "could not write --confluence-report" in run.output
    assert "1 approved" in run.output  # the verdicts are still shown


def test_a_record_that_cannot_be_written_is_a_clean_error(gate: GateRunner) -> None:
    one_page(gate)
    blocker = gate.pytester.path / "not-a-dir"
    blocker.write_text("")

    run = gate.run("--confluence-record", blocker / "snap.json")

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in run.output
    assert "could not write --confluence-record" in run.output

"""The attestation and the HTML report as users get them: from the command line, end to end.

pytester runs the gate on the shipped example's snapshot, or live against the fake
Confluence; the files written are read back as a verifier (the in-toto framework's own
bindings) and a reader (headless Chromium) get them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement

from pytest_confluence_approval.attestation import PREDICATE_TYPE
from tests.browser import Browser, require_browser
from tests.conftest import QUIET, GateRunner, approved_page
from tests.fake_confluence import approval_value

EXAMPLES = Path(__file__).parent.parent / "examples"
DIGEST = "c0" * 32
SUBJECT = f"app-1.2.0.whl@sha256:{DIGEST}"
POLICY_NODE = "advanced-policy.yaml::page"


def validated(path: Path) -> dict[str, Any]:
    """The statement as a verifier reads it: JSON, then the framework's own checks."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Statement.copy_from_pb(json_format.ParseDict(document, statement_pb2.Statement())).validate()
    predicate = json_format.ParseDict(document["predicate"], test_result_pb2.TestResult())
    for descriptor in predicate.configuration:
        ResourceDescriptor.copy_from_pb(descriptor).validate()
    assert document["predicateType"] == PREDICATE_TYPE
    return document


def replay_example(pytester: pytest.Pytester, *args: str | Path) -> pytest.RunResult:
    """The shipped example replayed from copies in the test's directory (paths as a user's)."""
    for name in ("advanced-policy.yaml", "advanced-snapshot.json"):
        target = pytester.path / name
        if not target.exists():
            target.write_bytes((EXAMPLES / name).read_bytes())
    return pytester.runpytest(
        "--confluence-policy",
        "advanced-policy.yaml",
        "--confluence-replay",
        "advanced-snapshot.json",
        *QUIET,
        *args,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_replay_of_the_example_attests_failed_with_each_item_and_file(
    pytester: pytest.Pytester,
) -> None:
    result = replay_example(
        pytester,
        "--confluence-attestation",
        "verdict.intoto.json",
        "--confluence-subject",
        SUBJECT,
        "--confluence-report",
        "report.json",
    )

    result.assert_outcomes(passed=2, failed=2, xfailed=1)
    document = validated(pytester.path / "verdict.intoto.json")
    assert document["subject"] == [{"name": "app-1.2.0.whl", "digest": {"sha256": DIGEST}}]
    predicate = document["predicate"]
    assert predicate["result"] == "FAILED"  # 3 not approved, one of them waived
    assert predicate["passedTests"] == [
        f"{POLICY_NODE}[718962697 Release checklist]",
        f"{POLICY_NODE}[718962701 Release 2025-08 page]",
    ]
    assert predicate["warnedTests"] == [f"{POLICY_NODE}[718962699 Change record]"]
    assert predicate["failedTests"] == [
        f"{POLICY_NODE}[718962698 Release 2025-08 page]",
        f"{POLICY_NODE}[718962702 Release 2025-08 page]",
    ]
    files = {d["name"]: d for d in predicate["configuration"] if "digest" in d}
    assert files["advanced-policy.yaml"]["digest"] == {
        "sha256": sha256(pytester.path / "advanced-policy.yaml")
    }
    assert files["advanced-snapshot.json"]["annotations"] == {"role": "snapshot-replayed"}
    assert files["advanced-snapshot.json"]["digest"] == {
        "sha256": sha256(pytester.path / "advanced-snapshot.json")
    }
    # Written last: the JSON report it names is the complete file on disk.
    assert files["report.json"]["digest"] == {"sha256": sha256(pytester.path / "report.json")}


def test_the_same_replay_and_subject_give_a_byte_identical_statement(
    pytester: pytest.Pytester,
) -> None:
    args = ("--confluence-attestation", "verdict.json", "--confluence-subject", SUBJECT)
    replay_example(pytester, *args)
    first = (pytester.path / "verdict.json").read_bytes()
    (pytester.path / "verdict.json").unlink()
    replay_example(pytester, *args)

    assert (pytester.path / "verdict.json").read_bytes() == first


def test_a_file_subject_is_named_by_its_base_name_and_sha256(pytester: pytest.Pytester) -> None:
    artifact = pytester.path / "dist" / "app-1.2.0.tar.gz"
    artifact.parent.mkdir()
    artifact.write_bytes(b"the release artifact")

    replay_example(
        pytester,
        "--confluence-attestation",
        "v.json",
        "--confluence-subject",
        "dist/app-1.2.0.tar.gz",
    )

    assert validated(pytester.path / "v.json")["subject"] == [
        {"name": "app-1.2.0.tar.gz", "digest": {"sha256": sha256(artifact)}}
    ]


def test_an_attestation_without_a_subject_is_a_usage_error_before_any_request(
    gate: GateRunner,
) -> None:
    approved_page(gate.site, "100")
    gate.write_policy()

    run = gate.run("--confluence-attestation", "verdict.json")

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--confluence-attestation needs --confluence-subject" in run.output
    assert gate.site.requests == []
    assert not (gate.pytester.path / "verdict.json").exists()


def test_a_subject_file_that_is_missing_is_a_usage_error_before_any_request(
    gate: GateRunner,
) -> None:
    approved_page(gate.site, "100")
    gate.write_policy()

    run = gate.run(
        "--confluence-attestation", "verdict.json", "--confluence-subject", "dist/missing.whl"
    )

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--confluence-subject dist/missing.whl: cannot read the file" in run.output
    assert gate.site.requests == []


@pytest.mark.parametrize("other", ["--confluence-report", "--confluence-html"])
def test_the_attestation_may_not_overwrite_another_output(gate: GateRunner, other: str) -> None:
    approved_page(gate.site, "100")
    gate.write_policy()

    run = gate.run(
        "--confluence-attestation", "out.json", "--confluence-subject", SUBJECT, other, "out.json"
    )

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "is the same file as" in run.output
    assert gate.site.requests == []


def test_the_attestation_may_not_overwrite_the_policy(gate: GateRunner) -> None:
    gate.write_policy()

    run = gate.run("--confluence-attestation", "policy.yaml", "--confluence-subject", SUBJECT)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "the same file as the policy file" in run.output


def test_a_live_run_with_every_page_approved_attests_passed(gate: GateRunner) -> None:
    approved_page(gate.site, "100")
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "100"}, {"id": "101"}])

    run = gate.run("--confluence-attestation", "v.json", "--confluence-subject", SUBJECT)

    assert run.result.ret == pytest.ExitCode.OK
    predicate = validated(gate.pytester.path / "v.json")["predicate"]
    assert predicate["result"] == "PASSED"
    assert predicate["passedTests"] == ["policy.yaml::page[100]", "policy.yaml::page[101]"]
    assert predicate["failedTests"] == []


def test_a_live_run_whose_only_exception_is_a_waiver_attests_warned(gate: GateRunner) -> None:
    approved_page(gate.site, "100")
    gate.site.add_page("101", title="Page 101", version=3)
    gate.site.set_approval(
        "101", approval_value(approved=(), pending=("acc-approver",), complete=False)
    )
    gate.write_policy(
        [{"id": "100"}, {"id": "101"}],
        waivers=[{"page": "101", "reason": "RISK-42", "expires": "2099-12-31"}],
    )

    run = gate.run("--confluence-attestation", "v.json", "--confluence-subject", SUBJECT)

    run.result.assert_outcomes(passed=1, xfailed=1)
    predicate = validated(gate.pytester.path / "v.json")["predicate"]
    assert predicate["result"] == "WARNED"
    assert predicate["warnedTests"] == ["policy.yaml::page[101]"]


def test_an_attestation_that_cannot_be_written_fails_the_run(gate: GateRunner) -> None:
    approved_page(gate.site, "100")
    gate.write_policy()
    (gate.pytester.path / "blocker").write_text("a file, where a directory is needed")

    run = gate.run("--confluence-attestation", "blocker/v.json", "--confluence-subject", SUBJECT)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "could not write --confluence-attestation " in run.output
    assert "blocker/v.json" in run.output


def test_the_html_report_of_a_replay_opens_in_a_browser(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    executable = require_browser()
    replay_example(pytester, "--confluence-html", "audit.html")

    with Browser.running(executable, tmp_path_factory.mktemp("chromium")) as browser:
        loaded = browser.load(pytester.path / "audit.html")

    assert loaded.requests == [] and loaded.errors == []
    assert loaded.blocks["verdict"].startswith("NOT APPROVED\n")
    assert "2 approved, 3 not approved (1 waived), 0 not verifiable" in loaded.blocks["verdict"]
    assert "advanced-policy.yaml" in loaded.blocks["run"]
    assert (
        "Jonas Weber (557058:f3a1c2d4-9e7b-4c1a-8f2e-0a1b2c3d4e5f): page 718962698"
        in (loaded.blocks["chase"])
    )
    assert set(loaded.sections) == {"718962697", "718962698", "718962699", "718962701", "718962702"}
    assert f"{POLICY_NODE}[718962699 Change record]" in loaded.sections["718962699"]


def test_a_run_that_judges_only_some_pages_attests_failed(pytester: pytest.Pytester) -> None:
    """-k leaves pages in scope unjudged: every page judged passed, but the run did not."""
    result = replay_example(
        pytester,
        "-k",
        "checklist",
        "--confluence-attestation",
        "v.json",
        "--confluence-subject",
        SUBJECT,
    )

    result.assert_outcomes(passed=1, deselected=4)
    predicate = validated(pytester.path / "v.json")["predicate"]
    assert predicate["result"] == "FAILED"
    assert predicate["passedTests"] == [f"{POLICY_NODE}[718962697 Release checklist]"]
    gate = predicate["configuration"][-1]["annotations"]
    assert gate["standing"] == "partial"
    assert len(gate["notJudged"]["deselected"]) == 4

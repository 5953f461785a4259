"""The attested verdict: an in-toto Statement v1 with the test-result predicate.

Checked as a verifier reads it: parsed as JSON and by the in-toto framework's own
bindings (the protobuf messages of ``in-toto-attestation``, which refuse a field the
predicate does not define), for each way a run can end.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement

from pytest_confluence_approval.attestation import (
    PREDICATE_TYPE,
    AttestationInput,
    AttestedResult,
    attested_result,
    render_statement,
    statement,
    write_attestation,
)
from pytest_confluence_approval.runfacts import FileDigest, ci_run_url
from pytest_confluence_approval.scope import NotJudged
from pytest_confluence_approval.subjects import Subject, SubjectError, parse_subject, parse_subjects
from tests.evidence_inputs import (
    approved,
    example_pages,
    failed_query,
    pending,
    result_of,
    run_facts,
    unverifiable,
)

WHEEL = Subject("app-1.2.0-py3-none-any.whl", "sha256", "c0" * 32)
WAIVER = ("RISK-42: signed off in the CAB", date(2025, 9, 30))


#: what a test may change of the run's result (the rest is the attestation's own input)
RESULT_CHANGES = ("run", "pages", "names", "failed_queries", "not_judged")


def attestation(**changes: Any) -> AttestationInput:
    of_result = {k: changes.pop(k) for k in RESULT_CHANGES if k in changes}
    pages = of_result.pop("pages", (approved("101"), approved("102")))
    facts = AttestationInput(subjects=(WHEEL,), result=result_of(pages, **of_result))
    return replace(facts, **changes)


def verified(facts: AttestationInput) -> dict[str, Any]:
    """The statement as a verifier gets it: JSON, then the framework's own checks."""
    document: dict[str, Any] = json.loads(render_statement(facts))
    message = json_format.ParseDict(document, statement_pb2.Statement())
    Statement.copy_from_pb(message).validate()
    # The predicate, held to the test-result message: an unknown field is an error.
    result = json_format.ParseDict(document["predicate"], test_result_pb2.TestResult())
    assert result.result in ("PASSED", "WARNED", "FAILED")
    for descriptor in result.configuration:
        ResourceDescriptor.copy_from_pb(descriptor).validate()
    assert document["predicateType"] == PREDICATE_TYPE
    return document


def test_the_verifier_here_refuses_what_the_specification_does_not_allow() -> None:
    """The checks above can fail: the bindings refuse a field the predicate does not define,
    and a statement without a subject."""
    document: dict[str, Any] = json.loads(render_statement(attestation()))
    with pytest.raises(json_format.ParseError, match="verdict"):
        json_format.ParseDict(
            {**document["predicate"], "verdict": "ok"}, test_result_pb2.TestResult()
        )
    message = json_format.ParseDict({**document, "subject": []}, statement_pb2.Statement())
    with pytest.raises(ValueError, match="subject"):
        Statement.copy_from_pb(message).validate()


# --- the statement ---------------------------------------------------------------------------


def test_an_approved_run_is_a_valid_passed_statement_about_its_subject() -> None:
    document = verified(attestation())

    assert list(document) == ["_type", "subject", "predicateType", "predicate"]
    assert document["_type"] == "https://in-toto.io/Statement/v1"
    assert document["subject"] == [
        {"name": "app-1.2.0-py3-none-any.whl", "digest": {"sha256": "c0" * 32}}
    ]
    predicate = document["predicate"]
    assert list(predicate) == [
        "result",
        "configuration",
        "passedTests",
        "warnedTests",
        "failedTests",
    ]
    assert predicate["result"] == "PASSED"
    assert predicate["passedTests"] == [
        "release/policy.yaml::page[101]",
        "release/policy.yaml::page[102]",
    ]
    assert predicate["warnedTests"] == [] and predicate["failedTests"] == []


def test_the_configuration_names_each_file_the_verdict_rests_on_and_the_gate() -> None:
    facts = attestation(
        run=run_facts(policy_sha256="1" * 64, variables={"RELEASE": "2025.08", "APP": "orion"}),
        snapshot=FileDigest("evidence/snapshot.json", "3" * 64),
        report=FileDigest("evidence/report.json", "4" * 64),
    )

    configuration = verified(facts)["predicate"]["configuration"]

    assert [(d.get("name"), d.get("digest"), d["annotations"]["role"]) for d in configuration] == [
        ("release/policy.yaml", {"sha256": "1" * 64}, "policy"),
        ("evidence/snapshot.json", {"sha256": "3" * 64}, "snapshot-replayed"),
        ("evidence/report.json", {"sha256": "4" * 64}, "report"),
        ("pytest-confluence-approval", None, "gate"),
    ]
    gate = configuration[-1]
    assert gate["uri"] == "pkg:pypi/pytest-confluence-approval@0.1.0"
    assert gate["annotations"] == {
        "role": "gate",
        "standing": "approved",
        "mode": "replay",
        "audit": False,
        "site": "https://acme.atlassian.net/wiki",
        "asOf": "2025-08-04T12:00:00.000Z",
        "recordedAt": "2025-08-04T09:30:00.000Z",
        "variables": {"APP": "orion", "RELEASE": "2025.08"},
    }


def test_a_live_run_names_the_snapshot_it_recorded_and_no_recording_time() -> None:
    facts = attestation(
        run=run_facts(mode="live", recorded_at=None),
        snapshot=FileDigest("snapshot.json", "3" * 64),
    )

    configuration = verified(facts)["predicate"]["configuration"]

    assert configuration[1]["annotations"] == {"role": "snapshot-recorded"}
    assert "recordedAt" not in configuration[-1]["annotations"]
    assert configuration[-1]["annotations"]["mode"] == "live"


def test_a_source_tree_version_is_a_valid_package_url() -> None:
    facts = attestation(run=run_facts(gate_version="0+unknown"))

    gate = verified(facts)["predicate"]["configuration"][-1]

    assert gate["uri"] == "pkg:pypi/pytest-confluence-approval@0%2Bunknown"


def test_the_ci_run_is_the_url_and_only_an_https_one() -> None:
    run = "https://github.com/acme/orion/actions/runs/42/attempts/2"
    assert verified(attestation(run=run_facts(ci_run_url=run)))["predicate"]["url"] == run
    hostile = attestation(run=run_facts(ci_run_url="javascript:alert(1)"))
    assert "url" not in verified(hostile)["predicate"]


def test_an_attestation_without_a_subject_is_refused() -> None:
    with pytest.raises(SubjectError, match="--confluence-subject"):
        statement(attestation(subjects=()))


def test_a_digest_that_is_not_a_sha256_is_a_bug_not_an_attestation() -> None:
    with pytest.raises(ValueError, match="not a lowercase hex SHA-256"):
        statement(attestation(report=FileDigest("report.json", "ABC")))


# --- result: PASSED only when everything in scope is approved ---------------------------------

WAIVED = {"waiver": (*WAIVER, "applied")}
QUERY = failed_query("release/policy.yaml::query[Orion page]", "Orion page", "label = x")


@pytest.mark.parametrize(
    ("facts", "result", "passed", "warned", "failed"),
    [
        pytest.param(attestation(), "PASSED", ["101", "102"], [], [], id="all approved"),
        pytest.param(
            attestation(pages=(approved("101"), pending("102", **WAIVED))),
            "WARNED",
            ["101"],
            ["102"],
            [],
            id="a waiver applied",
        ),
        pytest.param(
            attestation(pages=(approved("101"), pending("102"))),
            "FAILED",
            ["101"],
            [],
            ["102"],
            id="not approved",
        ),
        pytest.param(
            attestation(pages=(approved("101"), unverifiable("102"))),
            "FAILED",
            ["101"],
            [],
            ["102"],
            id="not verifiable",
        ),
        pytest.param(
            # A waiver never covers a page that could not be verified, whatever it says.
            attestation(pages=(approved("101"), unverifiable("102", **WAIVED))),
            "FAILED",
            ["101"],
            [],
            ["102"],
            id="a waiver on a page not verifiable",
        ),
        pytest.param(
            attestation(
                pages=(approved("101"), pending("102", waiver=(*WAIVER, "expired"))),
            ),
            "FAILED",
            ["101"],
            [],
            ["102"],
            id="an expired waiver",
        ),
        pytest.param(
            attestation(not_judged=NotJudged(deselected=("103",))),
            "FAILED",
            ["101", "102"],
            [],
            [],
            id="a page deselected",
        ),
        pytest.param(
            attestation(
                pages=(approved("101"), pending("102", **WAIVED)),
                not_judged=NotJudged(not_run=("103",)),
            ),
            "FAILED",
            ["101"],
            ["102"],
            [],
            id="waived and a page not run",
        ),
        pytest.param(
            attestation(
                failed_queries=(QUERY,),
                not_judged=NotJudged(queries_failed=('query "Orion page"',)),
            ),
            "FAILED",
            ["101", "102"],
            [],
            ["query[Orion page]"],
            id="a query failed",
        ),
        pytest.param(
            attestation(not_judged=NotJudged(queries_empty=('query "Orion page"',))),
            "FAILED",
            ["101", "102"],
            [],
            [],
            id="a query deselected that matched nothing",
        ),
        pytest.param(attestation(pages=()), "FAILED", [], [], [], id="nothing judged"),
        pytest.param(
            attestation(run=run_facts(audit=True)),
            "FAILED",
            [],
            [],
            ["101", "102"],
            id="an audit run",
        ),
    ],
)
def test_the_result_and_the_tests_in_each_list(
    facts: AttestationInput,
    result: str,
    passed: list[str],
    warned: list[str],
    failed: list[str],
) -> None:
    predicate = verified(facts)["predicate"]

    assert predicate["result"] == result
    assert attested_result(facts) is AttestedResult(result)
    assert [short(i) for i in predicate["passedTests"]] == passed
    assert [short(i) for i in predicate["warnedTests"]] == warned
    assert [short(i) for i in predicate["failedTests"]] == failed


def short(node_id: str) -> str:
    """``release/policy.yaml::page[101]`` as ``101``; a query's item as ``query[...]``."""
    item = node_id.removeprefix("release/policy.yaml::")
    return item.removeprefix("page[").rstrip("]") if item.startswith("page[") else item


def test_an_audit_run_never_reads_as_a_pass_anywhere_in_the_statement() -> None:
    document = verified(attestation(run=run_facts(audit=True)))

    assert document["predicate"]["result"] == "FAILED"
    assert document["predicate"]["passedTests"] == []
    gate = document["predicate"]["configuration"][-1]["annotations"]
    assert (gate["audit"], gate["standing"]) == (True, "audit")


def test_a_partial_run_says_what_it_did_not_judge() -> None:
    facts = attestation(not_judged=NotJudged(deselected=("103",)))

    gate = verified(facts)["predicate"]["configuration"][-1]["annotations"]

    assert gate["standing"] == "partial"
    assert gate["notJudged"]["deselected"] == ["103"]


def test_the_advanced_example_replayed_fails_naming_its_waived_and_failed_pages() -> None:
    pages, _ = example_pages()

    predicate = verified(attestation(pages=tuple(pages)))["predicate"]

    assert predicate["result"] == "FAILED"
    example = "examples/advanced-policy.yaml::page"
    assert predicate["warnedTests"] == [f"{example}[718962699 Change record]"]
    assert predicate["failedTests"] == [
        f"{example}[718962698 Release 2025-08 page]",
        f"{example}[718962702 Release 2025-08 page]",
    ]
    assert len(predicate["passedTests"]) == 2


# --- written atomically, byte-identical -------------------------------------------------------


def test_the_same_inputs_give_a_byte_identical_file(tmp_path: Path) -> None:
    def facts(reverse: bool) -> AttestationInput:
        # Built from scratch each time, the pages arriving in another order (as from xdist
        # workers): the file must not depend on either.
        pages, _ = example_pages()
        return attestation(
            pages=tuple(reversed(pages) if reverse else pages),
            run=run_facts(variables={"B": "2", "A": "1", "NAME": "Zoë"}),
        )

    write_attestation(tmp_path / "one.intoto.json", facts(False))
    write_attestation(tmp_path / "two.intoto.json", facts(True))

    one = (tmp_path / "one.intoto.json").read_bytes()
    assert one == (tmp_path / "two.intoto.json").read_bytes()
    assert one.endswith(b"}\n") and not one.endswith(b"\n\n")
    assert "Zoë".encode() in one  # UTF-8, not \\u escapes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.intoto.json", "two.intoto.json"]


def test_writing_replaces_an_old_attestation_whole(tmp_path: Path) -> None:
    path = tmp_path / "gate.intoto.json"
    path.write_text("an old, longer attestation " * 1000)

    write_attestation(path, attestation())

    assert json.loads(path.read_text(encoding="utf-8"))["predicate"]["result"] == "PASSED"


# --- subjects ---------------------------------------------------------------------------------


def test_a_file_subject_is_its_name_and_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    wheel = tmp_path / "dist" / "app-1.2.0.whl"
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one piece is read
    wheel.write_bytes(data)

    subject = parse_subject("dist/app-1.2.0.whl", tmp_path)

    assert subject == Subject("app-1.2.0.whl", "sha256", hashlib.sha256(data).hexdigest())
    assert parse_subject(str(wheel), Path("/")) == subject  # an absolute path ignores cwd


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "ghcr.io/acme/orion@sha256:" + "ab" * 32,
            Subject("ghcr.io/acme/orion", "sha256", "ab" * 32),
        ),
        ("orion.tar@sha512:" + "CD" * 64, Subject("orion.tar", "sha512", "cd" * 64)),
        ("orion@gitCommit:" + "e" * 40, Subject("orion", "gitCommit", "e" * 40)),
        ("orion@gitcommit:" + "f" * 64, Subject("orion", "gitCommit", "f" * 64)),
        ("a@b@SHA256:" + "0" * 64, Subject("a@b", "sha256", "0" * 64)),
    ],
)
def test_a_named_digest_is_taken_as_given_in_lowercase(text: str, expected: Subject) -> None:
    assert parse_subject(text, Path("/nonexistent")) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("app@md5:" + "0" * 32, "unknown digest algorithm 'md5'; use sha256, sha512 or gitCommit"),
        ("app@sha256:" + "0" * 63, "a sha256 digest has 64 hexadecimal digits; this one has 63"),
        ("app@sha512:" + "0" * 64, "a sha512 digest has 128 hexadecimal digits; this one has 64"),
        ("app@gitCommit:" + "0" * 41, "has 40 or 64 hexadecimal digits; this one has 41"),
        ("app@sha256:" + "g" * 64, "the sha256 digest is not hexadecimal"),
        ("app@sha256:", "no digest after 'sha256:'"),
        ("@sha256:" + "0" * 64, "the artifact has no name before '@'"),
        ("app\n@sha256:" + "0" * 64, "contains control characters"),
        ("x" * 1001 + "@sha256:" + "0" * 64, "longer than 1000 characters"),
        ("missing.whl", "cannot read the file: No such file or directory"),
        (".", "cannot read the file: it is a directory, not a regular file"),
    ],
)
def test_a_subject_that_names_no_artifact_is_a_clear_usage_error(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SubjectError, match=r"^--confluence-subject") as raised:
        parse_subject(text, tmp_path)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_fifo_subject_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")

    with pytest.raises(SubjectError, match="a FIFO"):
        parse_subject("pipe", tmp_path)


def test_each_subject_once_and_one_name_never_two_digests(tmp_path: Path) -> None:
    (tmp_path / "app.whl").write_bytes(b"wheel")
    digest = hashlib.sha256(b"wheel").hexdigest()

    subjects = parse_subjects(["app.whl", f"app.whl@sha256:{digest}", "app.whl"], tmp_path)

    assert subjects == (Subject("app.whl", "sha256", digest),)
    with pytest.raises(SubjectError, match=r"two subjects are named 'app\.whl'"):
        parse_subjects(["app.whl", "app.whl@sha256:" + "0" * 64], tmp_path)


# --- the CI run -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        pytest.param(
            {
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_REPOSITORY": "acme/orion",
                "GITHUB_RUN_ID": "16612345678",
                "GITHUB_RUN_ATTEMPT": "2",
            },
            "https://github.com/acme/orion/actions/runs/16612345678/attempts/2",
            id="GitHub",
        ),
        pytest.param(
            {
                "GITHUB_SERVER_URL": "https://ghe.acme.example/",
                "GITHUB_REPOSITORY": "platform/orion.api",
                "GITHUB_RUN_ID": "7",
            },
            "https://ghe.acme.example/platform/orion.api/actions/runs/7",
            id="GitHub Enterprise Server, no attempt",
        ),
        pytest.param(
            {
                "CI_JOB_URL": "https://gitlab.com/acme/orion/-/jobs/8812",
                "CI_PIPELINE_URL": "https://gitlab.com/acme/orion/-/pipelines/901",
            },
            "https://gitlab.com/acme/orion/-/jobs/8812",
            id="GitLab job",
        ),
        pytest.param(
            {"CI_PIPELINE_URL": "https://gitlab.com/acme/orion/-/pipelines/901"},
            "https://gitlab.com/acme/orion/-/pipelines/901",
            id="GitLab pipeline",
        ),
        pytest.param(
            {
                "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
                "SYSTEM_TEAMPROJECT": "Orion Platform",
                "BUILD_BUILDID": "1234",
            },
            "https://dev.azure.com/acme/Orion%20Platform/_build/results?buildId=1234",
            id="Azure Pipelines",
        ),
        pytest.param(
            {"BUILD_URL": "https://ci.acme.example/job/orion/55/"},
            "https://ci.acme.example/job/orion/55/",
            id="Jenkins",
        ),
        pytest.param({}, None, id="no CI"),
        pytest.param({"BUILD_URL": "http://ci.acme.example/job/orion/55/"}, None, id="plain http"),
        pytest.param(
            {"BUILD_URL": "https://builder:s3cret@ci.acme.example/job/55/"},
            None,
            id="credentials in the URL",
        ),
        pytest.param({"CI_JOB_URL": "javascript:alert(1)//https://x"}, None, id="a script URL"),
        pytest.param(
            {"CI_JOB_URL": "https://gitlab.com/acme/orion/-/jobs/1\n::error::forged"},
            None,
            id="a line break",
        ),
        pytest.param(
            {
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_REPOSITORY": "acme/../../evil",
                "GITHUB_RUN_ID": "1",
            },
            None,
            id="a repository that is a path",
        ),
        pytest.param(
            {
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_REPOSITORY": "acme/orion",
                "GITHUB_RUN_ID": "1?x=y",
            },
            None,
            id="a run id that is not a number",
        ),
    ],
)
def test_the_ci_run_url_per_provider(environ: dict[str, str], url: str | None) -> None:
    assert ci_run_url(environ) == url

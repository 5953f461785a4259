"""The gate as users run it: real command lines against the fake Confluence on 127.0.0.1."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_confluence_approval.nodeids import page_id_of
from tests.conftest import QUIET, GateRunner, approved_page
from tests.fake_confluence import (
    FakeConfluence,
    Fault,
    approval_value,
    html_login,
    reset,
    retry_after,
    status,
)

STALE_AT = "2025-08-01T10:00:00.000Z"  # after approval_value's default completedAt


def mixed_site(site: FakeConfluence) -> None:
    """One approved page, one pending, one edited after approval, one rejected."""
    approved_page(site, "101", approved=["acc-a", "acc-b"], minimum_approvers=2)
    site.add_page("102", title="Risk assessment")
    site.set_approval("102", approval_value(approved=["acc-a"], pending=["acc-b"], complete=False))
    site.add_page("103", title="Change record", version=7, version_created_at=STALE_AT)
    site.set_approval("103", approval_value())
    site.add_page("104", title="Security review")
    site.set_approval(
        "104", approval_value(approved=[], pending=["acc-a"], rejected=["acc-c"], complete=False)
    )


MIXED_POLICY: list[dict[str, Any]] = [
    {"id": "101", "name": "Release checklist", "min_approvers": 2},
    {"id": 102, "name": "Risk assessment"},
    {"id": "103"},
    {"id": "104", "name": "Security review"},
]


def test_live_run_gives_one_verdict_per_page_with_reasons(gate: GateRunner) -> None:
    mixed_site(gate.site)
    gate.write_policy(MIXED_POLICY)

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    run.result.assert_outcomes(passed=1, failed=3)
    cases = run.testcases()
    assert sorted(cases) == ["101", "102", "103", "104"]
    assert cases["101"].get("name") == "page[101 Release checklist]"
    assert cases["101"].find("failure") is None
    assert "the approval is not complete yet (still pending: acc-b)" in run.failure_text("102")
    stale = run.failure_text("103")
    assert "page was edited after approval: version 7 published 2025-08-01T10:00:00Z" in stale
    assert f"{gate.site.url}/spaces/ENG/pages/103/" in stale
    rejected = run.failure_text("104")
    assert "rejected by: acc-c" in rejected
    assert "not complete" in rejected  # every failed rule, not only the first
    assert "1 approved, 3 not approved, 0 not verifiable" in run.output


def test_all_approved_exits_zero(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    approved_page(gate.site, "102")
    gate.write_policy([{"id": "101"}, {"id": "102"}])

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.OK
    run.result.assert_outcomes(passed=2)


def test_gate_alone_without_positional_arguments(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    gate.pytester.makepyfile(test_unit="def test_unit():\n    assert False\n")
    gate.pytester.makeini("[pytest]\ntestpaths = .\n")

    alone = gate.run()
    alone.result.assert_outcomes(passed=1)

    beside = gate.run("test_unit.py")
    beside.result.assert_outcomes(passed=1, failed=1)


def test_collect_only_lists_items_and_makes_no_request(gate: GateRunner) -> None:
    gate.write_policy(MIXED_POLICY)

    run = gate.run("--collect-only", "-q")

    assert run.result.ret == pytest.ExitCode.OK
    run.result.stdout.fnmatch_lines(
        [
            "policy.yaml::page[[]101 Release checklist[]]",
            "policy.yaml::page[[]102 Risk assessment[]]",
            "policy.yaml::page[[]103[]]",
            "policy.yaml::page[[]104 Security review[]]",
        ]
    )
    assert gate.site.requests == []


def test_items_carry_the_marker(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    gate.pytester.makepyfile(test_unit="def test_unit():\n    pass\n")

    run = gate.run("test_unit.py", "-m", "confluence_approval", "--strict-markers")

    run.result.assert_outcomes(passed=1, deselected=1)
    assert "page[101]" in run.output or run.testcases().keys() == {"101"}


def test_basic_auth_from_environment_and_secret_never_shown(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-api-token-value"
    gate.site.auth = ("ci@acme.test", secret)
    approved_page(gate.site, "101")
    gate.site.add_page("102")  # no approval: fails, so the failure path is printed too
    gate.write_policy([{"id": "101"}, {"id": "102"}])
    monkeypatch.setenv("CONFLUENCE_USERNAME", "ci@acme.test")
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", secret)

    run = gate.run("--tb=long", "-l", "-rA")

    run.result.assert_outcomes(passed=1, failed=1)
    expected = "Basic " + base64.b64encode(f"ci@acme.test:{secret}".encode()).decode()
    assert {r.headers.get("authorization") for r in gate.site.requests} == {expected}
    assert "HTTP Basic" in run.output
    encoded = base64.b64encode(f"ci@acme.test:{secret}".encode()).decode()
    junit_text = (gate.pytester.path / "gate.xml").read_text()
    for leak in (secret, encoded):
        assert leak not in run.output
        assert leak not in junit_text


def test_bearer_token_from_environment(gate: GateRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    gate.site.auth = "pat-123456"
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    monkeypatch.setenv("CONFLUENCE_PERSONAL_TOKEN", "pat-123456")

    run = gate.run()

    run.result.assert_outcomes(passed=1)
    assert {r.headers.get("authorization") for r in gate.site.requests} == {"Bearer pat-123456"}
    assert "pat-123456" not in run.output


def test_both_identities_set_is_a_usage_error(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.write_policy([{"id": "101"}])
    monkeypatch.setenv("CONFLUENCE_USERNAME", "ci@acme.test")
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", "tok-basic-secret")
    monkeypatch.setenv("CONFLUENCE_PERSONAL_TOKEN", "tok-bearer-secret")

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "CONFLUENCE_PERSONAL_TOKEN" in run.output
    assert "CONFLUENCE_API_TOKEN" in run.output
    assert "tok-basic-secret" not in run.output and "tok-bearer-secret" not in run.output
    assert gate.site.requests == []


def test_wrong_credentials_name_the_cause(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.site.auth = ("ci@acme.test", "right")
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    monkeypatch.setenv("CONFLUENCE_USERNAME", "ci@acme.test")
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", "wrong")

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("101")
    assert "could not verify" in text and "HTTP 401" in text and "credentials" in text
    assert "0 approved, 0 not approved, 1 not verifiable" in run.output


def test_property_key_is_asked_for_directly(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.site.add_property("101", "other_capable_approval", approval_value(approved=[]))
    gate.write_policy([{"id": "101"}], property_key="njyzjq_capable_approval")

    run = gate.run()

    run.result.assert_outcomes(passed=1)
    calls = [r for r in gate.site.requests if r.path.endswith("/properties")]
    assert [c.query.get("key") for c in calls] == [["njyzjq_capable_approval"]]


def test_without_property_key_all_properties_are_read_across_pages(gate: GateRunner) -> None:
    gate.site.properties_page_size = 2
    gate.site.add_page("101")
    for n in range(5):
        gate.site.add_property("101", f"unrelated.{n}", {"n": n})
    gate.site.set_approval("101", approval_value())  # the sixth property: on the third page
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    run.result.assert_outcomes(passed=1)
    assert gate.site.count("/wiki/api/v2/pages/101/properties") == 3


def test_two_approval_properties_are_ambiguous(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.site.add_property("101", "abcdef_capable_approval", approval_value())
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    text = run.failure_text("101")
    assert "ambiguous" in text
    assert "abcdef_capable_approval" in text and "njyzjq_capable_approval" in text


BATCH = "/wiki/api/v2/pages"  # GET /api/v2/pages?id=...: page metadata, up to 250 a request


@pytest.mark.parametrize(
    "fault",
    [retry_after(1), status(503), status(502), reset()],
    ids=["429-retry-after", "503", "502", "connection-reset"],
)
@pytest.mark.parametrize("path", [BATCH, "/wiki/api/v2/pages/101/properties"])
def test_transient_faults_are_retried(gate: GateRunner, fault: Fault, path: str) -> None:
    approved_page(gate.site, "101")
    gate.site.fault(path, fault, times=1)
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    run.result.assert_outcomes(passed=1)
    assert gate.site.count(path) == 2


def test_retry_after_is_honoured(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.site.fault(BATCH, retry_after(1), times=1)
    gate.write_policy([{"id": "101"}])

    gate.run().result.assert_outcomes(passed=1)

    first, second = (r for r in gate.site.requests if r.path == BATCH)
    assert second.received_at - first.received_at >= 0.95


def test_persistent_5xx_fails_that_page_only(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    approved_page(gate.site, "102")
    gate.site.fault("/wiki/api/v2/pages/102/properties", status(503))
    gate.write_policy([{"id": "101"}, {"id": "102"}])

    run = gate.run("--confluence-retries", "2")

    run.result.assert_outcomes(passed=1, failed=1)
    assert "HTTP 503" in run.failure_text("102")
    assert gate.site.count("/wiki/api/v2/pages/102/properties") == 3  # one try + two retries


def test_sso_login_page_is_not_verifiable_never_a_pass(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.site.fault("/wiki/api/v2/pages/101/properties", html_login())
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("101")
    assert "could not verify" in text and "text/html instead of JSON" in text
    assert "Traceback" not in run.output


@pytest.mark.parametrize(
    ("code", "words"),
    [(403, "restrictions"), (401, "login")],
)
def test_http_errors_tell_the_user_what_to_check(gate: GateRunner, code: int, words: str) -> None:
    approved_page(gate.site, "101")
    gate.site.fault(BATCH, status(code))
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    text = run.failure_text("101")
    assert f"HTTP {code}" in text and words in text
    assert f"{gate.site.url}/pages/viewpage.action?pageId=101" in text


def test_unknown_page_is_not_found(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}, {"id": "999"}])

    run = gate.run()

    run.result.assert_outcomes(passed=1, failed=1)
    text = run.failure_text("999")
    assert "page 999 was not found (HTTP 404)" in text and "check the page id" in text
    assert gate.site.count("/wiki/api/v2/pages/999") == 1  # asked alone: absent from the batch
    assert gate.site.count("/wiki/api/v2/pages/999/properties") == 0


def test_record_then_replay_reproduces_every_verdict_offline(gate: GateRunner) -> None:
    mixed_site(gate.site)
    gate.write_policy(MIXED_POLICY)
    snapshot = gate.pytester.path / "snap.json"

    live = gate.run("--confluence-record", snapshot)
    requests_made = len(gate.site.requests)
    replay = gate.run("--confluence-replay", snapshot, url=False)

    assert len(gate.site.requests) == requests_made  # no network in replay
    assert replay.result.ret == live.result.ret == pytest.ExitCode.TESTS_FAILED
    for page_id in ("102", "103", "104"):
        assert replay.failure_text(page_id) == live.failure_text(page_id)
    assert "mode replay" in replay.output
    document = json.loads(snapshot.read_text())
    assert document["version"] == 1 and document["site"] == gate.site.url
    assert set(document["pages"]) == {"101", "102", "103", "104"}


def test_replay_fails_a_page_missing_from_the_snapshot(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=1)

    gate.write_policy([{"id": "101"}, {"id": "102"}])
    run = gate.run("--confluence-replay", snapshot, url=False)

    run.result.assert_outcomes(passed=1, failed=1)
    assert "not in the snapshot" in run.failure_text("102")


def test_as_of_decides_approval_age(gate: GateRunner) -> None:
    approved_page(gate.site, "101")  # completed 2025-07-15T10:33:14Z
    gate.write_policy([{"id": "101", "max_age_days": 30}])

    fresh = gate.run("--confluence-as-of", "2025-08-01T00:00:00Z")
    old = gate.run("--confluence-as-of", "2025-09-01T00:00:00Z")

    fresh.result.assert_outcomes(passed=1)
    old.result.assert_outcomes(failed=1)
    assert "too old" in old.failure_text("101")


def test_replay_judges_age_at_the_recording_time(gate: GateRunner, tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "examples"
    run = gate.run(
        "--confluence-replay", example / "snapshot.json", url=False, policy=example / "policy.yaml"
    )
    # Rollback plan has max_age_days: 90 and was approved in 2025: still fresh at recording.
    assert run.testcases()["718962701"].find("failure") is None


@pytest.mark.parametrize(
    ("policy_text", "expected"),
    [
        (
            "version: 1\npages:\n  - id: 1\n    colour: red\n",
            "policy.yaml:4: pages[0].colour: unknown key",
        ),
        (
            "version: 1\npages:\n  - id: abc\n",
            "policy.yaml:3: pages[0].id: page id must be decimal digits",
        ),
        ("version: 1\npages: []\n", "policy.yaml:2: pages: the list is empty"),
        (
            "version: 1\npages:\n  - id: 1\n  - id: 1\n",
            "policy.yaml:4: pages[1].id: page 1 is listed twice",
        ),
        (
            "version: 1\ndefaults:\n  min_approvers: -2\npages:\n  - id: 1\n",
            "policy.yaml:3: defaults.min_approvers: must be 0 or more",
        ),
        (
            "version: 1\npages:\n  - id: 1\n    min_approvers: two\n",
            "policy.yaml:4: pages[0].min_approvers: must be an integer",
        ),
        ("version: 1\npages:\n  - id: [1\n", "policy.yaml:4: invalid YAML"),
    ],
    ids=[
        "unknown-key",
        "non-numeric-id",
        "empty",
        "duplicate",
        "negative",
        "wrong-type",
        "broken-yaml",
    ],
)
def test_bad_policy_is_a_usage_error_naming_file_line_and_key(
    gate: GateRunner, policy_text: str, expected: str
) -> None:
    (gate.pytester.path / "policy.yaml").write_text(policy_text)

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert expected in run.output
    assert "Traceback" not in run.output
    assert gate.site.requests == []


def test_plain_http_to_another_host_is_refused(gate: GateRunner) -> None:
    gate.write_policy([{"id": "101"}])

    run = gate.run("--confluence-url", "http://confluence.acme.test/wiki", url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--confluence-insecure-http" in run.output


def test_missing_site_is_a_usage_error(gate: GateRunner) -> None:
    gate.write_policy([{"id": "101"}])

    run = gate.run(url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "CONFLUENCE_URL" in run.output


def test_site_from_environment_and_policy(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}], site="https://never-used.invalid/wiki")
    monkeypatch.setenv("CONFLUENCE_URL", gate.site.url)

    run = gate.run(url=False)

    run.result.assert_outcomes(passed=1)


def test_ini_option_enables_the_gate(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    gate.pytester.makeini("[pytest]\nconfluence_policy = policy.yaml\n")

    result = gate.pytester.runpytest("--confluence-url", gate.site.url, *QUIET)

    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("entries", "counted"),
    [
        ([{"id": "101"}], "(1 page)"),
        ([{"id": "101"}, {"id": "102"}, {"cql": 'label = "x"'}], "(2 pages, 1 CQL query)"),
    ],
)
def test_the_header_counts_in_words(
    gate: GateRunner, entries: list[dict[str, str]], counted: str
) -> None:
    gate.write_policy(entries)

    run = gate.run("--collect-only")

    run.result.stdout.fnmatch_lines([f"confluence approval gate: policy *policy.yaml {counted}"])


def test_an_ini_enabled_gate_says_the_repository_tests_did_not_run(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    gate.pytester.makeini("[pytest]\ntestpaths = tests\nconfluence_policy = policy.yaml\n")
    gate.pytester.mkdir("tests")
    gate.pytester.makepyfile(**{"tests/test_app": "def test_app(): pass"})

    alone = gate.pytester.runpytest("--confluence-url", gate.site.url, *QUIET)
    both = gate.pytester.runpytest("--confluence-url", gate.site.url, "tests", *QUIET)

    alone.assert_outcomes(passed=1)
    alone.stdout.fnmatch_lines(
        [
            "confluence approval gate: runs alone: the ini file's confluence_policy turned it "
            "on with no test paths given, so the repository's tests were not collected; to "
            "run both, name them: pytest tests"
        ]
    )
    # The command the header names runs both, and then there is nothing to say.
    both.assert_outcomes(passed=2)
    assert "runs alone" not in both.stdout.str()


def test_a_gate_asked_for_on_the_command_line_runs_alone_without_a_word(
    gate: GateRunner,
) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    gate.pytester.makeini("[pytest]\ntestpaths = tests\n")

    run = gate.run()

    run.result.assert_outcomes(passed=1)
    assert "runs alone" not in run.output


def test_options_appear_in_their_own_help_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["Confluence approval gate:", "*--confluence-policy=PATH*"])


def test_junit_xml_stays_xsd_shaped(gate: GateRunner) -> None:
    mixed_site(gate.site)
    gate.write_policy(MIXED_POLICY)

    run = gate.run()

    assert run.junit is not None
    suite = run.junit.find("testsuite")
    assert suite is not None and suite.get("failures") == "3" and suite.get("tests") == "4"
    for case in run.junit.iter("testcase"):
        # xunit2 (pytest's default family) forbids <properties> inside a testcase.
        assert case.find("properties") is None
        assert set(case.attrib) <= {"name", "classname", "time"}


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--confluence-deadline", "0"),
        ("--confluence-deadline", "soon"),
        ("--confluence-concurrency", "0"),
        ("--confluence-timeout", "0"),
        ("--confluence-retries", "-1"),
        ("--confluence-as-of", "yesterday"),
    ],
)
def test_bad_option_values_are_usage_errors(gate: GateRunner, option: str, value: str) -> None:
    gate.write_policy([{"id": "101"}])

    run = gate.run(option, value)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert option in run.output
    assert gate.site.requests == []


def test_only_items_of_the_policy_file_count_as_pages(tmp_path: Path) -> None:
    policy = tmp_path / "gate" / "policy.yaml"
    policy.parent.mkdir()
    policy.touch()
    page = functools.partial(page_id_of, policy=policy, rootpath=tmp_path)

    assert page("gate/policy.yaml::page[101 Release checklist]") == "101"
    assert page("gate/../gate/policy.yaml::page[102]") == "102"
    # A repository test that happens to be called page[...] is not a page of the gate.
    assert page("tests/test_pages.py::page[101]") is None
    assert page("tests/test_pages.py::TestGate::page[101]") is None
    assert page("gate/policy.yaml::query[nightly]") is None


def test_replay_reports_the_same_verdicts_byte_for_byte_in_one_process_and_under_xdist(
    gate: GateRunner,
) -> None:
    mixed_site(gate.site)
    gate.write_policy(MIXED_POLICY)
    snapshot = gate.pytester.path / "snap.json"
    reports = {name: gate.pytester.path / f"{name}.json" for name in ("live", "one", "xdist")}
    gate.run("--confluence-record", snapshot, "--confluence-report", reports["live"])

    gate.run("--confluence-replay", snapshot, "--confluence-report", reports["one"], url=False)
    gate.run(
        "--confluence-replay",
        snapshot,
        "--confluence-report",
        reports["xdist"],
        "-n",
        "2",
        "policy.yaml",  # named: the gate alone would run in one process
        url=False,
    )

    assert reports["one"].read_bytes() == reports["xdist"].read_bytes()
    live, replayed = (json.loads(reports[n].read_text()) for n in ("live", "one"))
    assert len(live["pages"]) == 4
    assert replayed["pages"] == live["pages"]

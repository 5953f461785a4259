"""What a new user meets first: paths as typed, replay without secrets, `pytest --help`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import advanced_example
from tests.conftest import QUIET

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
#: examples/policy.yaml replayed from examples/snapshot.json
EXAMPLE_SUMMARY = "2 approved, 3 not approved, 0 not verifiable"


def copy_example(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("policy.yaml", "snapshot.json"):
        shutil.copy(EXAMPLES / name, directory / name)


@pytest.mark.parametrize(
    ("cwd", "policy", "snapshot"),
    [
        ("work/sub", "../policy.yaml", "../snapshot.json"),
        ("work/sub/deeper/x", "../../../policy.yaml", "../../../snapshot.json"),
        (".", "./other/../work/./policy.yaml", "work/snapshot.json"),
    ],
)
def test_a_relative_policy_path_is_collected_wherever_it_points(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cwd: str, policy: str, snapshot: str
) -> None:
    copy_example(pytester.path / "work")
    (pytester.path / cwd).mkdir(parents=True, exist_ok=True)
    (pytester.path / "other").mkdir(exist_ok=True)
    monkeypatch.chdir(pytester.path / cwd)

    result = pytester.runpytest(
        "--confluence-policy", policy, "--confluence-replay", snapshot, *QUIET
    )

    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.assert_outcomes(passed=2, failed=3)
    assert EXAMPLE_SUMMARY in result.stdout.str()


def test_an_ini_policy_above_the_ini_file_is_collected_with_a_readable_id(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_example(pytester.path)
    project = pytester.mkdir("project")
    (project / "pytest.ini").write_text("[pytest]\nconfluence_policy = ../policy.yaml\n")
    shutil.copy(EXAMPLES / "snapshot.json", project / "snap.json")
    monkeypatch.chdir(project)

    result = pytester.runpytest("--confluence-replay", "snap.json", "--junitxml", "g.xml", *QUIET)

    result.assert_outcomes(passed=2, failed=3)
    # Outside the rootdir pytest would name the file "" and every page "::page[...]".
    result.stdout.fnmatch_lines(["FAILED ../policy.yaml::page[[]718962698 Risk assessment[]]*"])


@pytest.mark.parametrize(
    "environment",
    [
        {"CONFLUENCE_USERNAME": "release-bot@acme.test"},
        {"CONFLUENCE_API_TOKEN": "tok-REPLAY-SECRET"},
        {
            "CONFLUENCE_USERNAME": "release-bot@acme.test",
            "CONFLUENCE_API_TOKEN": "tok-REPLAY-SECRET",
            "CONFLUENCE_PERSONAL_TOKEN": "pat-REPLAY-SECRET",
        },
    ],
    ids=["username-only", "token-only", "basic-and-bearer"],
)
def test_a_replay_reads_no_credentials(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    # Each of these is a usage error in a live run; a replay sends nothing, so it starts.
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    copy_example(pytester.path)
    report = pytester.path / "evidence.json"

    result = pytester.runpytest(
        "--confluence-policy",
        "policy.yaml",
        "--confluence-replay",
        "snapshot.json",
        "--confluence-report",
        report,
        *QUIET,
    )

    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(["*mode replay, auth none needed (replay)*"])
    assert '"auth": "none"' in report.read_text()
    assert "REPLAY-SECRET" not in result.stdout.str() + report.read_text()


def test_the_same_half_set_credentials_stop_a_live_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFLUENCE_USERNAME", "release-bot@acme.test")
    copy_example(pytester.path)

    result = pytester.runpytest("--confluence-policy", "policy.yaml", *QUIET)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "CONFLUENCE_USERNAME is set but CONFLUENCE_API_TOKEN is not" in result.stderr.str()


def test_help_names_every_environment_variable(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")

    text = result.stdout.str()
    group = text[text.index("Confluence approval gate:") :]
    group = " ".join(group[: group.index("\n\n")].split())  # one line: help text is wrapped
    for name in (
        "CONFLUENCE_URL",
        "CONFLUENCE_USERNAME",
        "CONFLUENCE_API_TOKEN",
        "CONFLUENCE_PERSONAL_TOKEN",
    ):
        assert name in group, name


def test_the_advanced_snapshot_is_what_its_script_builds(tmp_path: Path) -> None:
    rebuilt = tmp_path / "advanced-snapshot.json"
    advanced_example.build(rebuilt)
    assert rebuilt.read_bytes() == (EXAMPLES / "advanced-snapshot.json").read_bytes(), (
        "examples/advanced-snapshot.json is stale: run `python -m tests.advanced_example`"
    )


def test_the_advanced_example_runs_offline_as_the_readme_shows(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--confluence-policy",
        EXAMPLES / "advanced-policy.yaml",
        "--confluence-replay",
        EXAMPLES / "advanced-snapshot.json",
        *QUIET,
    )

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2, failed=2, xfailed=1)
    output = result.stdout.str()
    summary = "2 approved, 3 not approved (1 waived), 0 not verifiable"
    assert summary in output
    # Every feature of the policy shows: the query's pages, four eyes, the waiver.
    assert "WAIVED: page 718962699" in output
    assert "who published the current version (forbid_self_approval)" in output
    assert "edited after approval" not in output  # only minor edits since (ignore_minor_edits)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert summary in readme and "WAIVED: page 718962699" in readme

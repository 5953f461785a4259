"""No secret in any output: terminal, tracebacks with locals, logs, JUnit, report, snapshot."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pytest_confluence_approval.confluence import ConfluenceClient, Credentials, _Auth
from pytest_confluence_approval.gate import Gate as GateRun
from pytest_confluence_approval.gate import GateOptions, GateSettings
from tests.conftest import Gate, approved_page
from tests.fake_confluence import approval_value

USER = "release-bot@acme.test"
TOKEN = "fake-api-token-not-real-0123456789abcdef"
BEARER = "pat-not-a-real-bearer-9876543210fedcba"


def leaks(text: str) -> list[str]:
    basic = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    return [s for s in (TOKEN, BEARER, basic, basic[:16]) if s in text]


def every_output(gate: Gate, *extra: str) -> str:
    """Run the gate with every output switched on; return all of it as one text."""
    approved_page(gate.site, "101")
    gate.site.add_page("102", title="Pending page")
    gate.site.set_approval("102", approval_value(pending=["acc-b"], complete=False))
    gate.site.add_user("acc-b", "Jonas Weber")
    gate.write_policy([{"id": "101"}, {"id": "102"}, {"id": "103"}])  # 103: not found
    path = gate.pytester.path
    summary = path / "summary.md"
    run = gate.run(
        "--tb=long",
        "-l",
        "-rA",
        "-vv",
        "--log-level=DEBUG",
        "-o",
        "log_cli=true",
        "--log-cli-level=DEBUG",
        "--confluence-report",
        path / "report.json",
        "--confluence-record",
        path / "snap.json",
        *extra,
    )
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    files = [path / "gate.xml", path / "report.json", path / "snap.json"]
    if summary.exists():
        files.append(summary)
    return run.output + "".join(f.read_text() for f in files)


def test_basic_credentials_never_appear_in_any_output(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.site.auth = (USER, TOKEN)
    monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(gate.pytester.path / "summary.md"))

    text = every_output(gate)

    assert "Jonas Weber" in text  # the run really was authenticated
    assert leaks(text) == []


def test_bearer_token_never_appears_in_any_output(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.site.auth = BEARER
    monkeypatch.setenv("CONFLUENCE_PERSONAL_TOKEN", BEARER)

    text = every_output(gate)

    assert "Jonas Weber" in text
    assert leaks(text) == []


def test_a_crash_with_locals_shown_does_not_reveal_the_token(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.site.auth = (USER, TOKEN)
    monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", TOKEN)
    # An unforeseen crash with the gate's state in local variables: pytest prints a
    # traceback with every frame's locals.
    gate.pytester.makeconftest(
        """
        from pytest_confluence_approval.gate import Gate

        original = Gate.verdict

        def broken(self, page_id):
            settings = self.settings
            credentials = settings.credentials
            raise RuntimeError("simulated bug")

        # Patched for this inner session only: pytester runs in this process.
        def pytest_sessionstart(session):
            Gate.verdict = broken

        def pytest_sessionfinish(session):
            Gate.verdict = original
        """
    )
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])

    run = gate.run("--tb=long", "-l")

    assert "simulated bug" in run.output
    assert "credentials" in run.output  # the locals really were shown
    assert leaks(run.output) == []


def test_no_object_shows_the_secret_in_its_repr(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\npages:\n  - id: 1\n")
    env = {"CONFLUENCE_USERNAME": USER, "CONFLUENCE_API_TOKEN": TOKEN}
    settings = GateSettings.resolve(
        GateOptions(policy=policy, url="https://acme.atlassian.net"), env
    )
    client = ConfluenceClient(settings.site, settings.credentials)
    bearer = Credentials.from_environment({"CONFLUENCE_PERSONAL_TOKEN": BEARER})
    objects: list[object] = [
        settings,
        settings.credentials,
        bearer,
        client,
        client.session.auth,
        _Auth(bearer),
        client.backoff,
        GateRun(settings),
    ]
    for obj in objects:
        assert leaks(repr(obj)) == [], type(obj)
        assert leaks(str(obj)) == [], type(obj)


def test_a_bug_while_judging_fails_the_page_instead_of_crashing(gate: Gate) -> None:
    gate.pytester.makeconftest(
        """
        import pytest_confluence_approval.gate as gate_module

        original = gate_module.evaluate

        def broken(*args, **kwargs):
            raise RuntimeError("simulated bug")

        def pytest_sessionstart(session):
            gate_module.evaluate = broken

        def pytest_sessionfinish(session):
            gate_module.evaluate = original
        """
    )
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    assert "could not verify: internal error while judging the page" in run.failure_text("101")
    assert "INTERNALERROR" not in run.output


BAD_SITE = "https://[::1"


@pytest.mark.parametrize("where", ["policy", "option", "environment"])
def test_a_malformed_site_is_a_usage_error_that_shows_no_secret(
    gate: Gate, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", TOKEN)
    extra: list[str] = []
    if where == "policy":
        gate.write_policy([{"id": "101"}], site=BAD_SITE)
    else:
        gate.write_policy([{"id": "101"}])
        if where == "option":
            extra = ["--confluence-url", BAD_SITE]
        else:
            monkeypatch.setenv("CONFLUENCE_URL", BAD_SITE)

    run = gate.run("-l", "--fulltrace", *extra, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output
    assert f"site URL '{BAD_SITE}' is not a valid URL" in run.output
    assert leaks(run.output) == []


def test_an_invalid_policy_site_is_refused_even_when_overridden(gate: Gate) -> None:
    gate.write_policy([{"id": "101"}], site=BAD_SITE)

    run = gate.run()  # --confluence-url given

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "policy.yaml: site: site URL" in run.output


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param("gate.load_policy = broken", id="while-resolving-settings"),
        pytest.param("gate.Gate.prepare = broken", id="while-fetching"),
    ],
)
def test_an_unforeseen_crash_with_full_trace_and_locals_shows_no_secret(
    gate: Gate, monkeypatch: pytest.MonkeyPatch, patch: str
) -> None:
    """A bug at start-up or while fetching: pytest prints every frame with its locals
    (-l --fulltrace); none may hold the environment or a secret. In a subprocess, so
    the patch cannot touch this test process."""
    monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", TOKEN)
    gate.pytester.makeconftest(
        f"""
        import pytest_confluence_approval.gate as gate

        def broken(*args, **kwargs):
            raise RuntimeError("simulated bug")

        {patch}
        """
    )
    approved_page(gate.site, "101")
    policy = gate.write_policy([{"id": "101"}])

    result = gate.pytester.runpytest_subprocess(
        "--confluence-policy", policy, "--confluence-url", gate.site.url, "-l", "--fulltrace"
    )

    output = result.stdout.str() + result.stderr.str()
    assert "simulated bug" in output and "INTERNALERROR" in output  # the trace was shown
    assert leaks(output) == []

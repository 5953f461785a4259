"""No secret in any output: terminal, tracebacks with locals, logs, JUnit, report, snapshot."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from urllib3.connectionpool import HTTPConnectionPool

from pytest_confluence_approval import gate as gate_module
from pytest_confluence_approval.confluence import ConfluenceClient, ConfluenceError, Credentials
from pytest_confluence_approval.gate import GateOptions, GateSettings
from tests.conftest import QUIET, GateRunner, PytestRun, approved_page
from tests.fake_confluence import FakeConfluence, approval_value, hang, reset, retry_after

USER = "release-bot@acme.test"
TOKEN = "fake-api-token-not-real-0123456789abcdef"
BEARER = "pat-not-a-real-bearer-9876543210fedcba"


def leaks(text: str) -> list[str]:
    basic = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    return [s for s in (TOKEN, BEARER, basic, basic[:16]) if s in text]


def every_output(gate: GateRunner, *extra: str) -> str:
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
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.site.auth = (USER, TOKEN)
    monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(gate.pytester.path / "summary.md"))

    text = every_output(gate)

    assert "Jonas Weber" in text  # the run really was authenticated
    assert leaks(text) == []


def test_bearer_token_never_appears_in_any_output(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.site.auth = BEARER
    monkeypatch.setenv("CONFLUENCE_PERSONAL_TOKEN", BEARER)

    text = every_output(gate)

    assert "Jonas Weber" in text
    assert leaks(text) == []


def test_a_crash_with_locals_shown_does_not_reveal_the_token(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
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
        client.loop,
        client.transport,
        client.loop.pause,
        ConfluenceClient(settings.site, bearer).loop,
        gate_module.Gate(settings),
    ]
    for obj in objects:
        assert leaks(repr(obj)) == [], type(obj)
        assert leaks(str(obj)) == [], type(obj)


def test_a_bug_while_judging_fails_the_page_instead_of_crashing(gate: GateRunner) -> None:
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
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch, where: str
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


def test_an_invalid_policy_site_is_refused_even_when_overridden(gate: GateRunner) -> None:
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
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch, patch: str
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


# -- faults inside the HTTP stack: no exception from it reaches pytest ------------------------

#: An HTTP date (RFC 9110 allows one in Retry-After) in a year off Python's calendar:
#: parsing it raised ValueError inside urllib3, whose frames hold the request's headers.
OFF_CALENDAR = "Fri, 31 Dec 99999 23:59:59 GMT"
CQL = "label = release-2025-08"
BATCH = "/wiki/api/v2/pages"
PROPERTIES = "/wiki/api/v2/pages/101/properties"
VERSIONS = "/wiki/api/v2/pages/102/versions"
USERS_BULK = "/wiki/api/v2/users-bulk"
CQL_SEARCH = "/wiki/rest/api/content/search"
GROUP_MEMBERS = "/wiki/rest/api/group/member"
#: What pytest shows of a frame of the HTTP stack: the path of its source file.
HTTP_STACK_FRAMES = re.compile(r"[/\\](?:urllib3|requests)[/\\]|[/\\]http[/\\]client\.py|urlopen")
#: The output modes that show the most of a traceback: every frame with its arguments,
#: every frame with its locals, and all that was printed, in the JUnit file.
OUTPUT_MODES = {
    "full-trace": ("--full-trace",),
    "locals": ("-l", "--tb=long"),
    "junit-logging": ("-o", "junit_logging=all"),
}
EVERY_OUTPUT_MODE = tuple(arg for mode in OUTPUT_MODES.values() for arg in mode)


def exposed(text: str) -> list[str]:
    """The secrets in ``text``, and the name of the header that carries them."""
    return leaks(text) + (["Authorization"] if "authorization" in text.lower() else [])


@pytest.fixture(params=["basic", "bearer"])
def token(request: pytest.FixtureRequest, gate: GateRunner, monkeypatch: pytest.MonkeyPatch) -> str:
    """The site accepts one kind of token, and the gate has it in its environment."""
    if request.param == "basic":
        gate.site.auth = (USER, TOKEN)
        monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
        monkeypatch.setenv("CONFLUENCE_API_TOKEN", TOKEN)
    else:
        gate.site.auth = BEARER
        monkeypatch.setenv("CONFLUENCE_PERSONAL_TOKEN", BEARER)
    return str(request.param)


def every_request_path(gate: GateRunner) -> Path:
    """A policy whose run sends every kind of request the gate makes; returns its path.

    101 needs a group (group members), 102 has minor edits (its version history), 103 is
    not approved (a failure text to show), the query finds 201 (the CQL search), and the
    names come from users-bulk. Without a fault: 101, 102 and 201 pass, 103 fails.
    """
    site = gate.site
    site.add_user("acc-approver", "Ada Approver")
    site.add_user("acc-b", "Jonas Weber")
    for page_id in ("101", "102", "201"):
        approved_page(site, page_id)
    for number in (4, 5):
        site.add_version("102", number, f"2025-08-0{number}T10:00:00.000Z", minor_edit=True)
    site.add_page("103", title="Pending page")
    site.set_approval("103", approval_value(approved=[], pending=["acc-b"], complete=False))
    site.add_cql(CQL, ["201"])
    site.add_group("release-managers", ["acc-other", "acc-approver"])
    return gate.write_policy(
        [
            {"id": "101", "required_groups": [{"group": "release-managers", "min": 1}]},
            {"id": "102", "ignore_minor_edits": True},
            {"id": "103"},
            {"cql": CQL},
        ]
    )


def run_with_every_output(gate: GateRunner, *args: str | Path) -> tuple[PytestRun, str]:
    """Run the gate with the report and the job summary on; the run and all it wrote."""
    path = gate.pytester.path
    report, summary = path / "report.json", path / "summary.md"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GITHUB_STEP_SUMMARY", str(summary))
        run = gate.run("-rA", "--confluence-report", report, *args)
    files = [f for f in (path / "gate.xml", report, summary) if f.exists()]
    return run, run.output + "".join(f.read_text(encoding="utf-8") for f in files)


def assert_nothing_reached_pytest(run: PytestRun, text: str) -> None:
    assert exposed(text) == []
    assert HTTP_STACK_FRAMES.findall(text) == []
    assert "INTERNALERROR" not in text, text
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, text  # page 103, or the fault


@pytest.mark.parametrize(
    ("path", "code"),
    [
        pytest.param(USERS_BULK, 429, id="users-bulk"),
        pytest.param(CQL_SEARCH, 429, id="cql-search"),
        # 503 (Atlassian's other push-back, also with Retry-After): its first retry goes
        # out without a back-off, which keeps these quick.
        pytest.param(BATCH, 503, id="pages"),
        pytest.param(PROPERTIES, 503, id="properties"),
    ],
)
def test_a_retry_after_off_the_calendar_is_read_as_absent(
    gate: GateRunner, token: str, path: str, code: int
) -> None:
    """Raised inside urllib3 on the main thread (users-bulk, CQL), the ValueError ended the
    run as an INTERNALERROR (exit 3) whose trace showed the Authorization header."""
    every_request_path(gate)
    gate.site.fault(path, retry_after(OFF_CALENDAR, code), times=1)

    run, text = run_with_every_output(gate, *EVERY_OUTPUT_MODE)

    assert_nothing_reached_pytest(run, text)
    # The usual back-off, then the retry was answered: every page judged as without it.
    assert gate.site.count(path) == 2
    run.result.assert_outcomes(passed=3, failed=1)
    assert "Jonas Weber" in run.failure_text("103")


#: A conftest that makes urllib3 fail in a way no one foresaw (a bug of its own, or an
#: answer no test has thought of) on the requests to one path, in frames below the ones
#: that hold the request's headers.
CRASHING_HTTP_STACK = """
from urllib.parse import urlsplit

from urllib3.connectionpool import HTTPConnectionPool

original = HTTPConnectionPool._make_request

def crashing(self, conn, method, url, *args, **kwargs):
    if urlsplit(url).path == {path!r}:
        raise RuntimeError("simulated fault inside urllib3")
    return original(self, conn, method, url, *args, **kwargs)

# Patched for the inner session only: pytester runs it in this process.
def pytest_sessionstart(session):
    HTTPConnectionPool._make_request = crashing

def pytest_sessionfinish(session):
    HTTPConnectionPool._make_request = original
"""


@pytest.mark.parametrize(
    ("path", "fails", "what"),
    [
        pytest.param(BATCH, "101", "a batch of 4 pages", id="pages"),
        pytest.param(PROPERTIES, "101", "the properties of page 101", id="properties"),
        pytest.param(VERSIONS, "102", "the version history of page 102", id="versions"),
        pytest.param(GROUP_MEMBERS, "101", 'the members of group "release-managers"', id="groups"),
        pytest.param(CQL_SEARCH, None, f"the CQL query {CQL!r}", id="cql-search"),
        pytest.param(USERS_BULK, None, None, id="users-bulk"),  # names are cosmetic
    ],
)
def test_an_unforeseen_error_in_the_http_stack_fails_only_what_it_was_fetching(
    gate: GateRunner, token: str, path: str, fails: str | None, what: str | None
) -> None:
    every_request_path(gate)
    gate.pytester.makeconftest(CRASHING_HTTP_STACK.format(path=path))

    run, text = run_with_every_output(gate, *EVERY_OUTPUT_MODE)

    assert_nothing_reached_pytest(run, text)
    reason = f"unexpected error in the HTTP client while fetching {what} (RuntimeError)"
    if fails is not None:
        assert "could not be verified" in run.failure_text(fails)
        assert reason in run.failure_text(fails)
    elif what is not None:
        run.result.assert_outcomes(passed=2, failed=2)  # 103, and the query that could not run
        assert f"could not verify: {reason}" in run.output
    else:
        run.result.assert_outcomes(passed=3, failed=1)
        assert "Jonas Weber" not in text and "acc-b" in run.failure_text("103")
    assert "simulated fault" not in text  # the stack's own words are not the gate's to repeat


@pytest.mark.parametrize("path", [USERS_BULK, CQL_SEARCH], ids=["users-bulk", "cql-search"])
@pytest.mark.parametrize("mode", [pytest.param(v, id=k) for k, v in OUTPUT_MODES.items()])
def test_an_unforeseen_error_on_the_main_thread_shows_no_token_in_any_output_mode(
    gate: GateRunner, token: str, path: str, mode: tuple[str, ...]
) -> None:
    """Each mode on its own: with each, the INTERNALERROR showed the header."""
    every_request_path(gate)
    gate.pytester.makeconftest(CRASHING_HTTP_STACK.format(path=path))

    run, text = run_with_every_output(gate, *mode)

    assert_nothing_reached_pytest(run, text)


@pytest.mark.parametrize("token", ["basic"], indirect=True)  # each run costs 2 s
def test_a_fault_in_the_http_stack_under_xdist_shows_no_token(gate: GateRunner, token: str) -> None:
    pytest.importorskip("xdist")
    every_request_path(gate)
    gate.pytester.makepyfile(test_repo="def test_repo():\n    pass\n")
    gate.site.fault(USERS_BULK, retry_after(OFF_CALENDAR), times=1)

    run, text = run_with_every_output(
        gate, "-n", "2", "test_repo.py", "policy.yaml", *EVERY_OUTPUT_MODE
    )

    assert_nothing_reached_pytest(run, text)
    run.result.assert_outcomes(passed=4, failed=1)  # the repository's test ran on a worker
    assert "(still pending: Jonas Weber)" in run.output


@pytest.mark.parametrize(
    ("token", "path"),
    [
        *(pytest.param(t, USERS_BULK, id=f"{t}-users-bulk") for t in ("basic", "bearer")),
        *(pytest.param(t, CQL_SEARCH, id=f"{t}-cql-search") for t in ("basic", "bearer")),
        # In a worker thread, while the main thread waits for it (a subprocess costs 1-2 s).
        pytest.param("basic", PROPERTIES, id="basic-properties"),
    ],
    indirect=["token"],
)
def test_ctrl_c_during_a_request_ends_the_run_as_interrupted_without_the_token(
    gate: GateRunner, token: str, path: str
) -> None:
    """Ctrl-C (or a CI cancel) lands where the main thread is: for users-bulk and the CQL
    search, inside urllib3, waiting for the answer. In a subprocess, so the signal cannot
    reach this run."""
    policy = every_request_path(gate)
    gate.site.fault(path, hang(60))
    out = gate.pytester.path
    junit, report, summary = out / "gate.xml", out / "report.json", out / "summary.md"
    repo = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "pytest", "--confluence-policy", str(policy)),
            *("--confluence-url", gate.site.url, "--junitxml", str(junit)),
            *("--confluence-report", str(report), "-rA", *QUIET, *EVERY_OUTPUT_MODE),
        ],
        cwd=out,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert gate.site.wait_for(path, timeout=60)  # the request is in flight
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    files = [f.read_text(encoding="utf-8") for f in (junit, report, summary) if f.exists()]
    text = "".join([stdout.decode(), stderr.decode(), *files])

    assert process.returncode == pytest.ExitCode.INTERRUPTED, text
    assert "KeyboardInterrupt" in text  # pytest's own "!!! KeyboardInterrupt !!!"
    assert exposed(text) == []
    assert HTTP_STACK_FRAMES.findall(text) == []
    assert "INTERNALERROR" not in text


def frames_and_chain(exc: BaseException) -> tuple[list[str], list[BaseException]]:
    """The source files of the frames ``exc`` keeps, and the exceptions chained to it."""
    files, chain, seen = [], [], [exc]
    while seen:
        current = seen.pop()
        tb = current.__traceback__
        while tb is not None:
            files.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                chain.append(linked)
                seen.append(linked)
    return files, chain


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("reset", id="network-error"),  # requests' ConnectionError, converted
        pytest.param("retry-after", id="deadline-inside-urllib3"),  # ours, raised in urllib3
        pytest.param("crash", id="unforeseen-error"),
        pytest.param("interrupt", id="ctrl-c"),
    ],
)
def test_what_a_request_raises_keeps_no_frame_of_the_http_stack(
    confluence: FakeConfluence, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """Those frames hold the request's headers: what the client raises must not keep them,
    neither in its own traceback nor in an exception chained to it (even a hidden one)."""
    confluence.add_page("1")
    confluence.auth = (USER, TOKEN)
    if fault == "reset":
        confluence.fault("/wiki/api/v2/pages/1", reset())
    elif fault == "retry-after":
        confluence.fault("/wiki/api/v2/pages/1", retry_after(3600))
    else:
        error = RuntimeError("simulated") if fault == "crash" else KeyboardInterrupt()

        def failing(*args: object, **kwargs: object) -> None:
            raise error

        monkeypatch.setattr(HTTPConnectionPool, "_make_request", failing)
    client = ConfluenceClient(
        confluence.url, Credentials("basic", USER, TOKEN), retries=1, deadline=60
    )

    with pytest.raises((ConfluenceError, KeyboardInterrupt)) as raised:
        client.get_page("1")

    files, chain = frames_and_chain(raised.value)
    assert chain == []
    assert [f for f in files if re.search(r"[/\\](urllib3|requests)[/\\]", f)] == []

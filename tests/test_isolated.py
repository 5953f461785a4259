"""`confluence-approval-gate POLICY [options]`: the gate apart from the repository's setup.

The application repository of tests/application_repository.py stops plain pytest in
each of its parts (shown first, so the fixture cannot go soft); the isolated gate runs
through all of them at once, in this process, with pytest's own options and exit codes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_confluence_approval import cli
from tests.application_repository import ENVIRONMENT, PARTS, write_application_repository
from tests.conftest import QUIET
from tests.fake_confluence import FakeConfluence, approval_value, hang

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
#: examples/policy.yaml replayed from examples/snapshot.json
EXAMPLE_SUMMARY = "2 approved, 3 not approved, 0 not verifiable"
EXAMPLE_ARGS = ("release/policy.yaml", "--confluence-replay", "release/snapshot.json")


@pytest.fixture
def application(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The hostile application repository, every part of it, as the working directory."""
    root = tmp_path / "app"
    plugins = write_application_repository(root)
    monkeypatch.syspath_prepend(str(plugins))  # where plugin autoload would find it
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(root)
    yield root


def run_gate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """cli.main in this process, as the console script calls it; (exit code, output)."""
    exit_code = cli.main(list(args))
    captured = capsys.readouterr()
    return exit_code, captured.out + captured.err


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_of_the_application_repository_stops_plain_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    plugins = write_application_repository(pytester.path, parts=[part])
    monkeypatch.syspath_prepend(str(plugins))
    if part in ENVIRONMENT:
        monkeypatch.setenv(part, ENVIRONMENT[part])

    result = pytester.runpytest("--confluence-policy", *EXAMPLE_ARGS)

    assert result.ret not in (0, 1), part  # no page was judged: a usage or internal error
    assert PARTS[part] in result.stdout.str() + result.stderr.str()


def test_the_gate_runs_isolated_from_every_part_of_the_repository(
    application: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, output = run_gate(capsys, *EXAMPLE_ARGS, "--junitxml", "gate.xml")

    assert exit_code == pytest.ExitCode.TESTS_FAILED, output  # the example blocks its release
    assert EXAMPLE_SUMMARY in output
    assert "test_app_unit" not in output and "999999" not in output  # testpaths, ini policy
    assert not any(PARTS[part] in output for part in PARTS), output
    assert len(list(ET.parse(application / "gate.xml").getroot().iter("testcase"))) == 5
    assert not (application / ".pytest_cache").exists()
    assert os.environ["PYTEST_ADDOPTS"] == ENVIRONMENT["PYTEST_ADDOPTS"]  # given back


def test_the_usual_output_options_still_work(
    application: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verbose = "-v", "-rA", "--junitxml", "gate.xml", "-o", "junit_family=xunit1"
    exit_code, output = run_gate(capsys, *EXAMPLE_ARGS, *verbose)

    assert exit_code == pytest.ExitCode.TESTS_FAILED
    # -v: one line per page; -rA: passes in the short summary too
    assert "release/policy.yaml::page[718962697 Release checklist] PASSED" in output
    assert "PASSED release/policy.yaml::page[718962701 Rollback plan]" in output
    # -o junit_family=xunit1: the evidence as testcase properties
    assert 'name="confluence.page_id"' in (application / "gate.xml").read_text()

    exit_code, output = run_gate(capsys, *EXAMPLE_ARGS, "-q", "-rN")
    assert exit_code == pytest.ExitCode.TESTS_FAILED
    assert "test session starts" not in output and "short test summary" not in output
    assert ".FFF." in output and EXAMPLE_SUMMARY in output


def test_the_confluence_options_still_work_against_a_live_site(
    application: Path, capsys: pytest.CaptureFixture[str], confluence: FakeConfluence
) -> None:
    confluence.add_page("101", version=3, version_created_at="2025-07-01T10:00:00.000Z")
    confluence.set_approval("101", approval_value())
    (application / "release" / "live.yaml").write_text('version: 1\npages:\n  - id: "101"\n')

    exit_code, output = run_gate(
        capsys,
        *("release/live.yaml", "--confluence-url", confluence.url),
        *("--confluence-report", "evidence.json", "--confluence-record", "snapshot.json"),
    )

    assert exit_code == pytest.ExitCode.OK, output
    assert "1 approved, 0 not approved, 0 not verifiable" in output
    assert (application / "evidence.json").is_file() and (application / "snapshot.json").is_file()


# --- exit codes, usage ---------------------------------------------------------------------


def write_example(directory: Path) -> None:
    (directory / "release").mkdir(parents=True, exist_ok=True)
    for name in ("policy.yaml", "snapshot.json"):
        shutil.copy(EXAMPLES / name, directory / "release" / name)
    approved = (directory / "release" / "policy.yaml").read_text().split("  - id:")
    # the two approved pages of the example: Release checklist and Rollback plan
    keep = [approved[0], *(p for p in approved[1:] if '"718962697"' in p or '"718962701"' in p)]
    (directory / "release" / "approved.yaml").write_text("  - id:".join(keep))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("release/approved.yaml", *EXAMPLE_ARGS[1:]), pytest.ExitCode.OK),
        (EXAMPLE_ARGS, pytest.ExitCode.TESTS_FAILED),
        (("release/missing.yaml", *EXAMPLE_ARGS[1:]), pytest.ExitCode.USAGE_ERROR),
        ((*EXAMPLE_ARGS, "--no-such-option"), pytest.ExitCode.USAGE_ERROR),
        ((*EXAMPLE_ARGS, "--confluence-timeout", "soon"), pytest.ExitCode.USAGE_ERROR),
    ],
)
def test_exit_codes_are_those_of_plain_pytest_with_the_same_options(
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    expected: pytest.ExitCode,
) -> None:
    write_example(pytester.path)
    plain = pytester.runpytest("--confluence-policy", *args, *QUIET)
    capsys.readouterr()

    exit_code, output = run_gate(capsys, *args)

    assert plain.ret == expected
    assert exit_code == expected, output


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((), "the policy file is missing"),
        (("-v", *EXAMPLE_ARGS), "the first argument must be the policy file, not the option '-v'"),
        (("--confluence-replay", "x.json"), "not the option '--confluence-replay'"),
    ],
)
def test_a_missing_policy_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], problem: str
) -> None:
    exit_code = cli.main(list(args))
    captured = capsys.readouterr()

    assert exit_code == pytest.ExitCode.USAGE_ERROR
    assert captured.err.startswith("usage: confluence-approval-gate POLICY [options]\n")
    assert "confluence-approval-gate: error: " in captured.err and problem in captured.err
    assert "Traceback" not in captured.err and not captured.out


def test_help_shows_the_usage_and_the_options_of_an_isolated_run(
    application: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, output = run_gate(capsys, "--help")

    assert exit_code == pytest.ExitCode.OK
    assert output.startswith("usage: confluence-approval-gate POLICY [options]\n")
    assert "--confluence-replay=PATH" in output and "--junitxml" in output
    # what the environment would have added is not there: autoload is off
    assert "--hypothesis-profile" not in output and "--numprocesses" not in output


def test_ctrl_c_exits_2_as_pytest_does(tmp_path: Path, confluence: FakeConfluence) -> None:
    confluence.add_page("101")
    confluence.set_approval("101", approval_value())
    confluence.fault("/wiki/api/v2/pages/*", hang(100))  # the page request hangs
    (tmp_path / "policy.yaml").write_text('version: 1\npages:\n  - id: "101"\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_confluence_approval", "policy.yaml"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "CONFLUENCE_URL": confluence.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        assert confluence.wait_for("/wiki/api/v2/pages/101*", 1, timeout=60)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        process.kill()
    text = b"".join(output).decode(errors="replace")

    assert process.returncode == pytest.ExitCode.INTERRUPTED, text
    assert "Traceback" not in text and "INTERNALERROR" not in text, text


# --- xdist ---------------------------------------------------------------------------------


def test_xdist_is_not_loaded_and_n_says_so(
    application: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, output = run_gate(capsys, *EXAMPLE_ARGS, "-n", "2")

    assert exit_code == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: -n" in output


def test_xdist_loaded_by_name_runs_the_gate_alone_in_one_process(
    application: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("xdist")
    exit_code, output = run_gate(capsys, *EXAMPLE_ARGS, "-p", "xdist.plugin", "-n", "2")

    assert exit_code == pytest.ExitCode.TESTS_FAILED, output
    assert "the pytest-xdist workers asked for (-n 2) would have no test to run" in output
    assert EXAMPLE_SUMMARY in output


# --- the console script, python -m, and the README ----------------------------------------


def installed_script() -> Path:
    """The console script pip installed beside this interpreter (pip install -e .)."""
    name = "confluence-approval-gate" + (".exe" if os.name == "nt" else "")
    return Path(sysconfig.get_path("scripts")) / name


def test_the_console_script_is_declared_for_cli_main() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '\nconfluence-approval-gate = "pytest_confluence_approval.cli:main"\n' in pyproject


@pytest.mark.parametrize("command", ["console script", "python -m"])
def test_the_installed_command_runs_the_example_in_the_application_repository(
    tmp_path: Path, command: str
) -> None:
    if command == "console script":
        script = installed_script()
        if not script.exists():
            if os.environ.get("CI"):
                pytest.fail(f"{script} is not installed; CI runs pip install -e '.[test]'")
            pytest.skip(f"{script} is not installed (pip install -e . installs it)")
        program = [str(script)]
    else:
        program = [sys.executable, "-m", "pytest_confluence_approval"]
    root = tmp_path / "app"
    plugins = write_application_repository(root)
    path = os.pathsep.join([str(REPO), str(plugins)])

    done = subprocess.run(
        [*program, *EXAMPLE_ARGS],
        cwd=root,
        env={**os.environ, **ENVIRONMENT, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert EXAMPLE_SUMMARY in done.stdout


def readme_code_blocks() -> list[str]:
    from markdown_it import MarkdownIt

    text = (REPO / "README.md").read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").parse(text)
    return [t.content for t in tokens if t.type in ("code_block", "fence")]


def test_the_readme_first_command_runs_the_gate_on_the_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first of the README's commands, from the root of this repository.

    .ci/run runs both commands verbatim in a fresh clone and a bare venv; this keeps the
    gate half of the first one working with every test run.
    """
    install, gate_command = readme_code_blocks()[0].strip().split(" && ")
    assert install == "python -m pip install ."
    program, *args = shlex.split(gate_command)
    assert program == "confluence-approval-gate"
    monkeypatch.chdir(REPO)

    exit_code, output = run_gate(capsys, *args)

    assert exit_code == pytest.ExitCode.TESTS_FAILED  # the README says it exits 1
    assert EXAMPLE_SUMMARY in output


def readme_plain_pytest_equivalent() -> str:
    """The README's plain-pytest command line of an isolated run (backslash-continued)."""
    block = next(b for b in readme_code_blocks() if "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1" in b)
    return block.replace("\\\n", " ").strip()


@pytest.mark.skipif(os.name == "nt", reason="the README's command line is a POSIX shell's")
def test_the_readme_plain_pytest_equivalent_isolates_the_same_way(tmp_path: Path) -> None:
    command = readme_plain_pytest_equivalent()
    words = shlex.split(command)
    # the console script's isolation, word for word (the environment part: by running it)
    python = words.index("python")
    assert words[python : python + 3] == ["python", "-m", "pytest"]
    assert words[python + 3 : python + 3 + len(cli.ISOLATION_ARGS)] == list(cli.ISOLATION_ARGS)
    assert words[-2] == "--confluence-policy", command
    words[python] = sys.executable
    root = tmp_path / "app"
    plugins = write_application_repository(root)
    environment = {**os.environ, **ENVIRONMENT}
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO), str(plugins)])

    done = subprocess.run(
        [*words, "--confluence-replay", "release/snapshot.json"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert EXAMPLE_SUMMARY in done.stdout

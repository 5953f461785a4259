"""The GitHub Action and the CI recipes in examples/: run or parsed, so none can rot."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_confluence_approval import cli
from pytest_confluence_approval.settings import OPTIONS
from tests.application_repository import ENVIRONMENT, PARTS, write_application_repository
from tests.conftest import approved_page
from tests.fake_confluence import FakeConfluence, approval_value

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_yaml(path: Path) -> Any:
    # BaseLoader: every scalar stays a string, as GitHub/GitLab/Azure read `on:`/`yes`.
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


ACTION = load_yaml(REPO / "action.yml")


def composite_steps() -> list[dict[str, Any]]:
    assert ACTION["runs"]["using"] == "composite"
    steps: list[dict[str, Any]] = ACTION["runs"]["steps"]
    return steps


def evaluate(text: str, inputs: Mapping[str, str]) -> str:
    """Substitute the ${{ }} expressions the runner would; any other expression fails."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression == "github.action_path":
            return str(REPO)
        if expression.startswith("inputs."):
            name = expression[len("inputs.") :]
            declared = ACTION["inputs"][name]  # KeyError: an input the action does not declare
            return inputs.get(name, declared.get("default", ""))
        raise AssertionError(f"the test does not know the expression {expression!r}")

    return EXPRESSION.sub(value, text)


def run_action(cwd: Path, inputs: Mapping[str, str], env: Mapping[str, str]) -> int:
    """Run the action's `run:` steps as the runner does (bash -eo pipefail, env: evaluated).

    The install step is not run: it would `pip install` the action's checkout from the
    network. The package under test is already importable (PYTHONPATH below), which is
    what that step provides; test_action_installs_its_own_checkout checks the step itself.
    """
    for required, spec in ACTION["inputs"].items():
        if spec.get("required") == "true":
            assert required in inputs, required
    inputs = {"python": sys.executable, **inputs}
    base = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GITHUB_ACTION_PATH": str(REPO),
        **env,
    }
    for step in composite_steps():
        if step["name"].startswith("Install"):
            continue
        assert step["shell"] == "bash"
        step_env = {**base, **{k: evaluate(v, inputs) for k, v in step.get("env", {}).items()}}
        script = cwd / ".step.sh"
        script.write_text(evaluate(step["run"], inputs), encoding="utf-8")
        done = subprocess.run(  # the runner's own command line for `shell: bash`
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=step_env,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            return done.returncode
    return 0


def test_no_input_is_interpolated_into_shell_text() -> None:
    for step in composite_steps():
        assert "${{" not in step["run"], f"step {step['name']!r}: pass inputs via env:"


def test_action_installs_its_own_checkout() -> None:
    install = composite_steps()[0]
    assert install["name"].startswith("Install")
    assert install["env"]["GATE_SOURCE"] == "${{ github.action_path }}"
    assert "-m pip install" in install["run"] and '"$GATE_SOURCE"' in install["run"]


def test_action_runs_the_gate_live_and_writes_every_output(
    tmp_path: Path, confluence: FakeConfluence
) -> None:
    approved_page(confluence, "101")
    confluence.add_page("102", title="Risk assessment")
    confluence.set_approval("102", approval_value(complete=False, pending=["acc-approver"]))
    confluence.auth = ("release-bot@acme.test", "tok-ACTION-SECRET")
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "policy.yaml").write_text(
        'version: 1\npages:\n  - id: "101"\n  - id: "102"\n', encoding="utf-8"
    )
    summary = tmp_path / "step-summary.md"

    exit_code = run_action(
        tmp_path,
        {"policy": "release/policy.yaml", "site-url": confluence.url},
        {
            "CONFLUENCE_USERNAME": "release-bot@acme.test",
            "CONFLUENCE_API_TOKEN": "tok-ACTION-SECRET",
            "GITHUB_STEP_SUMMARY": str(summary),
        },
    )

    assert exit_code == 1  # one page not approved: the step (and the job) fails
    junit = ET.parse(tmp_path / ACTION["inputs"]["junit-path"]["default"]).getroot()
    assert len(list(junit.iter("testcase"))) == 2
    report = json.loads((tmp_path / ACTION["inputs"]["report-path"]["default"]).read_text())
    assert report["summary"]["approved"] == 1 and report["auth"] == "basic"
    snapshot = json.loads((tmp_path / ACTION["inputs"]["record-path"]["default"]).read_text())
    assert set(snapshot["pages"]) == {"101", "102"}
    table = summary.read_text(encoding="utf-8")
    assert "| Page | Title | Verdict |" in table and "not approved" in table
    for written in (summary, *tmp_path.glob("confluence-*")):
        assert "tok-ACTION-SECRET" not in written.read_text(encoding="utf-8")


def test_action_replays_a_snapshot_without_network_or_credentials(tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"

    exit_code = run_action(
        tmp_path,
        {
            "policy": str(EXAMPLES / "policy.yaml"),
            "replay-path": str(EXAMPLES / "snapshot.json"),
            "pytest-args": "-p no:cacheprovider\n  -o junit_family=xunit1",
        },
        {"GITHUB_STEP_SUMMARY": str(summary), "CONFLUENCE_USERNAME": "half-set"},
    )

    assert exit_code == 1  # the example blocks its release
    assert "2 approved, 3 not approved, 0 not verifiable" in summary.read_text(encoding="utf-8")
    assert not (tmp_path / "confluence-snapshot.json").exists()  # nothing new to record
    junit = (tmp_path / "confluence-approval.xml").read_text(encoding="utf-8")
    assert 'name="confluence.page_id"' in junit  # the xunit1 extra argument arrived
    assert not (tmp_path / ".pytest_cache").exists()


def test_action_inputs_cannot_inject_shell_commands(tmp_path: Path) -> None:
    exit_code = run_action(
        tmp_path,
        {
            "policy": 'x.yaml"; touch pwned-policy; echo "',
            "site-url": "https://acme.atlassian.net/wiki$(touch pwned-url)",
            "pytest-args": "--co $(touch pwned-args) `touch pwned-backtick` ; touch pwned-semi *",
        },
        {},
    )

    assert exit_code == pytest.ExitCode.USAGE_ERROR  # no such policy file
    assert not list(tmp_path.glob("pwned*"))


def application_environment(plugins: Path) -> dict[str, str]:
    """The CI job's environment in the application repository, its plugins installed."""
    return {**ENVIRONMENT, "PYTHONPATH": os.pathsep.join([str(REPO), str(plugins)])}


def test_action_runs_the_gate_apart_from_the_repository_pytest_setup(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    plugins = write_application_repository(tmp_path)
    summary = tmp_path / "step-summary.md"

    exit_code = run_action(
        tmp_path,
        {"policy": "release/policy.yaml", "replay-path": "release/snapshot.json"},
        {"GITHUB_STEP_SUMMARY": str(summary), **application_environment(plugins)},
    )
    output = capfd.readouterr().out

    assert exit_code == 1, output  # the example blocks its release: judged, not stopped
    assert not any(PARTS[part] in output for part in PARTS), output
    assert "2 approved, 3 not approved, 0 not verifiable" in summary.read_text(encoding="utf-8")
    junit = ET.parse(tmp_path / "confluence-approval.xml").getroot()
    assert len(list(junit.iter("testcase"))) == 5  # the policy's pages, not tests/
    assert not (tmp_path / ".pytest_cache").exists()


def test_action_pytest_args_take_shell_quoting_without_evaluating_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    exit_code = run_action(
        tmp_path,
        {
            "policy": str(EXAMPLES / "policy.yaml"),
            "replay-path": str(EXAMPLES / "snapshot.json"),
            # two words after -k, one of them quoted; $HOME stays text inside single quotes
            "pytest-args": "-k \"Risk or Change\"\n  -o 'junit_suite_name=gate $HOME'",
        },
        {},
    )
    output = capfd.readouterr().out

    assert exit_code == 1, output
    junit = ET.parse(tmp_path / "confluence-approval.xml").getroot()
    names = sorted(case.get("name", "") for case in junit.iter("testcase"))
    assert names == ["page[718962698 Risk assessment]", "page[718962699 Change record]"]
    assert junit.find("testsuite").get("name") == "gate $HOME"  # type: ignore[union-attr]


@pytest.mark.parametrize("unclosed", ['-k "Risk or Change', "-k 'Risk", "-k Risk\\"])
def test_action_pytest_args_with_an_unclosed_quote_are_a_usage_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], unclosed: str
) -> None:
    exit_code = run_action(
        tmp_path,
        {"policy": str(EXAMPLES / "policy.yaml"), "pytest-args": unclosed},
        {},
    )
    captured = capfd.readouterr()

    assert exit_code == pytest.ExitCode.USAGE_ERROR
    assert "confluence approval gate: pytest-args: No " in captured.err  # No closing quotation
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "confluence-approval.xml").exists()  # the gate never ran


# --- the recipes in examples/ -------------------------------------------------------------

OUTPUTS = ("gate.xml", "evidence.json", "snapshot.json")
GATE_OPTION = re.compile(r"--confluence-[a-z-]+")


def command_words(command: str) -> list[str]:
    """A recipe's command as the shell splits it (none uses more of the shell than that)."""
    return shlex.split(command.replace("\\\n", " "))


def pytest_command_flags(command: str) -> dict[str, str]:
    """`--junitxml X --confluence-report Y ...` in a recipe's command -> {flag: value}."""
    words = command_words(command)
    return {w: words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("--")}


def assert_gate_command(command: str) -> dict[str, str]:
    """The recipe's command runs confluence-approval-gate on release/policy.yaml."""
    program, policy, *_ = command_words(command)
    assert Path(program).name == "confluence-approval-gate", command
    assert policy == "release/policy.yaml", command
    flags = pytest_command_flags(command)
    gate_options = {option.flag for option in OPTIONS}
    for option in GATE_OPTION.findall(command):
        assert option in gate_options, f"{option} is not an option of the gate"
    for flag, name in zip(
        ("--junitxml", "--confluence-report", "--confluence-record"), OUTPUTS, strict=True
    ):
        assert flags[flag].endswith(name), (flag, flags[flag])
    return flags


def test_gitlab_recipe_publishes_junit_and_keeps_the_evidence() -> None:
    pipeline = load_yaml(EXAMPLES / "gitlab-ci.yml")
    job = pipeline["confluence-approval"]

    assert job["stage"] in pipeline["stages"]
    install, check = job["script"]
    assert "CONFLUENCE_GATE_PACKAGE" in install and "pip install" in install
    assert_gate_command(check)
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"]["junit"] == "gate.xml"
    assert set(OUTPUTS) <= set(artifacts["paths"])


def test_azure_recipe_publishes_junit_and_keeps_the_evidence() -> None:
    pipeline = load_yaml(EXAMPLES / "azure-pipelines.yml")
    steps = pipeline["steps"]
    scripts = [s for s in steps if "script" in s]
    tasks = {s["task"]: s for s in steps if "task" in s}

    assert "CONFLUENCE_GATE_PACKAGE" in scripts[0]["script"]
    check = next(s for s in scripts if "confluence-approval-gate" in s["script"])
    flags = assert_gate_command(check["script"])
    assert set(check["env"]) >= {"CONFLUENCE_USERNAME", "CONFLUENCE_API_TOKEN"}
    published = tasks["PublishTestResults@2"]
    assert published["condition"] == "succeededOrFailed()"
    assert published["inputs"]["testResultsFormat"] == "JUnit"
    assert published["inputs"]["testResultsFiles"] == flags["--junitxml"]
    kept = tasks["PublishPipelineArtifact@1"]
    assert kept["condition"] == "succeededOrFailed()"
    for flag in ("--junitxml", "--confluence-report", "--confluence-record"):
        assert flags[flag].startswith(kept["inputs"]["targetPath"] + "/")


def groovy_structure(text: str) -> str:
    """The Jenkinsfile without comments and string contents; brackets must balance."""
    out, i, stack = [], 0, []
    pairs = {"}": "{", ")": "(", "]": "["}
    while i < len(text):
        if text.startswith("//", i):
            i = text.index("\n", i)
            continue
        quote = next((q for q in ("'''", '"""', "'", '"') if text.startswith(q, i)), None)
        if quote:
            end = text.index(quote, i + len(quote))  # ValueError: an unclosed string
            out.append(quote + quote)
            i = end + len(quote)
            continue
        char = text[i]
        if char in "{([":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], f"unbalanced {char!r} at offset {i}"
        out.append(char)
        i += 1
    assert not stack, f"unclosed {stack}"
    return "".join(out)


def jenkins_gate_command(text: str) -> str:
    scripts = re.findall(r"sh '''(.*?)'''", text, re.S)
    command: str = next(s for s in scripts if "confluence-approval-gate" in s)
    return command


def test_jenkins_recipe_publishes_junit_and_keeps_the_evidence() -> None:
    text = (EXAMPLES / "Jenkinsfile").read_text(encoding="utf-8")
    structure = " ".join(groovy_structure(text).split())

    for block in ("pipeline {", "agent any", "stages {", "steps {", "post { always {"):
        assert block in structure, block
    command = jenkins_gate_command(text)
    flags = assert_gate_command(command)
    assert f"junit testResults: '{flags['--junitxml']}'" in text
    archived = re.search(r"archiveArtifacts artifacts: '([^']*)'", text)
    assert archived is not None
    assert {p.strip() for p in archived.group(1).split(",")} >= set(OUTPUTS)
    assert "usernameVariable: 'CONFLUENCE_USERNAME'" in text
    assert "passwordVariable: 'CONFLUENCE_API_TOKEN'" in text


def test_github_recipe_uses_the_action_with_inputs_it_declares() -> None:
    workflow = load_yaml(EXAMPLES / "github-workflow.yml")
    steps = workflow["jobs"]["confluence-approval"]["steps"]
    fetch = next(s for s in steps if s.get("with", {}).get("path") == ".confluence-gate")
    gate = next(s for s in steps if s.get("uses") == "./" + fetch["with"]["path"])
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))

    assert set(gate["with"]) <= set(ACTION["inputs"])
    assert gate["with"]["policy"] == "release/policy.yaml"
    assert {"CONFLUENCE_USERNAME", "CONFLUENCE_API_TOKEN"} <= set(gate["env"])
    written = {gate["with"][k] for k in ("junit-path", "report-path", "record-path")}
    assert written == set(OUTPUTS) == set(upload["with"]["path"].split())
    assert upload["if"] == "always()"


def recipe_gate_commands() -> dict[str, str]:
    """The command of each recipe that runs the gate, as its CI hands it to the shell."""
    gitlab = load_yaml(EXAMPLES / "gitlab-ci.yml")["confluence-approval"]["script"][1]
    azure_steps = load_yaml(EXAMPLES / "azure-pipelines.yml")["steps"]
    azure = next(s["script"] for s in azure_steps if "approval-gate" in s.get("script", ""))
    # Azure expands its $(...) macros before the shell sees the script.
    azure = azure.replace("$(Build.ArtifactStagingDirectory)", "staging")
    jenkins = jenkins_gate_command((EXAMPLES / "Jenkinsfile").read_text(encoding="utf-8"))
    return {"gitlab": gitlab, "azure": azure, "jenkins": jenkins}


@pytest.mark.parametrize("recipe", ["gitlab", "azure", "jenkins"])
def test_recipe_runs_the_gate_apart_from_the_repository_pytest_setup(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    confluence: FakeConfluence,
    recipe: str,
) -> None:
    approved_page(confluence, "101")
    confluence.add_page("102", title="Risk assessment")
    confluence.set_approval("102", approval_value(complete=False, pending=["acc-approver"]))
    plugins = write_application_repository(tmp_path)
    (tmp_path / "release" / "policy.yaml").write_text(
        'version: 1\npages:\n  - id: "101"\n  - id: "102"\n', encoding="utf-8"
    )
    (tmp_path / "staging").mkdir()
    monkeypatch.syspath_prepend(str(plugins))
    for name, value in {**ENVIRONMENT, "CONFLUENCE_URL": confluence.url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    command = recipe_gate_commands()[recipe]
    _, *args = command_words(command)

    exit_code = cli.main(args)  # what the installed confluence-approval-gate runs
    output = capsys.readouterr().out

    assert exit_code == 1, output  # one page not approved: the job fails, judged
    assert "1 approved, 1 not approved, 0 not verifiable" in output
    assert not any(PARTS[part] in output for part in PARTS), output
    flags = pytest_command_flags(command)
    junit = ET.parse(tmp_path / flags["--junitxml"]).getroot()
    assert len(list(junit.iter("testcase"))) == 2
    report = json.loads((tmp_path / flags["--confluence-report"]).read_text(encoding="utf-8"))
    assert report["summary"]["approved"] == 1
    snapshot = json.loads((tmp_path / flags["--confluence-record"]).read_text(encoding="utf-8"))
    assert set(snapshot["pages"]) == {"101", "102"}

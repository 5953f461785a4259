"""The plugin as every pytest run in its environment meets it: installed, but off."""

from __future__ import annotations

import json

import pytest

from tests.conftest import GateRunner, approved_page

#: What the gate needs only when it is on; none of it may load in a run without a policy.
HEAVY_MODULES = (
    "requests",
    "urllib3",
    "jsonschema",
    "yaml",
    "jinja2",
    "pytest_confluence_approval.plugin",
    "pytest_confluence_approval.items",
    "pytest_confluence_approval.collection",
    "pytest_confluence_approval.publish",
    "pytest_confluence_approval.result",
    "pytest_confluence_approval.xdist_support",
    "pytest_confluence_approval.gate",
    "pytest_confluence_approval.confluence",
    "pytest_confluence_approval.policy",
    "pytest_confluence_approval.verdict",
    "pytest_confluence_approval.attestation",
    "pytest_confluence_approval.html_report",
)

RECORD_MODULES = """
import json, sys

def pytest_sessionfinish(session):
    with open("modules.json", "w") as stream:
        json.dump(sorted(sys.modules), stream)
"""


def _modules_after_run(pytester: pytest.Pytester, *args: str) -> set[str]:
    # A subprocess: the outer test run has long imported everything.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    loaded: list[str] = json.loads((pytester.path / "modules.json").read_text())
    return set(loaded)


def test_an_installed_gate_that_is_off_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORD_MODULES)
    pytester.makepyfile(test_one="def test_one(): pass")
    with_gate = _modules_after_run(pytester)
    without_gate = _modules_after_run(pytester, "-p", "no:confluence_approval")

    assert "pytest_confluence_approval.entrypoint" in with_gate  # the plugin did load
    added_by_gate = with_gate - without_gate
    assert not [m for m in HEAVY_MODULES if m in added_by_gate], sorted(added_by_gate)


def test_the_gate_loads_its_modules_once_a_policy_enables_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORD_MODULES)
    pytester.makepyfile(test_one="def test_one(): pass")
    policy = pytester.path / "policy.yaml"
    policy.write_text('version: 1\npages:\n  - id: "101"\n', encoding="utf-8")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--confluence-policy", str(policy), "--collect-only", "-q"
    )
    assert result.ret == 4  # no site given: the gate is on and says so
    result.stderr.fnmatch_lines(["*no Confluence site given*"])


def test_the_marker_is_known_without_the_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one(): pass")
    result = pytester.runpytest("--strict-markers", "-m", "not confluence_approval")
    result.assert_outcomes(passed=1)


def test_a_replay_loads_no_http_stack(gate: GateRunner) -> None:
    # A replay sends nothing: requests and urllib3 (~19 MiB, and their import time) are
    # for live runs only. Only a configured site URL needs urllib3, to judge it exactly as
    # it would be connected to; this replay names none.
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=1)
    gate.pytester.makeconftest(RECORD_MODULES)
    gate.pytester.makepyfile(test_one="def test_one(): pass")
    without_gate = _modules_after_run(gate.pytester, "-p", "no:confluence_approval")

    result = gate.pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--confluence-policy",
        "policy.yaml",
        "test_one.py",
        "--confluence-replay",
        str(snapshot),
    )
    result.assert_outcomes(passed=2)
    loaded = set(json.loads((gate.pytester.path / "modules.json").read_text()))

    assert "pytest_confluence_approval.gate" in loaded  # the gate did run
    http = [m for m in loaded - without_gate if m.split(".")[0] in ("requests", "urllib3")]
    assert http == []
    assert "pytest_confluence_approval.confluence" not in loaded
    assert "jinja2" not in loaded - without_gate  # no HTML report asked for

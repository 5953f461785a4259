"""The one private pytest API the gate uses (junit.py) fails loudly, never silently."""

from __future__ import annotations

import pytest
from _pytest import junitxml

from pytest_confluence_approval.junit import check_pytest_junitxml
from tests.conftest import GateRunner, approved_page


def test_this_pytest_has_what_the_junit_adapter_needs() -> None:
    # If this fails after a pytest upgrade, junit.py must be adapted: the gate's
    # evidence in --junitxml depends on it.
    assert check_pytest_junitxml() is None


def test_a_pytest_without_it_is_a_usage_error_not_missing_evidence(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    monkeypatch.delattr(junitxml.LogXML, "add_global_property")

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "this pytest's junitxml has no add_global_property" in run.output
    assert gate.site.requests == []


def test_under_xdist_the_summary_names_the_deselected_pages(gate: GateRunner) -> None:
    pytest.importorskip("xdist")
    for page_id in ("101", "102"):
        approved_page(gate.site, page_id)
    gate.write_policy([{"id": "101"}, {"id": "102"}])

    run = gate.run("-n", "2", "policy.yaml", "-k", "101")  # the gate alone: one process

    assert "1 approved, 0 not approved, 0 not verifiable; NOT JUDGED: 1 page deselected (102)" in (
        run.output
    )
    assert run.junit is not None
    names = {p.get("name") for p in run.junit.iter("property")}
    assert "confluence.not_judged" in names

"""JUnit evidence: the one guarded adapter around pytest's private ``_pytest.junitxml``.

pytest has no public API to give a testcase a ``<system-out>`` in every
``junit_family`` or to add a testsuite property outside a fixture, so the gate
uses ``LogXML.node_reporter`` and ``LogXML.add_global_property`` (what pytest's own
``record_testsuite_property`` fixture calls) here and nowhere else. If a pytest
upgrade renames them, :func:`check_pytest_junitxml` says so at start-up (a usage
error, exit 4, not evidence silently missing from the XML), and
tests/test_junit_adapter.py fails.

Every text reaching the XML was rendered by untrusted.py first: XML escaping
alone would still let a newline or ESC in a title forge a line of evidence.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from _pytest import junitxml

from .untrusted import MAX_SHOWN, render_line


def check_pytest_junitxml() -> str | None:
    """What the adapter needs from pytest and is missing, or None."""
    needed = [
        (junitxml, "xml_key"),
        (junitxml, "bin_xml_escape"),
        (getattr(junitxml, "LogXML", None), "node_reporter"),
        (getattr(junitxml, "LogXML", None), "add_global_property"),
    ]
    missing = [name for owner, name in needed if not hasattr(owner, name)]
    if missing:
        return (
            f"this pytest's junitxml has no {', '.join(missing)}; the gate cannot put its "
            "evidence into --junitxml: use a pytest version the gate supports"
        )
    return None


def _log(config: pytest.Config) -> junitxml.LogXML | None:
    return config.stash.get(junitxml.xml_key, None)


def enabled(config: pytest.Config) -> bool:
    """Whether this run writes JUnit XML (so evidence for it is worth rendering)."""
    return _log(config) is not None


def add_system_out(config: pytest.Config, report: pytest.TestReport, text: str) -> None:
    """Give the report's testcase a ``<system-out>`` (valid in every family) with ``text``."""
    xml = _log(config)
    if xml is None:
        return
    element = ET.Element("system-out")
    element.text = junitxml.bin_xml_escape(text)
    xml.node_reporter(report).append(element)


def add_suite_property(
    config: pytest.Config, name: str, value: str, limit: int = MAX_SHOWN
) -> None:
    """A ``<property>`` of the testsuite (valid in every family), rendered safe."""
    xml = _log(config)
    if xml is not None:
        xml.add_global_property(name, render_line(value, limit))

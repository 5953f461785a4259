from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

# The gate imports requests, urllib3 and its own modules only once a policy enables it,
# i.e. inside an in-process pytester run, whose sys.modules snapshot then drops them
# again. The next run would import a second copy of requests beside the first's
# leftovers ("ValueError: You can only merge into CookieJar"). Imported here, in the
# outer run, they are loaded once and shared by every inner run. (The HTTP client is
# imported lazily even then, only by a live run, so it is named here too.)
import pytest_confluence_approval.confluence
import pytest_confluence_approval.fetch
import pytest_confluence_approval.plugin  # noqa: F401
from tests.fake_confluence import FakeConfluence, approval_value, running_fake_confluence

pytest_plugins = ["pytester"]

# Mutation testing (pyproject [tool.mutmut]) reruns the pure tests once per mutant: fewer,
# reproducible examples there. Property tests scale their example counts from this.
settings.register_profile("mutation", max_examples=20, derandomize=True, deadline=None)

#: Unrelated plugins of the outer run only slow each inner pytest run down.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")

ENV_VARS = (
    "CONFLUENCE_URL",
    "CONFLUENCE_USERNAME",
    "CONFLUENCE_API_TOKEN",
    "CONFLUENCE_PERSONAL_TOKEN",
    "GITHUB_STEP_SUMMARY",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's own Confluence settings must never leak into a test."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def confluence() -> Iterator[FakeConfluence]:
    with running_fake_confluence() as site:
        yield site


@dataclass
class PytestRun:
    """One pytest run of the gate as its user sees it: what it printed, its JUnit file."""

    result: pytest.RunResult
    junit: ET.Element | None

    @property
    def output(self) -> str:
        return self.result.stdout.str() + self.result.stderr.str()

    def testcases(self) -> dict[str, ET.Element]:
        """JUnit testcases keyed by the page id in their name (``page[<id> <name>]``)."""
        assert self.junit is not None
        cases = {}
        for case in self.junit.iter("testcase"):
            name = case.get("name", "")
            assert name.startswith("page["), name
            cases[name[len("page[") :].split(" ")[0].rstrip("]")] = case
        return cases

    def failure_text(self, page_id: str) -> str:
        failure = self.testcases()[page_id].find("failure")
        assert failure is not None, f"page {page_id} did not fail"
        return failure.text or ""


class _NoAliasDumper(yaml.SafeDumper):
    """PyYAML writes an object used twice as an anchor and alias, which policies refuse."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class GateRunner:
    """Runs pytest as a user would, with a policy file, against the fake site."""

    def __init__(self, pytester: pytest.Pytester, site: FakeConfluence) -> None:
        self.pytester = pytester
        self.site = site

    def write_policy(self, pages: Sequence[dict[str, Any]] | None = None, **top: Any) -> Path:
        document: dict[str, Any] = {"version": 1, **top}
        document["pages"] = list(pages) if pages is not None else [{"id": "100"}]
        path = self.pytester.path / "policy.yaml"
        text = yaml.dump(document, Dumper=_NoAliasDumper, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    def run(self, *args: str | Path, url: bool = True, policy: Path | None = None) -> PytestRun:
        policy = policy or self.pytester.path / "policy.yaml"
        junit = self.pytester.path / "gate.xml"
        junit.unlink(missing_ok=True)
        argv: list[str | Path] = [
            "--confluence-policy",
            policy,
            "--junitxml",
            junit,
            *QUIET,
        ]
        if url:
            argv += ["--confluence-url", self.site.url]
        result = self.pytester.runpytest(*argv, *args)
        tree = ET.parse(junit).getroot() if junit.exists() else None
        return PytestRun(result, tree)


@pytest.fixture
def gate(pytester: pytest.Pytester, confluence: FakeConfluence) -> GateRunner:
    return GateRunner(pytester, confluence)


def approved_page(site: FakeConfluence, page_id: str, **approval: Any) -> None:
    """A page whose approval is complete and newer than its current version."""
    site.add_page(
        page_id, title=f"Page {page_id}", version=3, version_created_at="2025-07-01T10:00:00.000Z"
    )
    site.set_approval(page_id, approval_value(**approval))

"""The gate's items: the policy file, one item per page, one per ``cql:`` entry that fails.

What an item concludes is the gate's verdict, reported as the gate made it: see
ownership.py (GateItem, GateFailure).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .entrypoint import MARKER
from .evidence import evidence_properties
from .gate import Gate
from .ownership import GateFailure, GateItem
from .policy import PageQuery, PageRule
from .result import WaiverState
from .untrusted import render_line, render_lines

#: The session's one run of the gate, where its items look up their verdicts.
gate_key = pytest.StashKey[Gate]()


class PolicyFile(pytest.File):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Marked once here, not on each item: -m and get_closest_marker see a parent's
        # markers, and thousands of pages need not carry a copy each.
        self.add_marker(MARKER)

    def collect(self) -> Iterator[pytest.Item]:
        gate = self.config.stash[gate_key]
        policy, page_set = gate.settings.policy, gate.resolve()
        # (rule, the name its test id shows): the policy's words only. A cql: entry's page
        # is not named by its Confluence title here (the failure text does that): -k and
        # -m match test ids, and a page's editor must not choose whether it is judged.
        named = [(rule, rule.name) for rule in policy.pages]
        for query in policy.queries:
            named += [(page_set.rules[p], query.rule.name) for p in page_set.query_pages[query.cql]]
        for rule, shown in named:
            name = f"page[{rule.page_id} {shown}]" if shown else f"page[{rule.page_id}]"
            yield ApprovalItem.from_parent(self, rule=rule, **self._named(render_line(name)))
        for query in policy.queries:
            result = page_set.query_results[query.cql]
            if result.failure is not None or not result.pages:
                label = query.rule.name or query.cql
                item_name = self._named(render_line(f"query[{label}]"))
                yield QueryItem.from_parent(self, query=query, **item_name)

    def _named(self, name: str) -> dict[str, str]:
        """An item's name and its node id, spelled out.

        pytest 9.2 keeps node ids structured: one parsed from a string (the --lf cache,
        --deselect) splits "page[101 x]" into a name and its brackets, while a name
        joined to its parent's id does not, so the two never compared equal and --lf
        re-ran every page. A node id given as a string is parsed the same way as theirs.
        """
        return {"name": name, "nodeid": f"{self.nodeid}::{name}"}


class QueryItem(GateItem):
    """A ``cql:`` entry that found no page, or could not run: it fails, never passes."""

    def __init__(self, *, query: PageQuery, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query = query

    @property
    def label(self) -> str:
        return self.query.label

    def conclusion(self) -> GateFailure:
        result = self.config.stash[gate_key].resolve().query_results[self.query.cql]
        if result.failure is not None:
            return GateFailure(
                render_lines(
                    [
                        f"{self.query.label} could not be run:",
                        f"  - could not verify: {result.failure.message}",
                        f"  CQL: {self.query.cql}",
                    ]
                )
            )
        return GateFailure(
            render_lines(
                [
                    f"{self.query.label} matched no pages: a query that finds nothing must not "
                    "pass; check the CQL and that the gate's account can see the pages",
                    f"  CQL: {self.query.cql}",
                ]
            )
        )

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.query.rule.line - 1, render_line(self.query.label)


class ExpiredWaiverWarning(pytest.PytestWarning):
    """A waiver in the policy has expired: the page is judged as if it had none."""


class ApprovalItem(GateItem):
    """One page of the policy: passes only when its approval is complete and current."""

    def __init__(self, *, rule: PageRule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = rule

    @property
    def label(self) -> str:
        return self.rule.label

    def runtest(self) -> None:
        gate = self.config.stash[gate_key]
        verdict = gate.verdict(self.rule.page_id)  # judged: from now on in the gate's record
        # Per-testcase <properties> are invalid in xunit2 (the default family), so
        # there the evidence goes to <system-out> only (see publish.py).
        waiver = gate.waiver(self.rule.page_id)
        if self.config.getini("junit_family") in ("xunit1", "legacy"):
            assert gate.facts is not None
            self.user_properties.extend(evidence_properties(verdict, gate.facts.names, waiver))
        if waiver is not None and waiver.state is WaiverState.EXPIRED:
            warnings.warn(
                ExpiredWaiverWarning(
                    render_line(
                        f"the waiver for {self.rule.label} expired on "
                        f"{waiver.waiver.expires.isoformat()} and was ignored "
                        f"({waiver.waiver.reason})"
                    )
                ),
                stacklevel=1,
            )
        super().runtest()

    def conclusion(self) -> BaseException | None:
        gate = self.config.stash[gate_key]
        verdict = gate.verdicts.get(self.rule.page_id)
        if verdict is None:
            return GateFailure(
                render_line(f"{self.rule.label} was not judged: its check did not run")
            )
        if verdict.passed:
            return None
        waiver = gate.waiver(self.rule.page_id)
        if waiver is not None and waiver.applied:
            w = waiver.waiver
            return pytest.xfail.Exception(
                render_line(
                    f"waived until {w.expires.isoformat()} ({w.reason}); not approved: "
                    + "; ".join(verdict.reasons)
                )
            )
        return GateFailure(verdict.explain())

    def reportinfo(self) -> tuple[Path, int, str]:
        return (
            self.path,
            self.rule.line - 1,
            render_line(f"Confluence approval of {self.rule.label}"),
        )

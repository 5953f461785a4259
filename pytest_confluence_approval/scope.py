"""The gate's scope is the policy: what a run did not judge is evidence too.

``-k``, ``-m``, ``--deselect`` (also from ``addopts``), a node id on the command
line or ``-x`` can leave policy pages unjudged, and a ``cql:`` entry that failed or
matched nothing judges no page at all. Every output names these beside the
counts, so a partial run can never read like a complete one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from .facts import QueryResult
from .policy import PageQuery

#: The most characters a line naming every page not judged shows (the terminal's counts
#: line, the JUnit property): far longer than a line of Confluence text, as a -k run may
#: leave hundreds of pages unjudged, and each is our words and page ids only.
NOT_JUDGED_LIMIT = 1_000_000


@dataclass(frozen=True)
class NotJudged:
    """Policy entries this run did not judge, each list in policy order."""

    #: page ids dropped by -k, -m or --deselect
    deselected: tuple[str, ...] = ()
    #: page ids in the policy (or found by its queries) that were not run for another
    #: reason: not collected (a node id on the command line), -x, --collect-only
    not_run: tuple[str, ...] = ()
    #: labels of cql: entries that could not be run
    queries_failed: tuple[str, ...] = ()
    #: labels of cql: entries that matched no page
    queries_empty: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.deselected or self.not_run or self.queries_failed or self.queries_empty)

    def phrases(self) -> list[str]:
        """Each kind of gap in words, naming its entries: ``3 pages deselected (101, 102)``."""
        parts = []
        if self.deselected:
            parts.append(f"{_pages(self.deselected)} deselected ({', '.join(self.deselected)})")
        if self.not_run:
            parts.append(f"{_pages(self.not_run)} not run ({', '.join(self.not_run)})")
        if self.queries_failed:
            n = len(self.queries_failed)
            parts.append(
                f"{n} {'query' if n == 1 else 'queries'} could not be run "
                f"({', '.join(self.queries_failed)})"
            )
        if self.queries_empty:
            n = len(self.queries_empty)
            parts.append(
                f"{n} {'query' if n == 1 else 'queries'} matched no pages "
                f"({', '.join(self.queries_empty)})"
            )
        return parts

    def sentence(self) -> str:
        """``NOT JUDGED: ...`` or "" when the whole policy was judged."""
        return "NOT JUDGED: " + ", ".join(self.phrases()) if self else ""

    def as_json(self) -> dict[str, list[str]]:
        return {
            "deselected": list(self.deselected),
            "not_run": list(self.not_run),
            "queries_failed": list(self.queries_failed),
            "queries_empty": list(self.queries_empty),
        }


#: A run that judged the whole policy.
EVERYTHING_JUDGED = NotJudged()


def _pages(ids: Collection[str]) -> str:
    return f"{len(ids)} page" if len(ids) == 1 else f"{len(ids)} pages"


def not_judged(
    *,
    in_scope: Iterable[str],
    judged: Collection[str],
    deselected: Collection[str],
    queries: Iterable[PageQuery],
    results: Mapping[str, QueryResult] | None,
) -> NotJudged:
    """Compare the policy's scope (page ids, in policy order) with what was judged."""
    pages = [p for p in dict.fromkeys(in_scope) if p not in judged]
    failed, empty = [], []
    for query in queries:
        result = (results or {}).get(query.cql)
        if result is None or result.failure is not None:
            failed.append(query.label)
        elif not result.pages:
            empty.append(query.label)
    return NotJudged(
        deselected=tuple(p for p in pages if p in deselected),
        not_run=tuple(p for p in pages if p not in deselected),
        queries_failed=tuple(failed),
        queries_empty=tuple(empty),
    )

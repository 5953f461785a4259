"""Collection and prefetch: the policy file collected, what was selected and dropped noted,
and every selected page fetched at once, before the first item runs."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from .console import show_progress
from .entrypoint import names_file
from .errors import ConfigurationError
from .gate import Gate
from .items import ApprovalItem, PolicyFile, QueryItem
from .ownership import GateItem
from .usage import usage_error


class GateCollection:
    """The gate's side of collection: its items, and what the session selected of them."""

    def __init__(self, config: pytest.Config, gate: Gate) -> None:
        self.config = config
        self.gate = gate
        #: page ids -k, -m or --deselect dropped from this session
        self.deselected: set[str] = set()
        #: the CQL of queries whose items -k, -m or --deselect dropped
        self.deselected_queries: set[str] = set()
        #: the gate's items as collection selected them (the command line's node ids, or
        #: all), by node id: before any plugin could reorder or drop them
        self.selected: dict[str, GateItem] = {}

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Collector | None:
        if file_path != self.gate.settings.policy.path:
            return None
        root = self.config.rootpath
        if file_path.is_relative_to(root):
            return PolicyFile.from_parent(parent, path=file_path)
        # Outside the rootdir (e.g. an ini's `confluence_policy = ../policy.yaml`) pytest
        # would give the file an empty node id, and every page an id like "::page[..]".
        nodeid = os.path.relpath(file_path, root).replace(os.sep, "/")
        return PolicyFile.from_parent(parent, path=file_path, nodeid=nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        """Resolve cql: entries into pages before the policy file is collected."""
        try:
            self.gate.resolve()
        except ConfigurationError as exc:
            raise usage_error(exc) from None
        return (yield)

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        if isinstance(item, GateItem):
            self.selected[item.nodeid] = item

    def node_ids(self) -> dict[str, str]:
        """The gate items' node ids: a page's by its id, a query's by its CQL."""
        ids: dict[str, str] = {}
        for node_id, item in self.selected.items():
            if isinstance(item, ApprovalItem):
                ids.setdefault(item.rule.page_id, node_id)
            elif isinstance(item, QueryItem):
                ids.setdefault(item.query.cql, node_id)
        return ids

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            if isinstance(item, ApprovalItem):
                self.deselected.add(item.rule.page_id)
            elif isinstance(item, QueryItem):
                self.deselected_queries.add(item.query.cql)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        self.prefetch(session)
        return (yield)

    def prefetch(self, session: pytest.Session) -> None:
        """Fetch every selected page at once, so that the items only look up their verdicts.

        Called once session.items is final: deselected pages are neither fetched nor
        judged. Pages already fetched are not fetched again.
        """
        page_ids = [i.rule.page_id for i in session.items if isinstance(i, ApprovalItem)]
        if not page_ids or session.config.option.collectonly:
            return
        try:
            self.gate.prepare(page_ids, lambda message: show_progress(self.config, message))
        except OSError as exc:  # only writing --confluence-record touches the disk here
            raise usage_error(
                f"could not write --confluence-record {self.gate.settings.options.record}: "
                f"{exc.strerror or exc}"
            ) from None

    def due(self) -> tuple[set[str], set[str]]:
        """The page ids and the CQL of the queries this run was due to judge.

        Due is what the command line selected, less what -k, -m or --deselect dropped:
        with node ids of the policy (or --lf) what pytest's collection matched, else the
        whole policy, so items dropped from the run or a policy file never collected do
        not leave pages out.
        """
        config, policy, page_set = self.config, self.gate.settings.policy, self.gate.resolve()
        if getattr(config.option, "lf", False) or any(
            "::" in arg and names_file(arg, policy.path) for arg in config.args
        ):
            items = self.selected.values()
            pages = {i.rule.page_id for i in items if isinstance(i, ApprovalItem)}
            queries = {i.query.cql for i in items if isinstance(i, QueryItem)}
        else:
            pages, queries = set(page_set.rules), {q.cql for q in policy.queries}
        return pages - self.deselected, queries - self.deselected_queries

"""What was fetched for one page: the raw payloads, or why they could not be fetched.

Payloads are kept raw (as Confluence sent them) so a snapshot can store exactly
what a verdict was based on and a replay can run the same evaluation over it.

Each record carries its own JSON codec, as snapshot files hold it
(schemas/snapshot.schema.json): ``to_json`` writes an entry, ``from_json`` reads one
back. ``from_json`` trusts its input's shape: snapshot.py validates a snapshot against
its schema before it reads any entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .accounts import account_key


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """Why a page could not be verified, in words a release manager can act on."""

    message: str
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        """As a snapshot records it: ``{"message": ..., "status": ...}``."""
        return {"message": self.message, "status": self.status}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FetchFailure:
        return cls(data["message"], data["status"])

    def to_report_json(self) -> dict[str, Any]:
        """As the JSON report states it (schemas/report.schema.json): the status is named
        for what it is, ``{"message": ..., "http_status": ...}``."""
        return {"message": self.message, "http_status": self.status}


def _failure_entry(failure: FetchFailure) -> dict[str, Any]:
    """A snapshot entry (page, query or group) that records only why it failed."""
    return {"failure": failure.to_json()}


@dataclass(frozen=True, slots=True)
class PageFacts:
    page_id: str
    page: dict[str, Any] | None = None
    properties: list[Any] | None = None
    failure: FetchFailure | None = None
    #: the page's version history, fetched only where minor edits may be ignored
    versions: list[Any] | None = None
    versions_failure: FetchFailure | None = None

    @classmethod
    def failed(cls, page_id: str, message: str, status: int | None = None) -> PageFacts:
        return cls(page_id=page_id, failure=FetchFailure(message, status))

    def to_json(self) -> dict[str, Any]:
        """The snapshot's entry of the page (its id is the entry's key, not in it)."""
        if self.failure is not None:
            return _failure_entry(self.failure)
        entry: dict[str, Any] = {"page": self.page, "properties": self.properties}
        if self.versions is not None:
            entry["versions"] = self.versions
        if self.versions_failure is not None:
            entry["versions_failure"] = self.versions_failure.to_json()
        return entry

    @classmethod
    def from_json(cls, page_id: str, entry: Mapping[str, Any]) -> PageFacts:
        if "failure" in entry:
            return cls(page_id, failure=FetchFailure.from_json(entry["failure"]))
        versions_failure = entry.get("versions_failure")
        return cls(
            page_id,
            page=entry["page"],
            properties=entry["properties"],
            versions=entry.get("versions"),
            versions_failure=FetchFailure.from_json(versions_failure) if versions_failure else None,
        )


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What a ``cql:`` entry found: (page id, title) pairs, or why the search failed."""

    pages: tuple[tuple[str, str], ...] = ()
    failure: FetchFailure | None = None

    def to_json(self) -> dict[str, Any]:
        """The snapshot's entry of the query (its CQL is the entry's key)."""
        if self.failure is not None:
            return _failure_entry(self.failure)
        return {"pages": [{"id": page_id, "title": title} for page_id, title in self.pages]}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> QueryResult:
        if "failure" in entry:
            return cls(failure=FetchFailure.from_json(entry["failure"]))
        return cls(pages=tuple((page["id"], page["title"]) for page in entry["pages"]))


@dataclass(frozen=True, slots=True)
class GroupMembers:
    """A Confluence group's members (account ids), or why they could not be read."""

    members: frozenset[str] = frozenset()
    failure: FetchFailure | None = None
    #: the members as account ids are compared (accounts.account_key); ``members`` stays
    #: as Confluence sent it, for snapshots
    keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(map(account_key, self.members)))

    def to_json(self) -> dict[str, Any]:
        """The snapshot's entry of the group (its name is the entry's key)."""
        if self.failure is not None:
            return _failure_entry(self.failure)
        return {"members": sorted(self.members)}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> GroupMembers:
        if "failure" in entry:
            return cls(failure=FetchFailure.from_json(entry["failure"]))
        return cls(frozenset(entry["members"]))

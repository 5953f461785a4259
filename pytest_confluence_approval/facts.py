"""What was fetched for one page: the raw payloads, or why they could not be fetched.

Payloads are kept raw (as Confluence sent them) so a snapshot can store exactly
what a verdict was based on and a replay can run the same evaluation over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .accounts import account_key


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """Why a page could not be verified, in words a release manager can act on."""

    message: str
    status: int | None = None


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


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What a ``cql:`` entry found: (page id, title) pairs, or why the search failed."""

    pages: tuple[tuple[str, str], ...] = ()
    failure: FetchFailure | None = None


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

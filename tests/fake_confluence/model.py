"""What the fake Confluence site holds: pages, their versions and content properties,
users, CQL answers and groups, and the calls that set them up.

The shapes are those of the v2 OpenAPI description (Version, ContentProperty), trimmed to
the fields a release gate reads; api.py turns them into answers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

JSON_TYPE = "application/json;charset=UTF-8"
DEFAULT_APPROVAL_KEY = "njyzjq_capable_approval"
#: The account the Capable Approval app writes its content property as (an app's
#: account id has the same shape as a person's). Tests name it in approval_writers.
APPROVAL_APP_ACCOUNT = "557058:0a0a0a0a-c0de-4a99-8a77-capableapprov"
APPROVAL_APP_NAME = "Capable Approval"
# When the property was written, unless a test says otherwise.
_PROPERTY_CREATED_AT = "2025-07-15T10:33:14.000Z"


def approval_value(
    *,
    approved: Sequence[str] = ("acc-approver",),
    pending: Sequence[str] = (),
    rejected: Sequence[str] = (),
    complete: bool | str = True,
    completed_at_ms: int = 1752575594000,  # 2025-07-15T10:33:14Z
    created_at_ms: int = 1752489194000,  # one day earlier
    created_by: str = "acc-author",
    minimum_approvers: int = 1,
    minimum_rejections: int = 1,
    **extra: object,
) -> dict[str, object]:
    """A property value as the app stores it (SPEC section 1); ``extra`` overrides/extends.

    A bool ``complete`` becomes the *string* "true"/"false", as the real app sends it; pass a
    string to send something else verbatim.
    """
    is_complete = ("true" if complete else "false") if isinstance(complete, bool) else complete
    value: dict[str, object] = {
        "pending": list(pending),
        "approved": list(approved),
        "rejected": list(rejected),
        "commented": [],
        "status": 1 if is_complete == "true" else 0,
        "isComplete": is_complete,
        "completedAt": completed_at_ms,
        "createdAt": created_at_ms,
        "createdBy": created_by,
        "latestVersionBy": created_by,
        "minimumApprovers": minimum_approvers,
        "minimumRejections": minimum_rejections,
    }
    value.update(extra)
    return value


@dataclass
class Version:
    number: int
    #: None leaves the field out: every field of Version is optional in the OpenAPI description
    created_at: str | None
    author_id: str | None
    minor_edit: bool | None

    def to_json(self) -> dict[str, object]:
        fields: dict[str, object] = {
            "number": self.number,
            "createdAt": self.created_at,
            "message": "",
            "minorEdit": self.minor_edit,
            "authorId": self.author_id,
        }
        return {k: v for k, v in fields.items() if v is not None}


@dataclass
class Property:
    id: str
    key: str
    value: object
    version: int
    #: who wrote this version of the property, and when (the property's own version)
    author_id: str | None
    created_at: str

    def to_json(self) -> dict[str, object]:
        # ContentProperty of the v2 OpenAPI description: its version is a Version object
        # whose authorId is "the account ID of the user who created this version".
        version: dict[str, object] = {
            "number": self.version,
            "createdAt": self.created_at,
            "message": "",
            "minorEdit": False,
        }
        if self.author_id is not None:  # optional in the OpenAPI description
            version["authorId"] = self.author_id
        return {"id": self.id, "key": self.key, "value": self.value, "version": version}


@dataclass
class Page:
    id: str
    title: str
    status: str
    space_id: str
    space_key: str
    versions: dict[int, Version] = field(default_factory=dict)
    properties: dict[str, Property] = field(default_factory=dict)  # by key, insertion order

    def current(self) -> Version:
        return self.versions[max(self.versions)]

    def first(self) -> Version:
        return self.versions[min(self.versions)]


class Site:
    """The site's content, guarded by one lock (configuration is safe while it serves)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pages: dict[str, Page] = {}
        self._users: dict[str, str] = {}
        self._cql: dict[str, list[str]] = {}
        self._groups: dict[str, list[str]] = {}  # name -> member account ids, in join order
        self._unreadable_groups: set[str] = set()
        self._next_property_id = 1_000_000

    def add_page(
        self,
        page_id: str,
        *,
        title: str | None = None,
        status: str = "current",
        version: int = 1,
        version_created_at: str = "2025-07-01T10:00:00.000Z",
        version_author_id: str | None = "acc-author",
        minor_edit: bool = False,
        space_id: str = "98306",
        space_key: str = "ENG",
    ) -> None:
        """Add (or replace, with no history or properties) a page at ``version``."""
        page = Page(page_id, title or f"Page {page_id}", status, space_id, space_key)
        page.versions[version] = Version(version, version_created_at, version_author_id, minor_edit)
        with self._lock:
            self._pages[page_id] = page

    def add_version(
        self,
        page_id: str,
        number: int,
        created_at: str | None,
        author_id: str | None = "acc-author",
        minor_edit: bool | None = False,
    ) -> None:
        """Add a version to the history; the highest number is the page's current version.

        None leaves a field out of the answers (an incomplete history entry)."""
        with self._lock:
            self._pages[page_id].versions[number] = Version(
                number, created_at, author_id, minor_edit
            )

    def add_property(
        self,
        page_id: str,
        key: str,
        value: object,
        *,
        author_id: str | None = APPROVAL_APP_ACCOUNT,
        created_at: str = _PROPERTY_CREATED_AT,
    ) -> None:
        """Set a content property as ``author_id`` (None: Confluence names no author);
        setting an existing key bumps its version, as Confluence does."""
        with self._lock:
            page = self._pages[page_id]
            old = page.properties.get(key)
            if old is None:
                self._next_property_id += 1
                prop_id, number = str(self._next_property_id), 1
            else:
                prop_id, number = old.id, old.version + 1
            page.properties[key] = Property(prop_id, key, value, number, author_id, created_at)

    def set_approval(
        self,
        page_id: str,
        value: dict[str, object],
        key: str = DEFAULT_APPROVAL_KEY,
        *,
        author_id: str | None = APPROVAL_APP_ACCOUNT,
        created_at: str = _PROPERTY_CREATED_AT,
    ) -> None:
        self.add_property(page_id, key, value, author_id=author_id, created_at=created_at)

    def add_user(self, account_id: str, display_name: str) -> None:
        with self._lock:
            self._users[account_id] = display_name

    def add_cql(self, cql: str, page_ids: list[str]) -> None:
        with self._lock:
            self._cql[cql] = list(page_ids)

    def add_group(self, name: str, members: Sequence[str], *, readable: bool = True) -> None:
        """A Confluence group; ``readable=False``: reading its members answers 403."""
        with self._lock:
            self._groups[name] = list(members)
            if readable:
                self._unreadable_groups.discard(name)
            else:
                self._unreadable_groups.add(name)

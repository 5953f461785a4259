"""What the fake Confluence answers: authentication, routing and the REST endpoints.

Response shapes follow the published OpenAPI description of the v2 API (and the v1 content
search for CQL and the v1 group member listing), trimmed to the fields a release gate reads.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .model import Page, Site

_MAX_LIMIT = 250  # v2 list endpoints: OpenAPI "maximum: 250"
_MAX_BULK_IDS = 250  # GET /pages?id=...: OpenAPI "maxItems: 250"
_MAX_BULK_USERS = 100
_PAGE_STATUSES = frozenset({"current", "archived", "deleted", "trashed"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (recorded before auth and faults)."""

    method: str
    path: str  # without the query, still percent-encoded as sent
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    #: time.monotonic() on arrival, to check back-off and Retry-After waits
    received_at: float = field(default_factory=time.monotonic)
    #: the client's TCP port: one port per connection, to check connection reuse
    client_port: int = 0


class _HttpError(Exception):
    """Raised while routing to answer with an error status and JSON payload."""

    def __init__(self, code: int, payload: object) -> None:
        super().__init__(code)
        self.code = code
        self.payload = payload


def _v2_error(code: int, title: str, detail: str | None = None) -> _HttpError:
    api_code = {400: "INVALID_REQUEST_PARAMETER", 404: "NOT_FOUND"}.get(code, "ERROR")
    error = {"status": code, "code": api_code, "title": title, "detail": detail}
    return _HttpError(code, {"errors": [error]})


def _encode_cursor(offset: int) -> str:
    # Opaque to clients, like the real cursors; only this fake decodes it.
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind == "offset" and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _v2_error(400, "Invalid cursor", cursor)


def _v1_listing(
    results: list[Any], start: int, limit: int, links: dict[str, str]
) -> dict[str, object]:
    """A REST v1 list answer (content search, group members): offset paging, not cursors."""
    size = len(results)
    return {"results": results, "start": start, "limit": limit, "size": size, "_links": links}


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _int_param(query: dict[str, list[str]], name: str, default: int, minimum: int) -> int:
    raw = _single(query, name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise _v2_error(400, f"Invalid value for '{name}'", raw)
    return int(raw)


def _split_list(query: dict[str, list[str]], name: str) -> list[str]:
    """``a=1&a=2`` and ``a=1,2`` both mean [1, 2] (the v2 API accepts either)."""
    return [item for value in query.get(name, []) for item in value.split(",") if item]


_PAGE_PATH = re.compile(r"/wiki/api/v2/pages/([^/]+)(/properties|/versions)?")


class SiteApi(Site):
    """The site's REST API: ``_respond`` answers one request from the site's content."""

    #: set by the server: the gateway's path prefix before /wiki ("" for a site), the
    #: site's URL, and what answers give as ``_links.base``
    prefix: str
    url: str
    links_base: str

    def __init__(self) -> None:
        super().__init__()
        self.auth: tuple[str, str] | str | None = None
        self.properties_page_size = 25
        self.versions_page_size = 25  # without a limit
        self.versions_max_page_size = _MAX_LIMIT
        #: the most CQL results per answer whatever ``limit`` asks (v1 search caps it too)
        self.search_page_size = 1000
        #: the real endpoint serves up to 200 members a page; small here to exercise paging
        self.group_members_page_size = 2

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.auth is None:
            return True
        if isinstance(self.auth, str):
            expected = f"Bearer {self.auth}"
        else:
            pair = f"{self.auth[0]}:{self.auth[1]}".encode()
            expected = "Basic " + base64.b64encode(pair).decode()
        given = headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), expected.encode())

    def _respond(self, req: RecordedRequest) -> tuple[int, object, dict[str, str]]:
        """The normal answer: (status, JSON payload, extra headers)."""
        if not self._authorized(req.headers):
            return 401, {"statusCode": 401, "message": "Unauthorized"}, {}
        try:
            with self._lock:
                return self._route(req)
        except _HttpError as error:
            return error.code, error.payload, {}

    def _route(self, req: RecordedRequest) -> tuple[int, object, dict[str, str]]:
        path, query = req.path, req.query
        if self.prefix:
            # The gateway serves only under its prefix; /wiki/... at its root is a 404.
            if not path.startswith(self.prefix + "/"):
                raise _v2_error(404, "Not Found")
            path = path[len(self.prefix) :]
        if req.method == "GET" and path == "/wiki/api/v2/pages":
            return self._get_pages(query)
        if req.method == "POST" and path == "/wiki/api/v2/users-bulk":
            return self._users_bulk(req.body)
        if req.method == "GET" and path == "/wiki/rest/api/content/search":
            return self._cql_search(query)
        if req.method == "GET" and path == "/wiki/rest/api/group/member":
            return self._group_members(query)
        match = _PAGE_PATH.fullmatch(path)
        if req.method == "GET" and match:
            page_id, sub = match.groups()
            if not page_id.isdigit():
                raise _v2_error(400, "Invalid page id", page_id)
            page = self._pages.get(page_id)
            if page is None:
                raise _v2_error(404, "Not Found")
            if sub == "/properties":
                return self._get_properties(page, path, query)
            if sub == "/versions":
                return self._get_versions(page, path, query)
            return 200, self._page_json(page, single=True), {}
        raise _v2_error(404, "Not Found")

    def _page_json(self, page: Page, *, single: bool) -> dict[str, object]:
        slug = quote(page.title.replace(" ", "-"), safe="")
        tiny = int(page.id).to_bytes(8, "little").rstrip(b"\0") or b"\0"
        links = {
            "webui": f"/spaces/{page.space_key}/pages/{page.id}/{slug}",
            "editui": f"/pages/resumedraft.action?draftId={page.id}",
            "tinyui": "/x/" + base64.urlsafe_b64encode(tiny).decode().rstrip("="),
        }
        if single:  # PageSingle carries the base; PageBulk relies on the list's _links.base
            links["base"] = self.links_base
        return {
            "id": page.id,
            "status": page.status,
            "title": page.title,
            "spaceId": page.space_id,
            "parentId": None,
            "authorId": page.first().author_id,
            "createdAt": page.first().created_at,
            "version": page.current().to_json(),
            "_links": links,
        }

    def _paginated(
        self,
        items: list[dict[str, object]],
        path: str,
        query: dict[str, list[str]],
        server_max: int,
        default: int | None = None,
    ) -> tuple[int, object, dict[str, str]]:
        """A v2 list response: one page of ``items``, with a cursor link when more remain.

        ``default``: the page size when the request gives no ``limit`` (else ``server_max``).
        """
        limit = min(_int_param(query, "limit", default or server_max, 1), server_max)
        cursor = _single(query, "cursor")
        offset = _decode_cursor(cursor) if cursor else 0
        links: dict[str, str] = {"base": self.links_base}
        link_header = f'<{self.links_base}>; rel="base"'
        if offset + limit < len(items):
            params = [("cursor", _encode_cursor(offset + limit)), ("limit", str(limit))]
            params += [
                (k, v) for k, vs in query.items() if k not in ("cursor", "limit") for v in vs
            ]
            # Like Confluence Cloud: relative to the origin, starting with the site path.
            links["next"] = f"{path}?{urlencode(params)}"
            link_header = f'<{links["next"]}>; rel="next", {link_header}'
        payload = {"results": items[offset : offset + limit], "_links": links}
        return 200, payload, {"Link": link_header}

    def _get_pages(self, query: dict[str, list[str]]) -> tuple[int, object, dict[str, str]]:
        ids = _split_list(query, "id")
        if len(ids) > _MAX_BULK_IDS:
            raise _v2_error(400, f"At most {_MAX_BULK_IDS} ids are allowed")
        bad = [i for i in ids if not i.isdigit()]
        if bad:
            raise _v2_error(400, "Invalid page id", bad[0])
        statuses = set(_split_list(query, "status")) or {"current", "archived"}
        if not statuses <= _PAGE_STATUSES:
            raise _v2_error(400, "Invalid status", ",".join(sorted(statuses - _PAGE_STATUSES)))
        wanted = list(dict.fromkeys(ids)) if ids else list(self._pages)
        pages = [self._pages[i] for i in wanted if i in self._pages]
        items = [self._page_json(p, single=False) for p in pages if p.status in statuses]
        return self._paginated(items, "/wiki/api/v2/pages", query, _MAX_LIMIT)

    def _get_properties(
        self, page: Page, path: str, query: dict[str, list[str]]
    ) -> tuple[int, object, dict[str, str]]:
        key = _single(query, "key")
        items = [
            prop.to_json() for prop in page.properties.values() if key is None or prop.key == key
        ]
        return self._paginated(items, path, query, self.properties_page_size)

    def _get_versions(
        self, page: Page, path: str, query: dict[str, list[str]]
    ) -> tuple[int, object, dict[str, str]]:
        # GET /pages/{id}/versions: "limit" defaults to 25, at most 250 (OpenAPI description).
        items = [page.versions[n].to_json() for n in sorted(page.versions, reverse=True)]
        return self._paginated(
            items, path, query, self.versions_max_page_size, self.versions_page_size
        )

    def _users_bulk(self, body: bytes) -> tuple[int, object, dict[str, str]]:
        try:
            ids = json.loads(body)["accountIds"]
        except (ValueError, KeyError, TypeError):
            raise _v2_error(400, 'Body must be {"accountIds": [...]}') from None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
            raise _v2_error(400, "accountIds must be a non-empty list of strings")
        if len(ids) > _MAX_BULK_USERS:
            raise _v2_error(400, f"At most {_MAX_BULK_USERS} accountIds are allowed")
        results = [
            {
                "accountId": account_id,
                "accountType": "atlassian",
                "accountStatus": "active",
                "displayName": self._users[account_id],
                "publicName": self._users[account_id],
                "email": "",
                "isExternalCollaborator": False,
            }
            for account_id in dict.fromkeys(ids)
            if account_id in self._users
        ]
        return 200, {"results": results, "_links": {"base": self.links_base}}, {}

    def _cql_search(self, query: dict[str, list[str]]) -> tuple[int, object, dict[str, str]]:
        cql = _single(query, "cql")
        if not cql:
            raise _HttpError(400, {"statusCode": 400, "message": "cql is required"})
        try:
            limit = min(_int_param(query, "limit", 25, 1), self.search_page_size)
            start = _int_param(query, "start", 0, 0)
        except _HttpError as error:  # v1 error shape, not v2's
            raise _HttpError(400, {"statusCode": 400, "message": "bad limit/start"}) from error
        ids = self._cql.get(cql, [])
        results = []
        for page_id in ids[start : start + limit]:
            page = self._pages.get(page_id)
            results.append(
                {
                    "id": page_id,
                    "type": "page",
                    "status": page.status if page else "current",
                    "title": page.title if page else f"Page {page_id}",
                }
            )
        links = {"base": self.links_base, "context": "/wiki"}
        if start + limit < len(ids):
            params = urlencode({"cql": cql, "limit": limit, "start": start + limit})
            # v1 quirk: relative to the SITE base (no /wiki prefix).
            links["next"] = f"/rest/api/content/search?{params}"
        return 200, _v1_listing(results, start, limit, links), {}

    def _group_members(self, query: dict[str, list[str]]) -> tuple[int, object, dict[str, str]]:
        """REST v1 ``GET /wiki/rest/api/group/member?name=&start=&limit=``.

        Shape from Atlassian's Cloud REST v1 reference (Group: "Get group members",
        a UserArray of ``known`` users; limit capped at 200; ``_links.next`` relative
        to the site like every v1 listing) and v1's error body for a missing group.
        """
        name = _single(query, "name")
        if not name:
            raise _HttpError(400, {"statusCode": 400, "message": "name is required"})
        if name not in self._groups:
            raise _HttpError(
                404,
                {
                    "statusCode": 404,
                    "data": {"authorized": False, "valid": True, "errors": [], "successful": False},
                    "message": f"com.atlassian.confluence.api.service.exceptions."
                    f"NotFoundException: No group found with name : {name}",
                },
            )
        if name in self._unreadable_groups:
            raise _HttpError(
                403,
                {"statusCode": 403, "message": "Could not read the members of the group"},
            )
        try:
            limit = min(_int_param(query, "limit", 200, 1), 200, self.group_members_page_size)
            start = _int_param(query, "start", 0, 0)
        except _HttpError as error:
            raise _HttpError(400, {"statusCode": 400, "message": "bad limit/start"}) from error
        members = self._groups[name]
        results = [
            {
                "type": "known",
                "accountId": account_id,
                "accountType": "atlassian",
                "email": "",
                "publicName": self._users.get(account_id, account_id),
                "displayName": self._users.get(account_id, account_id),
                "profilePicture": {
                    "path": "/wiki/aa-avatar/default.png",
                    "width": 48,
                    "height": 48,
                    "isDefault": True,
                },
                "isExternalCollaborator": False,
                "_links": {"self": f"{self.url}/rest/api/user?accountId={account_id}"},
            }
            for account_id in members[start : start + limit]
        ]
        links = {
            "base": self.links_base,
            "context": "/wiki",
            "self": f"{self.url}/rest/api/group/member?{urlencode({'name': name})}",
        }
        if start + limit < len(members):
            params = urlencode({"name": name, "start": start + limit, "limit": limit})
            links["next"] = f"/rest/api/group/member?{params}"  # v1: relative to the site
        return 200, _v1_listing(results, start, limit, links), {}

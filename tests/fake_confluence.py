"""A small in-process fake of the Confluence Cloud REST API, for tests.

Standard library only: a ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) served by a
daemon thread. It speaks HTTP/1.1 with keep-alive and exact ``Content-Length`` so that a
client's connection pool really reuses connections, records every request it receives, and
can be told to misbehave per path (``FakeConfluence.fault``) the ways a real site, a proxy or
the network do: error statuses, rate limiting, resets, hangs, HTML login pages, broken or
oversized JSON, redirects and hostile pagination links.

Response shapes follow the published OpenAPI description of the v2 API (and the v1 content
search for CQL and the v1 group member listing), trimmed to the fields a release gate reads.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

__all__ = [
    "APPROVAL_APP_ACCOUNT",
    "APPROVAL_APP_NAME",
    "CannedResponse",
    "Chunked",
    "FakeConfluence",
    "Fault",
    "Hang",
    "NextLink",
    "NoContentType",
    "Oversized",
    "RecordedRequest",
    "ResetConnection",
    "Rewrite",
    "SlowHeaders",
    "Trickle",
    "approval_value",
    "chunked",
    "hang",
    "html_login",
    "json_body",
    "malformed_json",
    "next_link",
    "no_content_type",
    "oversized",
    "redirect",
    "reset",
    "retry_after",
    "rewrite",
    "running_fake_confluence",
    "slow_headers",
    "status",
    "trickle",
]

JSON_TYPE = "application/json;charset=UTF-8"
DEFAULT_APPROVAL_KEY = "njyzjq_capable_approval"
#: The account the Capable Approval app writes its content property as (an app's
#: account id has the same shape as a person's). Tests name it in approval_writers.
APPROVAL_APP_ACCOUNT = "557058:0a0a0a0a-c0de-4a99-8a77-capableapprov"
APPROVAL_APP_NAME = "Capable Approval"
# When the property was written, unless a test says otherwise.
_PROPERTY_CREATED_AT = "2025-07-15T10:33:14.000Z"
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


# --- faults -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """Base class of the ways a matching request can be mishandled."""


@dataclass(frozen=True)
class CannedResponse(Fault):
    """Answer with exactly this instead of the real response."""

    code: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ResetConnection(Fault):
    """Read the request, then drop the TCP connection with an RST and no response."""


@dataclass(frozen=True)
class Hang(Fault):
    """Wait this long, then answer normally (to trip client read timeouts)."""

    seconds: float


@dataclass(frozen=True)
class Oversized(Fault):
    """200 JSON whose body is ``n_bytes`` long and never closes its brackets."""

    n_bytes: int


@dataclass(frozen=True)
class Trickle(Fault):
    """Answer normally, but send the body ``bytes_per_second`` bytes at a time, once a second.

    What a congested link or a hostile server does to a client that only bounds each
    read: every read succeeds, so no read timeout ever fires.
    """

    bytes_per_second: int = 2


@dataclass(frozen=True)
class SlowHeaders(Fault):
    """Answer normally, but after the status line send the headers one byte every ``interval``.

    What a hostile server (or a proxy in between) does to a client that bounds each
    read: every read brings a byte, so no read timeout fires while the headers last.
    """

    interval: float = 0.1


@dataclass(frozen=True)
class Chunked(Fault):
    """Answer normally, with ``Transfer-Encoding: chunked`` and no Content-Length.

    ``pad_to``: first pad the JSON with spaces to this many bytes (an oversized body a
    client cannot refuse from its headers); ``chunk``: bytes per HTTP chunk.
    """

    pad_to: int = 0
    chunk: int = 1000


@dataclass(frozen=True)
class NoContentType(Fault):
    """Answer normally, without a Content-Type header."""


@dataclass(frozen=True)
class Rewrite(Fault):
    """Answer normally, but pass the JSON payload through ``change`` first (it may edit
    the payload in place): a site that sends what its OpenAPI description allows but
    this fake would not, or a hostile one."""

    change: Callable[[Any], None]


@dataclass(frozen=True)
class RewriteText(Fault):
    """Answer normally, but pass the JSON text through ``change`` first: what no JSON
    encoder writes, such as the bare tokens ``NaN`` or ``Infinity`` (Python's json reads
    and writes them, no JSON reader should), as a hostile or broken server or proxy sends
    it. Confluence itself writes RFC 8259 JSON."""

    change: Callable[[str], str]


@dataclass(frozen=True)
class NextLink(Fault):
    """Answer normally, but point ``_links.next`` and the Link header at ``url``."""

    url: str


def status(
    code: int,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b'{"message":"boom"}',
    content_type: str = "application/json",
) -> CannedResponse:
    return CannedResponse(code, body, content_type, tuple((headers or {}).items()))


def retry_after(when: int | str, code: int = 429) -> CannedResponse:
    """A rate-limit (or overload) answer saying when to come back.

    ``when``: seconds, as Atlassian Cloud sends them (developer.atlassian.com, "Rate
    limiting"), or any text: RFC 9110 (section 10.2.3) also allows an HTTP date, which a
    proxy in front of the site, or a hostile server, may send, off the calendar too.
    """
    return status(
        code, headers={"Retry-After": str(when)}, body=b'{"message":"Rate limit exceeded"}'
    )


def reset() -> ResetConnection:
    return ResetConnection()


def hang(seconds: float) -> Hang:
    return Hang(seconds)


_LOGIN_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Log in with Atlassian account</title></head>
<body><div id="root"><form id="form-login" method="post" action="/login">
<input id="username" name="username" type="email" placeholder="Enter email">
<button id="login-submit" type="submit">Continue</button>
</form></div></body></html>
"""


def html_login() -> CannedResponse:
    """What an SSO proxy in front of the site answers: 200, but an HTML login form."""
    return status(200, body=_LOGIN_PAGE, content_type="text/html;charset=UTF-8")


def malformed_json() -> CannedResponse:
    return status(
        200, body=b'{"results": [{"id": "1", "key": "njyzjq_capable_appro', content_type=JSON_TYPE
    )


def json_body(obj: object, code: int = 200) -> CannedResponse:
    return status(code, body=json.dumps(obj).encode(), content_type=JSON_TYPE)


def redirect(location: str, code: int = 302) -> CannedResponse:
    return status(code, headers={"Location": location}, body=b"", content_type="text/plain")


def oversized(n_bytes: int) -> Oversized:
    return Oversized(n_bytes)


def next_link(url: str) -> NextLink:
    return NextLink(url)


def rewrite(change: Callable[[Any], None]) -> Rewrite:
    return Rewrite(change)


def rewrite_text(change: Callable[[str], str]) -> RewriteText:
    return RewriteText(change)


def trickle(bytes_per_second: int = 2) -> Trickle:
    return Trickle(bytes_per_second)


def slow_headers(interval: float = 0.1) -> SlowHeaders:
    return SlowHeaders(interval)


def chunked(pad_to: int = 0, chunk: int = 1000) -> Chunked:
    return Chunked(pad_to, chunk)


def no_content_type() -> NoContentType:
    return NoContentType()


# --- the Capable Approval property value ---------------------------------------------------


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


# --- site state ----------------------------------------------------------------------------


@dataclass
class _Version:
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
class _Property:
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
class _Page:
    id: str
    title: str
    status: str
    space_id: str
    space_key: str
    versions: dict[int, _Version] = field(default_factory=dict)
    properties: dict[str, _Property] = field(default_factory=dict)  # by key, insertion order

    def current(self) -> _Version:
        return self.versions[max(self.versions)]

    def first(self) -> _Version:
        return self.versions[min(self.versions)]


@dataclass
class _FaultRule:
    pattern: str
    fault: Fault
    remaining: int | None


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


def _path_matches(pattern: str, path: str) -> bool:
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern


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


class FakeConfluence:
    """A fake Confluence Cloud site at ``url`` (``http://127.0.0.1:PORT/wiki``).

    Configure it with ``add_*``/``set_approval``/``fault`` (safe while it serves), then
    point a client at ``url``. Use ``running_fake_confluence()`` or ``with FakeConfluence()``.
    """

    def __init__(
        self, tls: ssl.SSLContext | None = None, *, gateway_cloud_id: str | None = None
    ) -> None:
        """``tls``: a server-side context to serve https instead of http.

        ``gateway_cloud_id``: answer as Atlassian's API gateway does for that cloud id
        (the base URL for scoped API tokens and OAuth 2.0): the API lives under
        ``/ex/confluence/{cloudId}/wiki``; ``next`` links are written without that prefix
        (``/wiki/api/v2/...``, v1: ``/rest/api/...``) and ``_links.base`` is the site
        itself (``https://acme.atlassian.net/wiki``), as observed on api.atlassian.com
        (see atlassian-python-api #1655, confluence-publisher #531).
        """
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._pages: dict[str, _Page] = {}
        self._users: dict[str, str] = {}
        self._cql: dict[str, list[str]] = {}
        self._groups: dict[str, list[str]] = {}  # name -> member account ids, in join order
        self._unreadable_groups: set[str] = set()
        self._faults: list[_FaultRule] = []
        self._open_sockets: set[socket.socket] = set()
        self._next_property_id = 1_000_000
        self._thread: threading.Thread | None = None
        self._watchers: list[tuple[str, int, Callable[[], None]]] = []

        self.requests: list[RecordedRequest] = []
        #: called with each request as it arrives, before it is answered (to change the
        #: site at an exact point of a run, instead of after a guessed delay)
        self.on_request: Callable[[RecordedRequest], None] | None = None
        self.latency = 0.0
        #: Requests the site serves at once; beyond it, 429 with Retry-After (None: no limit).
        #: Atlassian Cloud rate-limits bursts with HTTP 429 and always says when to come back
        #: in Retry-After (developer.atlassian.com, "Rate limiting"); a limit on requests in
        #: flight is the simplest such budget that a client's concurrency can overrun.
        self.max_in_flight: int | None = None
        #: the Retry-After (seconds) of those 429s
        self.limit_retry_after = 1
        #: Send X-RateLimit-NearLimit: true once this many requests are in flight (None:
        #: never). Atlassian sends it when less than 20% of a budget is left.
        self.near_limit_at: int | None = None
        #: requests refused for max_in_flight, and the most ever admitted at once
        self.refused = 0
        self.peak_in_flight = 0
        self._in_flight = 0
        self.auth: tuple[str, str] | str | None = None
        self.properties_page_size = 25
        self.versions_page_size = 25  # without a limit
        self.versions_max_page_size = _MAX_LIMIT
        #: the most CQL results per answer whatever ``limit`` asks (v1 search caps it too)
        self.search_page_size = 1000
        #: the real endpoint serves up to 200 members a page; small here to exercise paging
        self.group_members_page_size = 2

        self._server = _Server(self)
        port = self._server.server_address[1]
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.origin = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        #: the gateway's path prefix before /wiki ("" for a site)
        self.prefix = f"/ex/confluence/{gateway_cloud_id}" if gateway_cloud_id else ""
        self.url = f"{self.origin}{self.prefix}/wiki"
        #: what answers give as ``_links.base``: the site's own URL, also via the gateway
        self.links_base = "https://acme.atlassian.net/wiki" if gateway_cloud_id else self.url

    # -- lifecycle --

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # keeps shutdown() quick
            name=f"fake-confluence-{self.origin}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and drop every open connection, including hanging ones."""
        self._stopping.set()  # wakes handlers sleeping in latency/hang
        if self._thread is not None:
            self._server.shutdown()
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            # shutdown() (not close()) wakes a handler blocked reading a keep-alive
            # connection; the handler then closes its socket itself.
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None

    def __enter__(self) -> FakeConfluence:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- configuration --

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
        page = _Page(page_id, title or f"Page {page_id}", status, space_id, space_key)
        page.versions[version] = _Version(
            version, version_created_at, version_author_id, minor_edit
        )
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
            self._pages[page_id].versions[number] = _Version(
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
            page.properties[key] = _Property(prop_id, key, value, number, author_id, created_at)

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

    def fault(self, path: str, fault: Fault, times: int | None = None) -> None:
        """Mishandle requests to ``path`` (exact, or a prefix ending in "*").

        The first ``times`` matching requests get the fault (None: all of them). Rules are
        tried in the order added; the first live match wins.
        """
        with self._lock:
            self._faults.append(_FaultRule(path, fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def when(self, path: str, n: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in the serving thread) once the ``n``-th request to ``path``
        (exact, or a prefix ending in "*") has been received, before it is answered."""
        with self._lock:
            self._watchers.append((path, n, callback))

    def wait_for(self, path: str, n: int = 1, timeout: float = 30.0) -> bool:
        """Block until ``n`` requests to ``path`` have been received (False on timeout)."""
        arrived = threading.Event()
        with self._lock:
            if self.count(path) >= n:
                return True
            self._watchers.append((path, n, arrived.set))
        return arrived.wait(timeout)

    def count(self, path: str) -> int:
        """How many recorded requests match ``path`` (exact, or a prefix ending in "*")."""
        with self._lock:
            return sum(1 for r in self.requests if _path_matches(path, r.path))

    # -- used by the request handler --

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            due = [
                w
                for w in self._watchers
                if _path_matches(w[0], request.path) and self.count(w[0]) == w[1]
            ]
            hook = self.on_request
        if hook is not None:
            hook(request)
        for _, _, callback in due:
            callback()

    def _admit(self) -> tuple[bool, bool]:
        """(admitted under max_in_flight, near the limit); admitted requests must _leave()."""
        with self._lock:
            if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
                self.refused += 1
                return False, True
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            near = self.near_limit_at is not None and self._in_flight >= self.near_limit_at
            return True, near

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _track(self, sock: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._open_sockets.add(sock)
            else:
                self._open_sockets.discard(sock)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for rule in self._faults:
                if _path_matches(rule.pattern, path) and rule.remaining != 0:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.fault
        return None

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

    def _page_json(self, page: _Page, *, single: bool) -> dict[str, object]:
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
        self, page: _Page, path: str, query: dict[str, list[str]]
    ) -> tuple[int, object, dict[str, str]]:
        key = _single(query, "key")
        items = [
            prop.to_json() for prop in page.properties.values() if key is None or prop.key == key
        ]
        return self._paginated(items, path, query, self.properties_page_size)

    def _get_versions(
        self, page: _Page, path: str, query: dict[str, list[str]]
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


# --- HTTP plumbing -------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still running must never keep the process alive
    # socketserver's default listen backlog is 5: 32 clients connecting at once then wait
    # for SYN retransmits (1 s, then 2 s), and the fake, not the client, sets the pace.
    # A real site's load balancer accepts far more; 128 is Linux's historical SOMAXCONN.
    request_queue_size = 128

    def __init__(self, fake: FakeConfluence) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # Clients that time out, hang up mid-body, or a stop() tearing a connection down
        # are expected here; anything else is a bug in the fake and worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
    # Headers and body go out in separate writes; with Nagle's algorithm the body then
    # waits for the client's delayed ACK, adding ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, open_=False)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            while self.rfile.readline().strip():
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        req = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
            client_port=self.client_address[1],
        )
        fake._record(req)
        admitted, near_limit = fake._admit()
        try:
            self._answer(fake, req, admitted, near_limit)
        finally:
            if admitted:
                fake._leave()

    def _answer(
        self, fake: FakeConfluence, req: RecordedRequest, admitted: bool, near_limit: bool
    ) -> None:
        # The latency is the distance to the site: a refusal travels it too.
        if fake.latency > 0:
            fake._sleep(fake.latency)
        if not admitted:
            body = b'{"message":"Rate limit exceeded"}'
            headers = {"Retry-After": str(fake.limit_retry_after)}
            self._send(429, body, JSON_TYPE, headers)
            return

        fault = fake._take_fault(req.path)
        if isinstance(fault, ResetConnection):
            self._reset()
            return
        if isinstance(fault, CannedResponse):
            self._send(fault.code, fault.body, fault.content_type, dict(fault.headers))
            return
        if isinstance(fault, Oversized):
            self._send_oversized(fault.n_bytes)
            return
        if isinstance(fault, Hang):
            fake._sleep(fault.seconds)
        if fake._stopping.is_set():
            self.close_connection = True  # stop() cut the wait short: hang up, don't answer
            return

        code, payload, headers = fake._respond(req)
        if near_limit:
            headers["X-RateLimit-NearLimit"] = "true"
        if isinstance(fault, Rewrite) and code == 200:
            fault.change(payload)
        if isinstance(fault, NextLink) and code == 200 and isinstance(payload, dict):
            payload.setdefault("_links", {})["next"] = fault.url
            headers["Link"] = f'<{fault.url}>; rel="next", <{fake.links_base}>; rel="base"'
        text = json.dumps(payload)
        if isinstance(fault, RewriteText) and code == 200:
            text = fault.change(text)
        body = text.encode()
        if isinstance(fault, Trickle):
            self._send_trickle(code, body, headers, fault.bytes_per_second)
        elif isinstance(fault, SlowHeaders):
            self._send_slow_headers(code, body, headers, fault.interval)
        elif isinstance(fault, Chunked):
            self._send_chunked(code, body.ljust(fault.pad_to), headers, fault.chunk)
        else:
            content_type = None if isinstance(fault, NoContentType) else JSON_TYPE
            self._send(code, body, content_type, headers)

    def _send(
        self, code: int, body: bytes, content_type: str | None, headers: dict[str, str]
    ) -> None:
        self.send_response(code)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_trickle(
        self, code: int, body: bytes, headers: dict[str, str], per_second: int
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", JSON_TYPE)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        fake = self.server.fake
        for start in range(0, len(body), per_second):
            self.wfile.write(body[start : start + per_second])
            self.wfile.flush()
            if fake._stopping.wait(1.0):
                break
        self.close_connection = True

    def _send_slow_headers(
        self, code: int, body: bytes, headers: dict[str, str], interval: float
    ) -> None:
        fields = {"Content-Type": JSON_TYPE, **headers, "Content-Length": str(len(body))}
        self.wfile.write(f"{self.protocol_version} {code} OK\r\n".encode("latin-1"))
        head = "".join(f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
        stopping = self.server.fake._stopping
        for byte in head.encode("latin-1"):
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if stopping.wait(interval):
                break
        else:
            self.wfile.write(body)
        self.close_connection = True

    def _send_chunked(self, code: int, body: bytes, headers: dict[str, str], size: int) -> None:
        self.send_response(code)
        self.send_header("Content-Type", JSON_TYPE)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stopping = self.server.fake._stopping
        for start in range(0, len(body), size):
            if stopping.is_set():
                break
            part = body[start : start + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN, so the client
        # sees ECONNRESET (or RemoteDisconnected), never a clean end of a response.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.rfile.close()  # drop the makefile() reference so close() really closes the fd
        self.connection.close()

    def _send_oversized(self, n_bytes: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(n_bytes))
        self.end_headers()
        # Stream in chunks so a huge body costs the fake no memory; the client is expected
        # to give up early, which ends here as a broken pipe (ignored by handle_error).
        head = b'{"results": ['[:n_bytes]
        self.wfile.write(head)
        remaining = n_bytes - len(head)
        chunk = b" " * 65536
        while remaining > 0 and not self.server.fake._stopping.is_set():
            part = chunk[: min(remaining, len(chunk))]
            self.wfile.write(part)
            remaining -= len(part)
        self.close_connection = True


@contextmanager
def running_fake_confluence(tls: ssl.SSLContext | None = None) -> Iterator[FakeConfluence]:
    """A started fake; stopped (all connections dropped) on exit."""
    fake = FakeConfluence(tls)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()

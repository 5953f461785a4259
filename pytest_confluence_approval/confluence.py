"""The HTTP layer: one pooled session, auth, retries, pagination, fail-closed parsing.

Every way a request can go wrong ends in a :class:`ConfluenceError` whose message
says what happened and what to check. Nothing here ever returns data it does not
trust: non-JSON bodies, oversized bodies, redirects and pagination links that
leave the configured site are all errors.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url
from urllib3.util.retry import Retry

from . import TOOL_NAME, __version__
from .deadline import Deadline as Deadline
from .deadline import MemoryBudget as MemoryBudget
from .errors import ConfigurationError as ConfigurationError
from .errors import ConfluenceError as ConfluenceError
from .errors import Interrupted as Interrupted
from .errors import RetryBudgetExceeded as RetryBudgetExceeded
from .pace import Answer, Pace, Ticket
from .pageids import is_page_id
from .settings import DEFAULT_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT
from .site import AuthKind as AuthKind
from .site import Credentials as Credentials
from .site import normalize_site as normalize_site
from .site import unsafe_url_reason as unsafe_url_reason
from .strict_json import NonFiniteNumber
from .strict_json import loads as strict_json_loads

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self
    from urllib3.response import BaseHTTPResponse

#: Statuses worth another try: rate limiting and the gateway errors of a busy site.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Statuses that tell the gate to slow down (rate limited, overloaded): see pace.py.
PUSH_BACK_STATUSES = frozenset({429, 503})
#: A body larger than this is refused: no approval answer is anywhere near it.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Following more pages than this means the server is looping or misbehaving.
MAX_PAGES_PER_LISTING = 1000
#: All pages of one listing together (a page's properties or versions, a CQL query, a
#: group's members): far above any real one, far below what 1,000 pages x 10 MB could hold.
MAX_LISTING_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 5
#: A JSON escape of a UTF-16 surrogate: paired ones are fine, lone ones are not Unicode.
_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: JSON deeper than this is refused. Parsed in a fetch thread (a shallow stack), JSON
#: nested nearly as deep as Python's recursion limit was read, then raised RecursionError
#: where the main thread, deeper in the stack, encoded it for --confluence-record. Nothing
#: Confluence or the approval app sends nests more than a dozen levels.
MAX_JSON_DEPTH = 100
#: GET /api/v2/pages takes at most this many ids (and returns as many per page).
PAGES_PER_BATCH = 250
#: Every status the v2 API can filter on: a gate must see archived and trashed pages too.
PAGE_STATUSES = ("current", "archived", "trashed", "deleted")
#: POST /api/v2/users-bulk takes at most this many account ids per request.
USERS_PER_BULK_REQUEST = 100
#: Body reads go in pieces this small, so the deadline is checked often on a slow body.
READ_CHUNK_BYTES = 64 * 1024
#: GET /rest/api/group/member answers at most 200 users per page (Atlassian's REST v1 docs).
GROUP_MEMBERS_PER_PAGE = 200
#: The scope a scoped API token or OAuth 2.0 app needs to read group members.
GROUP_SCOPE = "read:group:confluence"


class SharedBackoff:
    """One pause for the whole fetch.

    When Confluence answers 429, every worker waits it out, not only the one that
    was told: hammering a rate-limited site only extends the limit (Atlassian's
    guidance for Cloud rate limits). A wait that would run past the deadline fails
    at once instead of sleeping.
    """

    def __init__(self, deadline: Deadline) -> None:
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self.deadline = deadline

    def __repr__(self) -> str:
        return f"<SharedBackoff resume_at={self._resume_at:.3f}>"

    def pause_for(self, seconds: float, why: str) -> None:
        self.deadline.ensure_time_for(seconds, why)
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._resume_at - time.monotonic()
            if remaining <= 0:
                return
            self.deadline.sleep(remaining)


def _rate_limit_delay(attempt: int, factor: float, maximum: float) -> float:
    """Atlassian's advice for a 429 without Retry-After: exponential back-off with jitter.

    ``attempt`` counts from 1; the delay doubles each time (at least 1 s for the
    first), capped at ``maximum``, then spread by +-30 % so workers do not retry in step.
    """
    base = min(maximum, max(1.0, factor * 2.0**attempt))
    spread: float = random.uniform(0.7, 1.3)  # noqa: S311 (timing, not secrets)
    return base * spread


def pace_answer(status: int, headers: Mapping[str, str]) -> Answer:
    """What an answer says about the pace: a push-back, or a clean answer.

    Atlassian sends ``X-RateLimit-NearLimit: true`` when less than 20% of a rate-limit
    budget is left: slowing down then avoids the 429s that would follow.
    """
    if status in PUSH_BACK_STATUSES:
        return Answer.PUSH_BACK
    if headers.get("X-RateLimit-NearLimit", "").strip().lower() == "true":
        return Answer.PUSH_BACK
    return Answer.CLEAN


class PaceSlots:
    """The pace of one client, and the slot each of its worker threads holds.

    urllib3 retries a 429 or 503 inside ``session.request``, in the thread that sent it;
    the thread's ticket lets the retry tell the pace about the push-back at once.
    """

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self._held = threading.local()

    def acquire(self) -> None:
        self._held.ticket = self.pace.acquire()

    def push_back(self) -> None:
        ticket: Ticket | None = getattr(self._held, "ticket", None)
        if ticket is not None:
            self.pace.push_back(ticket)

    def requeue(self, *, resend: bool) -> None:
        """Wait for a slot under the current limit (see Pace.requeue)."""
        ticket: Ticket | None = getattr(self._held, "ticket", None)
        if ticket is not None:
            self._held.ticket = self.pace.requeue(ticket, resend=resend)

    def release(self, answer: Answer) -> None:
        ticket: Ticket | None = getattr(self._held, "ticket", None)
        if ticket is not None:
            self._held.ticket = None
            self.pace.release(ticket, answer)


class SharedRetry(Retry):
    """urllib3's Retry through its public hooks only (``new``, ``increment``, ``sleep``).

    Waits for a 429 are shared by all threads through a SharedBackoff; every wait
    respects the run's deadline and wakes on an interrupt; a host name that does not
    resolve or a refused connection is not retried (waiting does not fix either).
    """

    shared: SharedBackoff
    slots: PaceSlots | None = None

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.shared = self.shared
        retry.slots = self.slots
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        deadline = self.shared.deadline
        if deadline.cancelled:
            raise Interrupted("interrupted")
        if error is not None and _kind_of(error) in ("dns", "refused"):
            raise urllib3.exceptions.MaxRetryError(_pool, url or "", error) from error
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        # A retried push-back slows every worker down now; the last answer, retried or
        # not, is told to the pace when the slot is released (ConfluenceClient._send).
        if (
            response is not None
            and self.slots is not None
            and pace_answer(response.status, response.headers) is Answer.PUSH_BACK
        ):
            self.slots.push_back()
        # A hanging server costs timeout x attempts; the deadline caps the sum.
        deadline.ensure_time_for(0.001, "Confluence has not answered yet")
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        seconds = self._retry_after(response)
        if seconds is not None:
            self.shared.pause_for(
                seconds, f"Confluence asked to wait {seconds:g} s before retrying (Retry-After)"
            )
        if seconds is None and response is not None and response.status == 429:
            seconds = _rate_limit_delay(len(self.history), self.backoff_factor, self.backoff_max)
            self.shared.pause_for(
                seconds, f"Confluence is rate-limiting; the next retry is due in {seconds:.1f} s"
            )
        if seconds is None:
            seconds = self.get_backoff_time()
            self.shared.deadline.ensure_time_for(seconds, f"the next retry is due in {seconds:g} s")
            self.shared.deadline.sleep(seconds)
        self.shared.wait()
        if self.slots is not None:
            self.slots.requeue(resend=True)  # the retry goes out under the current limit

    def _retry_after(self, response: BaseHTTPResponse | None) -> float | None:
        """The wait Retry-After asks for, or None: absent, or unreadable.

        Read as absent (the usual back-off follows) when it cannot be read: not a number
        nor a date, a date off the calendar (``Fri, 31 Dec 99999 ...``: ValueError), more
        digits than Python converts (ValueError) or more seconds than a float holds
        (OverflowError). Raised here, any of them ended the pytest run with urllib3's
        frames, and the request's headers among their arguments, in the traceback.
        """
        if response is None or not self.respect_retry_after_header:
            return None
        try:
            seconds = self.get_retry_after(response)
            return None if seconds is None else float(seconds)
        except (urllib3.exceptions.InvalidHeader, ValueError, OverflowError):
            return None


class DeadlineTimeout(urllib3.Timeout):
    """A per-attempt timeout trimmed to what is left of the deadline.

    urllib3 clones the timeout for every attempt, retries included, so trimming in
    clone() keeps the last retry from running past the deadline by a whole timeout.
    """

    def __init__(self, seconds: float, deadline: Deadline) -> None:
        self.seconds = seconds
        self.deadline = deadline
        trimmed = deadline.trim(seconds)
        super().__init__(connect=trimmed, read=trimmed)

    def clone(self) -> DeadlineTimeout:
        return DeadlineTimeout(self.seconds, self.deadline)


def _tracking_adapter(deadline: Deadline, retry: Retry, concurrency: int) -> HTTPAdapter:
    """An adapter whose connections register their sockets with the run's deadline.

    urllib3's public extension points: a pool's ``ConnectionCls`` and a pool
    manager's ``pool_classes_by_scheme``; tests/test_confluence.py fails loudly if
    either stops taking effect.
    """

    class TrackedHTTPConnection(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            deadline.track(self.sock)

        def close(self) -> None:
            deadline.untrack(getattr(self, "sock", None))
            super().close()

    # TLS included: in this order, TrackedHTTPConnection's super() is HTTPSConnection.
    class TrackedHTTPSConnection(TrackedHTTPConnection, HTTPSConnection):
        pass

    class TrackedHTTPPool(HTTPConnectionPool):
        ConnectionCls = TrackedHTTPConnection

    class TrackedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = TrackedHTTPSConnection

    class TrackingAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": TrackedHTTPPool,
                "https": TrackedHTTPSPool,
            }

    return TrackingAdapter(pool_connections=1, pool_maxsize=max(1, concurrency), max_retries=retry)


Params = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class _Reply:
    """An answer, read: no object of the HTTP stack outlives ConfluenceClient._exchange."""

    body: Any
    #: the body's size in bytes
    size: int
    #: where the answer came from (after redirects), for relative links
    url: str
    #: the Link header's rel="next", if any
    link_next: str | None


class _Auth(requests.auth.AuthBase):
    """Sets the Authorization header; an explicit auth also stops requests reading ~/.netrc."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._credentials.kind}>"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        c = self._credentials
        if c.kind == "basic" and c.username is not None and c.secret is not None:
            pair = f"{c.username}:{c.secret}".encode()
            r.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        elif c.kind == "bearer":
            r.headers["Authorization"] = f"Bearer {c.secret}"
        return r


_DEFAULT_PORTS = {"http": 80, "https": 443}
#: The path of a base URL on Atlassian's API gateway (scoped API tokens, OAuth 2.0).
_GATEWAY_PATH = re.compile(r"/ex/confluence/[^/]+/wiki")


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) exactly as urllib3 will connect for this URL."""
    try:
        parsed = parse_url(url)
    except urllib3.exceptions.LocationParseError:
        return "", "", None
    scheme = (parsed.scheme or "").lower()
    return scheme, (parsed.host or "").lower(), parsed.port or _DEFAULT_PORTS.get(scheme)


def _same_origin(url: str, origin: tuple[str, str, int | None]) -> bool:
    return unsafe_url_reason(url) is None and origin_of(url) == origin


class ConfluenceClient:
    """A small client for the few read-only calls the gate needs.

    One ``requests.Session`` is shared by all worker threads: its connection
    pool is sized to the concurrency ceiling so connections are reused, not reopened.
    How many requests are in flight below that ceiling is ``pace``'s to find.
    """

    def __init__(
        self,
        site: str,
        credentials: Credentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        concurrency: int = DEFAULT_CONCURRENCY,
        backoff_factor: float = 0.5,
        deadline: Deadline | float | None = None,
        budget: MemoryBudget | None = None,
    ) -> None:
        """``deadline``: the run's Deadline (or seconds from now) after which nothing is sent;
        ``budget``: the run's MemoryBudget (None: a budget of this client's own)."""
        self.site = site
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self._origin = origin_of(site)
        self._base_path = urlsplit(site).path.rstrip("/")
        #: the site's own base URL for links a person can open, from the answers' _links.base
        #: (through Atlassian's API gateway it differs from ``site``)
        self.human_base: str | None = None
        self.deadline = deadline if isinstance(deadline, Deadline) else Deadline(deadline)
        self.budget = budget if budget is not None else MemoryBudget()
        self._weighed_lock = threading.Lock()
        #: what this client's answers weighed (parse_weight), spent from the budget
        self.weighed = 0
        self.session = requests.Session()
        self.session.auth = _Auth(credentials)
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = f"{TOOL_NAME}/{__version__}"
        self.backoff = SharedBackoff(self.deadline)
        retry = SharedRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=0,
            status_forcelist=RETRY_STATUSES,
            # Everything the gate sends is a read (users-bulk is a POST that reads).
            allowed_methods=frozenset({"GET", "POST"}),
            backoff_factor=backoff_factor,
            backoff_max=30,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        retry.shared = self.backoff
        self.pace = Pace(max(1, concurrency))
        self._slots = retry.slots = PaceSlots(self.pace)
        adapter = _tracking_adapter(self.deadline, retry, concurrency)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"<ConfluenceClient {self.site} auth={self.credentials.kind}>"

    def close(self) -> None:
        self.session.close()

    # -- the calls -----------------------------------------------------------

    def get_page(self, page_id: str) -> Any:
        _check_page_id(page_id)
        return self.get_json(f"{self.site}/api/v2/pages/{page_id}", what=f"page {page_id}")

    def get_pages(self, page_ids: Sequence[str]) -> list[Any]:
        """Up to 250 pages in one request, in every status, so trashed pages are seen too.

        Pages the site does not return are simply absent (missing, or hidden from
        this account); the caller asks for those one by one to learn which.
        """
        if not 0 < len(page_ids) <= PAGES_PER_BATCH:
            raise ValueError(f"between 1 and {PAGES_PER_BATCH} page ids per batch")
        for page_id in page_ids:
            _check_page_id(page_id)
        try:
            return self._get_pages(page_ids)
        except ConfluenceError as exc:
            if exc.status != 404:
                raise
            # Confluence Cloud answers the listing with the pages it has (maybe none),
            # never 404: a 404 means no REST v2 API at this address.
            raise ConfluenceError(
                f"{_origin_text(self.site)} has no Confluence Cloud REST v2 API at "
                f"{self.site}/api/v2/pages (HTTP 404): check the site URL (Cloud: "
                "https://<site>.atlassian.net/wiki); Confluence Data Center and Server "
                "do not have this API and are not supported",
                404,
            ) from None

    def _get_pages(self, page_ids: Sequence[str]) -> list[Any]:
        return list(
            self.paginate(
                f"{self.site}/api/v2/pages",
                {
                    "id": ",".join(page_ids),
                    "status": list(PAGE_STATUSES),
                    "limit": str(PAGES_PER_BATCH),
                },
                base_into_results=True,
                what=f"page {page_ids[0]}"
                if len(page_ids) == 1
                else f"a batch of {len(page_ids)} pages",
            )
        )

    def get_properties(self, page_id: str, key: str | None = None) -> list[Any]:
        _check_page_id(page_id)
        params = {"key": key} if key else {"limit": "250"}
        listing = self.paginate(
            f"{self.site}/api/v2/pages/{page_id}/properties",
            params,
            what=f"the properties of page {page_id}",
        )
        # A property without a key cannot be the approval (nor tell which one is): it is
        # skipped, so it cannot make the page's other properties unreadable.
        return [p for p in listing if isinstance(p, dict) and isinstance(p.get("key"), str)]

    def get_versions(self, page_id: str) -> list[Any]:
        """The page's version history, newest first."""
        _check_page_id(page_id)
        return list(
            self.paginate(
                f"{self.site}/api/v2/pages/{page_id}/versions",
                {"limit": "250", "sort": "-modified-date"},
                what=f"the version history of page {page_id}",
            )
        )

    def search_pages(self, cql: str, *, stop_after: int | None = None) -> list[tuple[str, str]]:
        """(id, title) of every page a CQL query finds (other content types are ignored).

        ``stop_after``: once this many pages are found, the rest of the answer and its
        further pages are not read (the caller refuses so many anyway).
        """
        found: dict[str, str] = {}
        with closing(
            self.paginate(
                f"{self.site}/rest/api/content/search",
                {"cql": cql, "limit": "100"},
                what=f"the CQL query {cql!r}",
                v1=True,
            )
        ) as results:
            for result in results:
                if not isinstance(result, dict) or result.get("type", "page") != "page":
                    continue  # a blog post, attachment, ...: skip it, keep reading the others
                page_id, title = result.get("id"), result.get("title")
                if isinstance(page_id, str) and is_page_id(page_id):
                    found.setdefault(page_id, title if isinstance(title, str) else "")
                    if stop_after is not None and len(found) >= stop_after:
                        break
        return list(found.items())

    def get_group_members(self, group: str) -> list[str]:
        """Account ids of the members of a Confluence group, by the group's name.

        REST v1 ``GET /rest/api/group/member?name=...`` pages with ``start``/``limit``
        and writes ``_links.next`` relative to the site, like the other v1 listings.
        """
        what = f'the members of group "{group}"'
        members: list[str] = []
        try:
            for user in self.paginate(
                f"{self.site}/rest/api/group/member",
                {"name": group, "start": "0", "limit": str(GROUP_MEMBERS_PER_PAGE)},
                what=what,
                v1=True,
            ):
                account = user.get("accountId") if isinstance(user, dict) else None
                if not isinstance(account, str) or not account.strip() or len(account) > 128:
                    raise ConfluenceError(
                        f'Confluence listed a member of group "{group}" without a usable '
                        "account id (unexpected response shape)"
                    )
                members.append(account)
        except ConfluenceError as exc:
            raise _group_error(exc, group) from None
        return list(dict.fromkeys(members))

    def get_display_names(self, account_ids: Iterable[str]) -> dict[str, str]:
        """Display names where the site grants them; names are cosmetic, so never raises."""
        ids = sorted(set(account_ids))
        names: dict[str, str] = {}
        for start in range(0, len(ids), USERS_PER_BULK_REQUEST):
            chunk = ids[start : start + USERS_PER_BULK_REQUEST]
            try:
                body = self._exchange(
                    f"{self.site}/api/v2/users-bulk",
                    None,
                    what="account display names",
                    json_body={"accountIds": chunk},
                ).body
            except (RetryBudgetExceeded, Interrupted):
                break  # no time left: the other chunks would only fail the same way
            except ConfluenceError:
                continue
            results = body.get("results") if isinstance(body, dict) else None
            for user in results if isinstance(results, list) else []:
                if not isinstance(user, dict):
                    continue
                account, name = user.get("accountId"), user.get("displayName")
                if account in chunk and isinstance(name, str) and name.strip():
                    names[account] = name.strip()
        return names

    # -- the mechanics -------------------------------------------------------

    def paginate(
        self,
        url: str,
        params: Params | None = None,
        *,
        what: str,
        v1: bool = False,
        base_into_results: bool = False,
    ) -> Generator[Any, None, None]:
        """Yield ``results`` across pages, following ``next`` links on the site's origin only.

        ``v1``: the REST v1 API writes ``next`` relative to the site (``/rest/...``),
        v2 relative to the origin (``/wiki/api/v2/...``). ``base_into_results``: copy
        the listing's ``_links.base`` into each result that lacks one (a batch of pages
        carries it once for all of them).
        """
        seen: set[str] = set()
        next_url: str | None = url
        listing_bytes = 0
        while next_url is not None:
            if len(seen) >= MAX_PAGES_PER_LISTING:
                raise ConfluenceError(
                    f"Confluence returned more than {MAX_PAGES_PER_LISTING} pages of results "
                    f"for {what}; refusing to follow further"
                )
            seen.add(next_url)
            reply = self._exchange(next_url, params, what=what)
            body = reply.body
            listing_bytes += reply.size
            if listing_bytes > MAX_LISTING_BYTES:
                raise ConfluenceError(
                    f"Confluence's answers for {what} add up to more than "
                    f"{MAX_LISTING_BYTES // (1024 * 1024)} MB; refused"
                )
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise ConfluenceError(
                    f"Confluence answered for {what} without a list of results "
                    "(unexpected response shape)"
                )
            base = self._note_base(body)
            if base_into_results and base is not None:
                for result in results:
                    links = result.get("_links") if isinstance(result, dict) else None
                    if isinstance(links, dict) and not isinstance(links.get("base"), str):
                        links["base"] = base
            yield from results
            next_url = self._next_link(reply, what, v1)
            params = None  # the next link carries its own query
            if next_url is not None and next_url in seen:
                raise ConfluenceError(
                    f"Confluence's pagination for {what} loops back to a page already read"
                )

    def _note_base(self, body: Any) -> str | None:
        """The answer's ``_links.base`` if it may name the site (remembered for links).

        Links for people are built from it, so it must be the configured site's origin,
        or, through Atlassian's API gateway, an Atlassian Cloud site over https: any
        other base (a proxy's, a hostile server's) would send auditors to another host.
        """
        links = body.get("_links") if isinstance(body, dict) else None
        base = links.get("base") if isinstance(links, dict) else None
        if not isinstance(base, str) or unsafe_url_reason(base) is not None:
            return None
        parts = urlsplit(base)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
            return None
        scheme, host, port = origin = origin_of(base)
        via_gateway = _GATEWAY_PATH.fullmatch(self._base_path) is not None
        cloud_site = scheme == "https" and host.endswith(".atlassian.net") and port == 443
        if origin != self._origin and not (via_gateway and cloud_site):
            return None
        base = base.rstrip("/")
        if self.human_base is None:
            self.human_base = base
        return base

    def _rebase(self, link: str) -> str:
        """An origin-relative ``/...`` link, placed under the configured base's path.

        Confluence Cloud writes v2 ``next`` links from the origin, starting with its
        context path (``/wiki/api/v2/...``). Atlassian's API gateway
        (``https://api.atlassian.com/ex/confluence/{cloudId}/wiki``) writes them the
        same way, without its ``/ex/confluence/{cloudId}`` prefix: such a link is put
        back under that prefix, or it would reach ``api.atlassian.com/wiki/...`` (404).
        """
        base_path = self._base_path
        if not base_path or link == base_path or link.startswith(base_path + "/"):
            return self._origin_url() + link
        context = "/" + base_path.rsplit("/", 1)[-1]  # "/wiki"
        mount = base_path[: -len(context)]  # "/ex/confluence/{cloudId}", or "" on the site
        if link.startswith(context + "/"):
            return self._origin_url() + mount + link
        return self._origin_url() + link

    def _origin_url(self) -> str:
        parts = urlsplit(self.site)
        return f"{parts.scheme}://{parts.netloc}"

    def _next_link(self, reply: _Reply, what: str, v1: bool = False) -> str | None:
        links = reply.body.get("_links") if isinstance(reply.body, dict) else None
        link = links.get("next") if isinstance(links, dict) else None
        if link is None:
            link = reply.link_next
        if link is None:
            return None
        if not isinstance(link, str) or not link:
            raise ConfluenceError(f"Confluence sent a malformed pagination link for {what}")
        unsafe = unsafe_url_reason(link)
        if unsafe is not None:
            raise ConfluenceError(
                f"Confluence's pagination link for {what} {unsafe}; it was not followed and "
                "no credentials were sent"
            )
        if link.startswith("/") and not link.startswith("//"):
            # v1 writes links relative to the site's base URL (/rest/api/...).
            absolute = self.site + link if v1 else self._rebase(link)
        else:
            absolute = urljoin(reply.url, link)
        if not _same_origin(absolute, self._origin):
            raise ConfluenceError(
                f"Confluence's pagination link for {what} points to another site "
                f"({_origin_text(absolute)}); it was not followed and no credentials were sent"
            )
        if not self._under_base_path(absolute):
            raise ConfluenceError(
                f"Confluence's pagination link for {what} leaves the configured base URL "
                f"{self.site}; it was not followed and no credentials were sent"
            )
        return absolute

    def _under_base_path(self, url: str) -> bool:
        """Whether ``url``, as it will be sent, stays under the configured base's path.

        Every listing pages under the base, so a ``..`` (also spelled ``%2e%2e``, which
        requests decodes) must not lead out of it: through Atlassian's API gateway the
        same origin serves other products and other sites (``/ex/jira/...``).
        """
        try:
            sent = requests.Request("GET", url).prepare().url or ""
            path = parse_url(sent).path or "/"  # dot segments removed, as urllib3 sends it
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, ValueError):
            return False
        if re.search(r"%(2e|2f|5c)", path, re.IGNORECASE):
            return False  # an encoded dot, slash or backslash some server may decode
        base = self._base_path
        return not base or path == base or path.startswith(base + "/")

    def get_json(self, url: str, params: Params | None = None, *, what: str) -> Any:
        body = self._exchange(url, params, what=what).body
        if not isinstance(body, dict):
            raise ConfluenceError(
                f"Confluence answered for {what} with JSON of an unexpected shape"
            )
        self._note_base(body)
        return body

    def _exchange(
        self, url: str, params: Params | None, *, what: str, json_body: Any = None
    ) -> _Reply:
        """One request and its answer, read whole: the one way any call reaches the network.

        Whatever goes wrong in between ends here as a ConfluenceError in plain words (an
        exception no one foresaw included: it fails what was being fetched, never the
        run), or on Ctrl-C as a KeyboardInterrupt. Each is raised afresh, after the
        handler, so that neither its traceback nor its context keeps a frame of the HTTP
        stack: those hold the request's headers (the token) as arguments and locals, and
        pytest prints them with --full-trace or -l.
        """
        failure: BaseException
        try:
            response = self._get(url, params, what=what, json_body=json_body)
            body, size = self._read_json(response, what)
            next_link = response.links.get("next", {}).get("url")
            return _Reply(body, size, response.url, next_link)
        except ConfluenceError as exc:
            failure = type(exc)(exc.message, exc.status)
        except KeyboardInterrupt:
            # Ctrl-C: pytest ends the run as interrupted; whoever runs the requests cuts
            # the others in flight (fetch.worker_pool, gate.Network.client).
            failure = KeyboardInterrupt()
        except Exception as exc:
            # Only the exception's type: its text is the HTTP stack's, and may quote anything.
            failure = ConfluenceError(
                f"unexpected error in the HTTP client while fetching {what} "
                f"({type(exc).__name__}); re-run later, and report it if it keeps happening"
            )
        raise failure from None

    def _get(
        self,
        url: str,
        params: Params | None,
        *,
        what: str,
        json_body: Any = None,
    ) -> requests.Response:
        """GET (or, with ``json_body``, a read-only POST) and return a 200 response."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(url, params, what, json_body)
            if not response.is_redirect:
                break
            location = response.headers.get("Location", "")
            response.close()
            unsafe = unsafe_url_reason(location)
            target = urljoin(response.url, location) if unsafe is None else location
            # Redirects are followed by hand so credentials can never leave the site.
            if unsafe is not None or not _same_origin(target, self._origin) or json_body:
                raise ConfluenceError(
                    f"Confluence redirected the request for {what} to another site "
                    f"({_origin_text(target) if unsafe is None else 'a URL that ' + unsafe}); "
                    "it was not followed. Check the site URL",
                    response.status_code,
                )
            if not self._under_base_path(target):
                # Same origin, but out of the base: on Atlassian's API gateway that is
                # another product's or another site's API (see _under_base_path).
                raise ConfluenceError(
                    f"Confluence redirected the request for {what} out of the configured "
                    f"base URL {self.site}; it was not followed. Check the site URL",
                    response.status_code,
                )
            url, params = target, None
        else:
            raise ConfluenceError(f"too many redirects while fetching {what}")
        if response.status_code != 200:
            status = response.status_code
            response.close()
            raise ConfluenceError(_status_message(status, what, self.credentials), status)
        return response

    def _send(
        self, url: str, params: Params | None, what: str, json_body: Any = None
    ) -> requests.Response:
        self.backoff.wait()  # a Retry-After pause holds back new requests without a slot
        self._slots.acquire()
        answer = Answer.NONE
        try:
            response = self._send_now(url, params, what, json_body)
            answer = pace_answer(response.status_code, response.headers)
            return response
        finally:
            self._slots.release(answer)

    def _send_now(
        self, url: str, params: Params | None, what: str, json_body: Any
    ) -> requests.Response:
        self.backoff.wait()
        # A slot taken before a push-back may no longer fit under the limit.
        self._slots.requeue(resend=False)
        self.deadline.check(what)
        try:
            response = self.session.request(
                "GET" if json_body is None else "POST",
                url,
                params=params,
                json=json_body,
                # requests passes a urllib3 Timeout through unchanged.
                timeout=cast(Any, DeadlineTimeout(self.timeout, self.deadline)),
                allow_redirects=False,
                stream=True,
            )
        except ConfluenceError as exc:  # from SharedRetry: deadline, interrupt
            raise type(exc)(f"{exc.message} (fetching {what})") from None
        except requests.exceptions.RequestException as exc:
            raise self._network_error(exc, what) from None
        if self.deadline.cancelled or self.deadline.expired():
            # Cut by the deadline's watchdog while its headers trickled in: what arrived
            # (a status line, some headers) is no answer, whatever it looks like.
            response.close()
            self.deadline.check(what)
        return response

    def _network_error(self, exc: BaseException, what: str) -> ConfluenceError:
        """Say what really happened: the innermost cause decides, not urllib3's wrapper."""
        if self.deadline.cancelled:
            return Interrupted(f"interrupted while fetching {what}")
        left = self.deadline.remaining()
        if left is not None and left <= 0.01:
            return RetryBudgetExceeded(
                f"the gate's --confluence-deadline ran out while fetching {what}; re-run "
                "later or raise --confluence-deadline"
            )
        kind = _kind_of(exc)
        origin = _origin_text(self.site)
        host = urlsplit(self.site).hostname or self.site
        retried = self.retries > 0 and kind in ("timeout", "reset", "other")
        tries = f" (up to {self.retries + 1} attempts)" if retried else ""
        if kind == "dns":
            return ConfluenceError(
                f"cannot resolve host {host!r} while fetching {what}: no such name, or no "
                "DNS service here; check the spelling of the site URL and the machine's DNS"
            )
        if kind == "refused":
            return ConfluenceError(
                f"{origin} refused the connection while fetching {what}: nothing accepts "
                "connections at that address and port; check the site URL (scheme and port)"
            )
        if kind == "tls":
            return ConfluenceError(
                f"the TLS connection to {origin} failed while fetching {what} "
                f"({_reason(exc)}); if the site uses a private certificate authority, point "
                "REQUESTS_CA_BUNDLE at its certificate; a proxy that intercepts TLS needs "
                "the same"
            )
        if kind == "timeout":
            return ConfluenceError(
                f"Confluence did not answer for {what} within {self.timeout:g} s{tries}; "
                "check that the site is reachable, or raise --confluence-timeout"
            )
        if kind == "reset":
            return ConfluenceError(
                f"network error while fetching {what} from {origin}{tries}: the connection "
                f"was reset or closed without an answer ({_reason(exc)}); a proxy or firewall "
                "may be cutting it; re-run later"
            )
        return ConfluenceError(
            f"network error while fetching {what} from {origin}{tries}: {_reason(exc)}; "
            "check the site URL and the network"
        )

    def _read_json(self, response: requests.Response, what: str) -> tuple[Any, int]:
        """The parsed body and its size in bytes."""
        with response:
            content_type = response.headers.get("Content-Type", "")
            if "json" not in content_type.lower():
                received = content_type.split(";")[0] or "no content type"
                raise ConfluenceError(
                    f"Confluence answered for {what} with {received} "
                    "instead of JSON: usually a single sign-on or proxy login page; check the "
                    "site URL and that the credentials are accepted",
                    response.status_code,
                )
            try:
                declared = int(response.headers.get("Content-Length", "0"))
            except ValueError:
                declared = 0
            if declared > MAX_BODY_BYTES:
                raise ConfluenceError(_too_large(what))
            data = self._read_body(response, what)
        self._spend(parse_weight(data), what)  # before json.loads allocates any of it
        try:
            body = strict_json_loads(data)
            if _nested_deeper_than(body, MAX_JSON_DEPTH, data):
                raise ConfluenceError(
                    f"Confluence sent malformed JSON for {what}: nested deeper than "
                    f"{MAX_JSON_DEPTH} levels; refused"
                )
            if _LONE_SURROGATE_ESCAPE.search(data):
                # JSON may spell a lone surrogate ("\udfff"); json.loads accepts it, but
                # it is not Unicode: no snapshot, report or summary could be written.
                json.dumps(body, ensure_ascii=False).encode("utf-8")
            return body, len(data)
        except UnicodeEncodeError:
            raise ConfluenceError(
                f"Confluence sent text for {what} that is not valid Unicode (a lone "
                "surrogate); refused"
            ) from None
        except NonFiniteNumber as exc:
            raise ConfluenceError(f"Confluence sent malformed JSON for {what} ({exc})") from None
        except (ValueError, RecursionError):
            # RecursionError: JSON nested deeper than the parser's stack, as only a
            # hostile or broken server sends it.
            raise ConfluenceError(f"Confluence sent malformed JSON for {what}") from None

    def _spend(self, weight: int, what: str) -> None:
        """Spend from the run's memory budget; past it every further answer is refused."""
        with self._weighed_lock:
            self.weighed += weight
        if not self.budget.spend(weight):
            raise ConfluenceError(
                f"Confluence's answers in this run would take more than "
                f"{self.budget.limit // (1024 * 1024):,} MB of memory (while reading {what}); "
                "refused, so a misbehaving server cannot exhaust this machine's memory"
            )

    def _read_body(self, response: requests.Response, what: str) -> bytes:
        """The body in small reads, none of which may outlast the deadline or exceed the cap."""
        raw = response.raw
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                self.deadline.check(what)
                sock = getattr(getattr(raw, "connection", None), "sock", None)
                if sock is not None:
                    sock.settimeout(self.deadline.trim(self.timeout))
                # read1: whatever one read brings, so a trickling body cannot keep the
                # loop from looking at the deadline.
                chunk = raw.read1(READ_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ConfluenceError(_too_large(what))
                self._spend(2 * len(chunk), what)  # the piece, then its copy when joined
                chunks.append(chunk)
        except (OSError, urllib3.exceptions.HTTPError, requests.exceptions.RequestException) as exc:
            if self.deadline.cancelled or self.deadline.expired():
                self.deadline.check(what)
            raise ConfluenceError(
                f"the connection broke while reading {what}: {_reason(exc)}"
            ) from None
        return b"".join(chunks)


#: What each structural character of an answer (``,`` ``:`` ``[`` ``{``) is weighed at:
#: the object it may open or stand before, its slot in a list or dict and its entry in
#: the depth check. CPython needs at most about 76 bytes for the worst shapes
#: (``[{"a":{}},...]``; tests/test_bounds.py measures them).
_BYTES_PER_VALUE = 96


def parse_weight(data: bytes) -> int:
    """The memory an answer may take once parsed, over and above its bytes: an upper bound.

    json.loads decodes the bytes to text and cuts strings out of it: 2 bytes a byte, or
    8 if any byte is not ASCII or spells a ``\\u`` escape (one such character makes Python
    store a whole text at 4 bytes a character), 12 if one spells a surrogate (the check
    for lone ones encodes the answer once more); and each value an object. Counting
    costs a few passes of C over the bytes, nothing like parsing them.
    """
    if _LONE_SURROGATE_ESCAPE.search(data):
        text = 12
    elif data.isascii() and b"\\u" not in data:
        text = 2
    else:
        text = 8
    values = data.count(b",") + data.count(b":") + data.count(b"[") + data.count(b"{")
    return 1024 + text * len(data) + _BYTES_PER_VALUE * values


def _check_page_id(page_id: str) -> None:
    # Ids go into URL paths; the policy schema allows the same form only.
    if not is_page_id(page_id):
        raise ConfluenceError(
            f"page id {page_id!r} is not decimal digits (a positive number, no leading zero)"
        )


def _status_message(status: int, what: str, credentials: Credentials) -> str:
    if status == 401:
        if credentials.kind == "anonymous":
            return (
                f"Confluence requires a login to read {what} (HTTP 401): set CONFLUENCE_USERNAME "
                "and CONFLUENCE_API_TOKEN, or CONFLUENCE_PERSONAL_TOKEN"
            )
        return (
            f"Confluence did not accept the credentials for {what} (HTTP 401): check that the "
            "token in the environment is valid, not expired, and belongs to this site"
        )
    if status == 403:
        return (
            f"the account may not read {what} (HTTP 403): check the page's restrictions and "
            "the token's permissions"
        )
    if status == 404:
        return (
            f"{what} was not found (HTTP 404): check the page id in the policy, and that the "
            "account can view the page (Confluence answers 404 for pages it hides)"
        )
    if status == 429:
        return (
            f"Confluence kept rate-limiting the requests for {what} (HTTP 429) until the retries "
            "ran out; re-run later or lower --confluence-concurrency"
        )
    if status >= 500:
        return (
            f"Confluence failed while serving {what} (HTTP {status}) until the retries ran "
            "out; re-run later"
        )
    return f"Confluence answered HTTP {status} for {what}"


def _group_error(exc: ConfluenceError, group: str) -> ConfluenceError:
    """The generic status messages speak of pages; a group needs its own advice."""
    if exc.status == 404:
        return ConfluenceError(
            f'group "{group}" was not found (HTTP 404): check the group name in the '
            "policy's required_groups (as Confluence administration shows it)",
            404,
        )
    if exc.status == 403:
        return ConfluenceError(
            f'the account may not read the members of group "{group}" (HTTP 403): it needs '
            f"Confluence's 'Can use' permission, and a scoped API token or OAuth 2.0 app the "
            f"scope {GROUP_SCOPE}",
            403,
        )
    if exc.status == 401:
        return ConfluenceError(
            f"{exc.message}; a scoped API token or OAuth 2.0 app also needs the scope "
            f"{GROUP_SCOPE} to read group members",
            401,
        )
    return exc


def _nested_deeper_than(value: Any, limit: int, text: bytes) -> bool:
    """Whether parsed JSON nests more than ``limit`` objects and arrays, without recursion."""
    if text.count(b"[") + text.count(b"{") <= limit or not isinstance(value, (dict, list)):
        return False  # too few brackets to nest that deep: the usual answer, checked in C
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _too_large(what: str) -> str:
    limit = MAX_BODY_BYTES // (1024 * 1024)
    return f"Confluence's answer for {what} is larger than {limit} MB; refused"


def _origin_text(url: str) -> str:
    scheme, host, port = origin_of(url)
    return f"{scheme}://{host}:{port}"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps: requests -> urllib3 MaxRetryError -> socket error."""
    chain = [exc]
    while len(chain) < 10:
        last = chain[-1]
        inner = getattr(last, "reason", None) or last.__cause__ or last.__context__
        if not isinstance(inner, BaseException) or inner in chain:
            break
        chain.append(inner)
    return chain


NetworkErrorKind = Literal["dns", "refused", "tls", "timeout", "reset", "other"]


def _kind_of(exc: BaseException) -> NetworkErrorKind:
    """What went wrong, judged by the innermost cause first.

    urllib3 wraps every failure to connect in ``NewConnectionError``, a subclass of
    ``ConnectTimeoutError``: only the socket error inside tells a name that does not
    resolve or a refused connection from a real timeout.
    """
    for error in reversed(_causes(exc)):
        if isinstance(error, (socket.gaierror, urllib3.exceptions.NameResolutionError)):
            return "dns"
        if isinstance(error, ConnectionRefusedError):
            return "refused"
        if isinstance(
            error,
            (
                ssl.SSLError,
                ssl.CertificateError,
                urllib3.exceptions.SSLError,
                requests.exceptions.SSLError,
            ),
        ):
            return "tls"
        if isinstance(
            error,
            (TimeoutError, urllib3.exceptions.TimeoutError, requests.exceptions.Timeout),
        ) and not isinstance(error, urllib3.exceptions.NewConnectionError):
            return "timeout"
        if isinstance(
            error,
            (ConnectionError, urllib3.exceptions.ProtocolError, http.client.HTTPException),
        ):
            return "reset"
    return "other"


def _reason(exc: BaseException) -> str:
    """The innermost cause, briefly: 'ConnectionResetError', not three nested reprs."""
    inner = _causes(exc)[-1]
    text = str(inner).strip() or type(inner).__name__
    return text if len(text) <= 200 else text[:197] + "..."

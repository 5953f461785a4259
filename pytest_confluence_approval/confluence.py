"""The Confluence client: the few read-only calls the gate needs, and their pagination.

Every call goes through :meth:`ConfluenceClient._exchange` and from there through the
request loop (request_loop.py: pace, back-off, deadline, credentials) to the transport
(transport.py: urllib3). Every way a request can go wrong ends in a
:class:`ConfluenceError` whose message says what happened and what to check
(wording.py). Nothing here ever returns data it does not trust: non-JSON bodies,
oversized bodies (bodies.py), redirects and pagination links that leave the configured
site (urls.py) are all errors.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from . import wording
from .bodies import MAX_BODY_BYTES as MAX_BODY_BYTES
from .bodies import READ_CHUNK_BYTES as READ_CHUNK_BYTES
from .bodies import Weigher, decode_json
from .bodies import parse_weight as parse_weight
from .deadline import Deadline as Deadline
from .deadline import MemoryBudget as MemoryBudget
from .errors import ConfigurationError as ConfigurationError
from .errors import ConfluenceError as ConfluenceError
from .errors import Interrupted as Interrupted
from .errors import RetryBudgetExceeded as RetryBudgetExceeded
from .pace import Pace
from .pageids import PAGE_ID_PATTERN as PAGE_ID_PATTERN
from .pageids import is_page_id
from .request_loop import Request, RequestLoop, SharedPause
from .settings import DEFAULT_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT
from .site import AuthKind as AuthKind
from .site import Credentials as Credentials
from .site import normalize_site as normalize_site
from .site import unsafe_url_reason as unsafe_url_reason
from .transport import NetworkEnvironment, Transport
from .urls import SiteUrls, origin_text
from .wording import GROUP_SCOPE as GROUP_SCOPE

#: Following more pages than this means the server is looping or misbehaving.
MAX_PAGES_PER_LISTING = 1000
#: All pages of one listing together (a page's properties or versions, a CQL query, a
#: group's members): far above any real one, far below what 1,000 pages x 10 MB could hold.
MAX_LISTING_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 5
#: The statuses of a redirect (with a Location header): followed by hand, on the site only.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: GET /api/v2/pages takes at most this many ids (and returns as many per page).
PAGES_PER_BATCH = 250
#: Every status the v2 API can filter on: a gate must see archived and trashed pages too.
PAGE_STATUSES = ("current", "archived", "trashed", "deleted")
#: POST /api/v2/users-bulk takes at most this many account ids per request.
USERS_PER_BULK_REQUEST = 100
#: GET /rest/api/group/member answers at most 200 users per page (Atlassian's REST v1 docs).
GROUP_MEMBERS_PER_PAGE = 200

Params = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class _Reply:
    """An answer, parsed: no object of the HTTP stack outlives ConfluenceClient._exchange."""

    body: Any
    #: the body's size in bytes
    size: int
    #: where the answer came from (after redirects), for relative links
    url: str
    #: the Link header's rel="next", if any
    link_next: str | None


class ConfluenceClient:
    """A small client for the few read-only calls the gate needs.

    One pool of keep-alive connections is shared by all worker threads, sized to the
    concurrency ceiling so connections are reused, not reopened. How many requests are
    in flight below that ceiling is ``pace``'s to find; a run shares one pace, one
    pause and one environment among its clients (gate.Network).
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
        pace: Pace | None = None,
        pause: SharedPause | None = None,
        environment: NetworkEnvironment | None = None,
    ) -> None:
        """``deadline``: the run's Deadline (or seconds from now) after which nothing is sent;
        ``budget``: the run's MemoryBudget (None: a budget of this client's own);
        ``pace``, ``pause``, ``environment``: the run's (None: this client's own)."""
        self.site = site
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self.urls = SiteUrls(site)
        #: the site's own base URL for links a person can open, from the answers' _links.base
        #: (through Atlassian's API gateway it differs from ``site``)
        self.human_base: str | None = None
        self.deadline = deadline if isinstance(deadline, Deadline) else Deadline(deadline)
        self.budget = budget if budget is not None else MemoryBudget()
        self.weigher = Weigher(self.budget)
        self.pace = pace if pace is not None else Pace(max(1, concurrency))
        self.transport = Transport(
            site,
            environment if environment is not None else NetworkEnvironment.read(site),
            concurrency=concurrency,
            deadline=self.deadline,
        )
        self.loop = RequestLoop(
            self.transport,
            site=site,
            credentials=credentials,
            pace=self.pace,
            pause=pause if pause is not None else SharedPause(self.deadline),
            deadline=self.deadline,
            weigher=self.weigher,
            retries=retries,
            timeout=timeout,
            backoff_factor=backoff_factor,
        )

    def __repr__(self) -> str:
        return f"<ConfluenceClient {self.site} auth={self.credentials.kind}>"

    @property
    def weighed(self) -> int:
        """What this client's answers weighed (parse_weight), spent from the budget."""
        return self.weigher.weighed

    def close(self) -> None:
        self.transport.close()

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
            message = wording.no_v2_api(origin_text(self.site), self.site)
            raise ConfluenceError(message, 404) from None

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
            raise wording.group_error(exc, group) from None
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
        """The answer's ``_links.base`` if it may name the site (remembered for links)."""
        base = self.urls.stated_base(body)
        if base is not None and self.human_base is None:
            self.human_base = base
        return base

    def _next_link(self, reply: _Reply, what: str, v1: bool = False) -> str | None:
        links = reply.body.get("_links") if isinstance(reply.body, dict) else None
        link = links.get("next") if isinstance(links, dict) else None
        if link is None:
            link = reply.link_next
        if link is None:
            return None
        return self.urls.next_link(link, reply.url, what=what, v1=v1)

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
        """One request and its answer, parsed: the one way any call reaches the network.

        Whatever goes wrong in between ends here as a ConfluenceError in plain words (an
        exception no one foresaw included: it fails what was being fetched, never the
        run), or on Ctrl-C as a KeyboardInterrupt. Each is raised afresh, after the
        handler, so that neither its traceback nor its context keeps a frame of the HTTP
        stack or the request loop: those hold the request's headers (the token) as
        arguments and locals, and pytest prints them with --full-trace or -l.
        """
        failure: BaseException
        try:
            data, answered_at, link_next = self._get(url, params, what, json_body)
            body = decode_json(data, what=what, weigher=self.weigher)
            return _Reply(body, len(data), answered_at, link_next)
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
        self, url: str, params: Params | None, what: str, json_body: Any
    ) -> tuple[bytes, str, str | None]:
        """GET (or, with ``json_body``, a read-only POST): a 200's body, the URL that
        answered, and its Link header's next."""
        body = (
            None
            if json_body is None
            else json.dumps(json_body, separators=(",", ":"), allow_nan=False).encode()
        )
        request = Request(
            "GET" if body is None else "POST",
            f"{url}?{urlencode(params, doseq=True)}" if params else url,
            what,
            body,
        )
        for _ in range(MAX_REDIRECTS + 1):
            reply = self.loop.exchange(request)
            if reply.status not in REDIRECT_STATUSES or reply.location is None:
                break
            target = self.urls.redirect_target(
                reply.location, reply.url, what=what, status=reply.status, posting=body is not None
            )
            request = Request(request.method, target, what, body)
        else:
            raise ConfluenceError(f"too many redirects while fetching {what}")
        if reply.status != 200 or reply.data is None:
            status = reply.status
            message = wording.status_message(status, what, self.credentials.kind)
            raise ConfluenceError(message, status)
        return reply.data, reply.url, reply.link_next


def _check_page_id(page_id: str) -> None:
    # Ids go into URL paths; the policy schema allows the same form only.
    if not is_page_id(page_id):
        raise ConfluenceError(
            f"page id {page_id!r} is not decimal digits (a positive number, no leading zero)"
        )

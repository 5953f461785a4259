"""The HTTP layer: one pooled session, auth, retries, pagination, fail-closed parsing.

Every way a request can go wrong ends in a :class:`ConfluenceError` whose message
says what happened and what to check. Nothing here ever returns data it does not
trust: non-JSON bodies, oversized bodies, redirects and pagination links that
leave the configured site are all errors.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import TOOL_NAME, __version__

if TYPE_CHECKING:
    from typing_extensions import Self
    from urllib3.response import BaseHTTPResponse

#: Statuses worth another try: rate limiting and the gateway errors of a busy site.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: A body larger than this is refused: no approval answer is anywhere near it.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Following more pages than this means the server is looping or misbehaving.
MAX_PAGES_PER_LISTING = 1000
MAX_REDIRECTS = 5
#: A JSON escape of a UTF-16 surrogate: paired ones are fine, lone ones are not Unicode.
_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: GET /api/v2/pages takes at most this many ids (and returns as many per page).
PAGES_PER_BATCH = 250
#: Every status the v2 API can filter on: a gate must see archived and trashed pages too.
PAGE_STATUSES = ("current", "archived", "trashed", "deleted")
#: POST /api/v2/users-bulk takes at most this many account ids per request.
USERS_PER_BULK_REQUEST = 100
#: GET /rest/api/group/member answers at most 200 users per page (Atlassian's REST v1 docs).
GROUP_MEMBERS_PER_PAGE = 200
#: The scope a scoped API token or OAuth 2.0 app needs to read group members.
GROUP_SCOPE = "read:group:confluence"


class ConfluenceError(Exception):
    """A request failed; ``str()`` is the plain-language reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RetryBudgetExceeded(ConfluenceError):
    """Waiting any longer would run past the gate's deadline."""


class SharedBackoff:
    """One pause for the whole fetch.

    When Confluence answers 429 with Retry-After, every worker waits it out, not
    only the one that was told: hammering a rate-limited site only extends the
    limit (Atlassian's guidance for Cloud rate limits). A wait that would run
    past the deadline fails at once instead of sleeping.
    """

    def __init__(self, deadline: float | None = None) -> None:
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self.deadline = deadline  # time.monotonic() instant, or None

    def __repr__(self) -> str:
        return f"<SharedBackoff resume_at={self._resume_at:.3f}>"

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def ensure_time_for(self, seconds: float, why: str) -> None:
        left = self.remaining()
        if left is not None and seconds > left:
            raise RetryBudgetExceeded(
                f"{why}, but the gate has only {max(left, 0):.0f} s of its "
                "--confluence-deadline left; re-run later"
            )

    def pause_for(self, seconds: float) -> None:
        self.ensure_time_for(
            seconds, f"Confluence asked to wait {seconds:g} s before retrying (Retry-After)"
        )
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._resume_at - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(remaining)


class SharedRetry(Retry):
    """urllib3's Retry, with Retry-After waits shared by all threads through a SharedBackoff."""

    shared: SharedBackoff

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.shared = self.shared
        return retry

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        try:
            seconds = self.get_retry_after(response)
        except urllib3.exceptions.InvalidHeader:
            return False  # an unreadable Retry-After: fall back to exponential back-off
        if seconds is None:
            return False
        self.shared.pause_for(seconds)
        self.shared.wait()
        return True

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        self.shared.ensure_time_for(backoff, f"the next retry is due in {backoff:g} s")
        super()._sleep_backoff()

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        super().sleep(response)
        self.shared.wait()

    def increment(self, *args: Any, **kwargs: Any) -> Self:
        retry = super().increment(*args, **kwargs)
        # A hanging server costs timeout x attempts; the deadline caps the sum.
        self.shared.ensure_time_for(0.001, "Confluence has not answered yet")
        return retry


class DeadlineTimeout(urllib3.Timeout):
    """A per-attempt timeout trimmed to what is left of the deadline.

    urllib3 clones the timeout for every attempt, retries included, so trimming in
    clone() keeps the last retry from running past the deadline by a whole timeout.
    """

    def __init__(self, seconds: float, shared: SharedBackoff) -> None:
        self.seconds = seconds
        self.shared = shared
        left = shared.remaining()
        trimmed = seconds if left is None else max(min(seconds, left), 0.001)
        super().__init__(connect=trimmed, read=trimmed)

    def clone(self) -> DeadlineTimeout:
        return DeadlineTimeout(self.seconds, self.shared)


class ConfigurationError(Exception):
    """Options or environment that make the gate unusable (a usage error)."""


AuthKind = Literal["basic", "bearer", "anonymous"]
Params = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class Credentials:
    """Who the gate checks as. The secret is excluded from ``repr`` and never logged."""

    kind: AuthKind
    username: str | None = None
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """The credentials in ``environ`` (default: the process environment).

        Which variables are set is decided before any secret is read, so no frame that
        can raise holds the environment or a secret (``pytest -l`` prints every local).
        """
        username = _env(environ, "CONFLUENCE_USERNAME")
        has_api_token = _env(environ, "CONFLUENCE_API_TOKEN") is not None
        has_bearer = _env(environ, "CONFLUENCE_PERSONAL_TOKEN") is not None
        if (username or has_api_token) and has_bearer:
            raise ConfigurationError(
                "both CONFLUENCE_USERNAME/CONFLUENCE_API_TOKEN and CONFLUENCE_PERSONAL_TOKEN "
                "are set; set only one, so it is clear which identity the gate checked with"
            )
        if username or has_api_token:
            if not (username and has_api_token):
                given, missing = (
                    ("CONFLUENCE_USERNAME", "CONFLUENCE_API_TOKEN")
                    if username
                    else ("CONFLUENCE_API_TOKEN", "CONFLUENCE_USERNAME")
                )
                raise ConfigurationError(
                    f"{given} is set but {missing} is not; set both, or neither"
                )
            return cls("basic", username=username, secret=_env(environ, "CONFLUENCE_API_TOKEN"))
        if has_bearer:
            return cls("bearer", secret=_env(environ, "CONFLUENCE_PERSONAL_TOKEN"))
        return cls("anonymous")

    def describe(self) -> str:
        if self.kind == "basic":
            return f"API token (HTTP Basic) as {self.username}"
        if self.kind == "bearer":
            return "bearer token (CONFLUENCE_PERSONAL_TOKEN)"
        return "anonymous (no credentials in the environment)"


def _env(environ: Mapping[str, str] | None, name: str) -> str | None:
    """One variable of ``environ`` (None: the process environment); empty means unset."""
    return (os.environ if environ is None else environ).get(name) or None


class _Auth(requests.auth.AuthBase):
    """Sets the Authorization header; an explicit auth also stops requests reading ~/.netrc."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._credentials.kind}>"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        c = self._credentials
        if c.kind == "basic" and c.username is not None and c.secret is not None:
            r.headers["Authorization"] = requests.auth._basic_auth_str(c.username, c.secret)
        elif c.kind == "bearer":
            r.headers["Authorization"] = f"Bearer {c.secret}"
        return r


def normalize_site(url: str, *, allow_insecure_http: bool = False) -> str:
    """Validate a wiki base URL and bring it into the form requests are built from."""
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ConfigurationError(
            f"site URL {url!r} is not a valid URL ({exc}); give a base URL like "
            "https://acme.atlassian.net/wiki"
        ) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"site URL {url!r} is not an http(s) URL like https://acme.atlassian.net/wiki"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"site URL {url!r} must be a plain base URL (no credentials, query or fragment)"
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"site URL {url!r} uses plain http to a host other than this machine, which would "
            "send credentials unencrypted; use https, or pass --confluence-insecure-http"
        )
    if parts.hostname.endswith(".atlassian.net") and parts.path in ("", "/"):
        url += "/wiki"
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class ConfluenceClient:
    """A small client for the few read-only calls the gate needs.

    One ``requests.Session`` is shared by all worker threads: its connection
    pool is sized to the concurrency so connections are reused, not reopened.
    """

    def __init__(
        self,
        site: str,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        concurrency: int = 8,
        backoff_factor: float = 0.5,
        deadline: float | None = None,
    ) -> None:
        """``deadline``: seconds from now after which no request starts or retries."""
        self.site = site
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self._origin = origin_of(site)
        self.session = requests.Session()
        self.session.auth = _Auth(credentials)
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = f"{TOOL_NAME}/{__version__}"
        self.backoff = SharedBackoff(None if deadline is None else time.monotonic() + deadline)
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
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=max(1, concurrency), max_retries=retry
        )
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
        return list(
            self.paginate(
                f"{self.site}/api/v2/pages",
                {
                    "id": ",".join(page_ids),
                    "status": list(PAGE_STATUSES),
                    "limit": str(PAGES_PER_BATCH),
                },
                what=f"page {page_ids[0]}"
                if len(page_ids) == 1
                else f"a batch of {len(page_ids)} pages",
            )
        )

    def get_properties(self, page_id: str, key: str | None = None) -> list[Any]:
        _check_page_id(page_id)
        params = {"key": key} if key else {"limit": "250"}
        return list(
            self.paginate(
                f"{self.site}/api/v2/pages/{page_id}/properties",
                params,
                what=f"the properties of page {page_id}",
            )
        )

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

    def search_pages(self, cql: str) -> list[tuple[str, str]]:
        """(id, title) of every page a CQL query finds (other content types are ignored)."""
        found: dict[str, str] = {}
        for result in self.paginate(
            f"{self.site}/rest/api/content/search",
            {"cql": cql, "limit": "100"},
            what=f"the CQL query {cql!r}",
            v1=True,
        ):
            if not isinstance(result, dict) or result.get("type", "page") != "page":
                continue
            page_id, title = result.get("id"), result.get("title")
            if isinstance(page_id, str) and page_id.isascii() and page_id.isdigit():
                found.setdefault(page_id, title if isinstance(title, str) else "")
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
                response = self._get(
                    f"{self.site}/api/v2/users-bulk",
                    None,
                    what="account display names",
                    json_body={"accountIds": chunk},
                )
                body = self._json(response, "account display names")
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
        self, url: str, params: Params | None = None, *, what: str, v1: bool = False
    ) -> Iterator[Any]:
        """Yield ``results`` across pages, following ``next`` links on the site's origin only.

        ``v1``: the REST v1 API writes ``next`` relative to the site (``/rest/...``),
        v2 relative to the origin (``/wiki/api/v2/...``).
        """
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            if len(seen) >= MAX_PAGES_PER_LISTING:
                raise ConfluenceError(
                    f"Confluence returned more than {MAX_PAGES_PER_LISTING} pages of results "
                    f"for {what}; refusing to follow further"
                )
            seen.add(next_url)
            response = self._get(next_url, params, what=what)
            body = self._json(response, what)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise ConfluenceError(
                    f"Confluence answered for {what} without a list of results "
                    "(unexpected response shape)"
                )
            yield from results
            next_url = self._next_link(response, body, what, v1)
            params = None  # the next link carries its own query
            if next_url is not None and next_url in seen:
                raise ConfluenceError(
                    f"Confluence's pagination for {what} loops back to a page already read"
                )

    def _next_link(
        self, response: requests.Response, body: dict[str, Any], what: str, v1: bool = False
    ) -> str | None:
        links = body.get("_links")
        link = links.get("next") if isinstance(links, dict) else None
        if link is None:
            link = response.links.get("next", {}).get("url")
        if link is None:
            return None
        if not isinstance(link, str) or not link:
            raise ConfluenceError(f"Confluence sent a malformed pagination link for {what}")
        if v1 and link.startswith("/") and not link.startswith("//"):
            absolute = self.site + link
        else:
            absolute = urljoin(response.url, link)
        if origin_of(absolute) != self._origin:
            raise ConfluenceError(
                f"Confluence's pagination link for {what} points to another site "
                f"({_origin_text(absolute)}); it was not followed and no credentials were sent"
            )
        return absolute

    def get_json(self, url: str, params: Params | None = None, *, what: str) -> Any:
        body = self._json(self._get(url, params, what=what), what)
        if not isinstance(body, dict):
            raise ConfluenceError(
                f"Confluence answered for {what} with JSON of an unexpected shape"
            )
        return body

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
            location = urljoin(response.url, response.headers.get("Location", ""))
            response.close()
            # Redirects are followed by hand so credentials can never leave the site.
            if origin_of(location) != self._origin or json_body is not None:
                raise ConfluenceError(
                    f"Confluence redirected the request for {what} to another site "
                    f"({_origin_text(location)}); it was not followed. Check the site URL",
                    response.status_code,
                )
            url, params = location, None
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
        self.backoff.wait()
        left = self.backoff.remaining()
        if left is not None and left <= 0:
            raise RetryBudgetExceeded(
                f"the gate's --confluence-deadline ran out before {what} could be fetched"
            )
        try:
            return self.session.request(
                "GET" if json_body is None else "POST",
                url,
                params=params,
                json=json_body,
                # requests passes a urllib3 Timeout through unchanged.
                timeout=cast(Any, DeadlineTimeout(self.timeout, self.backoff)),
                allow_redirects=False,
                stream=True,
            )
        except RetryBudgetExceeded as exc:
            raise RetryBudgetExceeded(f"{exc.message} (fetching {what})") from None
        except requests.exceptions.SSLError as exc:
            raise ConfluenceError(
                f"the TLS certificate of {_origin_text(self.site)} could not be verified while "
                f"fetching {what} ({_reason(exc)}); if the site uses a private certificate "
                "authority, point REQUESTS_CA_BUNDLE at its certificate"
            ) from None
        except requests.exceptions.RequestException as exc:
            left = self.backoff.remaining()
            if left is not None and left <= 0.01:
                raise RetryBudgetExceeded(
                    f"the gate's --confluence-deadline ran out while fetching {what}; re-run "
                    "later or raise --confluence-deadline"
                ) from None
            tries = f"up to {self.retries + 1} attempts" if self.retries else "1 attempt"
            if _timed_out(exc):
                raise ConfluenceError(
                    f"Confluence did not answer for {what} within {self.timeout:g} s "
                    f"({tries}); check that the site is reachable, or raise "
                    "--confluence-timeout"
                ) from None
            raise ConfluenceError(
                f"network error while fetching {what} from {_origin_text(self.site)} "
                f"({tries}): {_reason(exc)}; check the site URL and the network"
            ) from None

    def _json(self, response: requests.Response, what: str) -> Any:
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
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise ConfluenceError(_too_large(what))
                    chunks.append(chunk)
            except requests.exceptions.RequestException as exc:
                raise ConfluenceError(
                    f"the connection broke while reading {what}: {_reason(exc)}"
                ) from None
        try:
            body = json.loads(b"".join(chunks))
            if _LONE_SURROGATE_ESCAPE.search(b"".join(chunks)):
                # JSON may spell a lone surrogate ("\\udfff"); json.loads accepts it, but
                # it is not Unicode: no snapshot, report or summary could be written.
                json.dumps(body, ensure_ascii=False).encode("utf-8")
            return body
        except UnicodeEncodeError:
            raise ConfluenceError(
                f"Confluence sent text for {what} that is not valid Unicode (a lone "
                "surrogate); refused"
            ) from None
        except ValueError:
            raise ConfluenceError(f"Confluence sent malformed JSON for {what}") from None


def _check_page_id(page_id: str) -> None:
    # Ids go into URL paths; the policy schema already allows digits only.
    if not page_id.isascii() or not page_id.isdigit():
        raise ConfluenceError(f"page id {page_id!r} is not decimal digits")


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


def _timed_out(exc: BaseException) -> bool:
    return any(
        isinstance(e, (TimeoutError, urllib3.exceptions.TimeoutError, requests.exceptions.Timeout))
        for e in _causes(exc)
    )


def _reason(exc: BaseException) -> str:
    """The innermost cause, briefly: 'ConnectionResetError', not three nested reprs."""
    inner = _causes(exc)[-1]
    text = str(inner).strip() or type(inner).__name__
    return text if len(text) <= 200 else text[:197] + "..."

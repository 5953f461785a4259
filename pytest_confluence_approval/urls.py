"""Where the gate may send a request: the configured site's origin and base path, only.

Pure policy, no I/O: origins judged exactly as urllib3 will connect (``parse_url``), the
way pagination links and redirects are resolved and refused, Atlassian's API gateway
prefix, and which ``_links.base`` may name the site in links for people. Whatever a
server says (a ``next`` link, a ``Location``, a ``_links.base``) is untrusted: a link
that would leave the site is refused before anything is sent, credentials least of all.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.util import parse_url

from .errors import ConfluenceError
from .site import unsafe_url_reason

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: The path of a base URL on Atlassian's API gateway (scoped API tokens, OAuth 2.0).
GATEWAY_PATH = re.compile(r"/ex/confluence/[^/]+/wiki")
#: An encoded dot, slash or backslash in a path, which some server may decode.
_ENCODED_SEPARATOR = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)
#: One entry of a Link header: ``<url>; rel="next"`` (RFC 8288), as Confluence writes it.
_LINK_ENTRY = re.compile(r"<([^>]*)>\s*((?:;[^,<;]*)*)")
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?', re.IGNORECASE)

Origin = tuple[str, str, "int | None"]


def origin_of(url: str) -> Origin:
    """(scheme, host, port) exactly as urllib3 will connect for this URL."""
    try:
        parsed = parse_url(url)
    except urllib3.exceptions.LocationParseError:
        return "", "", None
    scheme = (parsed.scheme or "").lower()
    return scheme, (parsed.host or "").lower(), parsed.port or _DEFAULT_PORTS.get(scheme)


def origin_text(url: str) -> str:
    scheme, host, port = origin_of(url)
    return f"{scheme}://{host}:{port}"


def link_header_next(value: str | None) -> str | None:
    """The ``rel="next"`` target of a Link header, or None."""
    if not value or len(value) > 16 * 1024:
        return None
    for match in _LINK_ENTRY.finditer(value):
        for rel in _REL_NEXT.findall(match.group(2)):
            if "next" in rel.lower().split():
                return match.group(1).strip()
    return None


class SiteUrls:
    """The configured site (a normalized base URL) and what may be requested under it."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.origin = origin_of(site)
        parts = urlsplit(site)
        self.base_path = parts.path.rstrip("/")
        self.origin_url = f"{parts.scheme}://{parts.netloc}"
        self.via_gateway = GATEWAY_PATH.fullmatch(self.base_path) is not None
        #: each ``_links.base`` seen, and what stated_base made of it
        self._judged_bases: dict[str, str | None] = {}

    def __repr__(self) -> str:
        return f"<SiteUrls {self.site}>"

    def same_origin(self, url: str) -> bool:
        return unsafe_url_reason(url) is None and origin_of(url) == self.origin

    def under_base_path(self, url: str) -> bool:
        """Whether ``url``, as it will be sent, stays under the configured base's path.

        Every listing pages under the base, so a ``..`` must not lead out of it: through
        Atlassian's API gateway the same origin serves other products and other sites
        (``/ex/jira/...``). urllib3 sends the path with its dot segments removed; an
        encoded dot, slash or backslash (``%2e%2e``) is refused, since a server may decode
        it after that.
        """
        try:
            path = parse_url(url).path or "/"
        except (urllib3.exceptions.HTTPError, ValueError):
            return False
        if _ENCODED_SEPARATOR.search(path):
            return False
        base = self.base_path
        return not base or path == base or path.startswith(base + "/")

    def rebase(self, link: str) -> str:
        """An origin-relative ``/...`` link, placed under the configured base's path.

        Confluence Cloud writes v2 ``next`` links from the origin, starting with its
        context path (``/wiki/api/v2/...``). Atlassian's API gateway
        (``https://api.atlassian.com/ex/confluence/{cloudId}/wiki``) writes them the
        same way, without its ``/ex/confluence/{cloudId}`` prefix: such a link is put
        back under that prefix, or it would reach ``api.atlassian.com/wiki/...`` (404).
        """
        base_path = self.base_path
        if not base_path or link == base_path or link.startswith(base_path + "/"):
            return self.origin_url + link
        context = "/" + base_path.rsplit("/", 1)[-1]  # "/wiki"
        mount = base_path[: -len(context)]  # "/ex/confluence/{cloudId}", or "" on the site
        if link.startswith(context + "/"):
            return self.origin_url + mount + link
        return self.origin_url + link

    def next_link(self, link: object, answered_url: str, *, what: str, v1: bool) -> str:
        """The absolute URL of a listing's ``next`` link, or ConfluenceError if it may not
        be followed (another origin, out of the base, unparsable)."""
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
            absolute = self.site + link if v1 else self.rebase(link)
        else:
            absolute = urljoin(answered_url, link)
        if not self.same_origin(absolute):
            raise ConfluenceError(
                f"Confluence's pagination link for {what} points to another site "
                f"({origin_text(absolute)}); it was not followed and no credentials were sent"
            )
        if not self.under_base_path(absolute):
            raise ConfluenceError(
                f"Confluence's pagination link for {what} leaves the configured base URL "
                f"{self.site}; it was not followed and no credentials were sent"
            )
        return absolute

    def redirect_target(
        self, location: str, answered_url: str, *, what: str, status: int, posting: bool
    ) -> str:
        """Where a redirect leads, or ConfluenceError if it may not be followed.

        Redirects are followed by hand so credentials can never leave the site; a POST
        (users-bulk) is never redirected anywhere.
        """
        unsafe = unsafe_url_reason(location)
        target = urljoin(answered_url, location) if unsafe is None else location
        if unsafe is not None or not self.same_origin(target) or posting:
            raise ConfluenceError(
                f"Confluence redirected the request for {what} to another site "
                f"({origin_text(target) if unsafe is None else 'a URL that ' + unsafe}); "
                "it was not followed. Check the site URL",
                status,
            )
        if not self.under_base_path(target):
            # Same origin, but out of the base: on Atlassian's API gateway that is
            # another product's or another site's API (see under_base_path).
            raise ConfluenceError(
                f"Confluence redirected the request for {what} out of the configured "
                f"base URL {self.site}; it was not followed. Check the site URL",
                status,
            )
        return target

    def stated_base(self, body: Any) -> str | None:
        """The answer's ``_links.base`` if it may name the site in links for people.

        Links for people are built from it, so it must be the configured site's origin,
        or, through Atlassian's API gateway, an Atlassian Cloud site over https: any
        other base (a proxy's, a hostile server's) would send auditors to another host.
        """
        links = body.get("_links") if isinstance(body, dict) else None
        base = links.get("base") if isinstance(links, dict) else None
        if not isinstance(base, str):
            return None
        if base in self._judged_bases:
            return self._judged_bases[base]  # every answer of a site states the same one
        judged = self._judge_base(base)
        if len(self._judged_bases) < 16 and len(base) <= 2048:  # nor can a server grow it
            self._judged_bases[base] = judged
        return judged

    def _judge_base(self, base: str) -> str | None:
        if unsafe_url_reason(base) is not None:
            return None
        parts = urlsplit(base)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
            return None
        scheme, host, port = origin = origin_of(base)
        cloud_site = scheme == "https" and host.endswith(".atlassian.net") and port == 443
        if origin != self.origin and not (self.via_gateway and cloud_site):
            return None
        return base.rstrip("/")

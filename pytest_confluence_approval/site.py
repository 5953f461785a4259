"""Which site the gate checks and as whom: configuration rules, no HTTP client.

A replay validates its configuration with these and sends nothing, so it imports
neither requests nor urllib3 (urllib3 is imported only to judge a configured URL
exactly as it will be connected to).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from .errors import ConfigurationError

AuthKind = Literal["basic", "bearer", "anonymous"]


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
    unsafe = unsafe_url_reason(url)
    if unsafe is not None:
        raise ConfigurationError(f"site URL {url!r} {unsafe}; give a plain base URL")
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


def unsafe_url_reason(url: str) -> str | None:
    """Why a URL must not be requested at all, or None.

    Parsers disagree about URLs with a backslash, userinfo, whitespace or control
    characters (``http://other:1\\@site:443/`` is ``site`` to one and ``other`` to
    another), so such URLs are refused outright instead of judged by either parser.
    """
    from urllib3.exceptions import LocationParseError  # only where a URL is configured
    from urllib3.util import parse_url

    if "\\" in url:
        return "contains a backslash"
    if any(c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in url):
        return "contains whitespace or control characters"
    try:
        parsed = parse_url(url)
        authority = urlsplit(url).netloc
    except (LocationParseError, ValueError):
        return "cannot be parsed"
    if parsed.auth is not None or "@" in authority:
        return "contains credentials (user info before an '@')"
    return None

"""The ways the fake can be told to mishandle a request (``FakeConfluence.fault``).

What a real site, a proxy in front of it or the network do: error statuses, rate limiting,
resets, hangs, HTML login pages, broken or oversized JSON, slow or chunked bodies,
redirects and hostile pagination links. server.py carries them out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model import JSON_TYPE


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


@dataclass
class FaultRule:
    """A ``FakeConfluence.fault`` call: requests to ``pattern`` get ``fault``, ``remaining``
    more times (None: always)."""

    pattern: str
    fault: Fault
    remaining: int | None


def path_matches(pattern: str, path: str) -> bool:
    """``path`` is ``pattern``, or starts with it where it ends in "*"."""
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern

"""A small in-process fake of the Confluence Cloud REST API, for tests.

Standard library only: a ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) served by a
daemon thread. It speaks HTTP/1.1 with keep-alive and exact ``Content-Length`` so that a
client's connection pool really reuses connections, records every request it receives, and
can be told to misbehave per path (``FakeConfluence.fault``) the ways a real site, a proxy or
the network do: error statuses, rate limiting, resets, hangs, HTML login pages, broken or
oversized JSON, redirects and hostile pagination links.

Response shapes follow the published OpenAPI description of the v2 API (and the v1 content
search for CQL and the v1 group member listing), trimmed to the fields a release gate reads.

A package of four modules, each one concern: ``model`` (what the site holds), ``api``
(what it answers), ``faults`` (how it may be told to misbehave) and ``server`` (HTTP on
127.0.0.1 and the ``FakeConfluence`` tests drive). Tests import from the package.
"""

from __future__ import annotations

from .api import RecordedRequest
from .faults import (
    CannedResponse,
    Chunked,
    Fault,
    Hang,
    NextLink,
    NoContentType,
    Oversized,
    ResetConnection,
    Rewrite,
    RewriteText,
    SlowHeaders,
    Trickle,
    chunked,
    hang,
    html_login,
    json_body,
    malformed_json,
    next_link,
    no_content_type,
    oversized,
    redirect,
    reset,
    retry_after,
    rewrite,
    rewrite_text,
    slow_headers,
    status,
    trickle,
)
from .model import (
    APPROVAL_APP_ACCOUNT,
    APPROVAL_APP_NAME,
    DEFAULT_APPROVAL_KEY,
    JSON_TYPE,
    approval_value,
)
from .server import FakeConfluence, running_fake_confluence

__all__ = [
    "APPROVAL_APP_ACCOUNT",
    "APPROVAL_APP_NAME",
    "DEFAULT_APPROVAL_KEY",
    "JSON_TYPE",
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
    "RewriteText",
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
    "rewrite_text",
    "running_fake_confluence",
    "slow_headers",
    "status",
    "trickle",
]

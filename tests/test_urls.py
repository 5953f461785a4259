"""The URL policy's pure parts: what a Link header's next is, and which _links.base counts."""

from __future__ import annotations

import pytest

from pytest_confluence_approval.urls import SiteUrls, link_header_next


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ('</wiki/api/v2/pages?cursor=a>; rel="next"', "/wiki/api/v2/pages?cursor=a"),
        ('</wiki/x?c=1>; rel="next", <https://acme.atlassian.net/wiki>; rel="base"', "/wiki/x?c=1"),
        ('<https://acme.atlassian.net/wiki>; rel="base", </wiki/x>; rel=next', "/wiki/x"),
        ('</wiki/x>; title="next page"; rel="prev"', None),  # "next" in another parameter
        ('</wiki/x>; rel="prev next"', "/wiki/x"),  # RFC 8288: several relation types
        ("</wiki/x>", None),
        ("<" + "a" * 20_000 + '>; rel="next"', None),  # longer than any real header
    ],
)
def test_the_link_headers_next_is_its_rel_next_target(
    header: str | None, expected: str | None
) -> None:
    assert link_header_next(header) == expected


def test_a_stated_base_is_judged_once_and_a_server_cannot_grow_what_is_remembered() -> None:
    urls = SiteUrls("https://acme.atlassian.net/wiki")
    stated = {"_links": {"base": "https://acme.atlassian.net/wiki/"}}
    assert urls.stated_base(stated) == "https://acme.atlassian.net/wiki"
    assert urls.stated_base({"_links": {"base": "https://other.test/wiki"}}) is None
    for n in range(1000):
        urls.stated_base({"_links": {"base": f"https://other{n}.test/wiki"}})
    assert len(urls._judged_bases) <= 16
    assert urls.stated_base(stated) == "https://acme.atlassian.net/wiki"

"""The Confluence client against a real local server (the fake Confluence on 127.0.0.1).

The request loop's own decisions (retries, waits, the pace) are unit-tested without
sockets in test_request_loop.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_confluence_approval.confluence import (
    MAX_BODY_BYTES,
    READ_CHUNK_BYTES,
    ConfigurationError,
    ConfluenceClient,
    ConfluenceError,
    Credentials,
    normalize_site,
)
from pytest_confluence_approval.fetch import fetch_all
from tests.fake_confluence import (
    FakeConfluence,
    approval_value,
    chunked,
    hang,
    json_body,
    malformed_json,
    next_link,
    no_content_type,
    oversized,
    redirect,
    rewrite,
    running_fake_confluence,
    status,
)

SITE = "https://acme.atlassian.net/wiki"


def client(
    site: str = SITE, credentials: Credentials | None = None, **kw: float
) -> ConfluenceClient:
    return ConfluenceClient(site, credentials or Credentials("anonymous"), **kw)  # type: ignore[arg-type]


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://acme.atlassian.net", "https://acme.atlassian.net/wiki"),
        ("https://acme.atlassian.net/", "https://acme.atlassian.net/wiki"),
        ("https://acme.atlassian.net/wiki/", "https://acme.atlassian.net/wiki"),
        ("https://confluence.acme.test/confluence", "https://confluence.acme.test/confluence"),
        ("http://127.0.0.1:8090/wiki", "http://127.0.0.1:8090/wiki"),
        ("http://localhost:8090", "http://localhost:8090"),
        ("http://[::1]:8090", "http://[::1]:8090"),
        # Only Atlassian's own cloud sites get /wiki; look-alikes and other hosts do not.
        ("https://atlassian.net.acme.test", "https://atlassian.net.acme.test"),
        ("https://confluence.acme.test", "https://confluence.acme.test"),
        ("https://acme.atlassian.net/ex", "https://acme.atlassian.net/ex"),
        (
            "https://api.atlassian.com/ex/confluence/a436116f/wiki",
            "https://api.atlassian.com/ex/confluence/a436116f/wiki",
        ),
    ],
)
def test_site_urls_are_normalized(given: str, expected: str) -> None:
    assert normalize_site(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "http://confluence.acme.test/wiki",
        "ftp://acme.atlassian.net",
        "acme.atlassian.net",
        "https://user:pw@acme.atlassian.net/wiki",
        "https://acme.atlassian.net/wiki?x=1",
    ],
)
def test_unsafe_or_odd_site_urls_are_refused(given: str) -> None:
    with pytest.raises(ConfigurationError):
        normalize_site(given)


def test_plain_http_elsewhere_needs_the_explicit_flag() -> None:
    url = "http://confluence.acme.test/wiki"
    assert normalize_site(url, allow_insecure_http=True) == url


def test_credentials_never_show_the_secret() -> None:
    basic = Credentials.from_environment(
        {"CONFLUENCE_USERNAME": "bot@acme.test", "CONFLUENCE_API_TOKEN": "tok-SECRET"}
    )
    bearer = Credentials.from_environment({"CONFLUENCE_PERSONAL_TOKEN": "pat-SECRET"})
    for c in (basic, bearer):
        assert "SECRET" not in repr(c) and "SECRET" not in c.describe()
        assert "SECRET" not in repr(client(credentials=c))
        made = client(credentials=c)
        for part in (made.loop, made.transport, made.loop.pause, made.urls):
            assert "SECRET" not in repr(part) and "SECRET" not in str(part)


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({}, "anonymous"),
        ({"CONFLUENCE_USERNAME": "", "CONFLUENCE_API_TOKEN": ""}, "anonymous"),
        ({"CONFLUENCE_USERNAME": "u", "CONFLUENCE_API_TOKEN": "t"}, "basic"),
        ({"CONFLUENCE_PERSONAL_TOKEN": "t", "CONFLUENCE_USERNAME": ""}, "bearer"),
    ],
)
def test_credentials_come_from_the_environment(environ: dict[str, str], kind: str) -> None:
    assert Credentials.from_environment(environ).kind == kind


@pytest.mark.parametrize(
    "environ",
    [
        {"CONFLUENCE_USERNAME": "u", "CONFLUENCE_API_TOKEN": "t", "CONFLUENCE_PERSONAL_TOKEN": "p"},
        {"CONFLUENCE_USERNAME": "u", "CONFLUENCE_PERSONAL_TOKEN": "p"},
        {"CONFLUENCE_API_TOKEN": "t", "CONFLUENCE_PERSONAL_TOKEN": "p"},
        {"CONFLUENCE_USERNAME": "u"},
        {"CONFLUENCE_API_TOKEN": "t"},
    ],
)
def test_ambiguous_or_half_credentials_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="CONFLUENCE_") as raised:
        Credentials.from_environment(environ)
    for name in environ:  # the message names every variable that was set
        assert name in str(raised.value)


# -- what is asked, and what is refused before it is read ----------------------------------


def test_pagination_follows_the_link_header_when_the_body_has_no_next(
    confluence: FakeConfluence,
) -> None:
    confluence.add_page("1")
    for key in ("a", "b"):
        confluence.add_property("1", key, {})
    confluence.properties_page_size = 1  # two answers, each with a next link

    def without_next_in_the_body(payload: Any) -> None:
        del payload["_links"]["next"]  # the Link header still names it

    confluence.fault("/wiki/api/v2/pages/1/properties", rewrite(without_next_in_the_body), times=1)

    keys = [p["key"] for p in client(confluence.url).get_properties("1")]

    assert keys == ["a", "b"]
    first, second = (r for r in confluence.requests if r.path.endswith("/properties"))
    assert "cursor" not in first.query and "cursor" in second.query


def test_property_key_is_url_encoded(confluence: FakeConfluence) -> None:
    confluence.add_page("1")

    client(confluence.url).get_properties("1", "odd key&x=1")

    (asked,) = confluence.requests
    assert asked.query == {"key": ["odd key&x=1"]}  # one parameter, not "key" and "x"


def test_anonymous_requests_do_not_pick_up_netrc(
    confluence: FakeConfluence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password from-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    confluence.add_page("1")

    client(confluence.url).get_page("1")

    assert "authorization" not in confluence.requests[0].headers


def test_page_ids_other_than_digits_never_reach_a_url(confluence: FakeConfluence) -> None:
    with pytest.raises(ConfluenceError, match="not decimal digits"):
        client(confluence.url).get_page("1/../../admin")
    assert confluence.requests == []


def test_json_that_is_not_an_object_is_refused(confluence: FakeConfluence) -> None:
    confluence.fault("/wiki/api/v2/pages/1", json_body(["not", "a", "page"]))
    with pytest.raises(ConfluenceError, match="unexpected shape"):
        client(confluence.url).get_page("1")


def test_results_that_are_not_a_list_are_refused(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1/properties", json_body({"results": "x"}))
    with pytest.raises(ConfluenceError, match="without a list of results"):
        client(confluence.url).get_properties("1")


# -- transport behaviour against a real local server ---------------------------------------


@pytest.fixture
def other_site() -> Iterator[FakeConfluence]:
    """A second server: 'another host' that must never receive a request."""
    with running_fake_confluence() as site:
        yield site


def basic() -> Credentials:
    return Credentials("basic", "bot@acme.test", "tok-SECRET")


def test_redirect_to_another_origin_is_not_followed(
    confluence: FakeConfluence, other_site: FakeConfluence
) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", redirect(f"{other_site.url}/api/v2/pages/1"))

    with pytest.raises(ConfluenceError, match=r"redirected .* to another site") as raised:
        client(confluence.url, basic()).get_page("1")

    assert raised.value.status == 302
    assert other_site.requests == []


def test_redirect_on_the_same_origin_is_followed_with_credentials(
    confluence: FakeConfluence,
) -> None:
    confluence.auth = ("bot@acme.test", "tok-SECRET")
    confluence.add_page("1")
    confluence.fault("/wiki/old/pages/1", redirect("/wiki/api/v2/pages/1"))

    page = client(confluence.url, basic()).get_json(f"{confluence.url}/old/pages/1", what="page 1")

    assert page["id"] == "1"


def test_pagination_link_to_another_origin_is_not_followed(
    confluence: FakeConfluence, other_site: FakeConfluence
) -> None:
    confluence.add_page("1")
    confluence.fault(
        "/wiki/api/v2/pages/1/properties",
        next_link(f"{other_site.url}/api/v2/pages/1/properties?cursor=x"),
    )

    with pytest.raises(ConfluenceError, match="points to another site"):
        client(confluence.url, basic()).get_properties("1")

    assert other_site.requests == []


def test_pagination_loop_is_detected(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault(
        "/wiki/api/v2/pages/1/properties",
        next_link("/wiki/api/v2/pages/1/properties?limit=250"),
    )

    with pytest.raises(ConfluenceError, match="loops back"):
        client(confluence.url).get_properties("1")

    assert confluence.count("/wiki/api/v2/pages/1/properties") == 2


def test_malformed_json_is_an_error(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", malformed_json())

    with pytest.raises(ConfluenceError, match="malformed JSON"):
        client(confluence.url).get_page("1")


def test_an_oversized_streamed_body_is_cut_off(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", oversized(MAX_BODY_BYTES + 1024))

    with pytest.raises(ConfluenceError, match="larger than 10 MB"):
        client(confluence.url).get_page("1")


def test_a_hanging_server_is_bounded_by_timeout_and_retries(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", hang(5))

    with pytest.raises(ConfluenceError, match=r"did not answer .* within 0\.2 s"):
        client(confluence.url, timeout=0.2, retries=1, backoff_factor=0).get_page("1")

    assert confluence.count("/wiki/api/v2/pages/1") == 2


def test_one_broken_page_does_not_hide_the_others(confluence: FakeConfluence) -> None:
    for page_id in ("1", "2", "3"):
        confluence.add_page(page_id)
        confluence.set_approval(page_id, approval_value())
    confluence.fault("/wiki/api/v2/pages/2/properties", malformed_json())

    facts = fetch_all(client(confluence.url), ["1", "2", "3"], property_key=None, concurrency=3)

    assert facts["1"].failure is None and facts["3"].failure is None
    assert facts["2"].failure is not None
    assert "malformed JSON" in facts["2"].failure.message


def test_requests_identify_the_tool(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    client(confluence.url).get_page("1")
    assert confluence.requests[0].headers["user-agent"].startswith("pytest-confluence-approval/")


# -- same origin, judged as urllib3 connects (a second fake plays "other") ----------------


def _port(site: FakeConfluence) -> int:
    return int(site.origin.rsplit(":", 1)[1])


def _crafted_links(site: FakeConfluence, other: FakeConfluence) -> list[str]:
    """Links that look like ``site`` to urlsplit but lead elsewhere, or are ambiguous."""
    path = "/wiki/api/v2/pages/1/properties?cursor=x"
    return [
        # urlsplit: host 127.0.0.1, port of site; urllib3: port of other, path "\@...".
        f"http://127.0.0.1:{_port(other)}\\@127.0.0.1:{_port(site)}{path}",
        f"http://user:pw@127.0.0.1:{_port(site)}{path}",
        f"http://127.0.0.1:{_port(site)}{path}\x00",
        f"http://127.0.0.1:{_port(site)}/wiki/api/v2/pages/1/properties?cursor=a b",
        f"http://127.0.0.1:{_port(site)}/wiki/api/v2/pages/1/properties?cursor=\x1b",
    ]


@pytest.mark.parametrize("index", range(5))
def test_a_crafted_pagination_link_sends_nothing_anywhere(
    confluence: FakeConfluence, other_site: FakeConfluence, index: int
) -> None:
    confluence.add_page("1")
    link = _crafted_links(confluence, other_site)[index]
    confluence.fault("/wiki/api/v2/pages/1/properties", next_link(link), times=1)

    with pytest.raises(ConfluenceError, match=r"pagination link .* no credentials were sent"):
        client(confluence.url, basic()).get_properties("1")

    assert other_site.requests == []
    assert confluence.count("/wiki/api/v2/pages/1/properties") == 1


@pytest.mark.parametrize("index", range(5))
def test_a_crafted_redirect_sends_nothing_anywhere(
    confluence: FakeConfluence, other_site: FakeConfluence, index: int
) -> None:
    confluence.add_page("1")
    location = _crafted_links(confluence, other_site)[index]
    confluence.fault("/wiki/api/v2/pages/1", redirect(location))

    with pytest.raises(ConfluenceError, match=r"redirected .* it was not followed"):
        client(confluence.url, basic()).get_page("1")

    assert other_site.requests == []
    assert confluence.count("/wiki/api/v2/pages/1") == 1


@pytest.mark.parametrize(
    "given",
    [
        "https://other.test:1\\@acme.atlassian.net/wiki",
        "https://bot:pw@acme.atlassian.net/wiki",
        "https://acme.atlassian.net/wi ki",
        "https://acme.atlassian.net/wiki\x07",
        "https://acme.atlassian.net/wiki#top",
    ],
)
def test_a_site_url_with_userinfo_fragment_or_odd_characters_is_refused(given: str) -> None:
    with pytest.raises(ConfigurationError, match="site URL"):
        normalize_site(given)


# -- bodies as they arrive ------------------------------------------------------------------


def test_an_oversized_chunked_body_without_content_length_is_cut_off(
    confluence: FakeConfluence,
) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", chunked(pad_to=MAX_BODY_BYTES + 1, chunk=65536))

    with pytest.raises(ConfluenceError, match="larger than 10 MB"):
        client(confluence.url).get_page("1")


@pytest.mark.parametrize("how", ["chunked", "content-length"])
def test_a_body_larger_than_one_read_is_read_whole(confluence: FakeConfluence, how: str) -> None:
    confluence.add_page("1", title="x" * (3 * READ_CHUNK_BYTES))
    if how == "chunked":
        confluence.fault("/wiki/api/v2/pages/1", chunked(chunk=10_000))

    page = client(confluence.url).get_page("1")

    assert page["title"] == "x" * (3 * READ_CHUNK_BYTES)


def test_an_answer_without_content_type_is_refused(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", no_content_type())

    with pytest.raises(ConfluenceError, match="with no content type instead of JSON"):
        client(confluence.url).get_page("1")


def test_a_5xx_without_retry_after_backs_off_exponentially(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", status(503), times=3)

    client(confluence.url, retries=3, backoff_factor=0.2).get_page("1")

    arrivals = [r.received_at for r in confluence.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(gaps) == 3
    # urllib3's schedule: no wait, then factor x 2, factor x 4.
    assert gaps[1] >= 0.4 and gaps[2] >= 0.8, gaps


def test_a_batch_answered_400_is_asked_page_by_page(confluence: FakeConfluence) -> None:
    for page_id in ("1", "2"):
        confluence.add_page(page_id)
        confluence.set_approval(page_id, approval_value())
    confluence.fault("/wiki/api/v2/pages", status(400))

    facts = fetch_all(client(confluence.url), ["1", "2"], property_key=None, concurrency=2)

    assert facts["1"].failure is None and facts["2"].failure is None
    assert confluence.count("/wiki/api/v2/pages/1") == 1
    assert confluence.count("/wiki/api/v2/pages/2") == 1


def test_a_batch_failing_otherwise_fails_every_page_without_asking_each(
    confluence: FakeConfluence,
) -> None:
    for page_id in ("1", "2"):
        confluence.add_page(page_id)
    confluence.fault("/wiki/api/v2/pages", status(403))

    facts = fetch_all(client(confluence.url), ["1", "2"], property_key=None, concurrency=2)

    assert facts["1"].failure is not None and facts["1"].failure.status == 403
    assert facts["2"].failure is not None
    assert confluence.count("/wiki/api/v2/pages/*") == 0


def test_a_site_without_the_v2_api_is_named_as_such(confluence: FakeConfluence) -> None:
    """Confluence Cloud never answers the page listing with 404; Data Center (no REST v2)
    and a wrong base URL do. Every page then says so, not 'check the page id'."""
    for page_id in ("1", "2"):
        confluence.add_page(page_id)
    confluence.fault("/wiki/api/v2/pages", status(404))

    facts = fetch_all(client(confluence.url), ["1", "2"], property_key=None, concurrency=2)

    for page_id in ("1", "2"):
        failure = facts[page_id].failure
        assert failure is not None and failure.status == 404
        assert "has no Confluence Cloud REST v2 API" in failure.message
        assert "Data Center" in failure.message and "check the page id" not in failure.message
    assert confluence.count("/wiki/api/v2/pages/*") == 0

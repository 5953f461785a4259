"""Tests of the fake Confluence server itself, with plain ``requests`` (no plugin involved)."""

from __future__ import annotations

import base64
import http.client
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.fake_confluence import (
    APPROVAL_APP_ACCOUNT,
    FakeConfluence,
    approval_value,
    hang,
    html_login,
    json_body,
    malformed_json,
    next_link,
    oversized,
    redirect,
    reset,
    retry_after,
    rewrite_text,
    running_fake_confluence,
    status,
)

TIMEOUT = 5.0
JSON_TYPE = "application/json;charset=UTF-8"


@pytest.fixture
def fake() -> Iterator[FakeConfluence]:
    with running_fake_confluence() as server:
        yield server


def get(fake: FakeConfluence, path: str, **kwargs: object) -> requests.Response:
    """GET a path below the site base ("/api/v2/pages/1")."""
    return requests.get(fake.url + path, timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


# --- endpoints ----------------------------------------------------------------------------


def test_urls(fake: FakeConfluence) -> None:
    assert fake.origin.startswith("http://127.0.0.1:")
    assert fake.url == fake.origin + "/wiki"


def test_single_page_shape(fake: FakeConfluence) -> None:
    fake.add_page("718962697", title="Release checklist", version=7, version_author_id="acc-x")
    resp = get(fake, "/api/v2/pages/718962697")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_TYPE
    page = resp.json()
    assert page["id"] == "718962697"
    assert page["status"] == "current"
    assert page["title"] == "Release checklist"
    assert page["spaceId"] == "98306"
    assert page["parentId"] is None
    assert page["version"] == {
        "number": 7,
        "createdAt": "2025-07-01T10:00:00.000Z",
        "message": "",
        "minorEdit": False,
        "authorId": "acc-x",
    }
    assert page["_links"]["base"] == fake.url
    assert page["_links"]["webui"] == "/spaces/ENG/pages/718962697/Release-checklist"
    assert page["_links"]["tinyui"].startswith("/x/")
    assert "editui" in page["_links"]


def test_single_page_errors_and_statuses(fake: FakeConfluence) -> None:
    fake.add_page("5", status="trashed")
    fake.add_page("6", status="archived")
    missing = get(fake, "/api/v2/pages/404404")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "NOT_FOUND"
    assert get(fake, "/api/v2/pages/abc").status_code == 400
    assert get(fake, "/api/v2/pages/5").json()["status"] == "trashed"
    assert get(fake, "/api/v2/pages/6").json()["status"] == "archived"


def test_add_version_sets_current_version(fake: FakeConfluence) -> None:
    fake.add_page("1", version_created_at="2025-07-01T10:00:00.000Z")
    fake.add_version("1", 3, "2025-08-01T10:00:00.000Z", author_id="acc-editor", minor_edit=True)
    fake.add_version("1", 2, "2025-07-20T10:00:00.000Z")
    page = get(fake, "/api/v2/pages/1").json()
    assert page["version"]["number"] == 3
    assert page["version"]["authorId"] == "acc-editor"
    assert page["version"]["minorEdit"] is True
    assert page["createdAt"] == "2025-07-01T10:00:00.000Z"


def test_bulk_pages_ids_and_status_filter(fake: FakeConfluence) -> None:
    for page_id, state in [("1", "current"), ("2", "archived"), ("3", "trashed")]:
        fake.add_page(page_id, status=state)
    comma = get(fake, "/api/v2/pages", params={"id": "1,2,3,999"}).json()
    repeated = get(fake, "/api/v2/pages?id=1&id=2&id=3&id=999").json()
    assert [p["id"] for p in comma["results"]] == ["1", "2"]  # trashed hidden by default
    assert comma == repeated
    assert comma["_links"] == {"base": fake.url}
    assert "base" not in comma["results"][0]["_links"]
    assert "version" in comma["results"][0]
    trashed = get(fake, "/api/v2/pages?id=1,2,3&status=current,trashed").json()
    assert [p["id"] for p in trashed["results"]] == ["1", "3"]


def test_bulk_pages_limits_and_pagination(fake: FakeConfluence) -> None:
    ids = [str(n) for n in range(1, 6)]
    for page_id in ids:
        fake.add_page(page_id)
    first = get(fake, "/api/v2/pages", params={"id": ",".join(ids), "limit": "2"})
    seen = [p["id"] for p in first.json()["results"]]
    nxt = first.json()["_links"].get("next")
    assert 'rel="next"' in first.headers["Link"]
    while nxt:
        assert nxt.startswith("/wiki/api/v2/pages?")
        body = requests.get(fake.origin + nxt, timeout=TIMEOUT).json()
        seen += [p["id"] for p in body["results"]]
        nxt = body["_links"].get("next")
    assert seen == ids
    too_many = ",".join(str(n) for n in range(1, 252))
    assert get(fake, "/api/v2/pages", params={"id": too_many}).status_code == 400
    assert get(fake, "/api/v2/pages?id=1,x").status_code == 400
    assert get(fake, "/api/v2/pages?id=1&limit=0").status_code == 400
    assert get(fake, "/api/v2/pages?id=1&cursor=garbage").status_code == 400


def test_properties_shape_and_key_filter(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.set_approval("1", approval_value())
    fake.add_property("1", "other", {"x": 1})
    resp = get(fake, "/api/v2/pages/1/properties")
    body = resp.json()
    assert [p["key"] for p in body["results"]] == ["njyzjq_capable_approval", "other"]
    prop = body["results"][0]
    assert prop["value"] == approval_value()
    assert prop["version"]["number"] == 1
    assert isinstance(prop["id"], str)
    assert body["_links"] == {"base": fake.url}
    assert resp.headers["Link"] == f'<{fake.url}>; rel="base"'

    only = get(fake, "/api/v2/pages/1/properties", params={"key": "other"}).json()
    assert [p["key"] for p in only["results"]] == ["other"]
    fake.add_property("1", "other", {"x": 2})  # an update bumps the property's version
    again = get(fake, "/api/v2/pages/1/properties?key=other").json()["results"][0]
    assert again["value"] == {"x": 2}
    assert again["version"]["number"] == 2
    assert again["id"] == only["results"][0]["id"]
    assert get(fake, "/api/v2/pages/1/properties?key=nope").json()["results"] == []
    assert get(fake, "/api/v2/pages/2/properties").status_code == 404


def test_a_property_version_names_its_writer(fake: FakeConfluence) -> None:
    fake.add_page("1", version_author_id="acc-page-author")
    fake.set_approval("1", approval_value())
    fake.add_property("1", "edited", {"x": 1}, author_id="acc-editor", created_at=AT)
    fake.add_property("1", "anonymous", {"x": 1}, author_id=None)

    written = {
        p["key"]: p["version"] for p in get(fake, "/api/v2/pages/1/properties").json()["results"]
    }

    assert written["njyzjq_capable_approval"]["authorId"] == APPROVAL_APP_ACCOUNT
    assert written["edited"] == {
        "number": 1,
        "createdAt": AT,
        "message": "",
        "minorEdit": False,
        "authorId": "acc-editor",
    }
    assert "authorId" not in written["anonymous"]


AT = "2025-07-20T10:00:00.000Z"


@pytest.mark.parametrize(("limit", "per_page"), [(None, 25), ("250", 60), ("10", 10)])
def test_versions_page_at_25_unless_a_limit_says_otherwise(
    fake: FakeConfluence, limit: str | None, per_page: int
) -> None:
    fake.add_page("1", version=1)
    for number in range(2, 61):
        fake.add_version("1", number, AT, minor_edit=True)

    body = get(fake, "/api/v2/pages/1/versions", params={"limit": limit} if limit else None).json()

    assert len(body["results"]) == per_page
    assert body["results"][0]["number"] == 60  # newest first
    assert ("next" in body["_links"]) is (per_page < 60)


def test_a_version_may_lack_optional_fields(fake: FakeConfluence) -> None:
    fake.add_page("1", version=1)
    fake.add_version("1", 2, None, author_id=None, minor_edit=None)

    newest = get(fake, "/api/v2/pages/1/versions").json()["results"][0]

    assert newest == {"number": 2, "message": ""}


@pytest.mark.parametrize(("server_size", "limit", "per_page"), [(2, None, 2), (25, "3", 3)])
def test_properties_pagination(
    fake: FakeConfluence, server_size: int, limit: str | None, per_page: int
) -> None:
    fake.properties_page_size = server_size
    fake.add_page("1")
    keys = [f"k{n}" for n in range(7)]
    for key in keys:
        fake.add_property("1", key, {"key": key})
    resp = get(fake, "/api/v2/pages/1/properties", params={"limit": limit} if limit else None)
    seen: list[str] = []
    while True:
        body = resp.json()
        assert len(body["results"]) <= per_page
        seen += [p["key"] for p in body["results"]]
        nxt = body["_links"].get("next")
        if nxt is None:
            assert 'rel="next"' not in resp.headers["Link"]
            break
        assert nxt.startswith("/wiki/api/v2/pages/1/properties?cursor=")
        assert f"limit={per_page}" in nxt
        assert resp.headers["Link"] == f'<{nxt}>; rel="next", <{fake.url}>; rel="base"'
        resp = requests.get(fake.origin + nxt, timeout=TIMEOUT)
    assert seen == keys


def test_versions_newest_first_paginated(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.add_version("1", 2, "2025-07-02T10:00:00.000Z", minor_edit=True)
    fake.add_version("1", 3, "2025-07-03T10:00:00.000Z", author_id="acc-other")
    first = get(fake, "/api/v2/pages/1/versions?limit=2").json()
    assert [v["number"] for v in first["results"]] == [3, 2]
    assert first["results"][0] == {
        "number": 3,
        "createdAt": "2025-07-03T10:00:00.000Z",
        "message": "",
        "minorEdit": False,
        "authorId": "acc-other",
    }
    rest = requests.get(fake.origin + first["_links"]["next"], timeout=TIMEOUT).json()
    assert [v["number"] for v in rest["results"]] == [1]
    assert "next" not in rest["_links"]
    assert get(fake, "/api/v2/pages/9/versions").status_code == 404


def test_users_bulk(fake: FakeConfluence) -> None:
    fake.add_user("acc-1", "Ada Lovelace")
    url = fake.url + "/api/v2/users-bulk"
    resp = requests.post(url, json={"accountIds": ["acc-1", "acc-unknown"]}, timeout=TIMEOUT)
    assert resp.status_code == 200
    [user] = resp.json()["results"]
    assert user["accountId"] == "acc-1"
    assert user["displayName"] == user["publicName"] == "Ada Lovelace"
    many = {"accountIds": [f"acc-{n}" for n in range(101)]}
    assert requests.post(url, json=many, timeout=TIMEOUT).status_code == 400
    assert requests.post(url, data=b"nope", timeout=TIMEOUT).status_code == 400
    assert requests.post(url, json={"accountIds": []}, timeout=TIMEOUT).status_code == 400
    assert get(fake, "/api/v2/users-bulk").status_code == 404  # POST only


def test_cql_search_paginates_relative_to_site(fake: FakeConfluence) -> None:
    cql = 'space = ENG and label = "release"'
    fake.add_page("11", title="Known page")
    fake.add_cql(cql, ["11", "12", "13"])
    first = get(fake, "/rest/api/content/search", params={"cql": cql, "limit": "2"}).json()
    assert first["results"][0] == {
        "id": "11",
        "type": "page",
        "status": "current",
        "title": "Known page",
    }
    assert (first["start"], first["limit"], first["size"]) == (0, 2, 2)
    assert first["_links"]["base"] == fake.url
    assert first["_links"]["context"] == "/wiki"
    nxt = first["_links"]["next"]
    assert nxt.startswith("/rest/api/content/search?")  # v1: relative to the site base
    rest = requests.get(fake.url + nxt, timeout=TIMEOUT).json()
    assert [r["id"] for r in rest["results"]] == ["13"]
    assert rest["start"] == 2
    assert "next" not in rest["_links"]
    unknown = get(fake, "/rest/api/content/search", params={"cql": "type = page"}).json()
    assert unknown["results"] == []
    assert unknown["size"] == 0
    assert get(fake, "/rest/api/content/search").status_code == 400


def test_group_members_paginate_relative_to_site_like_v1(fake: FakeConfluence) -> None:
    fake.add_user("acc-a", "Alice")
    fake.add_group("qa team", ["acc-a", "acc-b", "acc-c"])
    path = "/rest/api/group/member"
    first = get(fake, path, params={"name": "qa team", "limit": "200"}).json()
    assert first["results"][0]["accountId"] == "acc-a"
    assert first["results"][0]["displayName"] == "Alice"
    assert first["results"][0]["type"] == "known"
    # The fake caps the page size (the real endpoint at 200) to exercise paging.
    assert (first["start"], first["limit"], first["size"]) == (0, 2, 2)
    nxt = first["_links"]["next"]
    assert nxt.startswith("/rest/api/group/member?")  # v1: relative to the site base
    rest = requests.get(fake.url + nxt, timeout=TIMEOUT).json()
    assert [r["accountId"] for r in rest["results"]] == ["acc-c"]
    assert "next" not in rest["_links"]
    missing = get(fake, path, params={"name": "nobody"})
    assert missing.status_code == 404
    assert "No group found with name : nobody" in missing.json()["message"]
    fake.add_group("secret", ["acc-a"], readable=False)
    assert get(fake, path, params={"name": "secret"}).status_code == 403
    assert get(fake, path).status_code == 400


def test_anything_else_is_404(fake: FakeConfluence) -> None:
    for path in ["/api/v2/spaces", "/api/v2/pages/1/children", "/api/v2/pages/"]:
        resp = get(fake, path)
        assert resp.status_code == 404
        assert resp.headers["Content-Type"] == JSON_TYPE
    assert requests.get(fake.origin + "/", timeout=TIMEOUT).status_code == 404
    assert requests.delete(fake.url + "/api/v2/pages/1", timeout=TIMEOUT).status_code == 404


# --- auth and recording -------------------------------------------------------------------


def test_basic_auth(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.auth = ("me@example.com", "s3cret")
    assert get(fake, "/api/v2/pages/1", auth=("me@example.com", "s3cret")).status_code == 200
    for auth in [None, ("me@example.com", "wrong")]:
        resp = get(fake, "/api/v2/pages/1", auth=auth)
        assert resp.status_code == 401
        assert resp.json() == {"statusCode": 401, "message": "Unauthorized"}


def test_bearer_auth(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.auth = "pat-123"
    ok = get(fake, "/api/v2/pages/1", headers={"Authorization": "Bearer pat-123"})
    assert ok.status_code == 200
    assert get(fake, "/api/v2/pages/1", headers={"Authorization": "Bearer x"}).status_code == 401
    assert get(fake, "/api/v2/pages/1", auth=("pat-123", "")).status_code == 401


def test_faults_apply_before_auth(fake: FakeConfluence) -> None:
    fake.auth = ("u", "t")
    fake.fault("/wiki/api/v2/*", html_login())
    resp = get(fake, "/api/v2/pages/1")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<form" in resp.text


def test_requests_are_recorded(fake: FakeConfluence) -> None:
    get(fake, "/api/v2/pages?id=1&id=2&status=", headers={"X-Probe": "yes"})
    requests.post(fake.url + "/api/v2/users-bulk", json={"accountIds": ["a"]}, timeout=TIMEOUT)
    first, second = fake.requests
    assert first.method == "GET"
    assert first.path == "/wiki/api/v2/pages"
    assert first.query == {"id": ["1", "2"], "status": [""]}
    assert first.headers["x-probe"] == "yes"
    assert "authorization" not in first.headers
    assert first.body == b""
    assert second.method == "POST"
    assert second.body == b'{"accountIds": ["a"]}'
    assert fake.count("/wiki/api/v2/pages") == 1
    assert fake.count("/wiki/api/v2/*") == 2
    assert fake.count("/wiki/rest/*") == 0


def test_chunked_request_body_is_read(fake: FakeConfluence) -> None:
    fake.add_user("a", "A")
    chunks = iter([b'{"accountIds"', b': ["a"]}'])
    resp = requests.post(fake.url + "/api/v2/users-bulk", data=chunks, timeout=TIMEOUT)
    assert resp.json()["results"][0]["accountId"] == "a"
    assert fake.requests[0].headers["transfer-encoding"] == "chunked"


def test_keep_alive_reuses_one_connection(fake: FakeConfluence) -> None:
    fake.add_page("1")
    host, port = fake.origin.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.request("GET", "/wiki/api/v2/pages/1")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        assert not first.will_close
        conn.request("GET", "/wiki/api/v2/pages/2")
        second = conn.getresponse()
        assert second.status == 404
        assert second.read()  # framed by Content-Length
        assert conn.sock is sock  # same TCP connection, not a reconnect
    finally:
        conn.close()


def test_latency(fake: FakeConfluence) -> None:
    fake.latency = 0.15
    started = time.monotonic()
    get(fake, "/api/v2/pages/1")
    assert time.monotonic() - started >= 0.15


# --- faults ---------------------------------------------------------------------------------


def test_status_fault_times_order_and_prefix(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.fault("/wiki/api/v2/pages/1", status(503), times=2)
    fake.fault("/wiki/api/v2/*", status(500, headers={"X-Why": "later"}, body=b"{}"), times=1)
    codes = [get(fake, "/api/v2/pages/1").status_code for _ in range(4)]
    assert codes == [503, 503, 500, 200]
    assert fake.count("/wiki/api/v2/pages/1") == 4
    fake.fault("/wiki/api/v2/pages/1", status(502))
    assert [get(fake, "/api/v2/pages/1").status_code for _ in range(2)] == [502, 502]
    assert get(fake, "/api/v2/pages/10").status_code == 404  # exact path: no prefix match
    fake.clear_faults()
    assert get(fake, "/api/v2/pages/1").status_code == 200


def test_status_fault_response(fake: FakeConfluence) -> None:
    fake.fault("/wiki/x", status(418, headers={"X-Why": "tea"}, body=b"teapot", content_type="a/b"))
    resp = get(fake, "/x")
    assert resp.status_code == 418
    assert resp.headers["X-Why"] == "tea"
    assert resp.headers["Content-Type"] == "a/b"
    assert resp.content == b"teapot"


def test_rewrite_text_sends_what_no_json_encoder_writes(fake: FakeConfluence) -> None:
    fake.add_page("1", title="One")
    fake.fault("/wiki/api/v2/pages/1", rewrite_text(lambda t: t.replace('"One"', "NaN")))
    resp = get(fake, "/api/v2/pages/1")
    assert resp.status_code == 200
    assert b'"title": NaN' in resp.content
    assert resp.headers["Content-Type"] == JSON_TYPE
    fake.add_page("2", title="Two")
    assert get(fake, "/api/v2/pages/2").json()["title"] == "Two"  # only the faulted path


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after(fake: FakeConfluence, code: int) -> None:
    fake.fault("/wiki/api/v2/pages/1", retry_after(3, code), times=1)
    fake.add_page("1")
    resp = get(fake, "/api/v2/pages/1")
    assert resp.status_code == code
    assert resp.headers["Retry-After"] == "3"
    assert get(fake, "/api/v2/pages/1").status_code == 200


def test_reset(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.fault("/wiki/api/v2/pages/1", reset(), times=1)
    with requests.Session() as session, pytest.raises(requests.ConnectionError):
        session.get(fake.url + "/api/v2/pages/1", timeout=TIMEOUT)
    assert get(fake, "/api/v2/pages/1").status_code == 200
    assert fake.count("/wiki/api/v2/pages/1") == 2


def test_hang_trips_read_timeout_then_recovers(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.fault("/wiki/api/v2/pages/1", hang(1.0), times=1)
    with pytest.raises(requests.ReadTimeout):
        requests.get(fake.url + "/api/v2/pages/1", timeout=0.2)
    assert get(fake, "/api/v2/pages/1").status_code == 200


def test_short_hang_answers_normally(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.fault("/wiki/api/v2/pages/1", hang(0.1))
    started = time.monotonic()
    assert get(fake, "/api/v2/pages/1").json()["id"] == "1"
    assert time.monotonic() - started >= 0.1


def test_malformed_json(fake: FakeConfluence) -> None:
    fake.fault("/wiki/api/v2/pages/1/properties", malformed_json())
    resp = get(fake, "/api/v2/pages/1/properties")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    with pytest.raises(requests.JSONDecodeError):
        resp.json()


def test_json_body(fake: FakeConfluence) -> None:
    fake.fault("/wiki/api/v2/pages/1/properties", json_body({"results": "x"}))
    fake.fault("/wiki/api/v2/pages/1", json_body({"id": "1"}, code=201))
    assert get(fake, "/api/v2/pages/1/properties").json() == {"results": "x"}
    resp = get(fake, "/api/v2/pages/1")
    assert (resp.status_code, resp.json()) == (201, {"id": "1"})


def test_redirect(fake: FakeConfluence) -> None:
    fake.add_page("2")
    fake.fault("/wiki/api/v2/pages/1", redirect(fake.url + "/api/v2/pages/2", code=301))
    raw = get(fake, "/api/v2/pages/1", allow_redirects=False)
    assert raw.status_code == 301
    assert raw.headers["Location"] == fake.url + "/api/v2/pages/2"
    followed = get(fake, "/api/v2/pages/1")
    assert followed.json()["id"] == "2"
    assert fake.count("/wiki/api/v2/pages/2") == 1


def test_oversized_streams_exact_length(fake: FakeConfluence) -> None:
    fake.fault("/wiki/api/v2/pages/1/properties", oversized(200_000))
    resp = get(fake, "/api/v2/pages/1/properties")
    assert resp.headers["Content-Length"] == "200000"
    assert len(resp.content) == 200_000
    assert resp.content.startswith(b'{"results": [')


def test_oversized_client_can_stop_early(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.fault("/wiki/api/v2/pages/1/properties", oversized(500_000_000), times=1)
    with get(fake, "/api/v2/pages/1/properties", stream=True) as resp:
        assert resp.headers["Content-Length"] == "500000000"
        received = 0
        for chunk in resp.iter_content(65536):
            received += len(chunk)
            if received > 1_000_000:
                break
    assert get(fake, "/api/v2/pages/1/properties").status_code == 200


def test_next_link(fake: FakeConfluence) -> None:
    fake.add_page("1")
    fake.add_property("1", "k", 1)
    evil = "https://evil.example/wiki/api/v2/pages/1/properties?cursor=x"
    fake.fault("/wiki/api/v2/pages/1/properties", next_link(evil))
    resp = get(fake, "/api/v2/pages/1/properties")
    assert resp.json()["_links"] == {"base": fake.url, "next": evil}
    assert resp.json()["results"][0]["key"] == "k"
    assert resp.headers["Link"] == f'<{evil}>; rel="next", <{fake.url}>; rel="base"'
    fake.auth = "tok"  # an unauthorised answer is not rewritten
    assert "next" not in str(get(fake, "/api/v2/pages/1/properties").json())


# --- lifecycle ------------------------------------------------------------------------------


def test_stop_is_quick_with_hanging_and_idle_connections() -> None:
    errors: list[BaseException] = []
    fake = FakeConfluence()
    fake.start()
    fake.fault("/wiki/slow", hang(30))

    def call() -> None:
        try:
            requests.get(fake.url + "/slow", timeout=30)
        except requests.RequestException as error:
            errors.append(error)

    idle = http.client.HTTPConnection("127.0.0.1", int(fake.origin.rsplit(":", 1)[1]))
    idle.request("GET", "/wiki/nothing")
    idle.getresponse().read()  # leaves a keep-alive connection open on the server
    client = threading.Thread(target=call)
    client.start()
    deadline = time.monotonic() + TIMEOUT
    while fake.count("/wiki/slow") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1.0
    client.join(TIMEOUT)
    idle.close()
    assert not client.is_alive()
    assert len(errors) == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(fake.url + "/nothing", timeout=1)


def test_context_manager_protocol() -> None:
    with FakeConfluence() as fake:
        fake.add_page("1")
        assert get(fake, "/api/v2/pages/1").status_code == 200


# --- approval_value -------------------------------------------------------------------------


def test_approval_value_defaults() -> None:
    assert approval_value() == {
        "pending": [],
        "approved": ["acc-approver"],
        "rejected": [],
        "commented": [],
        "status": 1,
        "isComplete": "true",
        "completedAt": 1752575594000,
        "createdAt": 1752489194000,
        "createdBy": "acc-author",
        "latestVersionBy": "acc-author",
        "minimumApprovers": 1,
        "minimumRejections": 1,
    }


def test_approval_value_variants() -> None:
    pending = approval_value(approved=[], pending=["a"], complete=False, minimum_approvers=2)
    assert (pending["isComplete"], pending["status"]) == ("false", 0)
    assert pending["pending"] == ["a"]
    assert pending["minimumApprovers"] == 2
    assert approval_value(complete="maybe")["isComplete"] == "maybe"
    extra = approval_value(isComplete=True, note="x")
    assert extra["isComplete"] is True
    assert extra["note"] == "x"


def test_basic_auth_header_matches_requests(fake: FakeConfluence) -> None:
    fake.auth = ("u", "t")
    token = base64.b64encode(b"u:t").decode()
    resp = get(fake, "/api/v2/pages/1", headers={"Authorization": f"Basic {token}"})
    assert resp.status_code == 404  # past auth: the page just does not exist
    assert fake.requests[-1].headers["authorization"] == f"Basic {token}"

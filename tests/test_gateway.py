"""Atlassian's API gateway (scoped API tokens, OAuth 2.0), end to end.

The base URL is ``https://api.atlassian.com/ex/confluence/{cloudId}/wiki``. The gateway
writes ``next`` links without its ``/ex/confluence/{cloudId}`` prefix and gives the site
itself as ``_links.base``; the fake's gateway mode answers exactly so. Every kind of
request the gate makes goes through it here: a batch of plain ids, paginated
properties, a paginated ``cql:`` query, paginated version histories, users-bulk and
paginated group members.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GateRunner
from tests.fake_confluence import FakeConfluence, approval_value, next_link, redirect, rewrite

CLOUD_ID = "a436116f-02ce-4520-8fbb-7301462a1674"
SITE = "https://acme.atlassian.net/wiki"
CQL = "label = release-2025-08"


@pytest.fixture
def gateway() -> Iterator[FakeConfluence]:
    with FakeConfluence(gateway_cloud_id=CLOUD_ID) as site:
        yield site


@pytest.fixture
def gate_via_gateway(pytester: pytest.Pytester, gateway: FakeConfluence) -> GateRunner:
    return GateRunner(pytester, gateway)


def _populate(site: FakeConfluence) -> None:
    site.properties_page_size = 1  # every listing takes several requests
    site.versions_max_page_size = 1
    site.search_page_size = 1
    site.add_user("acc-approver", "Ada Approver")
    for page_id in ("101", "102", "201", "202"):
        site.add_page(page_id, title=f"Page {page_id}")
        site.add_property(page_id, "another.app", {"x": 1})  # the approval is on page 2
        site.set_approval(page_id, approval_value())
    # 102: two minor edits after the approval; the history has three versions.
    for number in (2, 3):
        site.add_version("102", number, f"2025-08-0{number}T10:00:00.000Z", minor_edit=True)
    # 201 is approved; 202 is still waiting for its approver: its failure shows the link.
    site.set_approval("202", approval_value(approved=[], pending=["acc-approver"], complete=False))
    site.add_cql(CQL, ["201", "202"])
    site.add_group("release-managers", ["acc-other", "acc-else", "acc-approver"])  # 2 pages


def test_every_kind_of_request_works_through_the_gateway(
    gate_via_gateway: GateRunner, gateway: FakeConfluence
) -> None:
    _populate(gateway)
    gate_via_gateway.write_policy(
        [
            {"id": "101", "required_groups": [{"group": "release-managers", "min": 1}]},
            {"id": "102", "ignore_minor_edits": True},
            {"cql": CQL},
        ]
    )

    run = gate_via_gateway.run()

    run.result.assert_outcomes(passed=3, failed=1)
    prefix = f"/ex/confluence/{CLOUD_ID}/wiki"
    paths = [r.path for r in gateway.requests]
    assert all(path.startswith(prefix + "/") for path in paths), paths  # no 404 detours
    assert gateway.count(f"{prefix}/api/v2/pages/101/properties") == 2  # followed next
    assert gateway.count(f"{prefix}/api/v2/pages/102/versions") == 3
    assert gateway.count(f"{prefix}/rest/api/content/search") == 2
    assert gateway.count(f"{prefix}/api/v2/users-bulk") == 1
    assert gateway.count(f"{prefix}/rest/api/group/member") == 2
    assert "Ada Approver" in run.failure_text("202")


def test_links_for_people_point_at_the_site_never_at_the_gateway(
    gate_via_gateway: GateRunner, gateway: FakeConfluence
) -> None:
    _populate(gateway)
    gateway.add_page("303")  # no approval at all
    gate_via_gateway.write_policy([{"id": "202"}, {"id": "303"}, {"id": "404"}])

    run = gate_via_gateway.run()

    run.result.assert_outcomes(failed=3)
    assert f"{SITE}/spaces/ENG/pages/202/" in run.failure_text("202")
    assert f"{SITE}/spaces/ENG/pages/303/" in run.failure_text("303")
    # 404 is not on the site: no answer names its page, the link is built from the base
    # the other answers gave.
    assert f"{SITE}/pages/viewpage.action?pageId=404" in run.failure_text("404")
    for page_id in ("202", "303", "404"):
        assert "/ex/confluence/" not in run.failure_text(page_id)
    # The report header names the configured base URL; nothing after it does.
    after_header = run.output.split("collected", 1)[1]
    assert gateway.origin not in after_header


@pytest.mark.parametrize("via_gateway", [False, True], ids=["site", "gateway"])
@pytest.mark.parametrize(
    "base",
    [
        "https://evil.example/wiki",
        "https://acme.atlassian.net.evil.example/wiki",
        "http://acme.atlassian.net/wiki",  # not over https
        "https://acme.atlassian.net:8443/wiki",
    ],
)
def test_a_base_of_another_host_never_becomes_the_link_people_follow(
    pytester: pytest.Pytester, via_gateway: bool, base: str
) -> None:
    """A proxy or hostile server names the base of every link in its answers: the gate
    only takes it from the configured site's origin, or through the gateway from an
    Atlassian Cloud site over https (the base its other answers give)."""
    with FakeConfluence(gateway_cloud_id=CLOUD_ID if via_gateway else None) as site:
        site.add_page("202")
        site.set_approval("202", approval_value(approved=[], pending=["acc-a"], complete=False))

        def hostile_base(payload: Any) -> None:
            payload["_links"]["base"] = base

        site.fault(f"{site.prefix}/wiki/api/v2/pages", rewrite(hostile_base))
        gate = GateRunner(pytester, site)
        gate.write_policy([{"id": "202"}, {"id": "404"}])

        run = gate.run()

    run.result.assert_outcomes(failed=2)
    for page_id in ("202", "404"):
        link = run.failure_text(page_id).splitlines()[-1].strip()
        assert link.startswith((site.url + "/", site.links_base + "/")), link


@pytest.mark.parametrize(
    "link",
    [
        "/wiki/../../../jira/{cloud}/rest/api/3/myself",
        "/wiki/%2e%2e/%2E%2E/%2e%2e/jira/{cloud}/rest/api/3/myself",
        "/ex/jira/{cloud}/rest/api/3/myself",
        "/wiki/..%2f..%2f..%2fjira/{cloud}/rest/api/3/myself",
    ],
    ids=["dots", "encoded-dots", "other-product", "encoded-slash"],
)
def test_a_next_link_out_of_the_base_path_is_not_followed(
    gate_via_gateway: GateRunner, gateway: FakeConfluence, link: str
) -> None:
    """The gateway's origin serves every product and site: a next link that climbs out of
    /ex/confluence/{cloudId}/wiki would send the token to another API on that origin."""
    gateway.add_page("101")
    gateway.set_approval("101", approval_value())
    gateway.fault(
        f"{gateway.prefix}/wiki/api/v2/pages/101/properties",
        next_link(link.format(cloud=CLOUD_ID)),
    )
    gate_via_gateway.write_policy([{"id": "101"}])

    run = gate_via_gateway.run()

    run.result.assert_outcomes(failed=1)
    assert "leaves the configured base URL" in run.failure_text("101")
    assert "no credentials were sent" in run.failure_text("101")
    outside = [r.path for r in gateway.requests if not r.path.startswith(gateway.prefix + "/")]
    assert outside == []


@pytest.mark.parametrize(
    "location",
    ["/ex/jira/{cloud}/rest/api/3/myself", "/ex/confluence/{cloud}/wiki/../../jira/{cloud}/x"],
    ids=["other-product", "dots"],
)
def test_a_redirect_out_of_the_base_path_is_not_followed(
    gate_via_gateway: GateRunner, gateway: FakeConfluence, location: str
) -> None:
    gateway.add_page("101")
    gateway.set_approval("101", approval_value())
    gateway.fault(
        f"{gateway.prefix}/wiki/api/v2/pages/101/properties",
        redirect(location.format(cloud=CLOUD_ID)),
    )
    gate_via_gateway.write_policy([{"id": "101"}])

    run = gate_via_gateway.run()

    run.result.assert_outcomes(failed=1)
    assert "out of the configured base URL" in run.failure_text("101")
    outside = [r.path for r in gateway.requests if not r.path.startswith(gateway.prefix + "/")]
    assert outside == []

"""TLS verification is never turned off, and REQUESTS_CA_BUNDLE is honoured."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from pytest_confluence_approval.confluence import ConfluenceClient, Credentials
from tests.conftest import GateRunner, approved_page
from tests.fake_confluence import FakeConfluence, running_fake_confluence
from tests.test_network import assert_cancel_cuts_a_request_in_flight


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_site(authority: trustme.CA) -> Iterator[FakeConfluence]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    with running_fake_confluence(tls=context) as site:
        approved_page(site, "101")
        yield site


@pytest.fixture
def trusted_authority(
    authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test CA in REQUESTS_CA_BUNDLE, as a site with a private authority is set up."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))


def test_an_untrusted_certificate_fails_the_page(
    gate: GateRunner, tls_site: FakeConfluence
) -> None:
    gate.write_policy([{"id": "101"}])

    run = gate.run("--confluence-url", tls_site.url, "--confluence-retries", "0", url=False)

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("101")
    assert "could not verify" in text and "CERTIFICATE_VERIFY_FAILED" in text
    assert "REQUESTS_CA_BUNDLE" in text
    assert tls_site.requests == []  # nothing was sent over the unverified connection


def test_requests_ca_bundle_is_honoured(
    gate: GateRunner,
    tls_site: FakeConfluence,
    trusted_authority: None,
) -> None:
    gate.write_policy([{"id": "101"}])

    run = gate.run("--confluence-url", tls_site.url, url=False)

    run.result.assert_outcomes(passed=1)
    assert tls_site.count("/wiki/api/v2/pages") == 1


def test_an_interrupt_cuts_a_request_in_flight_over_tls_too(
    tls_site: FakeConfluence,
    trusted_authority: None,
) -> None:
    """The TLS connection class registers its socket with the run, like the plain one."""
    client = ConfluenceClient(tls_site.url, Credentials("anonymous"), timeout=60, retries=0)
    assert_cancel_cuts_a_request_in_flight(tls_site, client)

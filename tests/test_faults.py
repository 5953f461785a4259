"""Fail closed (SPEC section 7), end to end: every way Confluence, a proxy or the network can
misbehave ends in a failing item for the affected page only, with a clear "could not
verify" reason, while the other pages keep their verdicts, the session survives (no
traceback, no INTERNALERROR, exit code 1), and the run stays bounded in time.

Each case runs the real plugin (pytester, in process) against the fake Confluence on
127.0.0.1: pages 101 and 103 are fine, page 102 is faulted (on its properties, unless the
fault is about the batch). A second fake plays "another host": it must never hear from the
gate, least of all with the credentials.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from pytest_confluence_approval.transport import Answer, Transport
from tests.conftest import GateRunner, PytestRun, approved_page
from tests.fake_confluence import (
    FakeConfluence,
    Fault,
    hang,
    html_login,
    json_body,
    malformed_json,
    next_link,
    oversized,
    redirect,
    reset,
    retry_after,
    running_fake_confluence,
    status,
)

BATCH = "/wiki/api/v2/pages"
PROPS_102 = "/wiki/api/v2/pages/102/properties"
PAGE_102 = "/wiki/api/v2/pages/102"
PAGES = ("101", "102", "103")
USER = "ci@acme.test"
TOKEN = "s3cret-api-token-never-printed"  # the fake site's secret, checked not to leak
#: What one in-process gate run costs on top of the waiting a fault imposes by design
#: (about 0.1 s on a quiet machine; generous for a busy CI runner, tiny next to a hang).
SLACK = 2.5

#: Builds the fault from (the site, another host); may read the site's real answers.
MakeFault = Callable[[FakeConfluence, FakeConfluence], Fault]


@dataclass(frozen=True)
class Case:
    """One fault: where it is injected, what the user must read, what it may cost."""

    id: str
    make_fault: MakeFault
    reason: str  # a stable fragment of page 102's only reason
    path: str = PROPS_102
    args: tuple[str, ...] = ()
    #: exactly this many requests reach ``counted`` (default: ``path``); None: not checked
    attempts: int | None = 1
    #: at most this many requests reach ``counted`` (for faults whose count may vary)
    max_attempts: int | None = None
    counted: str | None = None
    #: the waiting the fault imposes by design: the run takes at least this, and at most
    #: this + SLACK
    waiting: float = 0.0
    #: False: page 102 is not on the site at all (nothing to fault, it is simply unknown)
    page_exists: bool = True


def _batch_without_102_version(site: FakeConfluence, _other: FakeConfluence) -> Fault:
    """The site's real batch answer, with page 102's ``version`` removed."""
    answer = requests.get(
        f"{site.url}/api/v2/pages",
        params={"id": ",".join(PAGES), "status": "current", "limit": "250"},
        auth=(USER, TOKEN),
        timeout=5,
    )
    answer.raise_for_status()
    body = answer.json()
    (page,) = (p for p in body["results"] if p["id"] == "102")
    del page["version"]
    return json_body(body)


CASES = [
    Case(
        "hang",
        lambda site, other: hang(30),
        "did not answer for the properties of page 102 within 0.3 s (up to 2 attempts)",
        args=("--confluence-timeout", "0.3", "--confluence-retries", "1"),
        attempts=2,
        waiting=0.3 * 2,  # timeout x attempts
    ),
    Case(
        "deadline-caps-hang",
        lambda site, other: hang(30),
        "--confluence-deadline",
        # Without the deadline: 6 attempts x 1 s; with it, about 2 s.
        args=(
            *("--confluence-timeout", "1", "--confluence-retries", "5"),
            *("--confluence-deadline", "2s"),
        ),
        attempts=None,
        max_attempts=3,
        waiting=2.0,
    ),
    Case(
        "reset",
        lambda site, other: reset(),
        "network error while fetching the properties of page 102",
        args=("--confluence-retries", "1"),
        attempts=2,
    ),
    Case(
        "5xx-storm",
        lambda site, other: status(503),
        "failed while serving the properties of page 102 (HTTP 503) until the retries ran out",
        args=("--confluence-retries", "2"),
        attempts=3,
    ),
    Case(
        "429-retry-after-an-hour",
        lambda site, other: retry_after(3600),
        "Confluence asked to wait 3600 s before retrying (Retry-After)",
    ),
    Case(
        "html-login-page",
        lambda site, other: html_login(),
        "answered for the properties of page 102 with text/html instead of JSON",
    ),
    Case(
        "malformed-json",
        lambda site, other: malformed_json(),
        "malformed JSON for the properties of page 102",
    ),
    Case(
        "properties-wrong-shape",
        lambda site, other: json_body({"results": "x"}),
        "the properties of page 102 without a list of results (unexpected response shape)",
    ),
    Case(
        "batch-page-without-version",
        _batch_without_102_version,
        "Confluence sent a page without version information",
        path=BATCH,
    ),
    Case(
        "oversized-body",
        lambda site, other: oversized(11 * 1024 * 1024),
        "answer for the properties of page 102 is larger than 10 MB; refused",
    ),
    Case(
        "pagination-to-other-origin",
        lambda site, other: next_link(f"{other.url}/api/v2/pages/102/properties?cursor=b2Zm"),
        "pagination link for the properties of page 102 points to another site",
    ),
    Case(
        "redirect-to-other-host",
        lambda site, other: redirect(f"{other.url}/api/v2/pages/102/properties"),
        "redirected the request for the properties of page 102 to another site",
    ),
    Case(
        "pagination-loop",
        lambda site, other: next_link(f"{site.url}/api/v2/pages/102/properties?limit=250"),
        "pagination for the properties of page 102 loops back to a page already read",
        attempts=None,  # one or two reads, depending on how the first URL was spelled
        max_attempts=2,
    ),
    Case(
        "401",
        lambda site, other: status(401),
        "did not accept the credentials for the properties of page 102 (HTTP 401)",
    ),
    Case(
        "403",
        lambda site, other: status(403),
        "may not read the properties of page 102 (HTTP 403)",
    ),
    Case(
        "404-unknown-page",
        lambda site, other: status(404),  # unused: page 102 is not on the site
        "page 102 was not found (HTTP 404): check the page id",
        counted=PAGE_102,  # the batch leaves it out, so it is asked for alone, once
        page_exists=False,
    ),
]


@pytest.fixture
def other_host() -> Iterator[FakeConfluence]:
    """Another origin, as a hostile pagination link or redirect would name it."""
    with running_fake_confluence() as other:
        yield other


@pytest.fixture
def credentials(gate: GateRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real credentials, so that leaking them (to another host, into output) would show."""
    gate.site.auth = (USER, TOKEN)
    monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", TOKEN)


def three_pages(gate: GateRunner, *, with_102: bool = True) -> None:
    for page_id in PAGES:
        if page_id != "102" or with_102:
            approved_page(gate.site, page_id)
    gate.write_policy([{"id": page_id} for page_id in PAGES])


def timed_run(gate: GateRunner, *args: str) -> tuple[PytestRun, float]:
    started = time.monotonic()
    run = gate.run(*args)
    return run, time.monotonic() - started


def reasons(run: PytestRun, page_id: str) -> list[str]:
    """The bullet points of a page's failure text (SPEC section 4)."""
    lines = (line.strip() for line in run.failure_text(page_id).splitlines())
    return [line[2:] for line in lines if line.startswith("- ")]


def only_reason(run: PytestRun, page_id: str) -> str:
    (reason,) = reasons(run, page_id)
    assert reason.startswith("could not verify"), reason
    return reason


def assert_session_survived(run: PytestRun) -> None:
    """No crash and no leak: not in the terminal, not in the JUnit XML."""
    junit = "" if run.junit is None else ET.tostring(run.junit, encoding="unicode")
    for where in (run.output, junit):
        assert "Traceback" not in where
        assert "INTERNALERROR" not in where
        assert TOKEN not in where


def assert_only_102_failed(run: PytestRun) -> None:
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    run.result.assert_outcomes(passed=2, failed=1)
    cases = run.testcases()
    assert sorted(cases) == list(PAGES)
    for page_id in ("101", "103"):
        assert [child.tag for child in cases[page_id]] == ["system-out"], page_id
    assert "2 approved, 0 not approved, 1 not verifiable" in run.output


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
@pytest.mark.usefixtures("credentials")
def test_a_fault_fails_only_the_affected_page(
    gate: GateRunner, other_host: FakeConfluence, case: Case
) -> None:
    site = gate.site
    three_pages(gate, with_102=case.page_exists)
    if case.page_exists:
        site.fault(case.path, case.make_fault(site, other_host))
    before = len(site.requests)

    run, elapsed = timed_run(gate, *case.args)

    assert_only_102_failed(run)
    assert case.reason in only_reason(run, "102")
    assert_session_survived(run)
    # Bounded: the fault costs the waiting it imposes by design, and nothing more.
    assert case.waiting <= elapsed < case.waiting + SLACK, f"took {elapsed:.2f} s"
    sent = site.requests[before:]
    to_faulted = sum(1 for r in sent if r.path == (case.counted or case.path))
    if case.attempts is not None:
        assert to_faulted == case.attempts
    if case.max_attempts is not None:
        assert 1 <= to_faulted <= case.max_attempts
    # The credentials went to the site with every request...
    assert all(r.headers.get("authorization", "").startswith("Basic ") for r in sent)
    # ...and nothing at all, least of all an Authorization header, went anywhere else.
    assert other_host.requests == []


def test_a_wrong_token_fails_every_page_after_a_constant_number_of_requests(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [str(2000 + n) for n in range(30)]
    for page_id in ids:
        approved_page(gate.site, page_id)
    gate.site.auth = (USER, TOKEN)
    monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", "expired-token")
    gate.write_policy([{"id": page_id} for page_id in ids])

    run, elapsed = timed_run(gate)

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    run.result.assert_outcomes(failed=30)
    for page_id in ids:
        assert "did not accept the credentials" in only_reason(run, page_id)
    # The batch's 401 answers for all 30: no page-by-page retry of a refused login.
    assert [r.path for r in gate.site.requests] == [BATCH]
    assert "0 approved, 0 not approved, 30 not verifiable" in run.output
    assert_session_survived(run)
    assert "expired-token" not in run.output
    assert elapsed < SLACK


def test_plain_http_to_another_host_is_a_usage_error_before_any_request(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_pages(gate)
    monkeypatch.setenv("CONFLUENCE_USERNAME", USER)
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", TOKEN)
    attempted: list[Any] = []
    real_send = Transport.send

    def spy(self: Transport, *args: Any, **kwargs: Any) -> Answer:
        attempted.append(args)
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(Transport, "send", spy)

    run = gate.run("--confluence-url", "http://confluence.acme.test/wiki", url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "plain http" in run.output
    assert "--confluence-insecure-http" in run.output
    assert attempted == []
    assert gate.site.requests == []
    assert_session_survived(run)


# --- bugs found by this suite (strict: each turns red once fixed, so the mark goes) ------


def test_the_deadline_caps_the_fetch_even_mid_retry(gate: GateRunner) -> None:
    three_pages(gate)
    gate.site.fault(PROPS_102, hang(30))

    run, elapsed = timed_run(
        gate,
        *("--confluence-timeout", "1", "--confluence-retries", "5"),
        *("--confluence-deadline", "1.5s"),
    )

    assert_only_102_failed(run)
    assert "--confluence-deadline" in only_reason(run, "102")
    assert elapsed < 1.5 + 0.4, f"a 1.5 s deadline took {elapsed:.2f} s"


def test_a_deadline_shorter_than_the_timeout_is_named_in_the_reason(gate: GateRunner) -> None:
    three_pages(gate)
    gate.site.fault(PROPS_102, hang(30))

    # The deadline runs from the start of the session: 3 s leaves the sound pages time on a
    # busy machine, and is still well short of the timeout whose message must not appear.
    run, elapsed = timed_run(
        gate,
        *("--confluence-timeout", "20", "--confluence-retries", "0"),
        *("--confluence-deadline", "3s"),
    )

    assert_only_102_failed(run)
    assert elapsed < 3 + SLACK
    reason = only_reason(run, "102")
    assert "within 20 s" not in reason, reason  # it waited 3 s, not 20
    assert "--confluence-deadline" in reason, reason


def test_an_unparsable_retry_after_is_reported_as_it_happened(gate: GateRunner) -> None:
    three_pages(gate)
    gate.site.fault(PROPS_102, status(429, headers={"Retry-After": "soon"}))

    run, _ = timed_run(gate)

    assert_only_102_failed(run)
    assert_session_survived(run)
    reason = only_reason(run, "102")
    made = gate.site.count(PROPS_102)
    claimed = re.search(r"(\d+) attempts", reason)
    assert claimed is None or int(claimed.group(1)) == made, (made, reason)
    assert "429" in reason, reason


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Fri, 31 Dec 99999 23:59:59 GMT", id="date-off-the-calendar"),  # ValueError
        pytest.param("Fri, 31 Dec 9999999999999 23:59:59", id="local-date-overflowing"),
        pytest.param("9" * 5000, id="more-digits-than-python-converts"),  # ValueError
        pytest.param("soon", id="neither-seconds-nor-a-date"),
    ],
)
def test_a_retry_after_that_cannot_be_read_is_read_as_absent(gate: GateRunner, value: str) -> None:
    """The usual back-off instead (a 503's first retry goes out at once): the retry is
    answered and the page judged. Raised inside urllib3, the first three failed the page as
    "unexpected error", and crashed the run where the main thread sent the request."""
    three_pages(gate)
    gate.site.fault(PROPS_102, retry_after(value, 503), times=1)

    run = gate.run()

    run.result.assert_outcomes(passed=3)
    assert gate.site.count(PROPS_102) == 2
    assert_session_survived(run)

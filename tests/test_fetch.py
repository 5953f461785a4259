"""Speed and scale as the user notices it: how many requests, how many at once, over how
many connections, and how a rate limit slows the whole fetch (SPEC section 8)."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import pytest
import requests

from pytest_confluence_approval.gate import Gate, GateOptions, GateSettings
from pytest_confluence_approval.request_loop import rate_limit_delay
from tests.conftest import QUIET, GateRunner, approved_page
from tests.fake_confluence import FakeConfluence, approval_value, retry_after, status

BATCH = "/wiki/api/v2/pages"


def many_approved_pages(site: FakeConfluence, count: int) -> list[str]:
    ids = [str(1000 + n) for n in range(count)]
    for page_id in ids:
        approved_page(site, page_id)
    return ids


def kinds(site: FakeConfluence) -> dict[str, int]:
    out = {"batch": 0, "page": 0, "properties": 0, "users": 0}
    for r in site.requests:
        if r.path == BATCH:
            out["batch"] += 1
        elif r.path.endswith("/properties"):
            out["properties"] += 1
        elif r.path.endswith("/users-bulk"):
            out["users"] += 1
        else:
            out["page"] += 1
    return out


def test_n_pages_with_a_known_key_cost_n_plus_one_per_250(gate: GateRunner) -> None:
    ids = many_approved_pages(gate.site, 260)
    gate.write_policy([{"id": i} for i in ids], property_key="njyzjq_capable_approval")

    run = gate.run("--confluence-concurrency", "16")

    run.result.assert_outcomes(passed=260)
    assert kinds(gate.site) == {
        "batch": math.ceil(260 / 250),
        "page": 0,
        "properties": 260,
        "users": 1,  # every page names the same approver: one users-bulk call
    }
    batches = [r for r in gate.site.requests if r.path == BATCH]
    assert sorted(len(b.query["id"][0].split(",")) for b in batches) == [10, 250]
    assert all(b.query["limit"] == ["250"] for b in batches)
    assert all({"current", "archived", "trashed"} <= set(b.query["status"]) for b in batches)
    assert all(
        r.query.get("key") == ["njyzjq_capable_approval"]
        for r in gate.site.requests
        if r.path.endswith("/properties")
    )


def test_a_trashed_page_is_seen_in_the_batch_and_fails_on_its_status(gate: GateRunner) -> None:
    gate.site.add_page("101", status="trashed")
    gate.site.set_approval("101", approval_value())
    gate.write_policy([{"id": "101"}])

    run = gate.run()

    assert "page status is 'trashed'" in run.failure_text("101")
    assert kinds(gate.site)["page"] == 0


def test_wrong_credentials_cost_one_request_not_one_per_page(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = many_approved_pages(gate.site, 40)
    gate.site.auth = ("ci@acme.test", "right")
    gate.write_policy([{"id": i} for i in ids])
    monkeypatch.setenv("CONFLUENCE_USERNAME", "ci@acme.test")
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", "expired")

    run = gate.run()

    run.result.assert_outcomes(failed=40)
    assert len(gate.site.requests) == 1
    assert "did not accept the credentials" in run.failure_text(ids[-1])


def test_requests_run_concurrently_up_to_the_limit_over_pooled_connections(
    gate: GateRunner,
) -> None:
    ids = many_approved_pages(gate.site, 24)
    gate.site.latency = 0.3
    gate.write_policy([{"id": i} for i in ids], property_key="njyzjq_capable_approval")

    gate.run("--confluence-concurrency", "6").result.assert_outcomes(passed=24)

    arrivals = sorted(r.received_at for r in gate.site.requests if r.path.endswith("/properties"))
    # With 0.3 s per request, arrivals within 0.15 s of each other were in flight together.
    in_flight = max(sum(1 for t in arrivals if start <= t < start + 0.15) for start in arrivals)
    assert in_flight == 6
    # ...and connections are reused, not reopened: no more than one per worker.
    assert len({r.client_port for r in gate.site.requests}) <= 6


def test_a_rate_limit_pauses_every_worker_not_only_the_one_told(gate: GateRunner) -> None:
    ids = many_approved_pages(gate.site, 30)
    gate.site.latency = 0.02
    gate.site.fault(f"/wiki/api/v2/pages/{ids[3]}/properties", retry_after(1), times=1)
    gate.write_policy([{"id": i} for i in ids], property_key="njyzjq_capable_approval")

    gate.run("--confluence-concurrency", "4").result.assert_outcomes(passed=30)

    told = next(r for r in gate.site.requests if r.path.endswith(f"/{ids[3]}/properties"))
    during_pause = [
        r
        for r in gate.site.requests
        if told.received_at + 0.1 < r.received_at < told.received_at + 0.9
    ]
    assert during_pause == []
    assert len(gate.site.requests) > 30  # the fetch went on after the pause


@pytest.mark.parametrize(
    "headers", [{}, {"Retry-After": "soon"}], ids=["no-retry-after", "unreadable-retry-after"]
)
def test_a_429_without_a_usable_retry_after_backs_off_every_worker(
    gate: GateRunner, headers: dict[str, str]
) -> None:
    ids = many_approved_pages(gate.site, 30)
    gate.site.latency = 0.02
    told_path = f"/wiki/api/v2/pages/{ids[3]}/properties"
    gate.site.fault(told_path, status(429, headers=headers), times=1)
    gate.write_policy([{"id": i} for i in ids], property_key="njyzjq_capable_approval")

    gate.run("--confluence-concurrency", "4").result.assert_outcomes(passed=30)

    told, retried = (r for r in gate.site.requests if r.path == told_path)
    # Atlassian's advice: back off (here at least 1 s x 0.7 jitter) before trying again...
    assert retried.received_at - told.received_at >= 0.7
    # ...and the other workers pause too, instead of hammering a rate-limited site.
    during_pause = [
        r
        for r in gate.site.requests
        if told.received_at + 0.1 < r.received_at < told.received_at + 0.6
    ]
    assert during_pause == []


def test_the_rate_limit_back_off_grows_exponentially_with_jitter() -> None:
    delays = {
        attempt: [rate_limit_delay(attempt, 0.5, 30) for _ in range(200)] for attempt in (1, 3, 9)
    }

    assert all(0.7 <= d <= 1.3 for d in delays[1])
    assert all(2.8 <= d <= 5.2 for d in delays[3])
    assert all(21 <= d <= 39 for d in delays[9])  # capped at 30 s before the jitter
    assert len(set(delays[3])) > 100  # jittered: workers do not retry in step


def test_nothing_is_fetched_for_deselected_pages(gate: GateRunner) -> None:
    many_approved_pages(gate.site, 3)
    gate.write_policy([{"id": "1000"}, {"id": "1001"}, {"id": "1002", "name": "Skip me"}])

    gate.run("-k", "not Skip").result.assert_outcomes(passed=2, deselected=1)

    (batch,) = (r for r in gate.site.requests if r.path == BATCH)
    assert batch.query["id"] == ["1000,1001"]


def test_under_xdist_pages_are_fetched_once_per_run_not_per_worker(gate: GateRunner) -> None:
    pytest.importorskip("xdist")
    ids = many_approved_pages(gate.site, 30)
    gate.site.add_page(
        "2000", title="Change record", version=9, version_created_at="2025-09-01T00:00:00.000Z"
    )
    gate.site.set_approval("2000", approval_value())
    gate.write_policy([{"id": i} for i in [*ids, "2000"]], property_key="njyzjq_capable_approval")
    report = gate.pytester.path / "report.json"

    single = gate.run("--confluence-as-of", "2025-10-01T00:00:00Z")
    assert "30 approved, 1 not approved, 0 not verifiable" in single.output
    single_requests = len(gate.site.requests)
    gate.site.requests.clear()
    spread = gate.run(
        "-n",
        "2",
        "policy.yaml",  # named: the gate alone would run in one process
        "--confluence-as-of",
        "2025-10-01T00:00:00Z",
        "--confluence-report",
        report,
    )
    no_junit = gate.pytester.runpytest(
        "--confluence-policy",
        "policy.yaml",
        "--confluence-url",
        gate.site.url,
        "-n",
        "2",
        "policy.yaml",
        "--confluence-as-of",
        "2025-10-01T00:00:00Z",
        *QUIET,
    )
    no_junit.stdout.fnmatch_lines(["30 approved, 1 not approved, 0 not verifiable"])

    assert len(gate.site.requests) == 2 * single_requests == 2 * (2 + 31)  # two -n 2 runs
    spread.result.assert_outcomes(passed=30, failed=1)
    assert spread.failure_text("2000") == single.failure_text("2000")
    assert "page was edited after approval: version 9" in spread.failure_text("2000")
    for page_id, case in spread.testcases().items():
        out = case.find("system-out")
        assert out is not None and f"page_id: {page_id}" in (out.text or "")
    assert "30 approved, 1 not approved, 0 not verifiable" in spread.output
    assert len(json.loads(report.read_text())["pages"]) == 31


def test_the_gate_slows_down_to_what_the_site_serves_and_still_judges_every_page(
    gate: GateRunner,
) -> None:
    ids = many_approved_pages(gate.site, 24)
    gate.site.latency = 0.2
    gate.site.max_in_flight = 4  # the gate starts at 8 in flight: the site refuses some
    gate.site.limit_retry_after = 0
    gate.write_policy([{"id": i} for i in ids], property_key="njyzjq_capable_approval")

    run = gate.run()  # no tuning flag: the default ceiling is far above what the site takes

    run.result.assert_outcomes(passed=24)
    refused = gate.site.refused
    assert refused >= 1
    # Every refused request was retried: 1 batch + 24 properties + 1 users-bulk, + retries.
    assert len(gate.site.requests) == 26 + refused
    run.result.stdout.re_match_lines(
        [
            rf"fetched {26 + refused} requests at up to \d+ in flight "
            rf"\(ceiling 32; the site asked to slow down {refused} times?\)"
        ]
    )


def test_atlassians_near_limit_header_slows_the_gate_down(gate: GateRunner) -> None:
    ids = many_approved_pages(gate.site, 12)
    gate.site.near_limit_at = 1  # every answer says less than 20% of the budget is left
    gate.write_policy([{"id": i} for i in ids], property_key="njyzjq_capable_approval")

    run = gate.run()

    run.result.assert_outcomes(passed=12)
    assert gate.site.refused == 0
    sent = len(gate.site.requests)
    run.result.stdout.fnmatch_lines(
        [
            f"fetched {sent} requests at up to * in flight (ceiling 32; the site asked to slow "
            f"down {sent} times)"
        ]
    )


def test_the_summary_says_how_many_requests_went_out_and_how_many_at_once(gate: GateRunner) -> None:
    ids = many_approved_pages(gate.site, 3)
    gate.write_policy([{"id": i} for i in ids], property_key="njyzjq_capable_approval")

    run = gate.run("--confluence-concurrency", "2")

    run.result.assert_outcomes(passed=3)
    # How many overlapped depends on timing; never more than the ceiling.
    run.result.stdout.fnmatch_lines(["fetched 5 requests at up to [12] in flight (ceiling 2)"])


def test_a_replay_sends_no_request_and_says_nothing_of_a_pace(gate: GateRunner) -> None:
    ids = many_approved_pages(gate.site, 2)
    gate.write_policy([{"id": i} for i in ids], property_key="njyzjq_capable_approval")
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=2)

    run = gate.run("--confluence-replay", snapshot, url=False)

    run.result.assert_outcomes(passed=2)
    assert "fetched" not in run.output


# -- memory: a live run holds about what a replay of it holds ---------------------------------


def test_a_live_run_never_holds_every_pages_payloads_at_once(
    confluence: FakeConfluence, tmp_path: Path
) -> None:
    """Each page is read as soon as its properties arrive, and only what its verdict needs
    is kept: decoded, a page's payloads take about three times their text, and a live run
    of 5,000 pages held them all until every page was judged (1.49x the replay's peak)."""
    ids = [str(5000 + n) for n in range(120)]
    padding = [{"note": f"entry {n}"} for n in range(150)]  # extra fields are fine
    for page_id in ids:
        approved_page(confluence, page_id, padding=padding)
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\npages:\n" + "".join(f"  - id: '{p}'\n" for p in ids))
    settings = GateSettings.resolve(
        GateOptions(policy=policy, url=confluence.url, concurrency=4), environ={}
    )
    answer = requests.get(f"{confluence.url}/api/v2/pages/{ids[0]}/properties").content
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        decoded = json.loads(answer)
        one_page = tracemalloc.get_traced_memory()[0] - before
        del decoded
        gate = Gate(settings)
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        judgement = gate.prepare(ids)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert all(v.passed for v in judgement.verdicts.values())
    # Before: 1.8x what all pages decoded take; now about a quarter (4 in flight at a time).
    assert peak - before < len(ids) * one_page / 2, (peak - before, len(ids) * one_page)

"""Bounds on what the gate is given: options, input files, usage errors, page sets.

The command line and the policy are semi-trusted: a bad value is a usage error (exit 4)
that names the bound, never minutes of work, a dead watchdog or a hang. Whatever a
server answers, a run checks at most so many pages, and its usage errors are rendered
like every other line the gate prints.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from pytest_confluence_approval import deadline as deadline_module
from pytest_confluence_approval import gate as gate_module
from pytest_confluence_approval.confluence import (
    PAGE_STATUSES,
    ConfluenceClient,
    Credentials,
    parse_weight,
)
from pytest_confluence_approval.deadline import Deadline
from pytest_confluence_approval.facts import QueryResult
from pytest_confluence_approval.snapshot import dump_snapshot
from tests.conftest import QUIET, GateRunner, approved_page
from tests.fake_confluence import (
    FakeConfluence,
    RecordedRequest,
    approval_value,
    hang,
    rewrite,
    slow_headers,
    status,
    trickle,
)

# -- options: every number has a documented range -------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "bound"),
    [
        ("--confluence-concurrency", "10000000", "1 to 256"),
        ("--confluence-concurrency", "257", "1 to 256"),
        ("--confluence-timeout", "1e30", "at most 600 seconds"),
        ("--confluence-timeout", "601", "at most 600 seconds"),
        ("--confluence-timeout", "inf", "at most 600 seconds"),
        ("--confluence-timeout", "nan", "at most 600 seconds"),
        ("--confluence-retries", "21", "0 to 20"),
        ("--confluence-deadline", "99999999999999999999999h", "at most 24h"),
        ("--confluence-deadline", "25h", "at most 24h"),
        pytest.param("--confluence-deadline", "9" * 400, "at most 24h", id="400-digits"),
        ("--confluence-wait", "1441m", "at most 24h"),
        ("--confluence-poll", "0.5s", "1s to 1h"),
        ("--confluence-poll", "61m", "1s to 1h"),
    ],
)
def test_option_values_beyond_their_bounds_are_usage_errors_naming_the_bound(
    gate: GateRunner, option: str, value: str, bound: str
) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])

    run = gate.run(option, value)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert f"ERROR: confluence approval gate: {option}" in run.output
    assert bound in run.output, run.output
    assert gate.site.requests == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--confluence-concurrency", "256"),
        ("--confluence-concurrency", "1"),
        ("--confluence-timeout", "600"),
        ("--confluence-retries", "20"),
        ("--confluence-deadline", "24h"),
        ("--confluence-wait", "24h"),
        ("--confluence-poll", "1s"),
        ("--confluence-poll", "1h"),
    ],
)
def test_option_values_at_their_bounds_are_accepted(
    gate: GateRunner, option: str, value: str
) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])

    gate.run(option, value).result.assert_outcomes(passed=1)


def test_the_deadline_watchdog_survives_a_deadline_beyond_what_a_wait_can_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The options stop such a deadline first; the watchdog must not die of one anyway,
    # or the run would go on without any deadline at all.
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    deadline = Deadline(1e30)
    left, right = socket.socketpair()
    before = set(threading.enumerate())
    try:
        deadline.track(left)
        (watchdog,) = set(threading.enumerate()) - before
        watchdog.join(timeout=0.5)  # would have died at once of OverflowError
        assert watchdog.is_alive() and died == []
    finally:
        deadline.stop_watching()
        left.close()
        right.close()


# -- the policy and the snapshot are regular files ------------------------------------------


@contextmanager
def unblocked(fifo: Path) -> Iterator[None]:
    """Whoever opens ``fifo`` to read it gets an end of file instead of waiting for ever.

    A reader that waits for a writer is exactly the hang under test: this writer shows up
    (and leaves at once) so that a gate which opens the FIFO fails its test instead of
    hanging the suite.
    """
    done = threading.Event()

    def writer() -> None:
        while not done.wait(0.05):
            try:
                # Succeeds only while a reader has the FIFO open (ENXIO otherwise).
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                continue

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


@needs_fifo
def test_a_fifo_as_the_policy_is_a_usage_error_not_a_hang(gate: GateRunner) -> None:
    fifo = gate.pytester.path / "policy.yaml"
    os.mkfifo(fifo)

    with unblocked(fifo):
        run = gate.run(policy=fifo)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "cannot read the policy file: it is a FIFO (named pipe), not a regular file" in (
        run.output
    )
    assert gate.site.requests == []


@needs_fifo
def test_a_fifo_as_the_policy_in_the_ini_file_is_a_usage_error_not_a_hang(gate: GateRunner) -> None:
    fifo = gate.pytester.path / "gate-policy.yaml"
    os.mkfifo(fifo)
    gate.pytester.makeini("[pytest]\nconfluence_policy = gate-policy.yaml\n")

    with unblocked(fifo):
        result = gate.pytester.runpytest("--confluence-url", gate.site.url, *QUIET)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gate-policy.yaml: cannot read the policy file: it is a FIFO*"])


@needs_fifo
def test_a_fifo_as_the_snapshot_is_a_usage_error_not_a_hang(gate: GateRunner) -> None:
    gate.write_policy([{"id": "101"}])
    fifo = gate.pytester.path / "snapshot.json"
    os.mkfifo(fifo)

    with unblocked(fifo):
        run = gate.run("--confluence-replay", fifo, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "cannot read the snapshot: it is a FIFO (named pipe), not a regular file" in run.output


@pytest.mark.parametrize("kind", ["directory", "device"])
@pytest.mark.parametrize("which", ["policy", "snapshot"])
def test_a_directory_or_a_device_as_an_input_is_a_usage_error_naming_what_it_is(
    gate: GateRunner, kind: str, which: str
) -> None:
    if kind == "device" and not Path(os.devnull).exists():
        pytest.skip("no null device")
    odd = gate.pytester.mkdir("inputs") if kind == "directory" else Path(os.devnull)
    if which == "policy":
        run = gate.run(policy=odd)
        expected = f"cannot read the policy file: it is a {kind}, not a regular file"
    else:
        gate.write_policy([{"id": "101"}])
        run = gate.run("--confluence-replay", odd, url=False)
        expected = f"cannot read the snapshot: it is a {kind}, not a regular file"

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert expected in run.output


# -- usage errors are rendered like every other line ----------------------------------------

#: What a CI agent would act on, or a terminal would obey, in a line of the log.
HOSTILE = "\x1b[2K\r::error::forged\n##vso[task.complete result=Succeeded;]##[warning]x"


def assert_no_line_can_command_a_ci_agent(output: str) -> None:
    for line in output.splitlines():
        assert not line.lstrip().startswith("::"), line
        assert "##vso[" not in line and "##[" not in line, line
        assert line.isprintable(), repr(line)


@pytest.mark.parametrize("where", ["key", "value", "name"])
def test_a_policy_usage_error_cannot_carry_ci_commands_or_control_characters(
    gate: GateRunner, where: str
) -> None:
    page: dict[str, object] = {"id": "101"}
    if where == "key":
        page[HOSTILE] = 1
    elif where == "value":
        page["min_approvers"] = HOSTILE
    else:
        page["name"] = HOSTILE * 20  # too long, so the schema shows it back
    gate.write_policy([page])

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "policy.yaml:" in run.output
    assert_no_line_can_command_a_ci_agent(run.output)
    assert "x1b[2K" in run.output  # shown, visibly escaped (a value once more: its repr)


def test_each_problem_of_a_policy_stays_on_a_line_of_its_own(gate: GateRunner) -> None:
    gate.write_policy([{"id": "101", "colour": 1, "flavour": 2, "min_approvers": "x"}])

    run = gate.run()

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    run.result.stderr.fnmatch_lines(
        [
            "ERROR: confluence approval gate: *policy.yaml:*: pages?0?.colour: unknown key*",
            "*policy.yaml:*: pages?0?.flavour: unknown key*",
            "*policy.yaml:*: pages?0?.min_approvers: must be an integer*",
        ]
    )


def test_a_site_usage_error_cannot_carry_ci_commands_or_control_characters(
    gate: GateRunner,
) -> None:
    gate.write_policy([{"id": "101"}])

    run = gate.run("--confluence-url", "http://[" + HOSTILE, url=False)

    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "--confluence-url" in run.output or "site URL" in run.output
    assert_no_line_can_command_a_ci_agent(run.output)


# -- a run checks at most so many pages, whatever a server answers --------------------------

CQL = 'label = "release"'
SEARCH = "/wiki/rest/api/content/search"


def labelled(site: FakeConfluence, page_ids: list[str], cql: str = CQL) -> None:
    for page_id in page_ids:
        approved_page(site, page_id)
    site.add_cql(cql, page_ids)


def test_a_query_answering_more_pages_than_a_query_may_bring_fails_before_any_item(
    gate: GateRunner,
) -> None:
    # One answer of 60,000 results (the finding: 250,000 became 250,000 items, 488 s and
    # 1.57 GB under a 20 s deadline), with a next link the gate must not follow.
    labelled(gate.site, [str(200 + i) for i in range(200)])
    flood = [{"id": str(1_000_000 + i), "type": "page", "title": ""} for i in range(60_000)]
    gate.site.fault(SEARCH, rewrite(lambda answer: answer.update(results=flood)))
    gate.write_policy([{"cql": CQL, "name": "release pages"}])

    run = gate.run()

    run.result.assert_outcomes(failed=1)  # the query's item, and no page's
    assert "the query found more than 50,000 pages, the most one query may bring" in run.output
    assert "narrow it" in run.output
    assert gate.site.count(SEARCH) == 1  # its next page was not read
    assert gate.site.count("/wiki/api/v2/pages") == 0  # and no page fetched


def test_a_recorded_query_of_more_pages_than_a_query_may_bring_fails_the_replay_the_same_way(
    gate: GateRunner,
) -> None:
    snapshot = gate.pytester.path / "snapshot.json"
    found = tuple((str(1_000_000 + i), "") for i in range(50_001))
    dump_snapshot(
        snapshot,
        site="https://acme.atlassian.net/wiki",
        recorded_at=datetime(2025, 8, 4, 9, tzinfo=timezone.utc),
        facts={},
        names={},
        queries={CQL: QueryResult(pages=found)},
    )
    gate.write_policy([{"cql": CQL}])

    run = gate.run("--confluence-replay", snapshot, url=False)

    run.result.assert_outcomes(failed=1)
    assert "the query found more than 50,000 pages" in run.output


@pytest.mark.parametrize(("found", "outcome"), [(5, {"passed": 5}), (6, {"failed": 1})])
def test_a_query_may_bring_as_many_pages_as_its_cap_and_no_more(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch, found: int, outcome: dict[str, int]
) -> None:
    monkeypatch.setattr(gate_module, "MAX_PAGES_PER_QUERY", 5)
    labelled(gate.site, [str(200 + i) for i in range(found)])
    gate.write_policy([{"cql": CQL}])

    gate.run().result.assert_outcomes(**outcome)


def test_a_search_is_not_read_past_the_cap(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate_module, "MAX_PAGES_PER_QUERY", 250)
    labelled(gate.site, [str(1000 + i) for i in range(1000)])  # 100 an answer: 10 answers
    gate.write_policy([{"cql": CQL}])

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    assert gate.site.count(SEARCH) == 3  # 300 read: the 251st decided it


def test_the_pages_of_all_entries_together_are_capped_per_run(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate_module, "MAX_PAGES_PER_RUN", 6)
    labelled(gate.site, ["101", "102"], cql="id in (101, 102)")
    labelled(gate.site, ["103", "104", "105"], cql="label = a")
    labelled(gate.site, ["101", "106", "107"], cql="label = b")  # 101 is in the run already
    gate.write_policy(
        [{"id": "101"}, {"id": "102"}, {"cql": "label = a"}, {"cql": "label = b", "name": "b"}]
    )

    run = gate.run()

    # 2 ids + 3 from the first query = 5; the second would add 2 more: 7 > 6.
    run.result.assert_outcomes(passed=5, failed=1)
    assert (
        "the query found 3 pages; with the 5 the run checks already (the policy's ids and "
        "the queries before it) that makes 7, more than the 6 pages one run may check"
    ) in run.output
    assert gate.site.count("/wiki/api/v2/pages/106/properties") == 0


# -- the deadline bounds what the server controls -------------------------------------------


def test_names_are_not_asked_for_once_the_deadline_has_run_out() -> None:
    # Counted, not timed: each chunk of 100 accounts would take a slot and fail at once,
    # and a hostile property can name millions of accounts.
    expired = ConfluenceClient(
        "https://acme.atlassian.net/wiki", Credentials("anonymous"), deadline=Deadline(0)
    )

    names = expired.get_display_names(f"acc-{n}" for n in range(10_000))

    assert names == {}
    assert expired.pace.sent <= 1


def test_headers_that_trickle_in_end_at_the_deadline_and_say_so(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    approved_page(gate.site, "102")
    gate.site.fault("/wiki/api/v2/pages/102/properties", slow_headers(0.2))
    gate.write_policy([{"id": "101"}, {"id": "102"}])

    started = time.monotonic()
    run = gate.run("--confluence-deadline", "2s")
    elapsed = time.monotonic() - started

    run.result.assert_outcomes(passed=1, failed=1)
    text = run.failure_text("102")
    assert "--confluence-deadline" in text, text
    assert "single sign-on" not in text and "instead of JSON" not in text
    assert elapsed < 2 + 5  # a generous bound: the headers alone would last minutes


# -- what a server sends can take only so much memory ---------------------------------------

#: Answers whose parsed form is as large as JSON can make it, per byte (about 100 KB
#: each): objects in objects, lists in lists, short strings, many keys, a non-ASCII text
#: (stored at 4 bytes a character), the same spelled with \u escapes.
HEAVY_ANSWERS = {
    "dicts in dicts": b'{"results":[' + b",".join([b'{"a":{}}'] * 12_000) + b"]}",
    "empty dicts": b'{"results":[' + b",".join([b"{}"] * 30_000) + b"]}",
    "lists in lists": b'{"results":[' + b",".join([b"[[]]"] * 20_000) + b"]}",
    "short strings": b'{"results":['
    + b",".join(b'"%02d"' % (i % 100) for i in range(20_000))
    + b"]}",
    "many keys": b'{"results":[],' + b",".join(b'"k%d":0' % i for i in range(12_000)) + b"}",
    "one emoji": '{"results":[],"t":"😀'.encode() + b"a" * 100_000 + b'"}',
    "an escaped emoji": b'{"results":[],"t":"\\ud83d\\ude00' + b"a" * 100_000 + b'"}',
}


@pytest.mark.parametrize("shape", HEAVY_ANSWERS)
def test_an_answer_never_takes_more_memory_than_it_is_weighed_at(
    confluence: FakeConfluence, shape: str
) -> None:
    # The bound the README states holds only if no answer can cost more than its weight.
    confluence.fault("/wiki/api/v2/pages/1", status(200, body=HEAVY_ANSWERS[shape]))
    confluence.add_page("2")
    reader = ConfluenceClient(confluence.url, Credentials("anonymous"), retries=0)
    reader.get_page("2")  # the connection and the session's first allocations
    weighed = reader.weighed
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        answer = reader.get_json(f"{confluence.url}/api/v2/pages/1", what="page 1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert answer
    assert peak - baseline <= reader.weighed - weighed


def test_past_the_memory_budget_the_remaining_pages_fail_as_not_verifiable(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each property carries 300 KB of empty objects beside a valid approval (extra fields
    # are fine): small answers that would take about 20 MB each once parsed.
    monkeypatch.setattr(deadline_module, "MEMORY_BUDGET", 50 * 1024 * 1024)
    flood: list[dict[str, object]] = [{}] * 100_000
    pages = [str(101 + n) for n in range(6)]
    for page_id in pages:
        gate.site.add_page(page_id)
        gate.site.set_approval(page_id, approval_value(padding=flood))
    gate.write_policy([{"id": p} for p in pages])

    run = gate.run("--confluence-concurrency", "1")

    outcomes = run.result.parseoutcomes()
    assert outcomes.get("passed", 0) in (1, 2) and outcomes.get("failed", 0) >= 4, outcomes
    last = run.failure_text(pages[-1])
    assert "Confluence's answers in this run would take more than 50 MB of memory" in last
    assert "not verified" in last or "could not verify" in last


def test_re_checks_while_waiting_replace_what_they_weigh_instead_of_adding_it(
    gate: GateRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.site.add_page("101")
    gate.site.set_approval("101", approval_value(pending=["acc-b"], complete=False))
    gate.write_policy([{"id": "101"}])
    asked = [
        requests.get(f"{gate.site.url}/api/v2/pages", params=query).content
        for query in (
            {"id": "101", "status": list(PAGE_STATUSES), "limit": "250"},
            {"limit": "250"},
        )
    ]
    asked[1] = requests.get(f"{gate.site.url}/api/v2/pages/101/properties").content
    one_round = sum(2 * len(a) + parse_weight(a) for a in asked)
    # Room for the first round, one re-check and the display names: not for five rounds.
    monkeypatch.setattr(deadline_module, "MEMORY_BUDGET", int(3.5 * one_round) + 8192)
    looks: list[RecordedRequest] = []

    def approve_at_the_fifth_look(request: RecordedRequest) -> None:
        if request.path == "/wiki/api/v2/pages/101/properties":
            looks.append(request)
            if len(looks) == 5:
                gate.site.set_approval("101", approval_value(approved=["acc-b"]))

    gate.site.on_request = approve_at_the_fifth_look

    run = gate.run("--confluence-wait", "1m", "--confluence-poll", "1s")

    run.result.assert_outcomes(passed=1)
    assert len(looks) == 5


@pytest.mark.parametrize("where", ["endless search", "names", "group", "headers", "history"])
def test_no_path_a_server_controls_holds_the_run_past_the_deadline(
    gate: GateRunner, where: str
) -> None:
    site = gate.site
    approved_page(site, "101", approved=["acc-a"])
    site.add_user("acc-a", "Priya Raman")
    site.add_group("qa", ["acc-a"])
    entries: list[dict[str, object]] = [{"id": "101", "required_groups": [{"group": "qa"}]}]
    if where == "endless search":
        # A million results at one an answer, 10 ms away: the gate pages until the
        # deadline stops it (before its 1,000 answers a listing may take).
        site.search_page_size = 1
        site.latency = 0.01
        site.add_cql(CQL, [str(1_000_000 + n) for n in range(1_000_000)])
        entries.append({"cql": CQL})
    elif where == "names":
        site.fault("/wiki/api/v2/users-bulk", hang(60))
    elif where == "group":
        site.fault("/wiki/rest/api/group/member", trickle(2))
    elif where == "headers":
        site.fault("/wiki/api/v2/pages/101/properties", slow_headers(0.2))
    else:  # a history the verdict needs (minor edits), answered a byte a second
        site.add_page("101", version=5, version_created_at="2025-08-01T10:00:00.000Z")
        site.set_approval("101", approval_value(approved=["acc-a"]))
        entries[0]["ignore_minor_edits"] = True
        site.fault("/wiki/api/v2/pages/101/versions", trickle(2))
    gate.write_policy(entries)

    started = time.monotonic()
    run = gate.run("--confluence-deadline", "2s")  # each read may wait all of it
    elapsed = time.monotonic() - started

    assert elapsed < 2 + 5, f"a 2 s deadline took {elapsed:.1f} s"
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output
    if where == "names":  # names are cosmetic: the page is judged with its bare ids
        run.result.assert_outcomes(passed=1)
    else:
        assert run.result.ret == pytest.ExitCode.TESTS_FAILED
        assert "--confluence-deadline" in run.output

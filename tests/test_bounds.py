"""Bounds on what the gate is given: options, input files, usage errors, page sets.

The command line and the policy are semi-trusted: a bad value is a usage error (exit 4)
that names the bound, never minutes of work, a dead watchdog or a hang. Whatever a
server answers, a run checks at most so many pages, and its usage errors are rendered
like every other line the gate prints.
"""

from __future__ import annotations

import socket
import threading

import pytest

from pytest_confluence_approval.deadline import Deadline
from tests.conftest import Gate, approved_page

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
    gate: Gate, option: str, value: str, bound: str
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
def test_option_values_at_their_bounds_are_accepted(gate: Gate, option: str, value: str) -> None:
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

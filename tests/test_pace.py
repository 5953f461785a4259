"""The adaptive pace: plain values for the arithmetic, threads and events for the waiting."""

from __future__ import annotations

import itertools
import threading

import pytest

from pytest_confluence_approval.pace import Answer, Pace, Ticket


def fill(pace: Pace) -> list[Ticket]:
    """Take every slot the limit allows right now."""
    return [pace.acquire() for _ in range(pace.limit - pace.in_flight)]


def answer_all(pace: Pace, tickets: list[Ticket], answer: Answer = Answer.CLEAN) -> None:
    for ticket in tickets:
        pace.release(ticket, answer)


class Busy:
    """A fetch with more work queued than slots: every answer's slot is taken again at once,
    against a site that serves ``allows`` requests at once and refuses the rest (429)."""

    def __init__(self, pace: Pace, allows: int = 10_000) -> None:
        self.pace = pace
        self.allows = allows
        self.tickets = fill(pace)
        self.rounds = 0
        #: the round trip of each refusal, and the limit after each round trip
        self.refused_in: list[int] = []
        self.limits: list[int] = []

    def round_trip(self) -> None:
        """One round trip: every request in flight is answered, and replaced."""
        self.rounds += 1
        for position in range(len(self.tickets)):
            refused = position >= self.allows
            self.pace.release(self.tickets.pop(0), Answer.PUSH_BACK if refused else Answer.CLEAN)
            if refused:
                self.refused_in.append(self.rounds)
            self.tickets += fill(self.pace)
        self.limits.append(self.pace.limit)


def test_starts_at_eight_or_a_quarter_of_a_high_ceiling_never_above_the_ceiling() -> None:
    assert Pace(32).limit == 8
    assert Pace(100).limit == 25
    assert Pace(4).limit == 4
    assert Pace(1).limit == 1
    with pytest.raises(ValueError):
        Pace(0)


def test_slow_start_grows_by_a_quarter_per_clean_answer_up_to_the_ceiling() -> None:
    pace = Pace(32)
    busy = Busy(pace)
    for _ in range(8):
        busy.round_trip()
    # x1.25 a round trip: 8 clean answers make 10, 10 make 12.5, ...
    assert busy.limits == [10, 12, 15, 19, 24, 30, 32, 32]  # the ceiling
    assert pace.peak == 32


def test_an_unused_limit_does_not_grow() -> None:
    pace = Pace(32)
    for _ in range(50):  # one request at a time: says nothing about 9 at once
        pace.release(pace.acquire(), Answer.CLEAN)
    assert pace.limit == 8
    assert pace.sent == 50
    assert pace.peak == 1


def test_one_burst_of_push_backs_shrinks_the_limit_once() -> None:
    pace = Pace(32, start=16)
    tickets = fill(pace)
    answer_all(pace, tickets, Answer.PUSH_BACK)  # 16 refusals of requests sent together
    assert pace.limit == 12  # 16 / 1.25 (slow start: the last round trip's limit), once
    assert pace.push_backs == 16
    answer_all(pace, fill(pace), Answer.PUSH_BACK)  # sent after the decrease: counts again
    assert pace.limit == 9


def test_after_a_push_back_growth_is_additive_and_slow_near_the_limit_that_pushed_back() -> None:
    pace = Pace(32, start=16)
    pace.release(pace.acquire(), Answer.PUSH_BACK)  # pushed back at 16: back to 12.8
    busy = Busy(pace)
    for _ in range(40):
        busy.round_trip()
    # About one more a round trip (not slow start's x1.25) up to within one of 16 ...
    assert busy.limits[:3] == [13, 14, 15]
    # ... then about 1/16 a round trip while within one of 16, either side ...
    assert busy.limits[3:18] == [15] * 15
    assert busy.limits[18:34] == [16] * 16
    # ... and one a round trip again beyond it: the site may take more now.
    assert busy.limits[36:] == [18, 19, 20, 21]


def test_a_site_with_a_hard_limit_is_probed_ever_more_rarely_and_kept_at_its_limit() -> None:
    """Each probe above the limit costs a refusal and, on Atlassian, a Retry-After pause for
    every worker: after the first ones they come 2x further apart each time, and each
    refusal costs no more than itself (the limit goes back to the site's, not below)."""
    pace = Pace(32)
    site = Busy(pace, allows=8)
    for _ in range(300):
        site.round_trip()

    found_at = 10  # round trips to find the limit: the slow start's overshoot, a probe
    probes = [r for r in site.refused_in if r > found_at]
    gaps = [later - earlier for earlier, later in itertools.pairwise(probes)]
    assert len(site.refused_in) <= 10  # once every ~17 round trips before: 18
    assert len(probes) == len(set(probes))  # one refusal a probe
    assert gaps[0] >= 32 and all(b >= 1.8 * a for a, b in itertools.pairwise(gaps)), gaps
    assert [site.limits[r - 1] for r in probes] == [8] * len(probes)
    assert site.limits[-1] == 8


def test_a_site_that_takes_fewer_later_is_followed_down_by_quarters() -> None:
    """Going back to just below the limit is for a limit that holds: one that moves is
    followed down as AIMD does, a quarter at a time, not one request at a time."""
    pace = Pace(32)
    site = Busy(pace, allows=8)
    for _ in range(120):
        site.round_trip()
    site.allows = 4
    for _ in range(3):
        site.round_trip()
    assert pace.limit <= 4


def test_a_slot_given_back_unused_counts_for_nothing() -> None:
    pace = Pace(4)
    ticket = pace.acquire()
    pace.cancel(ticket)
    assert (pace.in_flight, pace.sent, pace.limit) == (0, 0, 4)


def test_never_below_one() -> None:
    pace = Pace(4, start=1)
    for _ in range(5):
        pace.release(pace.acquire(), Answer.PUSH_BACK)
    assert pace.limit == 1


def test_an_answer_without_a_status_neither_grows_nor_shrinks() -> None:
    pace = Pace(32)
    answer_all(pace, fill(pace), Answer.NONE)
    assert pace.limit == 8
    assert pace.in_flight == 0


def test_acquire_waits_for_a_free_slot() -> None:
    pace = Pace(2)
    tickets = fill(pace)
    got_slot = threading.Event()

    def third() -> None:
        pace.acquire()
        got_slot.set()

    waiter = threading.Thread(target=third, daemon=True)
    waiter.start()
    assert not got_slot.wait(0.2)  # both slots are taken (a slow machine can only agree)
    pace.release(tickets[0], Answer.CLEAN)
    assert got_slot.wait(30)
    waiter.join(30)
    assert pace.in_flight == 2


def test_many_threads_never_exceed_the_limit_they_were_given() -> None:
    pace = Pace(16)
    over = threading.Event()
    start = threading.Barrier(24)

    def worker(n: int) -> None:
        start.wait(30)
        for i in range(200):
            ticket = pace.acquire()
            if pace.in_flight > 16:
                over.set()
            pace.release(ticket, Answer.PUSH_BACK if (i + n) % 97 == 0 else Answer.CLEAN)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not over.is_set()
    assert pace.in_flight == 0
    assert pace.sent == 24 * 200
    assert 1 <= pace.limit <= 16

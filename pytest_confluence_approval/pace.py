"""How many requests the gate keeps in flight: found as it goes, not guessed by the user.

An AIMD limit, the way TCP finds a network's capacity. ``--confluence-concurrency`` is
only the ceiling. The limit starts at 8 (or a quarter of a higher ceiling) and grows
while answers come back clean: by a quarter of a request per clean answer at first
(x1.25 every round trip, TCP's "slow start"), and by one per round trip once the site has
pushed back. The site pushes back with a 429 (rate limited), a 503 (overloaded), or
Atlassian's ``X-RateLimit-NearLimit: true`` on any answer; the limit then shrinks:

- in slow start, to where it was one round trip before (that round was answered clean);
- the first time at a limit, by a quarter;
- again at the same limit (a site with a hard limit of requests in flight), to just
  below it: the limit a whole plateau of round trips (below) was answered clean at.

One push-back shrinks it once: answers to requests sent before the last decrease say
nothing about the new limit, so they do not shrink it again (otherwise a burst of 429s
would drive it to 1); each of them only says that the site took one request fewer than
was sent, so the limit remembered as the one the site pushed back at moves down by one.

Every probe above a site's limit costs a refused request and, on Atlassian, a
Retry-After pause for every worker. So near the limit where the site last pushed back
the limit grows 16 times more slowly, and twice as slowly again each time the site
pushes back at that same limit: a site with a hard limit is probed after 16 round trips,
then 32, 64, ... and refuses a handful of requests in a run, not one every 16 round
trips.

Pure bookkeeping under one lock: no clock, no sleeps, no HTTP; the request loop calls
:meth:`Pace.acquire` before it sends a request and :meth:`Pace.release` once it knows
what the answer says (request_loop.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum


class Answer(Enum):
    """What an answer says about the pace."""

    #: a normal answer (any status that is not a push-back): the site keeps up
    CLEAN = "clean"
    #: 429, 503 or X-RateLimit-NearLimit: true: slow down
    PUSH_BACK = "push-back"
    #: no answer (a network error, a timeout): says nothing about the site's limit
    NONE = "none"


#: Where the limit starts (or at a quarter of the ceiling, if that is more).
START = 8
#: The limit is multiplied by this on a push-back.
DECREASE = 0.75
#: Slow start: the limit grows by this per clean answer (x1.25 per round trip). The
#: first push-back comes a round trip after the limit passed the site's, so a slow
#: start overshoots by up to this share: x1.5 made a site allowing 8 refuse 5 at once.
SLOW_START_STEP = 0.25
#: Near the last push-back, growing by one takes this many round trips ...
PLATEAU_ROUNDS = 16
#: ... twice as many for each further push-back at the same limit, at most 2**5 times:
#: a site whose limit rises again is probed at least every 512 round trips.
MAX_DOUBLINGS = 5


@dataclass(frozen=True)
class Ticket:
    """One request's slot; ``epoch`` counts the decreases made before it was sent."""

    epoch: int


class Pace:
    """An AIMD limit on requests in flight, shared by every worker thread of a fetch."""

    def __init__(self, ceiling: int, start: int | None = None) -> None:
        if ceiling < 1:
            raise ValueError("the ceiling must be 1 or more")
        self.ceiling = ceiling
        if start is None:
            # 8 was the fixed concurrency before the pace was found; a quarter of a high
            # ceiling gets there in fewer round trips.
            start = max(START, ceiling // 4)
        self._limit = float(min(ceiling, max(1, start)))
        self._slow_start = True
        #: the limit at the last push-back: growth slows down near it
        self._pushed_back_at: float | None = None
        #: push-backs in a row at that same limit (as a whole number of requests): each
        #: one doubles the slow-down near it
        self._strikes = 0
        self._epoch = 0
        self._in_flight = 0
        self._changed = threading.Condition(threading.Lock())
        #: requests sent (acquired), the most ever in flight at once, push-backs seen
        self.sent = 0
        self.peak = 0
        self.push_backs = 0

    def __repr__(self) -> str:
        return f"<Pace limit={self.limit} in_flight={self._in_flight} ceiling={self.ceiling}>"

    @property
    def limit(self) -> int:
        """Requests allowed in flight right now."""
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self) -> Ticket:
        """Wait for a free slot under the limit, then take it."""
        with self._changed:
            while self._in_flight >= int(self._limit):
                self._changed.wait()
            self._in_flight += 1
            self.sent += 1
            self.peak = max(self.peak, self._in_flight)
            return Ticket(self._epoch)

    def cancel(self, ticket: Ticket) -> None:
        """Give back a slot whose request was not sent after all: it counts for nothing."""
        with self._changed:
            self._in_flight -= 1
            self.sent -= 1
            self._wake_waiters()

    def release(self, ticket: Ticket, answer: Answer) -> None:
        """Give the slot back, and let the answer move the limit."""
        with self._changed:
            if answer is Answer.PUSH_BACK:
                self._note_push_back(ticket)
            elif (
                answer is Answer.CLEAN
                and ticket.epoch == self._epoch
                # Grow only while the limit is really used: answers to a handful of
                # requests say nothing about whether the site takes many more.
                and 2 * self._in_flight >= int(self._limit)
            ):
                self._limit = min(float(self.ceiling), self._limit + self._step())
            self._in_flight -= 1
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        """Wake as many waiting workers as there are free slots: all of them, on every
        answer, would wake 32 threads to let one through."""
        free = int(self._limit) - self._in_flight
        if free > 0:
            self._changed.notify(free)

    def _step(self) -> float:
        """Growth per clean answer (a round trip brings about ``limit`` of them)."""
        if self._slow_start:
            return SLOW_START_STEP
        per_round = 1.0
        last = self._pushed_back_at
        if last is not None and last - 1 <= self._limit <= last + 1:
            per_round /= PLATEAU_ROUNDS * 2 ** min(self._strikes - 1, MAX_DOUBLINGS)
        return per_round / self._limit

    def _note_push_back(self, ticket: Ticket) -> None:
        self.push_backs += 1
        if ticket.epoch != self._epoch:
            # Sent before the last decrease: that push-back is accounted for, but each
            # refusal of one round says the site took one request fewer than was sent.
            if ticket.epoch == self._epoch - 1 and self._pushed_back_at is not None:
                self._pushed_back_at = max(self._limit + 1, self._pushed_back_at - 1)
            return
        level = int(self._limit)
        last = self._pushed_back_at
        self._strikes = self._strikes + 1 if last is not None and int(last) == level else 1
        self._pushed_back_at = self._limit
        if self._slow_start:
            lower = self._limit / (1 + SLOW_START_STEP)  # the last round trip's limit
        elif self._strikes > 1:
            lower = level - 1.0  # a hard limit: the one below was answered clean
        else:
            lower = self._limit * DECREASE
        self._slow_start = False
        self._limit = max(1.0, lower)
        self._epoch += 1

"""The one time limit and the one memory budget of a gate run.

What they raise when time runs out or the run is interrupted (RetryBudgetExceeded,
Interrupted: ConfluenceErrors) is in errors.py, with every other error of the gate.
No HTTP here: a replay creates the run's deadline too, and must not import the client.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref

from .errors import Interrupted, RetryBudgetExceeded


class Deadline:
    """The one time limit of a whole gate run, shared by every request of it.

    Created once per run; every phase (queries, pages, properties, version
    histories, display names, waiting for approvers) spends from it. When it runs
    out, or the run is cancelled (Ctrl-C), the connections still in flight are shut
    down, so no blocked read outlives it whatever the server does.
    """

    def __init__(self, seconds: float | None = None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        #: set to stop the current watchdog thread; None while none runs
        self._watchdog_stop: threading.Event | None = None

    def __repr__(self) -> str:
        left = self.remaining()
        return f"<Deadline {'none' if left is None else f'{left:.1f} s left'}>"

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def check(self, what: str) -> None:
        """Raise unless there is still time (and no interrupt) to work on ``what``."""
        if self.cancelled:
            raise Interrupted(f"interrupted before {what} could be fetched")
        if self.expired():
            raise RetryBudgetExceeded(
                f"the gate's --confluence-deadline ran out before {what} could be fetched; "
                "re-run later or raise --confluence-deadline"
            )

    def ensure_time_for(self, seconds: float, why: str) -> None:
        if self.cancelled:
            raise Interrupted("interrupted")
        left = self.remaining()
        if left is not None and seconds > left:
            raise RetryBudgetExceeded(
                f"{why}, but the gate has only {max(left, 0):.0f} s of its "
                "--confluence-deadline left; re-run later"
            )

    def trim(self, seconds: float) -> float:
        """``seconds``, or less if the deadline comes first (never zero: that means 'no wait')."""
        left = self.remaining()
        return seconds if left is None else max(min(seconds, left), 0.001)

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once on an interrupt."""
        if seconds > 0 and self._cancelled.wait(min(seconds, threading.TIMEOUT_MAX)):
            raise Interrupted("interrupted")

    def cancel(self) -> None:
        """Ctrl-C: refuse all further work and cut the connections in flight."""
        self._cancelled.set()
        self.stop_watching()
        self._shut_down_sockets()

    # -- connections in flight --

    def track(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.add(sock)
            if self.at is not None and self._watchdog_stop is None:
                # One thread per round of requests: it cuts what is still open when the
                # deadline comes, so no read can outlive it.
                self._watchdog_stop = threading.Event()
                threading.Thread(
                    target=self._watch,
                    args=(self._watchdog_stop,),
                    name="confluence-deadline",
                    daemon=True,
                ).start()
        if self.cancelled or self.expired():
            self._shut_down_sockets()

    def untrack(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._sockets.discard(sock)

    def stop_watching(self) -> None:
        """The round of requests is over: the watchdog thread ends (a new one starts on use)."""
        with self._lock:
            stop, self._watchdog_stop = self._watchdog_stop, None
        if stop is not None:
            stop.set()

    def _watch(self, stop: threading.Event) -> None:
        left = self.remaining()
        # Clamped: a wait beyond TIMEOUT_MAX raises OverflowError, which would end this
        # thread and leave the run without a deadline (the options are bounded far below).
        if left is not None and not stop.wait(min(max(left, 0), threading.TIMEOUT_MAX)):
            self._shut_down_sockets()

    def _shut_down_sockets(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            # shutdown() wakes a thread blocked reading from the socket; close() would not.
            # The base class's method, so a TLS socket is cut without touching its TLS state.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


#: What one run may hold of Confluence's answers, as the client weighs them while it
#: reads them (confluence.parse_weight): a real run of 50,000 pages weighs about half.
MEMORY_BUDGET = 2 * 1024 * 1024 * 1024


class MemoryBudget:
    """The memory a whole gate run may spend on Confluence's answers, shared like its
    Deadline by every client of the run: the queries, the page fetch, each re-check.

    Spent as answers are read, and given back only for answers the run no longer holds
    (a re-check's, replaced by the next one): so what a server sends can never hold more
    than the limit, however it spreads it over requests, pages and rounds.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MEMORY_BUDGET if limit is None else limit
        self._lock = threading.Lock()
        self.spent = 0

    def __repr__(self) -> str:
        return f"<MemoryBudget {self.spent:,} of {self.limit:,} bytes spent>"

    def spend(self, weight: int) -> bool:
        """Count ``weight`` bytes in; False once the run has spent more than its limit."""
        with self._lock:
            self.spent += weight
            return self.spent <= self.limit

    def give_back(self, weight: int) -> None:
        """Answers the run has let go of no longer count."""
        with self._lock:
            self.spent = max(0, self.spent - weight)

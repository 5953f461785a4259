"""The request loop: the one way every request of the gate reaches the network.

Pages, properties, version histories, users-bulk, CQL and group members all go through
:meth:`RequestLoop.exchange`, which reads top to bottom:

1. wait out any pause the site asked every worker to take, then take a pace slot;
2. send the request (with the run's credentials) and classify what came back: an
   answer the site kept up with (clean), an answer telling the gate to slow down
   (push-back: 429, 503, or ``X-RateLimit-NearLimit: true``), or no answer at all;
3. read a 200's body, in bounded pieces, and give the connection and the slot back, the
   slot with that classification (the pace learns from it: pace.py);
4. if the outcome is worth another try (429, 502, 503, 504, a timeout, a broken
   connection) and tries are left, wait: the ``Retry-After`` the site asked for (every
   worker waits it out, not only the one told), a 429's jittered exponential back-off
   (every worker too), or the exponential back-off of one failing request; never past
   the run's deadline; then go back to 1;
5. else return the answer, or raise what happened, in words (wording.py).

The HTTP library's own retries and redirects are off: redirects are answers the client
judges (urls.py). No sockets here: the transport is anything with ``send`` (transport.py's
urllib3 pool, or a test's stand-in), so the loop is unit-tested without a network.
"""

from __future__ import annotations

import base64
import email.utils
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from . import TOOL_NAME, wording
from .bodies import Body, Weigher, read_json_body
from .deadline import Deadline
from .errors import ConfluenceError, Interrupted
from .pace import Answer, Pace, Ticket
from .transport import ACCEPT_ENCODING, NoAnswer
from .urls import link_header_next, origin_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .site import Credentials

#: Statuses worth another try: rate limiting and the gateway errors of a busy site.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Statuses that tell the gate to slow down (rate limited, overloaded): see pace.py.
PUSH_BACK_STATUSES = frozenset({429, 503})
#: No single back-off between two tries is longer than this (a Retry-After may be).
BACKOFF_MAX = 30.0
#: No answer of these kinds is tried again: waiting fixes neither a name that does not
#: resolve, nor a refused connection, nor a certificate that is not trusted, nor a proxy
#: URL in the environment that cannot be used.
FINAL_FAILURES = frozenset({"dns", "refused", "tls", "proxy"})
_DIGITS = re.compile(r"\s*[0-9]+\s*")


class Sent(Body, Protocol):
    """An answer as a transport hands it over: status and headers in, body still to read."""

    status: int

    def finish(self, *, reuse: bool) -> None:
        """Give the connection back: to be reused (the body was read whole), or closed."""
        ...


class Transport(Protocol):
    def send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Sent:
        """One request; returns once the answer's headers are in. Raises NoAnswer."""
        ...


@dataclass(frozen=True)
class Request:
    method: str
    #: absolute, on the site's origin (urls.py decides which URLs may be asked)
    url: str
    #: what is being fetched, for messages: "page 101", "the properties of page 101"
    what: str
    #: a POST's JSON body (users-bulk); None for a GET
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer, read: no object of the HTTP stack outlives the loop."""

    status: int
    #: the URL that answered (relative links resolve against it)
    url: str
    #: a 200's body, read whole (None for any other status)
    data: bytes | None = None
    #: a redirect's Location header
    location: str | None = None
    #: the Link header's rel="next", if any
    link_next: str | None = None


@dataclass(frozen=True, slots=True)
class _TryAgain:
    """An attempt worth repeating: its status (None: no answer) and Retry-After."""

    status: int | None
    retry_after: float | None


def pace_answer(status: int, near_limit: str | None) -> Answer:
    """What an answer says about the pace: a push-back, or a clean answer.

    ``near_limit``: its ``X-RateLimit-NearLimit`` header. Atlassian sends ``true`` when
    less than 20% of a rate-limit budget is left: slowing down then avoids the 429s that
    would follow.
    """
    if status in PUSH_BACK_STATUSES:
        return Answer.PUSH_BACK
    if near_limit is not None and near_limit.strip().lower() == "true":
        return Answer.PUSH_BACK
    return Answer.CLEAN


def retry_after_seconds(value: str | None) -> float | None:
    """The wait a Retry-After asks for (seconds, or an HTTP date), or None.

    None (absent: the usual back-off follows) also when it cannot be read: not a number
    nor a date, a date off the calendar (``Fri, 31 Dec 99999 ...``), more digits than
    Python converts, or more seconds than a float holds.
    """
    if value is None:
        return None
    try:
        if _DIGITS.fullmatch(value):
            seconds = float(int(value))
        else:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                return None
            seconds = email.utils.mktime_tz(parsed) - time.time()
    except (ValueError, OverflowError, TypeError, IndexError):
        return None
    return max(seconds, 0.0)


def rate_limit_delay(attempt: int, factor: float, maximum: float) -> float:
    """Atlassian's advice for a 429 without Retry-After: exponential back-off with jitter.

    ``attempt`` counts from 1; the delay doubles each time (at least 1 s for the
    first), capped at ``maximum``, then spread by +-30 % so workers do not retry in step.
    """
    base = min(maximum, max(1.0, factor * 2.0**attempt))
    spread: float = random.uniform(0.7, 1.3)  # noqa: S311 (timing, not secrets)
    return base * spread


def backoff_delay(attempt: int, factor: float, maximum: float) -> float:
    """The wait after the ``attempt``-th failed try of one request (5xx, no answer): none
    after the first (a blip), then ``factor`` x 2, x 4, ... up to ``maximum``."""
    return 0.0 if attempt <= 1 else min(maximum, factor * 2.0 ** (attempt - 1))


def request_headers(credentials: Credentials) -> dict[str, str]:
    """The headers every request carries: the tool's name, JSON, and the credentials.

    Set explicitly, the Authorization header is the only credential ever sent; nothing
    is read from ``~/.netrc``.
    """
    from . import __version__  # read from the installed metadata on first use

    headers = {
        "User-Agent": f"{TOOL_NAME}/{__version__}",
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    c = credentials
    if c.kind == "basic" and c.username is not None and c.secret is not None:
        pair = f"{c.username}:{c.secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    elif c.kind == "bearer":
        headers["Authorization"] = f"Bearer {c.secret}"
    return headers


class SharedPause:
    """One pause for the whole run.

    When Confluence answers 429, every worker waits it out, not only the one that
    was told: hammering a rate-limited site only extends the limit (Atlassian's
    guidance for Cloud rate limits). A wait that would run past the deadline fails
    at once instead of sleeping.
    """

    def __init__(self, deadline: Deadline) -> None:
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self.deadline = deadline

    def __repr__(self) -> str:
        return f"<SharedPause resume_at={self._resume_at:.3f}>"

    def pause_for(self, seconds: float, why: str) -> None:
        self.deadline.ensure_time_for(seconds, why)
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def active(self) -> bool:
        return self._resume_at > time.monotonic()

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._resume_at - time.monotonic()
            if remaining <= 0:
                return
            self.deadline.sleep(remaining)


class RequestLoop:
    """Every request of one client, from a pace slot to its answer (see the module)."""

    def __init__(
        self,
        transport: Transport,
        *,
        site: str,
        credentials: Credentials,
        pace: Pace,
        pause: SharedPause,
        deadline: Deadline,
        weigher: Weigher,
        retries: int,
        timeout: float,
        backoff_factor: float,
    ) -> None:
        self.transport = transport
        self.site = site
        self.auth = credentials.kind
        self.pace = pace
        self.pause = pause
        self.deadline = deadline
        self.weigher = weigher
        self.retries = retries
        self.timeout = timeout
        self.backoff_factor = backoff_factor
        # The credentials live in these two dicts and are passed on to the transport only.
        self._get_headers = request_headers(credentials)
        self._post_headers = {**self._get_headers, "Content-Type": "application/json"}

    def __repr__(self) -> str:
        return f"<RequestLoop {self.site} auth={self.auth} {self.pace!r}>"

    def exchange(self, request: Request) -> Reply:
        """Send ``request`` until it is answered, or fails for good (ConfluenceError)."""
        attempt = 1
        while True:
            outcome = self._attempt(request, attempt)
            if isinstance(outcome, Reply):
                return outcome
            self._wait_before_retry(outcome, attempt, request.what)
            attempt += 1

    def _attempt(self, request: Request, attempt: int) -> Reply | _TryAgain:
        """Steps 1-3: one try, holding one pace slot from before it is sent until its
        answer is read, or it is known that there is none."""
        what = request.what
        ticket = self._take_slot(what)
        verdict = Answer.NONE
        try:
            try:
                sent = self.transport.send(
                    request.method,
                    request.url,
                    request.body,
                    self._get_headers if request.body is None else self._post_headers,
                    self.deadline.trim(self.timeout),
                )
            except NoAnswer as exc:
                return self._no_answer(exc, what, attempt)
            read_whole = False
            try:
                if self.deadline.cancelled or self.deadline.expired():
                    # Cut by the deadline's watchdog while its headers trickled in: what
                    # arrived (a status line, some headers) is no answer, whatever it says.
                    self.deadline.check(what)
                status = sent.status
                verdict = pace_answer(status, sent.header("X-RateLimit-NearLimit"))
                if status in RETRY_STATUSES and attempt <= self.retries:
                    return _TryAgain(status, retry_after_seconds(sent.header("Retry-After")))
                if status != 200:
                    return Reply(status, request.url, location=sent.header("Location"))
                data = read_json_body(
                    sent,
                    what=what,
                    status=status,
                    deadline=self.deadline,
                    timeout=self.timeout,
                    weigher=self.weigher,
                )
                read_whole = True
                return Reply(status, request.url, data, None, link_header_next(sent.header("Link")))
            finally:
                sent.finish(reuse=read_whole)
        finally:
            self.pace.release(ticket, verdict)

    def _take_slot(self, what: str) -> Ticket:
        """Step 1: a pace slot, taken outside any pause the site asked for."""
        while True:
            self.pause.wait()
            ticket = self.pace.acquire()
            if not self.pause.active():
                break
            self.pace.cancel(ticket)  # a pause began while waiting for the slot
        try:
            self.deadline.check(what)
        except BaseException:
            self.pace.cancel(ticket)
            raise
        return ticket

    def _no_answer(self, failure: NoAnswer, what: str, attempt: int) -> _TryAgain:
        """No answer: try again, or say what really happened (the innermost cause)."""
        if self.deadline.cancelled:
            raise wording.interrupted_while(what)
        left = self.deadline.remaining()
        if left is not None and left <= 0.01:
            raise wording.deadline_ran_out_while(what)
        if failure.kind in FINAL_FAILURES or attempt > self.retries:
            raise wording.no_answer(
                failure.kind,
                failure.reason,
                what=what,
                origin=origin_text(self.site),
                host=urlsplit(self.site).hostname or self.site,
                timeout=self.timeout,
                attempts=attempt,
            )
        return _TryAgain(None, None)

    def _wait_before_retry(self, again: _TryAgain, attempt: int, what: str) -> None:
        """Step 4: the wait before the next try, within the run's deadline."""
        try:
            if self.deadline.cancelled:
                raise Interrupted("interrupted")
            # A hanging server costs timeout x attempts; the deadline caps the sum.
            self.deadline.ensure_time_for(0.001, "Confluence has not answered yet")
            seconds = again.retry_after
            if seconds is not None:
                why = f"Confluence asked to wait {seconds:g} s before retrying (Retry-After)"
                self.pause.pause_for(seconds, why)
            elif again.status == 429:
                seconds = rate_limit_delay(attempt, self.backoff_factor, BACKOFF_MAX)
                why = f"Confluence is rate-limiting; the next retry is due in {seconds:.1f} s"
                self.pause.pause_for(seconds, why)
            else:
                seconds = backoff_delay(attempt, self.backoff_factor, BACKOFF_MAX)
                self.deadline.ensure_time_for(seconds, f"the next retry is due in {seconds:g} s")
                self.deadline.sleep(seconds)
        except ConfluenceError as exc:
            failure = type(exc)(f"{exc.message} (fetching {what})", exc.status)
        else:
            return
        raise failure from None

"""The request loop without sockets: a scripted transport answers, the loop decides.

What each request carries, when it is tried again and after which wait (shared by every
worker, or its own), what the pace is told, and that every slot is given back. Waits are
recorded, never slept: no test here depends on the clock.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_confluence_approval.bodies import MAX_BODY_BYTES, Weigher
from pytest_confluence_approval.deadline import Deadline, MemoryBudget
from pytest_confluence_approval.errors import ConfluenceError, Interrupted, RetryBudgetExceeded
from pytest_confluence_approval.pace import Pace
from pytest_confluence_approval.request_loop import (
    Reply,
    Request,
    RequestLoop,
    SharedPause,
    backoff_delay,
    retry_after_seconds,
)
from pytest_confluence_approval.site import Credentials
from pytest_confluence_approval.transport import NoAnswer

SITE = "https://acme.atlassian.net/wiki"
PAGE = Request("GET", f"{SITE}/api/v2/pages/1", "page 1")
JSON = {"Content-Type": "application/json"}


@dataclass
class Scripted:
    """One answer a scripted transport gives: status, headers, body in pieces."""

    status: int
    headers: Mapping[str, str] = field(default_factory=lambda: dict(JSON))
    pieces: list[bytes] = field(default_factory=lambda: [b'{"id": "1"}'])
    #: how the answer's connection was given back (None: not yet)
    reused: bool | None = None
    reads: int = 0
    #: called once the answer has been given back (to interrupt the run just then)
    then: Callable[[], None] | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def read1(self, amount: int, timeout: float) -> bytes:
        self.reads += 1
        return self.pieces.pop(0) if self.pieces else b""

    def finish(self, *, reuse: bool) -> None:
        assert self.reused is None, "an answer is given back once"
        self.reused = reuse
        if self.then is not None:
            self.then()


@dataclass
class Sent:
    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    timeout: float


class ScriptedTransport:
    """Answers each request with the next item of its script (an answer or NoAnswer)."""

    def __init__(self, *script: Scripted | NoAnswer | BaseException) -> None:
        self.script = list(script)
        self.sent: list[Sent] = []

    def send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Scripted:
        self.sent.append(Sent(method, url, body, dict(headers), timeout))
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


class RecordedWaits(Deadline):
    """A deadline whose sleeps are recorded, not slept."""

    def __init__(self, seconds: float | None = None) -> None:
        super().__init__(seconds)
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


class RecordedPause(SharedPause):
    """A shared pause that records what it was asked for and never holds anyone."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__(deadline)
        self.asked: list[float] = []

    def pause_for(self, seconds: float, why: str) -> None:
        self.deadline.ensure_time_for(seconds, why)
        self.asked.append(seconds)


def loop_for(
    transport: ScriptedTransport,
    *,
    retries: int = 4,
    deadline: Deadline | None = None,
    credentials: Credentials | None = None,
    pace: Pace | None = None,
) -> RequestLoop:
    deadline = deadline if deadline is not None else RecordedWaits()
    return RequestLoop(
        transport,
        site=SITE,
        credentials=credentials or Credentials("anonymous"),
        pace=pace or Pace(8),
        pause=RecordedPause(deadline),
        deadline=deadline,
        weigher=Weigher(MemoryBudget()),
        retries=retries,
        timeout=30.0,
        backoff_factor=0.5,
    )


def test_a_clean_answer_is_read_whole_and_its_connection_reused() -> None:
    answer = Scripted(200, pieces=[b'{"id": ', b'"1"}'])
    loop = loop_for(ScriptedTransport(answer))

    reply = loop.exchange(PAGE)

    assert reply == Reply(200, PAGE.url, b'{"id": "1"}')
    assert answer.reused is True
    assert (loop.pace.sent, loop.pace.in_flight, loop.pace.push_backs) == (1, 0, 0)


def test_a_body_of_its_declared_length_needs_no_read_past_its_end() -> None:
    answer = Scripted(200, headers={**JSON, "Content-Length": "11"})
    loop_for(ScriptedTransport(answer)).exchange(PAGE)
    assert answer.reads == 1


def test_a_declared_oversized_body_is_refused_unread() -> None:
    answer = Scripted(200, headers={**JSON, "Content-Length": str(MAX_BODY_BYTES + 1)})
    loop = loop_for(ScriptedTransport(answer))

    with pytest.raises(ConfluenceError, match="larger than 10 MB"):
        loop.exchange(PAGE)

    assert answer.reads == 0
    assert answer.reused is False  # the unread body must not answer the next request
    assert loop.pace.in_flight == 0


def test_an_answer_that_is_not_json_is_refused_unread() -> None:
    answer = Scripted(200, headers={"Content-Type": "text/html"})
    with pytest.raises(ConfluenceError, match="with text/html instead of JSON") as raised:
        loop_for(ScriptedTransport(answer)).exchange(PAGE)
    assert raised.value.status == 200
    assert answer.reads == 0 and answer.reused is False


@pytest.mark.parametrize(
    ("credentials", "authorization"),
    [
        (Credentials("anonymous"), None),
        (
            Credentials("basic", "bot@acme.test", "tok"),
            "Basic " + base64.b64encode(b"bot@acme.test:tok").decode(),
        ),
        (Credentials("bearer", secret="pat"), "Bearer pat"),
    ],
)
def test_every_request_carries_the_tool_json_and_only_the_runs_credentials(
    credentials: Credentials, authorization: str | None
) -> None:
    transport = ScriptedTransport(Scripted(200), Scripted(200))
    loop = loop_for(transport, credentials=credentials)

    loop.exchange(PAGE)
    loop.exchange(Request("POST", f"{SITE}/api/v2/users-bulk", "names", b'{"accountIds":[]}'))

    get, post = transport.sent
    for sent in (get, post):
        assert sent.headers["User-Agent"].startswith("pytest-confluence-approval/")
        assert sent.headers["Accept"] == "application/json"
        assert sent.headers.get("Authorization") == authorization
        assert "Cookie" not in sent.headers
    assert "Content-Type" not in get.headers and get.body is None
    assert post.headers["Content-Type"] == "application/json"
    assert (post.method, post.body) == ("POST", b'{"accountIds":[]}')


def test_a_push_back_with_retry_after_pauses_every_worker_then_tries_again() -> None:
    refused = Scripted(429, headers={**JSON, "Retry-After": "7"})
    transport = ScriptedTransport(refused, Scripted(200))
    loop = loop_for(transport)

    reply = loop.exchange(PAGE)

    assert reply.status == 200
    assert loop.pause.asked == [7.0]  # type: ignore[attr-defined]
    assert refused.reused is False and refused.reads == 0
    # Each try took a slot of its own and gave it back; the pace heard the push-back.
    assert (loop.pace.sent, loop.pace.in_flight, loop.pace.push_backs) == (2, 0, 1)


def test_a_429_without_retry_after_pauses_every_worker_for_a_jittered_back_off() -> None:
    loop = loop_for(ScriptedTransport(Scripted(429), Scripted(429), Scripted(200)))

    loop.exchange(PAGE)

    first, second = loop.pause.asked  # type: ignore[attr-defined]
    assert 0.7 <= first <= 1.3 and 1.4 <= second <= 2.6  # 1 s, then 2 s, +-30 %


def test_a_5xx_or_no_answer_backs_off_exponentially_for_that_request_alone() -> None:
    transport = ScriptedTransport(
        Scripted(502), NoAnswer("reset", "ConnectionResetError"), Scripted(504), Scripted(200)
    )
    loop = loop_for(transport)

    assert loop.exchange(PAGE).status == 200

    assert loop.deadline.slept == [0.0, 1.0, 2.0]  # type: ignore[attr-defined]
    assert loop.pause.asked == []  # type: ignore[attr-defined]
    assert loop.pace.push_backs == 0  # a gateway error or a reset says nothing of the pace
    assert [backoff_delay(n, 0.5, 30) for n in (1, 2, 3, 9)] == [0.0, 1.0, 2.0, 30.0]


def test_when_the_tries_run_out_the_last_answer_stands() -> None:
    transport = ScriptedTransport(Scripted(503), Scripted(503), Scripted(503))
    loop = loop_for(transport, retries=2)

    assert loop.exchange(PAGE).status == 503  # the client words it: "until the retries ran out"

    assert len(transport.sent) == 3
    assert loop.pace.in_flight == 0


def test_no_answer_until_the_tries_run_out_says_how_many_tries_were_made() -> None:
    transport = ScriptedTransport(*(NoAnswer("timeout", "read timed out") for _ in range(3)))

    with pytest.raises(ConfluenceError) as raised:
        loop_for(transport, retries=2).exchange(PAGE)

    assert "did not answer for page 1 within 30 s (up to 3 attempts)" in raised.value.message
    assert len(transport.sent) == 3


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("dns", "cannot resolve host 'acme.atlassian.net'"),
        ("refused", "https://acme.atlassian.net:443 refused the connection"),
        ("tls", "the TLS connection to https://acme.atlassian.net:443 failed"),
    ],
)
def test_what_waiting_cannot_fix_is_not_tried_again(kind: str, said: str) -> None:
    transport = ScriptedTransport(NoAnswer(kind, "why"), Scripted(200))  # type: ignore[arg-type]
    loop = loop_for(transport)

    with pytest.raises(ConfluenceError, match=said):
        loop.exchange(PAGE)

    assert len(transport.sent) == 1
    assert loop.pace.in_flight == 0


def test_a_retry_after_beyond_the_deadline_fails_at_once() -> None:
    transport = ScriptedTransport(Scripted(429, headers={**JSON, "Retry-After": "3600"}))
    loop = loop_for(transport, deadline=RecordedWaits(60))

    with pytest.raises(RetryBudgetExceeded) as raised:
        loop.exchange(PAGE)

    message = raised.value.message
    assert "Confluence asked to wait 3600 s before retrying (Retry-After)" in message
    assert message.endswith("(fetching page 1)")
    assert len(transport.sent) == 1


def test_an_interrupt_between_tries_sends_nothing_more() -> None:
    deadline = RecordedWaits()
    transport = ScriptedTransport(Scripted(503, then=deadline.cancel), Scripted(200))
    loop = loop_for(transport, deadline=deadline)

    with pytest.raises(Interrupted, match=r"^interrupted \(fetching page 1\)$"):
        loop.exchange(PAGE)

    assert len(transport.sent) == 1


def test_headers_that_arrive_after_the_deadline_are_no_answer() -> None:
    deadline = RecordedWaits()
    answer = Scripted(200)
    transport = ScriptedTransport(answer)
    real_send = transport.send

    def send_until_the_watchdog_cuts_in(*args: Any) -> Scripted:
        sent = real_send(*args)
        deadline.cancel()  # the watchdog, while the headers trickled in
        return sent

    transport.send = send_until_the_watchdog_cuts_in  # type: ignore[method-assign,assignment]

    with pytest.raises(Interrupted):
        loop_for(transport, deadline=deadline).exchange(PAGE)

    assert answer.reads == 0 and answer.reused is False


def test_an_unforeseen_error_of_the_transport_still_gives_the_slot_back() -> None:
    loop = loop_for(ScriptedTransport(RuntimeError("bug")))
    with pytest.raises(RuntimeError):
        loop.exchange(PAGE)
    assert loop.pace.in_flight == 0


def test_a_clean_answer_near_the_limit_is_kept_and_slows_the_pace() -> None:
    near = Scripted(200, headers={**JSON, "X-RateLimit-NearLimit": "true"})
    loop = loop_for(ScriptedTransport(near), pace=Pace(32, start=16))

    assert loop.exchange(PAGE).data == b'{"id": "1"}'

    assert loop.pace.push_backs == 1 and loop.pace.limit < 16


class PauseBegunWhileWaitingForASlot(SharedPause):
    """Another worker's 429 starts a pause just as this one gets its slot."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__(deadline)
        self.looks = 0
        self.waits = 0

    def active(self) -> bool:
        self.looks += 1
        return self.looks == 1

    def wait(self) -> None:
        self.waits += 1


def test_a_pause_that_began_while_waiting_for_a_slot_is_waited_out_before_sending() -> None:
    transport = ScriptedTransport(Scripted(200))
    loop = loop_for(transport)
    loop.pause = pause = PauseBegunWhileWaitingForASlot(loop.deadline)

    loop.exchange(PAGE)

    assert pause.waits == 2  # before taking the slot, and again once the pause was seen
    assert loop.pace.sent == 1  # the slot given back unused counts for nothing
    assert len(transport.sent) == 1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        (None, None),
        ("soon", None),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),  # off the calendar
        ("Fri, 31 Dec 9999999999999 23:59:59", None),
        ("9" * 5000, None),  # more digits than Python converts
        ("9" * 400, None),  # more seconds than a float holds
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: no wait
    ],
)
def test_a_retry_after_is_read_as_seconds_or_a_date_and_otherwise_as_absent(
    value: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(value) == seconds

"""The network as deployed: what really happened, one deadline for the run, a prompt Ctrl-C.

Each failure of the network gets its own message and advice (the innermost socket error
decides, not urllib3's wrapper); the run's one ``--confluence-deadline`` bounds every
phase, body reads included; the first Ctrl-C ends the session within 2 s. Times are only
ever bounded from above: each bound is a promise the README makes.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
import requests

from pytest_confluence_approval import confluence as confluence_module
from pytest_confluence_approval.confluence import ConfluenceClient, ConfluenceError, Credentials
from pytest_confluence_approval.deadline import MemoryBudget
from tests.conftest import QUIET, GateRunner
from tests.fake_confluence import FakeConfluence, approval_value, hang, reset, status, trickle

REPO = Path(__file__).resolve().parent.parent
#: What one in-process gate run costs besides the waiting under test.
SLACK = 1.5
#: pytest's last line of a session: "==== no tests ran in 0.96s ====", "== 1 failed in ..".
_CLOSING_LINE = re.compile(r"^=+ .* in [0-9.]+s(?: \([0-9:]+\))? =+$")


def client(site: str, **kw: float | MemoryBudget) -> ConfluenceClient:
    return ConfluenceClient(site, Credentials("anonymous"), **kw)  # type: ignore[arg-type]


def timed_failure(site: str, **kw: float) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(ConfluenceError) as raised:
        client(site, **kw).get_page("1")
    return raised.value.message, time.monotonic() - started


# -- say what really happened (default options: 5 attempts, 30 s timeout) -----------------


def test_a_host_that_does_not_resolve_is_named_and_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups: list[str] = []

    def no_such_name(host: str, *args: object, **kwargs: object) -> list[object]:
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)

    message, elapsed = timed_failure("https://acme.atlasian.net/wiki")

    assert "cannot resolve host 'acme.atlasian.net'" in message, message
    assert "spelling" in message and "--confluence-timeout" not in message
    assert lookups == ["acme.atlasian.net"]  # asked once: retrying does not fix a typo
    assert elapsed < 8


def test_a_refused_connection_says_so() -> None:
    with socket.socket() as probe:  # a port on this machine where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    message, elapsed = timed_failure(f"http://127.0.0.1:{port}/wiki")

    assert f"http://127.0.0.1:{port} refused the connection" in message, message
    assert "did not answer" not in message and "--confluence-timeout" not in message
    assert elapsed < 8


def test_tls_to_a_server_that_speaks_plain_http_is_a_tls_failure(
    confluence: FakeConfluence,
) -> None:
    confluence.add_page("1")
    https_url = confluence.url.replace("http://", "https://")

    message, elapsed = timed_failure(https_url)

    assert "the TLS connection to https://127.0.0.1:" in message, message
    assert "REQUESTS_CA_BUNDLE" in message
    assert elapsed < 8


def test_a_reset_connection_says_so(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", reset())

    message, _ = timed_failure(confluence.url, retries=1, backoff_factor=0)

    assert "connection was reset or closed without an answer" in message, message
    assert "(up to 2 attempts)" in message
    assert confluence.count("/wiki/api/v2/pages/1") == 2


def test_a_timeout_says_so(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", hang(30))

    message, _ = timed_failure(confluence.url, timeout=0.2, retries=0)

    assert "did not answer for page 1 within 0.2 s" in message, message
    assert "--confluence-timeout" in message


# -- one deadline for the whole run ---------------------------------------------------------


def test_a_trickling_body_is_cut_off_at_the_deadline(confluence: FakeConfluence) -> None:
    confluence.add_page("1")
    confluence.fault("/wiki/api/v2/pages/1", trickle(2))

    message, elapsed = timed_failure(confluence.url, deadline=1)

    assert "--confluence-deadline" in message, message
    assert elapsed < 1 + 1


@pytest.mark.parametrize("where", ["query", "page", "body", "all"])
def test_the_deadline_ends_all_network_work_whatever_the_server_does(
    gate: GateRunner, where: str
) -> None:
    site = gate.site
    for page_id in ("101", "102", "103"):
        site.add_page(page_id)
        site.set_approval(page_id, approval_value())
    site.add_cql("label = release", ["101"])
    if where in ("query", "all"):
        site.fault("/wiki/rest/api/content/search", hang(60))
    if where in ("page", "all"):
        site.fault("/wiki/api/v2/pages/102/properties", hang(60))
    if where in ("body", "all"):
        site.fault("/wiki/api/v2/pages/103/properties", trickle(2))
    gate.write_policy([{"cql": "label = release"}, {"id": "102"}, {"id": "103"}])

    started = time.monotonic()
    run = gate.run("--confluence-deadline", "3s")
    elapsed = time.monotonic() - started

    assert elapsed < 3 + 1 + SLACK, f"a 3 s deadline took {elapsed:.1f} s"
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output
    assert "--confluence-deadline" in run.output


# -- Ctrl-C ---------------------------------------------------------------------------------


def test_one_ctrl_c_ends_the_run_within_two_seconds(
    pytester: pytest.Pytester, confluence: FakeConfluence
) -> None:
    for page_id in ("101", "102", "103"):
        confluence.add_page(page_id)
        confluence.set_approval(page_id, approval_value())
    confluence.fault("/wiki/api/v2/pages/*", hang(100))  # every property request hangs
    policy = pytester.path / "policy.yaml"
    policy.write_text("version: 1\npages:\n  - id: '101'\n  - id: '102'\n  - id: '103'\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "pytest", "--confluence-policy", str(policy)),
            *("--confluence-url", confluence.url, "--confluence-concurrency", "2", *QUIET),
        ],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[tuple[float, str]] = []  # (arrival, line) of the run's output

    def read_output() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append((time.monotonic(), raw.decode(errors="replace")))

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        # Interrupt once the requests are in flight: two in progress, one queued.
        assert confluence.wait_for("/wiki/api/v2/pages/10*", 2, timeout=60)
        interrupted_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=5)
    finally:
        process.kill()
    text = "".join(line for _, line in lines)
    # The session has ended when pytest prints its closing line ("== no tests ran in ..").
    # What pytest does after that (its own garbage collection) is not the gate's to bound.
    ended_at = next((t for t, line in lines if _CLOSING_LINE.match(line)), None)

    assert process.returncode == pytest.ExitCode.INTERRUPTED, text
    assert ended_at is not None, text
    took = ended_at - interrupted_at
    assert took < 2, f"Ctrl-C took {took:.1f} s to end the session\n{text}"
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    assert confluence.count("/wiki/api/v2/pages/103/properties") == 0  # the queued one


def test_an_interrupt_cuts_a_request_in_flight(confluence: FakeConfluence) -> None:
    """Guards the one urllib3 extension point the gate relies on to cut connections:
    pool classes (``PoolManager.pool_classes_by_scheme``) with their own ``ConnectionCls``.
    If a urllib3 release stops honouring them, this fails instead of Ctrl-C silently
    waiting for every request in flight again."""
    confluence.add_page("1")
    assert_cancel_cuts_a_request_in_flight(
        confluence, client(confluence.url, timeout=60, retries=0)
    )


def assert_cancel_cuts_a_request_in_flight(site: FakeConfluence, slow: ConfluenceClient) -> None:
    """Cancelling the run's deadline ends a request the site is still sitting on."""
    site.fault("/wiki/api/v2/pages/1", hang(60))
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            slow.get_page("1")
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=fetch)
    worker.start()
    assert site.wait_for("/wiki/api/v2/pages/1")
    slow.deadline.cancel()
    worker.join(timeout=5)

    assert not worker.is_alive(), "the request in flight was not cut"
    assert len(outcome) == 1 and isinstance(outcome[0], ConfluenceError)
    assert "interrupted" in outcome[0].args[0]


# -- a server cannot fill the machine's memory, one small answer at a time ----------------


def test_a_listing_that_adds_up_past_its_budget_is_refused(
    confluence: FakeConfluence, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every answer is small and the pages do not loop: only their sum gives it away.
    confluence.add_page("101", version=40)
    for number in range(1, 40):
        confluence.add_version("101", number, "2025-07-01T10:00:00.000Z")
    confluence.versions_max_page_size = 5
    one_answer = len(requests.get(f"{confluence.url}/api/v2/pages/101/versions").content)
    monkeypatch.setattr(confluence_module, "MAX_LISTING_BYTES", int(2.5 * one_answer))
    before = confluence.count("/wiki/api/v2/pages/101/versions")

    with pytest.raises(ConfluenceError, match=r"version history of page 101 add up to more"):
        client(confluence.url).get_versions("101")
    assert confluence.count("/wiki/api/v2/pages/101/versions") - before == 3  # of 8 pages


def test_everything_the_clients_of_one_run_read_has_one_budget(
    confluence: FakeConfluence,
) -> None:
    for page_id in ("101", "102", "103"):
        confluence.add_page(page_id, title="x" * 2000)
    body = requests.get(f"{confluence.url}/api/v2/pages/101").content
    one_answer = 2 * len(body) + confluence_module.parse_weight(body)
    run = MemoryBudget(int(2.5 * one_answer))
    client(confluence.url, budget=run).get_page("101")
    reader = client(confluence.url, budget=run)  # the next round of the same run
    reader.get_page("102")
    with pytest.raises(
        ConfluenceError, match=r"in this run would take more than .* \(while reading page 103\)"
    ):
        reader.get_page("103")
    # Another run starts with a budget of its own.
    client(confluence.url).get_page("103")


def test_a_compressed_bomb_is_refused_without_inflating_it(confluence: FakeConfluence) -> None:
    # 200 MB of JSON whitespace gzips to ~200 KB: the size cap must hold for what the body
    # inflates to, read a bounded piece at a time (urllib3 >= 2.6 bounds read1's output).
    inflated = b'{"results": [' + b" " * (200 * 1024 * 1024) + b"]}"
    confluence.add_page("101")
    confluence.fault(
        "/wiki/api/v2/pages/101",
        status(200, body=gzip.compress(inflated, 1), headers={"Content-Encoding": "gzip"}),
    )
    del inflated
    tracemalloc.start()
    try:
        with pytest.raises(ConfluenceError, match="larger than 10 MB"):
            client(confluence.url).get_page("101")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024

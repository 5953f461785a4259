"""The fake Confluence on 127.0.0.1: its HTTP server, request handler and lifecycle.

Standard library only: a ``ThreadingHTTPServer`` on an ephemeral port served by a daemon
thread. It speaks HTTP/1.1 with keep-alive and exact ``Content-Length`` so that a
client's connection pool really reuses connections, records every request it receives,
limits requests in flight as Atlassian's rate limiting does, and carries out the faults
of faults.py.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .api import RecordedRequest, SiteApi
from .faults import (
    CannedResponse,
    Chunked,
    Fault,
    FaultRule,
    Hang,
    NextLink,
    NoContentType,
    Oversized,
    ResetConnection,
    Rewrite,
    RewriteText,
    SlowHeaders,
    Trickle,
    path_matches,
)
from .model import JSON_TYPE


class FakeConfluence(SiteApi):
    """A fake Confluence Cloud site at ``url`` (``http://127.0.0.1:PORT/wiki``).

    Configure it with ``add_*``/``set_approval``/``fault`` (safe while it serves), then
    point a client at ``url``. Use ``running_fake_confluence()`` or ``with FakeConfluence()``.
    What it holds is model.py's, what it answers api.py's, how it may misbehave faults.py's.
    """

    def __init__(
        self, tls: ssl.SSLContext | None = None, *, gateway_cloud_id: str | None = None
    ) -> None:
        """``tls``: a server-side context to serve https instead of http.

        ``gateway_cloud_id``: answer as Atlassian's API gateway does for that cloud id
        (the base URL for scoped API tokens and OAuth 2.0): the API lives under
        ``/ex/confluence/{cloudId}/wiki``; ``next`` links are written without that prefix
        (``/wiki/api/v2/...``, v1: ``/rest/api/...``) and ``_links.base`` is the site
        itself (``https://acme.atlassian.net/wiki``), as observed on api.atlassian.com
        (see atlassian-python-api #1655, confluence-publisher #531).
        """
        super().__init__()
        self._stopping = threading.Event()
        self._faults: list[FaultRule] = []
        self._open_sockets: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._watchers: list[tuple[str, int, Callable[[], None]]] = []

        self.requests: list[RecordedRequest] = []
        #: called with each request as it arrives, before it is answered (to change the
        #: site at an exact point of a run, instead of after a guessed delay)
        self.on_request: Callable[[RecordedRequest], None] | None = None
        self.latency = 0.0
        #: Requests the site serves at once; beyond it, 429 with Retry-After (None: no limit).
        #: Atlassian Cloud rate-limits bursts with HTTP 429 and always says when to come back
        #: in Retry-After (developer.atlassian.com, "Rate limiting"); a limit on requests in
        #: flight is the simplest such budget that a client's concurrency can overrun.
        self.max_in_flight: int | None = None
        #: the Retry-After (seconds) of those 429s
        self.limit_retry_after = 1
        #: Send X-RateLimit-NearLimit: true once this many requests are in flight (None:
        #: never). Atlassian sends it when less than 20% of a budget is left.
        self.near_limit_at: int | None = None
        #: requests refused for max_in_flight, and the most ever admitted at once
        self.refused = 0
        self.peak_in_flight = 0
        self._in_flight = 0

        self._server = _Server(self)
        port = self._server.server_address[1]
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.origin = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        #: the gateway's path prefix before /wiki ("" for a site)
        self.prefix = f"/ex/confluence/{gateway_cloud_id}" if gateway_cloud_id else ""
        self.url = f"{self.origin}{self.prefix}/wiki"
        #: what answers give as ``_links.base``: the site's own URL, also via the gateway
        self.links_base = "https://acme.atlassian.net/wiki" if gateway_cloud_id else self.url

    # -- lifecycle --

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # keeps shutdown() quick
            name=f"fake-confluence-{self.origin}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and drop every open connection, including hanging ones."""
        self._stopping.set()  # wakes handlers sleeping in latency/hang
        if self._thread is not None:
            self._server.shutdown()
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            # shutdown() (not close()) wakes a handler blocked reading a keep-alive
            # connection; the handler then closes its socket itself.
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None

    def __enter__(self) -> FakeConfluence:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fault(self, path: str, fault: Fault, times: int | None = None) -> None:
        """Mishandle requests to ``path`` (exact, or a prefix ending in "*").

        The first ``times`` matching requests get the fault (None: all of them). Rules are
        tried in the order added; the first live match wins.
        """
        with self._lock:
            self._faults.append(FaultRule(path, fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def when(self, path: str, n: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in the serving thread) once the ``n``-th request to ``path``
        (exact, or a prefix ending in "*") has been received, before it is answered."""
        with self._lock:
            self._watchers.append((path, n, callback))

    def wait_for(self, path: str, n: int = 1, timeout: float = 30.0) -> bool:
        """Block until ``n`` requests to ``path`` have been received (False on timeout)."""
        arrived = threading.Event()
        with self._lock:
            if self.count(path) >= n:
                return True
            self._watchers.append((path, n, arrived.set))
        return arrived.wait(timeout)

    def count(self, path: str) -> int:
        """How many recorded requests match ``path`` (exact, or a prefix ending in "*")."""
        with self._lock:
            return sum(1 for r in self.requests if path_matches(path, r.path))

    # -- used by the request handler --

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            due = [
                w
                for w in self._watchers
                if path_matches(w[0], request.path) and self.count(w[0]) == w[1]
            ]
            hook = self.on_request
        if hook is not None:
            hook(request)
        for _, _, callback in due:
            callback()

    def _admit(self) -> tuple[bool, bool]:
        """(admitted under max_in_flight, near the limit); admitted requests must _leave()."""
        with self._lock:
            if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
                self.refused += 1
                return False, True
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            near = self.near_limit_at is not None and self._in_flight >= self.near_limit_at
            return True, near

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _track(self, sock: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._open_sockets.add(sock)
            else:
                self._open_sockets.discard(sock)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for rule in self._faults:
                if path_matches(rule.pattern, path) and rule.remaining != 0:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.fault
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still running must never keep the process alive
    # socketserver's default listen backlog is 5: 32 clients connecting at once then wait
    # for SYN retransmits (1 s, then 2 s), and the fake, not the client, sets the pace.
    # A real site's load balancer accepts far more; 128 is Linux's historical SOMAXCONN.
    request_queue_size = 128

    def __init__(self, fake: FakeConfluence) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # Clients that time out, hang up mid-body, or a stop() tearing a connection down
        # are expected here; anything else is a bug in the fake and worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
    # Headers and body go out in separate writes; with Nagle's algorithm the body then
    # waits for the client's delayed ACK, adding ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, open_=False)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            while self.rfile.readline().strip():
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        req = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
            client_port=self.client_address[1],
        )
        fake._record(req)
        admitted, near_limit = fake._admit()
        try:
            self._answer(fake, req, admitted, near_limit)
        finally:
            if admitted:
                fake._leave()

    def _answer(
        self, fake: FakeConfluence, req: RecordedRequest, admitted: bool, near_limit: bool
    ) -> None:
        # The latency is the distance to the site: a refusal travels it too.
        if fake.latency > 0:
            fake._sleep(fake.latency)
        if not admitted:
            body = b'{"message":"Rate limit exceeded"}'
            headers = {"Retry-After": str(fake.limit_retry_after)}
            self._send(429, body, JSON_TYPE, headers)
            return

        fault = fake._take_fault(req.path)
        if isinstance(fault, ResetConnection):
            self._reset()
            return
        if isinstance(fault, CannedResponse):
            self._send(fault.code, fault.body, fault.content_type, dict(fault.headers))
            return
        if isinstance(fault, Oversized):
            self._send_oversized(fault.n_bytes)
            return
        if isinstance(fault, Hang):
            fake._sleep(fault.seconds)
        if fake._stopping.is_set():
            self.close_connection = True  # stop() cut the wait short: hang up, don't answer
            return

        code, payload, headers = fake._respond(req)
        if near_limit:
            headers["X-RateLimit-NearLimit"] = "true"
        if isinstance(fault, Rewrite) and code == 200:
            fault.change(payload)
        if isinstance(fault, NextLink) and code == 200 and isinstance(payload, dict):
            payload.setdefault("_links", {})["next"] = fault.url
            headers["Link"] = f'<{fault.url}>; rel="next", <{fake.links_base}>; rel="base"'
        text = json.dumps(payload)
        if isinstance(fault, RewriteText) and code == 200:
            text = fault.change(text)
        body = text.encode()
        if isinstance(fault, Trickle):
            self._send_trickle(code, body, headers, fault.bytes_per_second)
        elif isinstance(fault, SlowHeaders):
            self._send_slow_headers(code, body, headers, fault.interval)
        elif isinstance(fault, Chunked):
            self._send_chunked(code, body.ljust(fault.pad_to), headers, fault.chunk)
        else:
            content_type = None if isinstance(fault, NoContentType) else JSON_TYPE
            self._send(code, body, content_type, headers)

    def _send(
        self, code: int, body: bytes, content_type: str | None, headers: dict[str, str]
    ) -> None:
        self.send_response(code)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_trickle(
        self, code: int, body: bytes, headers: dict[str, str], per_second: int
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", JSON_TYPE)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        fake = self.server.fake
        for start in range(0, len(body), per_second):
            self.wfile.write(body[start : start + per_second])
            self.wfile.flush()
            if fake._stopping.wait(1.0):
                break
        self.close_connection = True

    def _send_slow_headers(
        self, code: int, body: bytes, headers: dict[str, str], interval: float
    ) -> None:
        fields = {"Content-Type": JSON_TYPE, **headers, "Content-Length": str(len(body))}
        self.wfile.write(f"{self.protocol_version} {code} OK\r\n".encode("latin-1"))
        head = "".join(f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
        stopping = self.server.fake._stopping
        for byte in head.encode("latin-1"):
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if stopping.wait(interval):
                break
        else:
            self.wfile.write(body)
        self.close_connection = True

    def _send_chunked(self, code: int, body: bytes, headers: dict[str, str], size: int) -> None:
        self.send_response(code)
        self.send_header("Content-Type", JSON_TYPE)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stopping = self.server.fake._stopping
        for start in range(0, len(body), size):
            if stopping.is_set():
                break
            part = body[start : start + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN, so the client
        # sees ECONNRESET (or RemoteDisconnected), never a clean end of a response.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.rfile.close()  # drop the makefile() reference so close() really closes the fd
        self.connection.close()

    def _send_oversized(self, n_bytes: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(n_bytes))
        self.end_headers()
        # Stream in chunks so a huge body costs the fake no memory; the client is expected
        # to give up early, which ends here as a broken pipe (ignored by handle_error).
        head = b'{"results": ['[:n_bytes]
        self.wfile.write(head)
        remaining = n_bytes - len(head)
        chunk = b" " * 65536
        while remaining > 0 and not self.server.fake._stopping.is_set():
            part = chunk[: min(remaining, len(chunk))]
            self.wfile.write(part)
            remaining -= len(part)
        self.close_connection = True


@contextmanager
def running_fake_confluence(tls: ssl.SSLContext | None = None) -> Iterator[FakeConfluence]:
    """A started fake; stopped (all connections dropped) on exit."""
    fake = FakeConfluence(tls)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()

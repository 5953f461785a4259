"""The transport as deployed: proxies and CA bundles from the environment, read once a run.

The gate talks to urllib3 directly (transport.py says why). What requests did for it
is done the same way: the proxy for the site is chosen from ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` exactly as requests chooses it (compared
here with requests' own functions), https goes through a ``CONNECT`` tunnel with the
certificate verified against ``REQUESTS_CA_BUNDLE``, plain http through the proxy as an
absolute URL. A second server plays the proxy; nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests.utils
import trustme

from pytest_confluence_approval.transport import environment_proxy
from tests.conftest import GateRunner, approved_page
from tests.fake_confluence import FakeConfluence, running_fake_confluence

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


@pytest.fixture
def clean_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without proxy settings, whatever the machine running the tests has."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"HTTPS_PROXY": "http://proxy.acme.test:3128"},
        {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"},
        {"HTTP_PROXY": "http://proxy.acme.test:3128"},  # https sites do not use it
        {"ALL_PROXY": "socks5://proxy.acme.test:1080"},
        {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "acme.atlassian.net"},
        {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".atlassian.net"},
        {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "atlassian.net, other.test"},
        {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "lassian.net"},  # not a domain suffix
        {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"},
        {"HTTPS_PROXY": "http://p:1", "no_proxy": "", "NO_PROXY": "acme.atlassian.net"},
        {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"},
        {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.1.2.3"},
        {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/33,192.168.0.0/16"},
        {"HTTP_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1:8090"},
        {"HTTP_PROXY": "http://p:1", "NO_PROXY": "confluence.acme.test:8090"},
        {"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"},  # a CGI's is the client's
        {"http_proxy": "http://p:1", "REQUEST_METHOD": "GET"},
    ],
)
@pytest.mark.parametrize(
    "url",
    [
        "https://acme.atlassian.net/wiki",
        "https://api.atlassian.com/ex/confluence/a436116f/wiki",
        "http://10.1.2.3:8090/wiki",
        "http://127.0.0.1:8090/wiki",
        "http://confluence.acme.test:8090/confluence",
    ],
)
def test_the_proxy_is_chosen_as_requests_chooses_it(
    clean_proxies: pytest.MonkeyPatch, environment: dict[str, str], url: str
) -> None:
    for name, value in environment.items():
        clean_proxies.setenv(name, value)
    expected = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))

    assert environment_proxy(url) == expected


# -- end to end: a second server plays the proxy --------------------------------------------


def test_a_plain_http_site_is_reached_through_the_environments_proxy(
    gate: GateRunner, clean_proxies: pytest.MonkeyPatch
) -> None:
    proxy = gate.site  # the fake answers absolute-form requests as a forwarding proxy would
    approved_page(proxy, "101")
    gate.write_policy([{"id": "101"}])
    clean_proxies.setenv("HTTP_PROXY", proxy.origin)
    site = "http://confluence.acme.test/wiki"  # no such host: only the proxy can reach it

    run = gate.run("--confluence-url", site, "--confluence-insecure-http", url=False)

    run.result.assert_outcomes(passed=1)
    assert {r.headers["host"] for r in proxy.requests} == {"confluence.acme.test"}


def test_no_proxy_exempts_the_site(gate: GateRunner, clean_proxies: pytest.MonkeyPatch) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    clean_proxies.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    clean_proxies.setenv("NO_PROXY", "localhost,127.0.0.0/8")

    gate.run().result.assert_outcomes(passed=1)


def test_the_environment_is_read_once_per_run_not_per_request(
    gate: GateRunner, clean_proxies: pytest.MonkeyPatch
) -> None:
    """requests read the proxies and CA bundle from os.environ on every request (12% of a
    run's CPU, more with a CI runner's environment); the gate reads them once."""
    for page_id in ("101", "102", "103"):
        approved_page(gate.site, page_id)
    gate.write_policy([{"id": p} for p in ("101", "102", "103")])

    def proxy_set_after_the_first_request(_: object) -> None:
        clean_proxies.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # read per request: refused

    gate.site.on_request = proxy_set_after_the_first_request

    gate.run().result.assert_outcomes(passed=3)
    assert len(gate.site.requests) == 5  # the batch, three properties, the names


def test_an_unusable_proxy_url_fails_every_page_in_words_and_sends_nothing(
    gate: GateRunner, clean_proxies: pytest.MonkeyPatch
) -> None:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    clean_proxies.setenv("HTTP_PROXY", "http://user:pw-SECRET@:8080")  # no host

    run = gate.run()

    run.result.assert_outcomes(failed=1)
    text = run.failure_text("101")
    assert "the proxy URL in the environment" in text and "malformed" in text, text
    assert "SECRET" not in run.output and "Traceback" not in run.output
    assert gate.site.requests == []


# -- https through a CONNECT tunnel -----------------------------------------------------------


class ConnectProxy:
    """A forward proxy that only tunnels (``CONNECT host:port``), as corporate proxies do
    for https; it records each CONNECT's request line and headers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connects: list[tuple[str, dict[str, str]]] = []
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._serving = threading.Thread(target=self._serve, daemon=True)
        self._serving.start()

    def close(self) -> None:
        self.listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._open.append(client)
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(4096)
            if not data:
                return
            head += data
        line, *fields = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
        self.connects.append((line, headers))
        method, target, _ = line.split(" ")
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        self._open.append(upstream)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=_relay, args=(upstream, client), daemon=True).start()
        _relay(client, upstream)


def _relay(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    proxy = ConnectProxy()
    yield proxy
    proxy.close()


@pytest.fixture
def tls_site(tmp_path: Path, clean_proxies: pytest.MonkeyPatch) -> Iterator[FakeConfluence]:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    clean_proxies.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    with running_fake_confluence(tls=context) as site:
        approved_page(site, "101")
        yield site


def test_https_goes_through_a_connect_tunnel_with_the_certificate_verified(
    gate: GateRunner,
    tls_site: FakeConfluence,
    connect_proxy: ConnectProxy,
    clean_proxies: pytest.MonkeyPatch,
) -> None:
    tls_site.auth = ("bot@acme.test", "tok-SECRET")
    clean_proxies.setenv("CONFLUENCE_USERNAME", "bot@acme.test")
    clean_proxies.setenv("CONFLUENCE_API_TOKEN", "tok-SECRET")
    clean_proxies.setenv("HTTPS_PROXY", connect_proxy.url.replace("://", "://proxy-user:p%40ss@"))
    gate.write_policy([{"id": "101"}])

    run = gate.run("--confluence-url", tls_site.url, url=False)

    run.result.assert_outcomes(passed=1)
    assert tls_site.count("/wiki/api/v2/pages") == 1
    port = tls_site.origin.rsplit(":", 1)[1]
    assert {line.rsplit(" ", 1)[0] for line, _ in connect_proxy.connects} == {
        f"CONNECT 127.0.0.1:{port}"
    }
    for _, headers in connect_proxy.connects:
        # The proxy's own credentials go to the proxy; the site's travel inside TLS only.
        given = base64.b64encode(b"proxy-user:p@ss").decode()
        assert headers.get("proxy-authorization") == f"Basic {given}"
        assert "authorization" not in headers

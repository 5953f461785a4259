"""The wire: urllib3's connection pool, the run's environment read once, answers as bytes.

This is the only module that touches urllib3's request machinery. Everything it hands
back is the gate's own: an :class:`Answer` (status, headers, a bounded way to read the
body) or a :class:`NoAnswer` that says what went wrong in a word (``dns``, ``refused``,
``tls``, ``timeout``, ``reset``, ``other``) and why, briefly. No exception of the HTTP
stack leaves :meth:`Transport.send`: their frames hold the request's headers (the token).

Why urllib3 and not requests (which the gate used before): requests builds every request
through ``Session.request`` (cookies, hooks, settings merged per call) and re-reads the
environment for proxies and CA bundles on every call, walking ``os.environ`` each time.
Measured on a 2-core machine, CPU per request, 8 threads, the same requests and JSON
decoding: requests ``Session.get`` 0.74-0.92 ms (1.17 ms with 100 more environment
variables), requests with prepared requests sent through its adapter 0.48-0.53 ms,
urllib3's connection pool 0.31-0.37 ms, whatever the environment's size. The gate's
whole budget beyond pytest's own ~0.4 ms per item is of that order, so the gate talks to
urllib3 directly; requests is not imported at all (about 55 ms of start-up less).

What requests did for the gate is done here the same way, once per run:

- TLS is always verified: against ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` (a file, or
  a directory of certificates) when set, else certifi's bundle, as requests does;
- proxies from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, lower case
  first, ``NO_PROXY`` with host suffixes, ``host:port`` and CIDR ranges), chosen as
  requests chooses them (``requests.utils.should_bypass_proxies`` and ``select_proxy``;
  tests/test_transport.py compares the two); ``user:password@`` in a proxy URL becomes
  its ``Proxy-Authorization``; https goes through a ``CONNECT`` tunnel;
- redirects are never followed here (the client judges each one), ``~/.netrc`` is never
  read, and urllib3's own retries are off: the request loop (request_loop.py) decides.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import make_headers, parse_url
from urllib3.util.proxy import connection_requires_http_tunnel

from .deadline import Deadline
from .errors import ConfluenceError

NoAnswerKind = Literal["dns", "refused", "tls", "timeout", "reset", "proxy", "other"]

#: What every request says it accepts, as requests said it (gzip, deflate, and br or
#: zstd where their decoders are installed).
ACCEPT_ENCODING = make_headers(accept_encoding=True)["accept-encoding"]


class NoAnswer(Exception):
    """The request got no answer: ``kind`` says how, ``reason`` (the innermost cause,
    briefly) why. Raised afresh, holding no frame or object of the HTTP stack."""

    def __init__(self, kind: NoAnswerKind, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind: NoAnswerKind = kind
        self.reason = reason


# -- the environment, read once per run ------------------------------------------------------


@dataclass(frozen=True)
class NetworkEnvironment:
    """What the environment says about reaching the site: read once, when a run first
    goes to the network, never per request (requests walked ``os.environ`` every call)."""

    #: the proxy for the site's URL, or None (NO_PROXY, or none set); it may carry a
    #: password, so it is never shown (not in repr, not in messages)
    proxy: str | None = field(default=None, repr=False)
    #: the CA certificates TLS is verified against: a bundle file or a directory ("" for
    #: plain http to the site through no https proxy: no TLS is spoken)
    ca_certificates: str = ""

    def __repr__(self) -> str:
        proxied = "via a proxy" if self.proxy else "direct"
        return f"<NetworkEnvironment {proxied}, CA {self.ca_certificates or 'certifi'}>"

    @classmethod
    def read(cls, site: str) -> NetworkEnvironment:
        """The process environment's word on requests to ``site``."""
        proxy = environment_proxy(site)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        tls = site.startswith("https:") or (proxy or "").lower().startswith("https:")
        if not bundle and tls:
            import certifi  # requests' default bundle; looked up only where TLS is spoken

            bundle = certifi.where()
        return cls(proxy=proxy, ca_certificates=bundle or "")


def environment_proxy(url: str) -> str | None:
    """The proxy requests would choose for ``url`` in this environment, or None."""
    if _bypasses_proxies(url):
        return None
    proxies = urllib.request.getproxies()  # <scheme>_proxy, lower case first (or the OS's)
    parts = urlsplit(url)
    if not parts.hostname:
        return proxies.get(parts.scheme, proxies.get("all"))
    for key in (
        f"{parts.scheme}://{parts.hostname}",
        parts.scheme,
        f"all://{parts.hostname}",
        "all",
    ):
        if key in proxies:
            return proxies[key]
    return None


def _bypasses_proxies(url: str) -> bool:
    """Whether NO_PROXY (lower case first) exempts ``url``: suffixes of the host, with or
    without its port, and CIDR ranges for an IPv4 address; then the platform's own
    exceptions (urllib.request.proxy_bypass), as requests decides it."""
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
    parts = urlsplit(url)
    hostname = parts.hostname
    if hostname is None:
        return True
    entries = [entry for entry in (no_proxy or "").replace(" ", "").split(",") if entry]
    if _ipv4(hostname) is not None:
        for entry in entries:
            if hostname == entry or _in_network(hostname, entry):
                return True
    else:
        with_port = f"{hostname}:{parts.port}" if parts.port else hostname
        for entry in entries:
            entry = entry.lstrip(".")
            if hostname == entry or with_port == entry:
                return True
            if hostname.endswith("." + entry) or with_port.endswith("." + entry):
                return True
    try:
        return bool(urllib.request.proxy_bypass(hostname))
    except (TypeError, socket.gaierror):
        return False


def _ipv4(address: str) -> int | None:
    """The address as a number, if it is IPv4 as inet_aton reads it (``127.1`` too)."""
    try:
        return int.from_bytes(socket.inet_aton(address), "big")
    except OSError:
        return None


def _in_network(address: str, network: str) -> bool:
    """``10.1.2.3`` in ``10.0.0.0/8``; an entry that is no IPv4 CIDR range matches nothing."""
    base, slash, bits = network.partition("/")
    if not slash or "/" in bits:
        return False
    try:
        prefix = int(bits)
    except ValueError:
        return False
    ours, theirs = _ipv4(address), _ipv4(base)
    if ours is None or theirs is None or not 1 <= prefix <= 32:
        return False
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return ours & mask == theirs & mask


# -- the pool ----------------------------------------------------------------------------


class Answer:
    """An answer's status line and headers; its body is read piece by piece (see bodies.py).

    ``finish`` gives the connection back: to the pool once the body was read to its end,
    else closed (an unread or half-read body must not be the next request's answer).
    """

    __slots__ = ("_response", "status")

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status: int = response.status

    def __repr__(self) -> str:
        return f"<Answer {self.status}>"

    def header(self, name: str) -> str | None:
        value: str | None = self._response.headers.get(name)
        return value

    def read1(self, amount: int, timeout: float) -> bytes:
        """Whatever one read brings (at most ``amount`` bytes once decoded); b"" at the end.

        Raises NoAnswer("reset", ...) if the connection breaks, or the read times out.
        """
        response = self._response
        sock = getattr(response.connection, "sock", None)
        try:
            if sock is not None:
                sock.settimeout(timeout)
            chunk: bytes = response.read1(amount, decode_content=True)
        except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
            failure = NoAnswer("reset", reason(exc))
        else:
            return chunk
        raise failure from None

    def finish(self, *, reuse: bool) -> None:
        response = self._response
        if not reuse:
            response.close()
        response.release_conn()


class Transport:
    """One origin's pool of keep-alive connections, sized to the concurrency ceiling.

    Every connection registers its socket with the run's deadline, which shuts down those
    still open when it runs out or the run is interrupted (Ctrl-C): no blocked read
    outlives it. urllib3's public extension points do it: a pool's ``ConnectionCls`` and
    a pool manager's ``pool_classes_by_scheme`` (tests/test_network.py fails loudly if
    either stops taking effect).
    """

    def __init__(
        self,
        site: str,
        environment: NetworkEnvironment,
        *,
        concurrency: int,
        deadline: Deadline,
    ) -> None:
        self.environment = environment
        options: dict[str, Any] = {
            "num_pools": 1,
            "maxsize": max(1, concurrency),
            "block": False,
            "retries": False,
            "cert_reqs": "CERT_REQUIRED",
        }
        if os.path.isdir(environment.ca_certificates):
            options["ca_cert_dir"] = environment.ca_certificates
        elif environment.ca_certificates:
            options["ca_certs"] = environment.ca_certificates
        #: why the environment's proxy cannot be used, if it cannot (said on every request)
        self._unusable: str | None = None
        try:
            self._manager = _pool_manager(environment.proxy, options)
        except ConfluenceError as exc:
            self._unusable = exc.message
            self._manager = urllib3.PoolManager(**options)  # never used: send refuses
        self._manager.pool_classes_by_scheme = _tracked_pools(deadline)
        # Every request goes to the site's origin (urls.py sees to that): its one pool is
        # asked directly, with the request target, unless an http proxy forwards plain
        # http, which takes the absolute URL (and the pool manager's Host header).
        scheme = urlsplit(site).scheme
        manager = self._manager
        forwarded = isinstance(manager, urllib3.ProxyManager) and not (
            connection_requires_http_tunnel(manager.proxy, manager.proxy_config, scheme)
        )
        self._pool = None if forwarded else manager.connection_from_url(site)
        self._origin_url = urlsplit(site)._replace(path="", query="", fragment="").geturl()

    def __repr__(self) -> str:
        return f"<Transport {self.environment!r}>"

    def close(self) -> None:
        self._manager.clear()

    def send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Answer:
        """Send one request and return its answer once the headers are in.

        ``timeout`` bounds connecting and each read. Raises NoAnswer.
        """
        if self._unusable is not None:
            raise NoAnswer("proxy", self._unusable)
        options: dict[str, Any] = {
            "body": body,
            "headers": headers,
            "redirect": False,
            "retries": False,
            "timeout": urllib3.Timeout(connect=timeout, read=timeout),
            "preload_content": False,
            "decode_content": True,
            "release_conn": False,
        }
        try:
            if self._pool is None:
                response = self._manager.urlopen(method, url, **options)
            else:
                target = self._target(url)
                response = self._pool.urlopen(method, target, assert_same_host=False, **options)
        except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
            failure = NoAnswer(kind_of(exc), reason(exc))
        else:
            return Answer(response)
        raise failure from None

    def _target(self, url: str) -> str:
        """The request target of a URL on the site, as a pool manager would send it: with
        dot segments removed (urls.under_base_path judged it so)."""
        if url.startswith(self._origin_url + "/") and "/." not in url and "#" not in url:
            return url[len(self._origin_url) :]  # the usual case: nothing to normalize
        return parse_url(url).request_uri


def _pool_manager(proxy: str | None, options: dict[str, Any]) -> urllib3.PoolManager:
    """A pool manager straight to the site, or through the environment's proxy."""
    if proxy is None:
        return urllib3.PoolManager(**options)
    if "://" not in proxy:
        proxy = "http://" + proxy  # requests' rule: a proxy without a scheme is http
    try:
        parsed = parse_url(proxy)
    except urllib3.exceptions.LocationParseError:
        parsed = None
    if parsed is None or not parsed.host:
        raise ConfluenceError(
            "the proxy URL in the environment (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) is "
            "malformed or has no host; fix it, or exempt the site in NO_PROXY"
        )
    user, password = _proxy_credentials(proxy)
    if (parsed.scheme or "").lower().startswith("socks"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError:
            raise ConfluenceError(
                "the environment names a SOCKS proxy, which needs PySocks: "
                "pip install 'urllib3[socks]'"
            ) from None
        return SOCKSProxyManager(proxy, username=user, password=password, **options)
    proxy_headers = (
        make_headers(proxy_basic_auth=f"{user}:{password or ''}") if user is not None else None
    )
    try:
        return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **options)
    except urllib3.exceptions.ProxySchemeUnknown:
        raise ConfluenceError(
            "the proxy URL in the environment has a scheme other than http, https or "
            "socks; fix it, or exempt the site in NO_PROXY"
        ) from None


def _proxy_credentials(proxy: str) -> tuple[str | None, str | None]:
    parts = urlsplit(proxy)
    if parts.username is None:
        return None, None
    return unquote(parts.username), None if parts.password is None else unquote(parts.password)


def _tracked_pools(deadline: Deadline) -> dict[str, type[HTTPConnectionPool]]:
    """Pool classes whose connections register their sockets with the run's deadline."""

    class TrackedHTTPConnection(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            deadline.track(self.sock)

        def close(self) -> None:
            deadline.untrack(getattr(self, "sock", None))
            super().close()

    # TLS included: in this order, TrackedHTTPConnection's super() is HTTPSConnection.
    class TrackedHTTPSConnection(TrackedHTTPConnection, HTTPSConnection):
        pass

    class TrackedHTTPPool(HTTPConnectionPool):
        ConnectionCls = TrackedHTTPConnection

    class TrackedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = TrackedHTTPSConnection

    return {"http": TrackedHTTPPool, "https": TrackedHTTPSPool}


# -- what went wrong ---------------------------------------------------------------------


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps: urllib3's ProtocolError -> the socket error."""
    chain = [exc]
    while len(chain) < 10:
        last = chain[-1]
        inner = getattr(last, "reason", None) or last.__cause__ or last.__context__
        if not isinstance(inner, BaseException) or inner in chain:
            break
        chain.append(inner)
    return chain


def kind_of(exc: BaseException) -> NoAnswerKind:
    """What went wrong, judged by the innermost cause first.

    urllib3 wraps every failure to connect in ``NewConnectionError``, a subclass of
    ``ConnectTimeoutError``: only the socket error inside tells a name that does not
    resolve or a refused connection from a real timeout.
    """
    for error in reversed(_causes(exc)):
        if isinstance(error, (socket.gaierror, urllib3.exceptions.NameResolutionError)):
            return "dns"
        if isinstance(error, ConnectionRefusedError):
            return "refused"
        if isinstance(error, (ssl.SSLError, ssl.CertificateError, urllib3.exceptions.SSLError)):
            return "tls"
        if isinstance(error, (TimeoutError, urllib3.exceptions.TimeoutError)) and not isinstance(
            error, urllib3.exceptions.NewConnectionError
        ):
            return "timeout"
        if isinstance(
            error,
            (ConnectionError, urllib3.exceptions.ProtocolError, http.client.HTTPException),
        ):
            return "reset"
    return "other"


def reason(exc: BaseException) -> str:
    """The innermost cause, briefly: 'ConnectionResetError', not three nested reprs."""
    inner = _causes(exc)[-1]
    text = str(inner).strip() or type(inner).__name__
    return text if len(text) <= 200 else text[:197] + "..."

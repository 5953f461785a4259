"""Headless Chromium for tests, driven over the DevTools protocol with the standard library.

The browser runs with every way out of the machine closed (no name resolves, every
request goes to a proxy on a port nothing serves, no background fetching), is spoken
to over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, one JSON message per NUL byte:
no port, no websocket), and reports for each file it opens:

- the rendered text (``innerText``: after layout and CSS) of each page section and of
  each element with an id;
- every request the page made besides the document itself (even one the page's
  Content-Security-Policy then blocked);
- every console error (CSP violations are logged as errors), script exception and
  console.error call;
- the elements a report must not contain (scripts, images, frames, ...);
- the page printed to PDF with the page size its CSS asks for.

Where no browser is installed the tests that need one are skipped with the install
command, except under ``CI=true``: there they fail (in CI they always run).
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EXECUTABLES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "apt-get install chromium"
#: Only against a browser that hangs: every wait below ends on the browser's own event.
HANG_GUARD_SECONDS = 180.0

#: What the page's text and elements are read with (DevTools evaluates it: the page's
#: own policy does not apply to the debugger).
_READ_PAGE = """JSON.stringify({
  sections: Array.from(document.querySelectorAll('section.page'))
    .map(s => [s.dataset.pageId, s.innerText]),
  blocks: Object.fromEntries(Array.from(document.querySelectorAll('[id]'))
    .map(e => [e.id, e.innerText])),
  elements: Object.fromEntries(
    ['script', 'img', 'iframe', 'frame', 'object', 'embed', 'link', 'form', 'input',
     'base', 'svg', 'video', 'audio', 'source', 'meta[http-equiv=refresh]']
      .map(s => [s, document.querySelectorAll(s).length])),
  styled: document.querySelectorAll('[style]').length,
  links: Array.from(document.links).map(a => a.getAttribute('href')),
  title: document.title,
})"""


_PIPES_AT_3_AND_4 = """
import os, sys
commands, answers = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))
os.dup2(commands, 3)
os.dup2(answers, 4)
os.set_inheritable(3, True)
os.set_inheritable(4, True)
os.execv(sys.argv[3], sys.argv[3:])
"""


class BrowserError(Exception):
    """The browser did not answer as the DevTools protocol says it does."""


def find_browser() -> str | None:
    for name in EXECUTABLES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser(environ: Mapping[str, str] = os.environ) -> str:
    """The browser's executable; else skip with the install command (fail under CI=true)."""
    found = find_browser()
    if found is not None:
        return found
    message = (
        f"no headless Chromium on PATH ({', '.join(EXECUTABLES)}): install it with `{INSTALL}`"
    )
    if environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; in CI the browser tests must run", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Loaded:
    """What the browser made of one file."""

    #: page id -> the rendered text of its ``<section class="page">``
    sections: dict[str, str]
    #: element id -> its rendered text
    blocks: dict[str, str]
    #: tag (or selector) -> how many the document holds
    elements: dict[str, int]
    #: elements with a style attribute
    styled: int
    #: every link's href, as written
    links: list[str]
    title: str
    #: every URL requested besides the document
    requests: list[str]
    #: console errors, script exceptions, console.error calls
    errors: list[str]
    pdf: bytes

    def page_sizes(self) -> list[tuple[int, int]]:
        """Each PDF page's MediaBox (width, height) in points, rounded."""
        boxes = re.findall(rb"/MediaBox\s*\[\s*([-\d.\s]+)\]", self.pdf)
        sizes = []
        for box in boxes:
            x0, y0, x1, y1 = (float(n) for n in box.split())
            sizes.append((round(x1 - x0), round(y1 - y0)))
        return sizes


class Browser:
    """One headless Chromium, spoken to over a pipe; open files with :meth:`load`."""

    def __init__(self, process: subprocess.Popen[bytes], commands: int, answers: int) -> None:
        self._process = process
        self._commands = commands
        self._answers = answers
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    @classmethod
    @contextmanager
    def running(cls, executable: str, profile: Path) -> Iterator[Browser]:
        to_browser, commands = os.pipe()
        answers, from_browser = os.pipe()
        flags = [
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            # Nothing leaves the machine: no name resolves, every request goes to a proxy
            # on the discard port, and the browser fetches nothing of its own accord.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        log = (profile / "chromium.log").open("wb")
        # A small Python puts the pipe ends where Chromium looks for them (fds 3 and 4);
        # both are copied first, so neither is overwritten before it is moved.
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _PIPES_AT_3_AND_4,
                str(to_browser),
                str(from_browser),
                executable,
                *flags,
            ],
            pass_fds=(to_browser, from_browser),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        os.close(to_browser)
        os.close(from_browser)
        browser = cls(process, commands, answers)
        try:
            yield browser
        finally:
            browser._close()
            log.close()

    def load(self, path: Path) -> Loaded:
        """Open ``path`` in a new tab, read it once loaded, print it, close the tab."""
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                self._call(f"{domain}.enable", session=session)
            url = path.resolve().as_uri()
            self._call("Page.navigate", {"url": url}, session=session)
            self._wait("Page.loadEventFired", session)
            read = self._call(
                "Runtime.evaluate",
                {"expression": _READ_PAGE, "returnByValue": True},
                session=session,
            )
            page = json.loads(read["result"]["value"])
            printed = self._call(
                "Page.printToPDF",
                {"preferCSSPageSize": True, "printBackground": True},
                session=session,
            )
            events = [e for e in self._events if e.get("sessionId") == session]
        finally:
            self._call("Target.closeTarget", {"targetId": target})
        return Loaded(
            sections=dict(page["sections"]),
            blocks=page["blocks"],
            elements=page["elements"],
            styled=page["styled"],
            links=page["links"],
            title=page["title"],
            requests=[
                e["params"]["request"]["url"]
                for e in events
                if e.get("method") == "Network.requestWillBeSent"
                and e["params"]["request"]["url"] != url
            ],
            errors=_errors(events),
            pdf=base64.b64decode(printed["data"]),
        )

    # --- the protocol ---------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any], session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._commands, data) :]
        return self._next_id

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._answers], [], [], HANG_GUARD_SECONDS)
            if not ready:
                raise BrowserError(f"the browser sent nothing for {HANG_GUARD_SECONDS} s")
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise BrowserError(f"the browser exited ({self._process.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def _call(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        sent = self._send(method, params or {}, session)
        while True:
            message = self._receive()
            if message.get("id") == sent:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            if "method" in message:
                self._events.append(message)

    def _wait(self, event: str, session: str) -> None:
        if any(e.get("method") == event and e.get("sessionId") == session for e in self._events):
            return
        while True:
            message = self._receive()
            if "method" in message:
                self._events.append(message)
                if message["method"] == event and message.get("sessionId") == session:
                    return

    def _close(self) -> None:
        try:
            if self._process.poll() is None:
                self._send("Browser.close", {}, None)
                self._process.wait(timeout=HANG_GUARD_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            os.close(self._commands)
            os.close(self._answers)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", "")) for a in params.get("args", [])))
    return errors

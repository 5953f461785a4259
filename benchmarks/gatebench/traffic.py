"""What the fake saw during a run: requests by kind, the fetch window, the shape."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.fake_confluence import FakeConfluence, RecordedRequest

from .harness import Measurement, check_all_approved, run_pytest

KINDS = ("batch", "page", "properties", "users-bulk", "other")

_PAGE = re.compile(r"/api/v2/pages/[^/]+")
_PROPERTIES = re.compile(r"/api/v2/pages/[^/]+/properties")


def classify(path: str) -> str:
    """The kind of a recorded request path (the fake serves the site under /wiki)."""
    tail = path.removeprefix("/wiki")
    if tail == "/api/v2/pages":
        return "batch"
    if _PAGE.fullmatch(tail):
        return "page"
    if _PROPERTIES.fullmatch(tail):
        return "properties"
    if tail == "/api/v2/users-bulk":
        return "users-bulk"
    return "other"


def peak_in_flight(arrivals: Sequence[float], latency: float) -> int:
    """Most arrivals within any window of ``latency`` seconds: about the requests in flight.

    Every request is held ``latency`` seconds by the fake, so requests that arrived within
    that window of each other overlapped on the server.
    """
    if latency <= 0:
        return 1
    best, start = 0, 0
    for end, t in enumerate(arrivals):
        while t - arrivals[start] >= latency:
            start += 1
        best = max(best, end - start + 1)
    return best


#: One request as the site sees it: method, path, query (every parameter, in order) and
#: body. Two clients made "the same requests" when their multisets of these are equal.
RequestKey = tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...], bytes]


def request_key(request: RecordedRequest) -> RequestKey:
    query = tuple((name, tuple(values)) for name, values in request.query.items())
    return (request.method, request.path, query, request.body)


@dataclass(frozen=True)
class Traffic:
    """What the fake saw during one run, and a few derived facts about its shape."""

    requests: list[RecordedRequest]
    latency: float

    def kinds(self) -> Counter[str]:
        return Counter(classify(r.path) for r in self.requests)

    def fetches(self) -> int:
        """Page and property requests: the ones the request-count target counts."""
        k = self.kinds()
        return k["batch"] + k["page"] + k["properties"]

    def keys(self) -> Counter[RequestKey]:
        return Counter(request_key(r) for r in self.requests)

    def window(self) -> float:
        """First arrival to last arrival plus the latency: the fetch as the site saw it."""
        if not self.requests:
            return 0.0
        arrivals = [r.received_at for r in self.requests]
        return max(arrivals) - min(arrivals) + self.latency

    def kinds_text(self) -> str:
        k = self.kinds()
        return ", ".join(f"{kind} {k[kind]}" for kind in KINDS)

    def describe(self, pages: int) -> list[str]:
        if not self.requests:
            return ["no requests"]
        lines = [
            self.kinds_text() + f"  ({self.fetches() / pages:.2f} page+property requests per page)"
        ]
        batches = [r for r in self.requests if classify(r.path) == "batch"]
        if batches:
            sizes = [
                len([i for v in r.query.get("id", []) for i in v.split(",") if i]) for r in batches
            ]
            lines.append(f"ids per batch request: min {min(sizes)}, max {max(sizes)}")
        props = [r for r in self.requests if classify(r.path) == "properties"]
        if props:
            keyed = sum(1 for r in props if r.query.get("key"))
            lines.append(f"property requests with ?key=: {keyed} of {len(props)}")
        arrivals = sorted(r.received_at for r in self.requests)
        lines.append(
            f"network window (first arrival .. last arrival + latency): {self.window():.3f} s; "
            f"peak in flight ~{peak_in_flight(arrivals, self.latency)}"
        )
        other = sorted(
            {r.method + " " + r.path for r in self.requests if classify(r.path) == "other"}
        )
        if other:
            lines.append(
                "other requests: " + ", ".join(other[:5]) + (" ..." if len(other) > 5 else "")
            )
        return lines


def recorded_since(fake: FakeConfluence, before: int) -> Traffic:
    """The requests the fake recorded after its first ``before``."""
    return Traffic(list(fake.requests[before:]), fake.latency)


def gate_run(
    label: str,
    fake: FakeConfluence,
    args: Sequence[str],
    cwd: Path,
    *,
    pages: int,
    repeat: int,
    extra_env: dict[str, str] | None = None,
) -> tuple[Measurement, list[Traffic]]:
    """Run the gate ``repeat`` times against the fake; every run must approve every page.

    Returns the measurement and each run's traffic.
    """
    m = Measurement(label, kinds=Counter())
    traffics = []
    for _ in range(repeat):
        traffic, note = gate_once(label, fake, args, cwd, pages=pages, extra_env=extra_env, into=m)
        m.note = note or m.note
        traffics.append(traffic)
    m.kinds = traffics[-1].kinds()
    for traffic in traffics:
        m.counts_per_run.append(len(traffic.requests))
    return m, traffics


def gate_once(
    label: str,
    fake: FakeConfluence,
    args: Sequence[str],
    cwd: Path,
    *,
    pages: int,
    extra_env: dict[str, str] | None = None,
    into: Measurement | None = None,
) -> tuple[Traffic, str]:
    """One gate run that must approve every page: its traffic and a note on anything odd.

    ``into``: the measurement to add the run to.
    """
    before = len(fake.requests)
    result = run_pytest(args, cwd, extra_env)
    # The child has exited, so every response was sent and every request recorded.
    traffic = recorded_since(fake, before)
    note = check_all_approved(label, result, pages)
    if into is not None:
        into.add(result)
    return traffic, note

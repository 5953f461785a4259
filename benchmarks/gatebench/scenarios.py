"""The speed rows: each function measures one row (or a family of rows) and returns it.

Printing is report.py's; which rows run, and in what order, is cli.py's.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.fake_confluence import FakeConfluence, running_fake_confluence

from .fixtures import (
    PROPERTY_KEY,
    page_ids,
    populate,
    synthetic_snapshot,
    write_policy,
    write_trivial,
)
from .harness import (
    GATE_PLUGIN,
    PYTEST,
    BenchmarkBroken,
    Measurement,
    check_all_approved,
    check_passed,
    clean_env,
    have_module,
    run_child,
    run_pytest,
)
from .traffic import classify

HTTP_TIMEOUT = 30.0


def sequential_fetch(fake: FakeConfluence, ids: Sequence[str], repeat: int) -> Measurement:
    """The naive client: one keep-alive session, page then its property, one page at a time."""
    m = Measurement("sequential", kinds=Counter())
    for _ in range(repeat):
        before = len(fake.requests)
        start = time.perf_counter()
        with requests.Session() as session:
            for page_id in ids:  # bounded: two requests per page
                page = session.get(f"{fake.url}/api/v2/pages/{page_id}", timeout=HTTP_TIMEOUT)
                page.raise_for_status()
                props = session.get(
                    f"{fake.url}/api/v2/pages/{page_id}/properties",
                    params={"key": PROPERTY_KEY},
                    timeout=HTTP_TIMEOUT,
                )
                props.raise_for_status()
                if page.json()["id"] != page_id or not props.json()["results"]:
                    raise BenchmarkBroken(f"sequential: unexpected answer for page {page_id}")
        m.walls.append(time.perf_counter() - start)
        recorded = fake.requests[before:]
        m.counts_per_run.append(len(recorded))
        m.kinds = Counter(classify(r.path) for r in recorded)
    return m


# --- installed but off --------------------------------------------------------------------


@dataclass
class Paired:
    """Interleaved pairs (A then B, B then A, ...): the difference of each pair."""

    label: str
    time_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    def line(self) -> str:
        wall_q1, wall_q3 = middle_half(self.time_ms)
        cpu_q1, cpu_q3 = middle_half(self.cpu_ms)
        return (
            f"{self.label}: {statistics.median(self.time_ms):+.1f} ms wall "
            f"(middle half of pairs {wall_q1:+.1f}..{wall_q3:+.1f}), "
            f"{statistics.median(self.cpu_ms):+.1f} ms CPU "
            f"(middle half {cpu_q1:+.1f}..{cpu_q3:+.1f}), "
            f"{statistics.median(self.rss_mib):+.2f} MiB peak RSS "
            f"(pairs {min(self.rss_mib):+.2f}..{max(self.rss_mib):+.2f}), "
            f"{len(self.time_ms)} pairs"
        )


def middle_half(values: Sequence[float]) -> tuple[float, float]:
    """The first and third quartiles (a single value: itself twice)."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, q3


def off_cost(directory: Path, pairs: int) -> Paired:
    """One-test project: the plugin installed (loaded, no policy) vs not loaded at all."""
    env = {**clean_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    on = [*PYTEST, "-p", GATE_PLUGIN]
    off = list(PYTEST)
    result = Paired("installed but off, one-test project")
    for i in range(pairs):
        order = (on, off) if i % 2 == 0 else (off, on)
        first, second = (run_child(argv, directory, env) for argv in order)
        a, b = (first, second) if i % 2 == 0 else (second, first)
        for r in (a, b):
            check_passed("off cost", r)
        result.time_ms.append((a.wall - b.wall) * 1000)
        result.cpu_ms.append((a.cpu - b.cpu) * 1000)
        result.rss_mib.append(a.peak_mib - b.peak_mib)
    return result


# --- the adaptive pace against a site with a limit ----------------------------------------


@dataclass
class PaceRun:
    limit: int
    m: Measurement
    requests: int
    refused: int
    server_peak: int
    summary: str
    floor: float
    #: per run: requests sent, requests refused, floor (s)
    sent_per_run: list[int] = field(default_factory=list)
    refused_per_run: list[int] = field(default_factory=list)
    floor_per_run: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.m.best / self.floor

    def ratios(self) -> list[float]:
        """Each run's wall time over its own floor."""
        return [w / f for w, f in zip(self.m.walls, self.floor_per_run, strict=True)]

    def refused_shares(self) -> list[float]:
        return [r / max(s, 1) for r, s in zip(self.refused_per_run, self.sent_per_run, strict=True)]


def pace_runs(
    tmp: Path, pages: int, latency: float, limits: Sequence[int], repeat: int, startup: float
) -> list[PaceRun]:
    """The gate with no tuning flag against sites that serve ``limit`` requests at once.

    Floor of a run: ceil(answered requests / limit) x latency + ``startup``.
    """
    directory = tmp / f"pace-{pages}-{latency}"
    directory.mkdir(exist_ok=True)
    ids = page_ids(pages)
    policy = write_policy(directory / "policy.yaml", ids)
    out = []
    for limit in limits:
        with running_fake_confluence() as fake:
            fake.latency = latency
            fake.max_in_flight = limit
            populate(fake, ids)
            label = f"pace, site allows {limit}"
            run = PaceRun(limit, Measurement(label, kinds=Counter()), 0, 0, 0, "", 0.0)
            for _ in range(repeat):
                before, refused_before = len(fake.requests), fake.refused
                result = run_pytest(
                    ["--confluence-policy", str(policy), "--confluence-url", fake.url], directory
                )
                run.m.note = check_all_approved(label, result, pages) or run.m.note
                run.m.add(result)
                sent = len(fake.requests) - before
                refused = fake.refused - refused_before
                run.m.counts_per_run.append(sent)
                run.sent_per_run.append(sent)
                run.refused_per_run.append(refused)
                run.floor_per_run.append(math.ceil((sent - refused) / limit) * latency + startup)
                found = re.search(r"^fetched .*$", result.output, re.MULTILINE)
                run.summary = found.group(0) if found else "(no pace line in the summary)"
                run.m.kinds = Counter(classify(r.path) for r in fake.requests[before:])
            run.requests, run.refused = run.sent_per_run[-1], run.refused_per_run[-1]
            run.floor = run.floor_per_run[-1]
            run.server_peak = fake.peak_in_flight
            out.append(run)
    return out


# --- replay vs pytest's own cost ----------------------------------------------------------


@dataclass
class ReplayRow:
    pages: int
    replay: Measurement
    trivial: Measurement
    xdist: dict[int, Measurement] = field(default_factory=dict)
    #: as many trivial tests under -n N: what xdist itself costs for that many items
    trivial_xdist: dict[int, Measurement] = field(default_factory=dict)

    @property
    def time_ratio(self) -> float:
        return self.replay.median / self.trivial.median

    @property
    def cpu_ratio(self) -> float:
        return self.replay.cpu / self.trivial.cpu

    @property
    def memory_ratio(self) -> float:
        return self.replay.peak / self.trivial.peak


def record_template(directory: Path) -> Path:
    """A one-page snapshot recorded by the gate, the template of the synthetic ones."""
    template_policy = write_policy(directory / "one.yaml", page_ids(1))
    template = directory / "one.json"
    with running_fake_confluence() as fake:
        populate(fake, page_ids(1))
        record = run_pytest(
            [
                "--confluence-policy",
                str(template_policy),
                "--confluence-url",
                fake.url,
                "--confluence-record",
                str(template),
            ],
            directory,
        )
    check_all_approved("record one page", record, 1)
    return template


def replay_files(directory: Path, template: Path, size: int) -> list[str]:
    """The policy and snapshot of ``size`` pages; the gate's arguments to replay them."""
    ids = page_ids(size)
    policy = write_policy(directory / f"policy{size}.yaml", ids)
    snapshot = directory / f"snap{size}.json"
    if not snapshot.exists():
        synthetic_snapshot(template, ids, snapshot)
    return ["--confluence-policy", str(policy), "--confluence-replay", str(snapshot)]


def replay_rows(
    tmp: Path, sizes: Sequence[int], repeat: int, xdist_workers: Sequence[int], xdist_at: int
) -> list[ReplayRow]:
    """Replay M pages vs M trivial parametrized tests; at ``xdist_at`` pages also -n N."""
    directory = tmp / "replay-sizes"
    directory.mkdir(exist_ok=True)
    template = record_template(directory)
    rows = []
    for size in sizes:
        args = replay_files(directory, template, size)
        trivial_dir = write_trivial(directory / f"trivial{size}", size)
        row = ReplayRow(size, Measurement(f"replay {size}"), Measurement(f"trivial {size}"))
        print(f"measuring replay of {size} pages vs {size} trivial tests ...", flush=True)
        for _ in range(repeat):  # interleaved, so a busy moment hits both sides
            result = run_pytest(args, directory)
            check_all_approved(f"replay {size}", result, size)
            row.replay.add(result)
            row.trivial.add(check_passed(f"trivial {size}", run_pytest([], trivial_dir)))
        if size == xdist_at and have_module("xdist"):
            for workers in xdist_workers:
                print(f"measuring replay of {size} pages under -n {workers} ...", flush=True)
                m = Measurement(f"replay {size} -n {workers}")
                t = Measurement(f"trivial {size} -n {workers}")
                for _ in range(repeat):
                    result = run_pytest([*args, "-n", str(workers)], directory)
                    check_all_approved(f"replay {size} -n {workers}", result, size)
                    m.add(result)
                    t.add(check_passed(t.label, run_pytest(["-n", str(workers)], trivial_dir)))
                row.xdist[workers] = m
                row.trivial_xdist[workers] = t
        rows.append(row)
    return rows

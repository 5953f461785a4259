"""The request-path rows: what the gate's fetch costs beside what it must cost.

- CPU per live page: CPU time (user + system) of an N-page live run minus a one-page
  run, over N - 1; beside it pytest's own per-item cost (N trivial tests minus one).
  Also with a CI runner's environment (``--env-vars`` more variables).
- Beside an asyncio reference: the gate's fetch window (first request's arrival to the
  last one's plus the latency, as the fake saw it) over the aiohttp client's, making
  exactly the gate's requests at the same ceiling.
- The floor: wall time over ceil(requests / C) x latency + pytest start-up.
- A site with a hard limit of requests in flight: wall over floor, and the refused share.
- Memory: a live run's peak RSS over the replay of the same pages.

Every row interleaves its sides run by run, so a busy moment of a shared machine hits
both; the report gives medians and ranges.
"""

from __future__ import annotations

import math
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tests.fake_confluence import running_fake_confluence

from .fixtures import page_ids, populate, runner_environment, write_policy, write_trivial
from .harness import (
    Measurement,
    check_all_approved,
    check_passed,
    clean_env,
    run_pytest,
    timed,
)
from .reference import reference_available, run_reference, same_requests, write_plan
from .scenarios import PaceRun, pace_runs, record_template, replay_files
from .traffic import Traffic, gate_once


def live_args(policy: Path, url: str, concurrency: int) -> list[str]:
    return [
        "--confluence-policy",
        str(policy),
        "--confluence-url",
        url,
        "--confluence-concurrency",
        str(concurrency),
    ]


# --- CPU per page -------------------------------------------------------------------------


@dataclass
class PerItem:
    """The cost of one more item: (an N-item run - a one-item run) / (N - 1), run by run."""

    label: str
    items: int
    many: Measurement
    one: Measurement

    def cpu_ms(self) -> list[float]:
        pairs = zip(self.many.cpus, self.one.cpus, strict=True)
        return [(n - one) / (self.items - 1) * 1000 for n, one in pairs]


@dataclass
class CpuPerPage:
    gate: PerItem
    pytest: PerItem
    #: variables in the children's environment, and how many of them were added
    env_size: int
    extra_vars: int


def cpu_per_page(
    tmp: Path, pages: int, latency: float, concurrency: int, repeat: int, extra_vars: int = 0
) -> CpuPerPage:
    """CPU per live page and per trivial test, with ``extra_vars`` more variables."""
    if pages < 2:
        raise ValueError("CPU per page needs 2 pages or more")
    directory = tmp / f"cpu-{pages}-{extra_vars}"
    directory.mkdir()
    extra_env = runner_environment(extra_vars)
    many_policy = write_policy(directory / "many.yaml", page_ids(pages))
    one_policy = write_policy(directory / "one.yaml", page_ids(1))
    trivial_many = write_trivial(directory / "trivial-many", pages)
    trivial_one = write_trivial(directory / "trivial-one", 1)
    env = f" with {extra_vars} more environment variables" if extra_vars else ""
    result = CpuPerPage(
        PerItem(
            f"gate, per live page{env}",
            pages,
            Measurement(f"live {pages} pages{env}"),
            Measurement(f"live 1 page{env}"),
        ),
        PerItem(
            f"pytest, per trivial test{env}",
            pages,
            Measurement(f"trivial {pages} tests{env}"),
            Measurement(f"trivial 1 test{env}"),
        ),
        len({**clean_env(), **extra_env}),
        extra_vars,
    )
    with running_fake_confluence() as fake:
        fake.latency = latency
        populate(fake, page_ids(pages))
        for _ in range(repeat):  # interleaved: N pages, 1 page, N tests, 1 test
            for policy, count, into in (
                (many_policy, pages, result.gate.many),
                (one_policy, 1, result.gate.one),
            ):
                args = live_args(policy, fake.url, concurrency)
                gate_once(
                    into.label, fake, args, directory, pages=count, extra_env=extra_env, into=into
                )
            for project, into in (
                (trivial_many, result.pytest.many),
                (trivial_one, result.pytest.one),
            ):
                into.add(check_passed(into.label, run_pytest([], project, extra_env)))
    return result


# --- beside the asyncio reference ---------------------------------------------------------


@dataclass
class ReferenceRow:
    pages: int
    latency: float
    concurrency: int
    gate: Measurement
    gate_windows: list[float] = field(default_factory=list)
    reference: Measurement = field(default_factory=lambda: Measurement("asyncio reference"))
    reference_windows: list[float] = field(default_factory=list)
    #: the gate's requests in its first run, and a description of their kinds
    requests: int = 0
    kinds: str = ""
    #: why the reference did not run ("" when it did)
    skipped: str = ""
    #: whether every gate run made the same requests
    steady: bool = True

    @property
    def floor(self) -> float:
        """The network alone: ceil(requests / C) round trips of the latency."""
        return math.ceil(self.requests / self.concurrency) * self.latency

    def ratios(self) -> list[float]:
        """Each gate run's fetch window over the reference run that followed it."""
        pairs = zip(self.gate_windows, self.reference_windows, strict=True)
        return [g / r for g, r in pairs]


def against_reference(
    tmp: Path, pages: int, latency: float, concurrency: int, repeat: int
) -> ReferenceRow:
    """The gate, then the reference on the gate's requests, ``repeat`` times, interleaved."""
    directory = tmp / f"reference-{pages}-{latency}-{concurrency}"
    directory.mkdir()
    ids = page_ids(pages)
    policy = write_policy(directory / "policy.yaml", ids)
    label = f"gate, {pages} pages, {latency * 1000:.0f} ms, C={concurrency}"
    row = ReferenceRow(pages, latency, concurrency, Measurement(label, kinds=Counter()))
    row.skipped = reference_available()
    traffics: list[Traffic] = []
    with running_fake_confluence() as fake:
        fake.latency = latency
        populate(fake, ids)
        args = live_args(policy, fake.url, concurrency)
        plan = directory / "plan.json"
        for _ in range(repeat):
            traffic, note = gate_once(label, fake, args, directory, pages=pages, into=row.gate)
            row.gate.note = note or row.gate.note
            row.gate_windows.append(traffic.window())
            traffics.append(traffic)
            if row.skipped:
                continue
            if len(traffics) == 1:
                write_plan(traffic, fake.origin, concurrency, plan)
            ref = run_reference(fake, plan, directory, traffics[0])
            row.reference.add(ref.result)
            row.reference_windows.append(ref.traffic.window())
    row.requests = len(traffics[0].requests)
    row.kinds = traffics[0].kinds_text()
    row.gate.kinds = traffics[0].kinds()
    row.steady = same_requests(traffics)
    return row


# --- the floor ----------------------------------------------------------------------------


@dataclass
class FloorRow:
    pages: int
    latency: float
    concurrency: int
    gate: Measurement
    startup: Measurement
    requests_per_run: list[int] = field(default_factory=list)

    def floors(self) -> list[float]:
        """ceil(requests / C) x latency + the median pytest start-up, for each run."""
        return [
            math.ceil(n / self.concurrency) * self.latency + self.startup.median
            for n in self.requests_per_run
        ]

    def ratios(self) -> list[float]:
        return [w / f for w, f in zip(self.gate.walls, self.floors(), strict=True)]


def measure_startup(tmp: Path, repeat: int) -> Measurement:
    """pytest on one trivial test (the gate's plugin loaded), after an untimed warm-up."""
    project = write_trivial(tmp / "startup", 1)
    run_pytest([], project)  # imports, .pyc files and the page cache, so run 1 is not special
    return timed("pytest start-up", [], project, repeat)


def against_floor(
    tmp: Path, pages: int, latency: float, concurrency: int, repeat: int, startup: Measurement
) -> FloorRow:
    directory = tmp / f"floor-{pages}-{latency}-{concurrency}"
    directory.mkdir()
    ids = page_ids(pages)
    policy = write_policy(directory / "policy.yaml", ids)
    label = f"gate, {pages} pages, {latency * 1000:.0f} ms, C={concurrency}"
    row = FloorRow(pages, latency, concurrency, Measurement(label, kinds=Counter()), startup)
    with running_fake_confluence() as fake:
        fake.latency = latency
        populate(fake, ids)
        args = live_args(policy, fake.url, concurrency)
        for _ in range(repeat):
            traffic, note = gate_once(label, fake, args, directory, pages=pages, into=row.gate)
            row.gate.note = note or row.gate.note
            row.requests_per_run.append(len(traffic.requests))
            row.gate.kinds = traffic.kinds()
    return row


def against_hard_limit(
    tmp: Path, pages: int, latency: float, limit: int, repeat: int, startup: Measurement
) -> PaceRun:
    """The gate with no tuning flag against a site serving ``limit`` requests at once."""
    (run,) = pace_runs(tmp, pages, latency, [limit], repeat, startup.median)
    return run


# --- memory: live vs replay ---------------------------------------------------------------


@dataclass
class MemoryRow:
    pages: int
    live: Measurement
    replay: Measurement

    @property
    def ratio(self) -> float:
        return self.live.peak / self.replay.peak


def live_vs_replay(
    tmp: Path,
    pages: int,
    latency: float,
    concurrency: int,
    repeat: int,
    live: Measurement | None = None,
) -> MemoryRow:
    """Peak RSS of a live run of ``pages`` vs the replay of a snapshot of the same pages.

    ``live``: the live runs already measured (the reference row's); else they are
    measured here, interleaved with the replays.
    """
    directory = tmp / f"memory-{pages}"
    directory.mkdir()
    replay_args = replay_files(directory, record_template(directory), pages)
    policy = Path(replay_args[1])  # the policy the replay and the live run share
    row = MemoryRow(
        pages,
        live or Measurement(f"live {pages} pages"),
        Measurement(f"replay of the same {pages} pages"),
    )
    with ExitStack() as stack:
        fake = None
        if live is None:
            fake = stack.enter_context(running_fake_confluence())
            fake.latency = latency
            populate(fake, page_ids(pages))
        for _ in range(repeat):
            if fake is not None:
                args = live_args(policy, fake.url, concurrency)
                gate_once(row.live.label, fake, args, directory, pages=pages, into=row.live)
            result = run_pytest(replay_args, directory)
            check_all_approved(row.replay.label, result, pages)
            row.replay.add(result)
    return row

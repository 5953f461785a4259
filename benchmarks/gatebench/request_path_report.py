"""The request-path rows' tables, and their targets as ratios with PASS/MISS."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import targets
from .reference import aiohttp_version
from .report import Row, check, print_checks, spread, table
from .request_path import CpuPerPage, FloorRow, MemoryRow, ReferenceRow
from .scenarios import PaceRun, Paired, ReplayRow


@dataclass
class RequestPathRows:
    """Whichever request-path rows ran (a row that did not run is empty or None)."""

    cpu: list[CpuPerPage] = field(default_factory=list)
    references: list[ReferenceRow] = field(default_factory=list)
    floor: FloorRow | None = None
    hard_limit: PaceRun | None = None
    hard_limit_latency: float = 0.0
    memory: MemoryRow | None = None
    off: Paired | None = None
    replay: ReplayRow | None = None


def print_cpu(rows: Sequence[CpuPerPage]) -> list[Row]:
    runs = len(rows[0].gate.many.cpus)
    print(
        "\nCPU per item: CPU time (user + system) of an N-item run minus a one-item run, "
        f"over N - 1 (median and range of {runs} interleaved runs):"
    )
    lines: list[Row] = []
    for row in rows:
        for per in (row.gate, row.pytest):
            lines.append(
                (
                    per.label,
                    spread(per.cpu_ms(), ".2f"),
                    f"{per.items}",
                    f"{per.many.cpu:.2f} / {per.one.cpu:.2f}",
                    f"{per.many.median:.2f} / {per.one.median:.2f}",
                    f"{row.env_size}",
                )
            )
    header = ("", "ms per item", "N", "CPU s (N / 1)", "wall s (N / 1)", "env vars")
    print(table(lines, header=header))
    checks: list[Row] = []
    for row in rows:
        gate = statistics.median(row.gate.cpu_ms())
        fetch = gate - statistics.median(row.pytest.cpu_ms())
        print(f"  {row.gate.label}: {fetch:.2f} ms beyond pytest's own per-item cost")
        target = targets.CPU_PER_PAGE_ENV_MS if row.extra_vars else targets.CPU_PER_PAGE_MS
        name = "CPU per live page" + (f", {row.extra_vars} more env vars" if row.extra_vars else "")
        checks.append(check(name, f"{gate:.2f} ms", f"<= {target} ms", gate <= target))
    return checks


def print_references(rows: Sequence[ReferenceRow]) -> list[Row]:
    print(
        f"\nBeside an asyncio reference client (aiohttp {aiohttp_version()}) making exactly "
        "the gate's requests at the same ceiling; fetch window = first arrival .. last "
        "arrival + latency, as the fake saw it (median and range):"
    )
    checks: list[Row] = []
    for row in rows:
        lines: list[Row] = [
            (
                row.gate.label,
                spread(row.gate_windows),
                spread(row.gate.walls),
                spread(row.gate.cpus),
                f"{row.gate.peak:.0f}",
            )
        ]
        if not row.skipped:
            ref = row.reference
            lines.append(
                (
                    "  asyncio reference",
                    spread(row.reference_windows),
                    spread(ref.walls),
                    spread(ref.cpus),
                    f"{ref.peak:.0f}",
                )
            )
        header = ("", "fetch window s", "wall s", "CPU s", "peak MiB")
        print(table(lines, header=header))
        print(
            f"  requests: {row.requests} ({row.kinds})"
            + ("" if row.steady else "; NOT the same in every gate run")
            + f"; network floor ceil({row.requests}/{row.concurrency}) x "
            f"{row.latency * 1000:.0f} ms = {row.floor:.2f} s"
        )
        target = (
            targets.REFERENCE_RATIO_LOW_LATENCY
            if row.latency < 0.1
            else targets.REFERENCE_RATIO_HIGH_LATENCY
        )
        name = f"{row.pages} pages, {row.latency * 1000:.0f} ms, C={row.concurrency} / asyncio"
        if row.skipped:
            print(f"  asyncio reference: skipped: {row.skipped}")
            checks.append((name, "skipped", f"<= {target}x", "-"))
            continue
        cpu_ratios = [g / r for g, r in zip(row.gate.cpus, row.reference.cpus, strict=True)]
        print(
            f"  CPU time, gate / reference (whole processes, not judged): "
            f"{spread(cpu_ratios, '.2f', 'x')}"
        )
        ratios = row.ratios()
        ok = statistics.median(ratios) <= target
        checks.append(check(name, spread(ratios, ".2f", "x"), f"<= {target}x", ok))
    return checks


def print_floor(row: FloorRow) -> list[Row]:
    floors = row.floors()
    print(
        f"\nThe floor: {row.pages} pages, {row.latency * 1000:.0f} ms, C={row.concurrency}; "
        "floor = ceil(requests / C) x latency + pytest start-up (median):"
    )
    lines = [
        (row.gate.label, spread(row.gate.walls), spread(row.gate.cpus)),
        ("pytest start-up", spread(row.startup.walls), spread(row.startup.cpus)),
        ("floor", spread(floors), ""),
    ]
    print(table(lines, header=("", "wall s", "CPU s")))
    print(f"  requests per run: {', '.join(map(str, row.requests_per_run))}")
    ratios = row.ratios()
    ok = statistics.median(ratios) <= targets.FLOOR_RATIO_STRICT
    name = f"{row.pages} pages, {row.latency * 1000:.0f} ms, C={row.concurrency} / floor"
    return [check(name, spread(ratios, ".2f", "x"), f"<= {targets.FLOOR_RATIO_STRICT}x", ok)]


def print_hard_limit(run: PaceRun, latency: float) -> list[Row]:
    pages = f"{latency * 1000:.0f} ms, 429 + Retry-After beyond {run.limit} in flight"
    print(f"\nA site allowing {run.limit} in flight, no tuning flag ({pages}):")
    lines = [
        (
            run.m.label,
            spread(run.m.walls),
            spread(run.floor_per_run),
            spread(run.ratios(), ".2f", "x"),
            spread([float(n) for n in run.sent_per_run], ".0f"),
            spread(run.refused_shares(), ".2%"),
            str(run.server_peak),
        )
    ]
    header = ("", "wall s", "floor s", "wall / floor", "requests", "refused", "site peak")
    print(table(lines, header=header))
    print(f"  {run.summary}")
    ratio, share = statistics.median(run.ratios()), statistics.median(run.refused_shares())
    name = f"site allowing {run.limit}"
    return [
        check(
            f"{name}: wall / floor",
            spread(run.ratios(), ".2f", "x"),
            f"<= {targets.HARD_LIMIT_RATIO}x",
            ratio <= targets.HARD_LIMIT_RATIO,
        ),
        check(
            f"{name}: refused",
            spread(run.refused_shares(), ".2%"),
            f"<= {targets.HARD_LIMIT_REFUSED:.1%}",
            share <= targets.HARD_LIMIT_REFUSED,
        ),
    ]


def print_memory(row: MemoryRow) -> list[Row]:
    print(f"\nMemory: a live run of {row.pages} pages vs the replay of the same pages:")
    lines = [
        (m.label, spread(m.peaks, ".1f"), spread(m.walls), spread(m.cpus))
        for m in (row.live, row.replay)
    ]
    print(table(lines, header=("", "peak MiB", "wall s", "CPU s")))
    name = f"live {row.pages} pages / replay: peak RSS"
    target = targets.LIVE_VS_REPLAY_RSS
    return [check(name, f"{row.ratio:.2f}x", f"<= {target}x", row.ratio <= target)]


def print_off(off: Paired) -> list[Row]:
    print("\nInstalled but off (interleaved pairs, median and middle half of the differences):")
    print(f"  {off.line()}")
    cpu = statistics.median(off.cpu_ms)
    before = targets.BEFORE_OFF_CPU_MS
    return [
        check("installed but off: CPU", f"{cpu:+.1f} ms", f"<= +{before:.0f} ms", cpu <= before)
    ]


def print_replay(row: ReplayRow) -> list[Row]:
    print(f"\nReplay of {row.pages} pages vs {row.pages} trivial tests (interleaved):")
    lines = [
        (m.label, spread(m.walls), spread(m.cpus), spread(m.peaks, ".1f"))
        for m in (row.replay, row.trivial)
    ]
    print(table(lines, header=("", "wall s", "CPU s", "peak MiB")))
    print(
        f"  ratios of the medians: time {row.time_ratio:.2f}x, CPU {row.cpu_ratio:.2f}x, "
        f"memory {row.memory_ratio:.2f}x"
    )
    before = targets.BEFORE_REPLAY_CPU_RATIO
    return [
        check(
            f"replay {row.pages} / trivial: CPU",
            f"{row.cpu_ratio:.2f}x",
            f"<= {before}x",
            row.cpu_ratio <= before,
        )
    ]


def print_request_path(rows: RequestPathRows) -> None:
    checks: list[Row] = []
    if rows.cpu:
        checks += print_cpu(rows.cpu)
    if rows.references:
        checks += print_references(rows.references)
    if rows.floor is not None:
        checks += print_floor(rows.floor)
    if rows.hard_limit is not None:
        checks += print_hard_limit(rows.hard_limit, rows.hard_limit_latency)
    if rows.memory is not None:
        checks += print_memory(rows.memory)
    if rows.off is not None:
        checks += print_off(rows.off)
    if rows.replay is not None:
        checks += print_replay(rows.replay)
    if checks:
        print_checks("Request-path targets (medians; range over the runs):", checks)

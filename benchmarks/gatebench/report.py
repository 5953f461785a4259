"""Tables and PASS/MISS lines: what the rows measured, against the targets."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import sys
from collections.abc import Sequence

from . import targets
from .harness import Measurement
from .scenarios import PaceRun, Paired, ReplayRow

Row = tuple[str, ...]
CHECK_HEADER = ("", "measured", "target", "")


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return (
        f"machine: nproc {affinity if affinity is not None else '?'} "
        f"(cpu_count {os.cpu_count()}), {platform.platform()}\n"
        f"python {platform.python_version()} ({sys.executable}); "
        f"pytest {version_of('pytest')}, pytest-confluence-approval "
        f"{version_of('pytest-confluence-approval')}, pytest-xdist {version_of('pytest-xdist')}, "
        f"requests {version_of('requests')}, urllib3 {version_of('urllib3')}, "
        f"aiohttp {version_of('aiohttp')}"
    )


def fmt_requests(m: Measurement) -> str:
    if m.requests is None:
        return "-"
    runs = set(m.counts_per_run)
    if len(runs) > 1:
        return f"{m.requests} (runs: {min(runs)}-{max(runs)})"
    return str(m.requests)


def table(
    rows: Sequence[Row],
    header: Row = ("", "wall s (best)", "median s", "requests"),
) -> str:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    out = []
    for n, row in enumerate((header, *rows)):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def spread(values: Sequence[float], fmt: str = ".2f", unit: str = "") -> str:
    """``median (min..max)``; a single value alone."""
    mid = f"{statistics.median(values):{fmt}}{unit}"
    if len(values) < 2:
        return mid
    return f"{mid} ({min(values):{fmt}}..{max(values):{fmt}})"


def check(label: str, measured: str, target: str, ok: bool) -> Row:
    return (label, measured, target, verdict(ok))


def print_checks(title: str, checks: Sequence[Row]) -> None:
    print(f"\n{title}")
    print(table(checks, header=CHECK_HEADER))


# --- the speed rows -----------------------------------------------------------------------


def speed_checks(
    *,
    speedup: float,
    floor_ratio: float,
    fetches: int,
    all_requests: int | None,
    pages: int,
    expected: int,
    batch_size: int,
    live_xdist: Sequence[Measurement],
    replay_pages: int,
    replay_ratio: float,
) -> list[Row]:
    checks = [
        check(
            "sequential / plugin",
            f"{speedup:.2f}x",
            f">= {targets.SPEEDUP:.0f}x",
            speedup >= targets.SPEEDUP,
        ),
        check(
            "plugin / floor",
            f"{floor_ratio:.2f}x",
            f"<= {targets.FLOOR_RATIO}x",
            floor_ratio <= targets.FLOOR_RATIO,
        ),
        check(
            "plugin page+property requests",
            f"{fetches} (all: {all_requests})",
            f"<= {expected} = {pages} + ceil({pages}/{batch_size})",
            fetches <= expected,
        ),
    ]
    for meas in live_xdist:
        if meas.requests is not None and all_requests is not None:
            checks.append(
                check(
                    f"{meas.label} requests",
                    f"{meas.requests}",
                    f"<= {all_requests} (single process)",
                    meas.requests <= all_requests,
                )
            )
    if not live_xdist:
        checks.append(("plugin -n N requests", "not measured", "", "-"))
    checks.append(
        check(
            f"replay {replay_pages} / trivial (best)",
            f"{replay_ratio:.2f}x",
            f"<= {targets.REPLAY_RATIO}x",
            replay_ratio <= targets.REPLAY_RATIO,
        )
    )
    return checks


# --- off cost, pace, replay, xdist --------------------------------------------------------


def print_pace_table(paces: Sequence[PaceRun], latency: float) -> None:
    print(f"\nAdaptive pace, no tuning flag, {latency * 1000:.0f} ms latency:")
    rows = [
        (
            p.m.label,
            f"{p.m.best:.2f}",
            f"{p.m.median:.2f}",
            p.m.spread,
            f"{p.floor:.2f}",
            f"{p.requests}",
            f"{p.refused} ({p.refused / max(p.requests, 1):.1%})",
            str(p.server_peak),
        )
        for p in paces
    ]
    header = ("", "wall s (best)", "median", "range", "floor s", "requests", "refused")
    print(table(rows, header=(*header, "site peak")))
    for p in paces:
        print(f"  {p.m.label}: {p.summary}")


def print_replay_table(replays: Sequence[ReplayRow]) -> None:
    print("\nReplay vs as many trivial parametrized tests (median of interleaved runs):")
    rows: list[Row] = []
    for r in replays:
        for m in (r.replay, r.trivial, *r.xdist.values(), *r.trivial_xdist.values()):
            rows.append(
                (
                    m.label,
                    f"{m.median:.2f}",
                    m.spread,
                    f"{m.cpu:.2f}",
                    f"{m.peak:.0f}",
                    str(len(m.walls)),
                )
            )
    header = ("", "wall s (median)", "range", "CPU s (median)", "peak MiB", "runs")
    print(table(rows, header=header))


def print_off_pace_replay(
    off: Paired,
    paces: Sequence[PaceRun],
    replays: Sequence[ReplayRow],
    live_xdist: Sequence[Measurement],
    plugin: Measurement,
    pace_latency: float,
) -> None:
    print("\nInstalled but off (interleaved pairs, median and middle half of the differences):")
    print(f"  {off.line()}")
    off_ms, off_mib = statistics.median(off.time_ms), statistics.median(off.rss_mib)
    checks = [
        check(
            "off: added time / peak RSS",
            f"{off_ms:+.1f} ms / {off_mib:+.2f} MiB",
            f"<= {targets.OFF_MS:.0f} ms / {targets.OFF_MIB:.0f} MiB",
            off_ms <= targets.OFF_MS and off_mib <= targets.OFF_MIB,
        )
    ]
    if paces:
        print_pace_table(paces, pace_latency)
        top = max(paces, key=lambda p: p.limit)
        checks.append(
            check(
                f"pace vs site allowing {top.limit}: wall / floor",
                f"{top.ratio:.2f}x",
                f"<= {targets.PACE_RATIO}x",
                top.ratio <= targets.PACE_RATIO,
            )
        )
        for p in paces:
            if p is top:
                continue
            share = p.refused / max(p.requests, 1)
            checks.append(
                check(
                    f"pace vs site allowing {p.limit}: refused",
                    f"{share:.1%}",
                    f"<= {targets.REFUSED:.0%}, every page judged",
                    share <= targets.REFUSED,
                )
            )
    if replays:
        print_replay_table(replays)
        for r in replays:
            checks.append(
                check(
                    f"replay {r.pages} / trivial: time, memory",
                    f"{r.time_ratio:.2f}x, {r.memory_ratio:.2f}x",
                    f"<= {targets.REPLAY_COST}x each",
                    max(r.time_ratio, r.memory_ratio) <= targets.REPLAY_COST,
                )
            )
            for workers, m in r.xdist.items():
                ratio = m.median / r.replay.median
                trivial_ratio = r.trivial_xdist[workers].median / r.trivial.median
                checks.append(
                    check(
                        f"replay {r.pages} -n {workers} / one process",
                        f"{ratio:.2f}x (trivial tests: {trivial_ratio:.2f}x)",
                        f"<= {targets.XDIST}x",
                        ratio <= targets.XDIST,
                    )
                )
    for m in live_xdist:
        ratio = m.median / plugin.median
        checks.append(
            check(
                f"live {m.label} / one process",
                f"{ratio:.2f}x",
                f"<= {targets.XDIST}x",
                ratio <= targets.XDIST,
            )
        )
    print_checks("Targets (off cost, pace, replay, xdist):", checks)

"""The command line: which rows run, with what parameters, in what order."""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.fake_confluence import running_fake_confluence

from . import report, scenarios
from .fixtures import BATCH_SIZE, page_ids, populate, write_policy, write_trivial
from .harness import (
    GATE_PLUGIN,
    BenchmarkBroken,
    Measurement,
    have_module,
    isolate_plugins,
    run_pytest,
    timed,
)
from .request_path import (
    against_floor,
    against_hard_limit,
    against_reference,
    cpu_per_page,
    live_args,
    live_vs_replay,
    measure_startup,
)
from .request_path_report import RequestPathRows, print_request_path
from .traffic import Traffic, gate_run

DESCRIPTION = "Benchmark the release gate side by side with its yardsticks."

#: The request-path rows --only names (--request-path runs them all).
REQUEST_PATH_ROWS = {
    "cpu": "CPU per live page and pytest's per-item cost (--cpu-pages)",
    "env": "the same with --env-vars more environment variables",
    "async": "beside the asyncio reference (--async-pages, --async-latencies, "
    "C=--async-concurrency)",
    "floor": "--pages at --latency, C=--concurrency vs ceil(requests/C) x latency + start-up",
    "pace": "a site allowing --hard-limit in flight (--pace-pages, --pace-latency)",
    "rss": "live --async-pages peak RSS vs their replay",
    "off": "installed but off (--off-pairs)",
    "replay": "replay of the first --replay-pages vs as many trivial tests",
}


def int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers of 1 or more")
    return values


def float_list(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers of 0 or more")
    return values


def row_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in REQUEST_PATH_ROWS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(REQUEST_PATH_ROWS)}")
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    rows_help = "; ".join(f"{name}: {what}" for name, what in REQUEST_PATH_ROWS.items())
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    add = parser.add_argument
    add("--pages", type=int, default=400, help="pages in the live policy")
    add("--latency", type=float, default=0.020, help="seconds the fake holds every request")
    add("--concurrency", type=int, default=8, help="--confluence-concurrency for the plugin")
    add(
        "--replay-pages",
        type=int_list,
        default=[5000, 50000],
        help="pages in the replayed snapshots, comma-separated (default 5000,50000)",
    )
    add(
        "--pace-pages",
        type=int,
        help="pages for the adaptive-pace rows (default: --pages; 1500 for --only pace)",
    )
    add(
        "--pace-latency",
        type=float,
        help="latency for the pace rows (default: --latency; 0.15 for --only pace)",
    )
    add(
        "--pace-limits",
        type=int_list,
        default=[32, 8],
        help="requests in flight the fake site serves, one pace row each (default 32,8)",
    )
    add(
        "--xdist",
        type=int_list,
        default=[2, 4],
        help="pytest-xdist worker counts to compare with one process (default 2,4)",
    )
    add(
        "--off-pairs",
        type=int,
        help="interleaved pairs for the installed-but-off cost (default 5 x --repeat)",
    )
    add("--repeat", type=int, default=3, help="runs per measurement")
    add(
        "--all-plugins",
        action="store_true",
        help="let every installed pytest plugin load (default: only the gate's, and xdist for "
        "-n), so unrelated plugins' import time is not counted against the gate",
    )
    group = parser.add_argument_group("request-path rows (instead of the speed rows)")
    group.add_argument(
        "--request-path", action="store_true", help="run every request-path row: " + rows_help
    )
    group.add_argument(
        "--only", type=row_list, help="run only these request-path rows, comma-separated"
    )
    group.add_argument(
        "--cpu-pages", type=int, default=2000, help="N of the CPU-per-page rows (default 2000)"
    )
    group.add_argument(
        "--env-vars", type=int, default=100, help="variables the env row adds (default 100)"
    )
    group.add_argument(
        "--async-pages", type=int, default=5000, help="pages beside the reference (default 5000)"
    )
    group.add_argument(
        "--async-latencies",
        type=float_list,
        default=[0.020, 0.150],
        help="latencies beside the reference, comma-separated (default 0.02,0.15)",
    )
    group.add_argument(
        "--async-concurrency", type=int, default=32, help="ceiling beside the reference (32)"
    )
    group.add_argument(
        "--hard-limit", type=int, default=8, help="what the pace row's site allows (8)"
    )
    args = parser.parse_args(argv)
    for name in ("pages", "concurrency", "repeat", "async_pages", "async_concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be 1 or more")
    if args.cpu_pages < 2:
        parser.error("--cpu-pages must be 2 or more")
    if args.hard_limit < 1 or args.env_vars < 0:
        parser.error("--hard-limit must be 1 or more, --env-vars 0 or more")
    if args.latency < 0 or (args.pace_latency or 0) < 0:
        parser.error("--latency must be 0 or more")
    args.rows = list(REQUEST_PATH_ROWS) if args.request_path else (args.only or [])
    # The request-path pace row is the hard-limit site of the targets: 1,500 pages, 150 ms.
    args.pace_pages = args.pace_pages or (1500 if args.rows else args.pages)
    if args.pace_latency is None:
        args.pace_latency = 0.150 if args.rows else args.latency
    args.off_pairs = args.off_pairs or 5 * args.repeat
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    isolate_plugins(not args.all_plugins)
    try:
        if args.rows:
            return request_path_benchmark(args)
        return speed_benchmark(args)
    except BenchmarkBroken as exc:
        print(f"\nBENCHMARK BROKEN: {exc}", file=sys.stderr)
        return 2


def request_path_benchmark(args: argparse.Namespace) -> int:
    rows, repeat = args.rows, args.repeat
    print(report.machine_info())
    print(f"request-path rows: {', '.join(rows)}; repeat {repeat} (interleaved)\n", flush=True)
    found = RequestPathRows()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp_name:
        tmp = Path(tmp_name)
        startup: Measurement | None = None
        if "floor" in rows or "pace" in rows:
            print("measuring pytest start-up ...", flush=True)
            startup = measure_startup(tmp, repeat)
        for extra in [0] * ("cpu" in rows) + [args.env_vars] * ("env" in rows):
            print(f"measuring CPU per page ({args.cpu_pages}, +{extra} vars) ...", flush=True)
            found.cpu.append(
                cpu_per_page(tmp, args.cpu_pages, args.latency, args.concurrency, repeat, extra)
            )
        if "async" in rows:
            for latency in args.async_latencies:
                print(f"measuring beside the reference ({latency * 1000:.0f} ms) ...", flush=True)
                found.references.append(
                    against_reference(
                        tmp, args.async_pages, latency, args.async_concurrency, repeat
                    )
                )
        if "floor" in rows and startup is not None:
            print("measuring against the floor ...", flush=True)
            found.floor = against_floor(
                tmp, args.pages, args.latency, args.concurrency, repeat, startup
            )
        if "pace" in rows and startup is not None:
            print(f"measuring a site allowing {args.hard_limit} ...", flush=True)
            found.hard_limit = against_hard_limit(
                tmp, args.pace_pages, args.pace_latency, args.hard_limit, repeat, startup
            )
            found.hard_limit_latency = args.pace_latency
        if "rss" in rows:
            print(f"measuring live vs replay memory ({args.async_pages} pages) ...", flush=True)
            latency = args.async_latencies[0]
            measured = [r.gate for r in found.references if r.latency == latency]
            found.memory = live_vs_replay(
                tmp,
                args.async_pages,
                latency,
                args.async_concurrency,
                repeat,
                measured[0] if measured else None,
            )
        if "off" in rows:
            print(f"measuring the installed-but-off cost ({args.off_pairs} pairs) ...", flush=True)
            found.off = scenarios.off_cost(write_trivial(tmp / "off", 1), args.off_pairs)
        if "replay" in rows:
            (found.replay,) = scenarios.replay_rows(tmp, args.replay_pages[:1], repeat, [], 0)
    print_request_path(found)
    return 0


def speed_benchmark(args: argparse.Namespace) -> int:
    """The speed rows (and CPU per page and the reference at ``--pages``)."""
    n, c, latency, repeat = (args.pages, args.concurrency, args.latency, args.repeat)
    m_pages = args.replay_pages[0]
    print(report.machine_info())
    print(
        f"parameters: pages {n}, latency {latency * 1000:.1f} ms, concurrency {c}, "
        f"replay pages {','.join(map(str, args.replay_pages))}, repeat {repeat} "
        f"(wall = best of {repeat}; median beside it); pace: {args.pace_pages} pages, "
        f"{args.pace_latency * 1000:.1f} ms, sites allowing "
        f"{','.join(map(str, args.pace_limits))} in flight; xdist -n "
        f"{','.join(map(str, args.xdist))}\n"
    )
    broken: list[str] = []
    live_xdist: list[Measurement] = []
    xdist_traffic: Traffic | None = None
    request_path = RequestPathRows()

    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp_name:
        tmp = Path(tmp_name)
        trivial_1 = write_trivial(tmp / "trivial1", 1)
        gate_dir = tmp / "gate"
        gate_dir.mkdir()
        ids = page_ids(n)
        policy = write_policy(gate_dir / "policy.yaml", ids)

        # Untimed warm-up: imports, .pyc files and the page cache, so run 1 is not special.
        run_pytest([], trivial_1)

        print("measuring pytest start-up ...", flush=True)
        startup = timed("pytest start-up", [], trivial_1, repeat)
        # Where start-up goes: pytest alone, and pytest with only the gate's plugin loaded.
        no_autoload = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        bare = timed("no plugins", [], trivial_1, repeat, no_autoload)
        gate_only = timed("gate plugin only", ["-p", GATE_PLUGIN], trivial_1, repeat, no_autoload)
        print(f"measuring the installed-but-off cost ({args.off_pairs} pairs) ...", flush=True)
        off = scenarios.off_cost(trivial_1, args.off_pairs)

        with running_fake_confluence() as fake:
            fake.latency = latency
            populate(fake, ids)
            gate_args = live_args(policy, fake.url, c)
            print("measuring the plugin ...", flush=True)
            plugin, plugin_traffics = gate_run(
                "plugin", fake, gate_args, gate_dir, pages=n, repeat=repeat
            )
            plugin_traffic = plugin_traffics[-1]
            if have_module("xdist"):
                for workers in args.xdist:
                    print(f"measuring the plugin under xdist -n {workers} ...", flush=True)
                    try:
                        m, traffics = gate_run(
                            f"plugin -n {workers}",
                            fake,
                            [*gate_args, "-n", str(workers)],
                            gate_dir,
                            pages=n,
                            repeat=repeat,
                        )
                    except BenchmarkBroken as exc:
                        broken.append(str(exc))
                        continue
                    live_xdist.append(m)
                    xdist_traffic = xdist_traffic or traffics[-1]
            print("measuring the sequential fetch ...", flush=True)
            sequential = scenarios.sequential_fetch(fake, ids, repeat)

        if n >= 2:
            print("measuring CPU per page ...", flush=True)
            request_path.cpu.append(cpu_per_page(tmp, n, latency, c, repeat))
        print("measuring beside the asyncio reference ...", flush=True)
        request_path.references.append(against_reference(tmp, n, latency, c, repeat))
        print(
            f"measuring the adaptive pace ({args.pace_pages} pages, "
            f"{args.pace_latency * 1000:.0f} ms) ...",
            flush=True,
        )
        paces = scenarios.pace_runs(
            tmp, args.pace_pages, args.pace_latency, args.pace_limits, repeat, startup.best
        )
        replays = scenarios.replay_rows(tmp, args.replay_pages, repeat, args.xdist, m_pages)
        replay, trivial = replays[0].replay, replays[0].trivial

    # --- the table ---
    expected = n + math.ceil(n / BATCH_SIZE)
    floor = math.ceil(expected / c) * latency + startup.best
    rows: list[report.Row] = []
    for meas in (plugin, sequential):
        rows.append(
            (meas.label, f"{meas.best:.3f}", f"{meas.median:.3f}", report.fmt_requests(meas))
        )
    rows.append(("floor", f"{floor:.3f}", "", f"{expected} (expected)"))
    for meas in live_xdist:
        rows.append(
            (meas.label, f"{meas.best:.3f}", f"{meas.median:.3f}", report.fmt_requests(meas))
        )
    if not have_module("xdist"):
        rows.append(("plugin -n N", "n/a (no xdist)", "", ""))
    for meas in (replay, trivial, startup):
        rows.append((meas.label, f"{meas.best:.3f}", f"{meas.median:.3f}", "-"))
    print()
    print(report.table(rows))
    print(
        f"\nfloor = ceil({expected} / {c}) x {latency:.3f} s + start-up {startup.best:.3f} s"
        f"; expected requests = {n} + ceil({n}/{BATCH_SIZE})"
    )
    print(
        f"start-up breakdown (best): pytest alone {bare.best:.3f} s, + the gate plugin "
        f"{gate_only.best:.3f} s, + every installed plugin (as measured) {startup.best:.3f} s"
    )

    # --- request pattern ---
    print("\nrequest pattern, plugin (last run):")
    for line in plugin_traffic.describe(n):
        print(f"  {line}")
    if xdist_traffic is not None:
        print(f"request pattern, {live_xdist[0].label} (last run):")
        for line in xdist_traffic.describe(n):
            print(f"  {line}")
    print(
        f"plugin time beyond pytest start-up: {plugin.best - startup.best:.3f} s "
        f"(network window {plugin_traffic.window():.3f} s)"
    )

    checks = report.speed_checks(
        speedup=sequential.best / plugin.best,
        floor_ratio=plugin.best / floor,
        fetches=plugin_traffic.fetches(),
        all_requests=plugin.requests,
        pages=n,
        expected=expected,
        batch_size=BATCH_SIZE,
        live_xdist=live_xdist,
        replay_pages=m_pages,
        replay_ratio=replay.best / trivial.best,
    )
    report.print_checks("Speed targets:", checks)
    print(
        "(page+property requests count batch, single-page and property requests; "
        "'all' adds users-bulk and other)"
    )
    report.print_off_pace_replay(off, paces, replays, live_xdist, plugin, args.pace_latency)
    print_request_path(request_path)
    notes = [x.note for x in (plugin, *live_xdist, *(p.m for p in paces)) if x.note]
    for note in notes:
        print(f"note: {note}")

    if broken:
        for message in broken:
            print(f"\nBROKEN: {message}", file=sys.stderr)
        return 2
    return 0

"""Launching children and keeping what they cost: wall time, CPU time, peak RSS.

Every measured program runs as a fresh child of a small launcher, which reads the child's
own resource usage with ``os.wait4``; the environment is the benchmark's, minus anything
that would change the gate's or pytest's behaviour.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUBPROCESS_TIMEOUT = 900.0  # seconds; a hung run is a broken run
GATE_PLUGIN = "pytest_confluence_approval.entrypoint"
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q")


class BenchmarkBroken(Exception):
    """Something that must work did not; the message says what (exit code 2)."""


@dataclass(frozen=True)
class RunResult:
    wall: float
    returncode: int
    output: str
    #: the child's peak resident set size in MiB (os.wait4's rusage of that one child)
    peak_mib: float = 0.0
    #: the child's CPU time (user + system) in seconds: steadier than wall time when
    #: the machine is shared
    cpu: float = 0.0


@dataclass
class Measurement:
    """Repeated runs of one thing: wall time, CPU time and peak RSS of each."""

    label: str
    walls: list[float] = field(default_factory=list)
    #: requests the fake recorded during the last run, by kind (None: not a network run)
    kinds: Counter[str] | None = None
    counts_per_run: list[int] = field(default_factory=list)
    note: str = ""
    #: peak RSS of each run, MiB
    peaks: list[float] = field(default_factory=list)
    #: CPU time (user + system) of each run, seconds
    cpus: list[float] = field(default_factory=list)

    def add(self, result: RunResult) -> None:
        self.walls.append(result.wall)
        self.peaks.append(result.peak_mib)
        self.cpus.append(result.cpu)

    @property
    def spread(self) -> str:
        """The range of the wall times over the runs."""
        return f"{min(self.walls):.2f}-{max(self.walls):.2f}"

    @property
    def peak(self) -> float:
        return statistics.median(self.peaks) if self.peaks else 0.0

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus) if self.cpus else 0.0

    @property
    def requests(self) -> int | None:
        return None if self.kinds is None else sum(self.kinds.values())


def clean_env() -> dict[str, str]:
    """The environment without anything that would change the gate or pytest's behaviour."""
    drop = ("CONFLUENCE_", "PYTEST_", "GITHUB_STEP_SUMMARY")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


#: Load only the gate's plugin (and xdist for -n) in every timed pytest run: the test
#: extras installed here (hypothesis above all) add ~1 s of imports a user's CI need not have.
_isolated = True


def isolate_plugins(isolated: bool) -> None:
    """Whether timed pytest runs load only the gate's plugin (see ``run_pytest``)."""
    global _isolated
    _isolated = isolated


def run_pytest(
    args: Sequence[str], cwd: Path, extra_env: dict[str, str] | None = None
) -> RunResult:
    env = {**clean_env(), **(extra_env or {})}
    if _isolated and "PYTEST_DISABLE_PLUGIN_AUTOLOAD" not in env:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        plugins = ["-p", GATE_PLUGIN] + (["-p", "xdist.plugin"] if "-n" in args else [])
        args = [*plugins, *args]
    return run_child([*PYTEST, *args], cwd, env)


#: Runs a command and writes its peak RSS (KiB) and CPU time to argv[1]. A child forked
#: from this benchmark would report the benchmark's own RSS (Linux keeps the larger
#: high-water mark across fork and exec), so the command is started from this small
#: launcher instead.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> RunResult:
    """Run one fresh child; its wall time, exit code, output, peak memory and CPU time."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp_name:
        rss_file = Path(tmp_name) / "rss"
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-S", "-c", LAUNCHER, str(rss_file), *argv],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=SUBPROCESS_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchmarkBroken(
                f"{' '.join(argv[3:])} did not finish within {SUBPROCESS_TIMEOUT:.0f} s"
            ) from exc
        wall = time.perf_counter() - start
        kib_text, _, cpu_text = (rss_file.read_text() if rss_file.is_file() else "").partition(" ")
        kib, cpu = int(kib_text or 0), float(cpu_text or 0)
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    mib = kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024
    return RunResult(wall, proc.returncode, proc.stdout.decode("utf-8", "replace"), mib, cpu)


def tail(output: str, lines: int = 40) -> str:
    return "\n".join(output.splitlines()[-lines:])


def check_all_approved(label: str, result: RunResult, pages: int) -> str:
    """Raise unless the run passed one item per page; return a note on anything odd."""
    if result.returncode != 0:
        raise BenchmarkBroken(
            f"{label}: pytest exited {result.returncode} although every page is approved:\n"
            + tail(result.output)
        )
    if not re.search(rf"(?<!\d){pages} passed", result.output):
        raise BenchmarkBroken(
            f"{label}: exit 0 but not '{pages} passed' (one item per page):\n" + tail(result.output)
        )
    summary = f"{pages} approved, 0 not approved, 0 not verifiable"
    if summary not in result.output:
        return f"{label}: no gate summary line '{summary}' in the terminal output"
    return ""


def check_passed(label: str, result: RunResult) -> RunResult:
    """Raise unless a pytest run without the gate passed."""
    if result.returncode != 0:
        raise BenchmarkBroken(
            f"{label}: pytest exited {result.returncode}:\n" + tail(result.output)
        )
    return result


def timed(
    label: str,
    args: Sequence[str],
    cwd: Path,
    repeat: int,
    extra_env: dict[str, str] | None = None,
) -> Measurement:
    """``repeat`` pytest runs that must pass."""
    m = Measurement(label)
    for _ in range(repeat):
        m.add(check_passed(label, run_pytest(args, cwd, extra_env)))
    return m


def have_module(name: str) -> bool:
    """Whether ``name`` can be imported here (and so by the children, which share sys.path)."""
    import importlib.util

    return importlib.util.find_spec(name) is not None

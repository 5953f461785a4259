"""Benchmark the release gate side by side with its yardsticks (see benchmarks/README.md).

Run from the repository root::

    python benchmarks/bench_gate.py [--pages 400] [--latency 0.020] [--concurrency 8]
                                    [--replay-pages 5000] [--repeat 3]
    python benchmarks/bench_gate.py --request-path          # every request-path row
    python benchmarks/bench_gate.py --only cpu,env,async     # some of them

The parts live in ``benchmarks/gatebench/``: harness (children, their CPU time and peak
RSS), scenarios and request_path (the rows), reference (the asyncio client), report.

The exit code is 0 whatever the PASS/MISS verdicts are (this is a measurement, not a test);
it is 2 only when something broke, e.g. the plugin failing a gate whose pages are all
approved.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for entry in (REPO_ROOT, REPO_ROOT / "benchmarks"):  # tests.fake_confluence, gatebench
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from gatebench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

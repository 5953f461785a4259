"""The asyncio reference, from the benchmark's side: its plan, its run, its check.

The plan is what the fake recorded of a gate run, so the reference makes exactly the
gate's requests (same batches with the same ids and parameters, same properties
requests, same users-bulk bodies) whatever the gate's code sends today; the fake's
record of the reference's own run is then compared with the gate's, request by request.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from tests.fake_confluence import FakeConfluence

from .harness import BenchmarkBroken, RunResult, clean_env, have_module, run_child, tail
from .traffic import Traffic, classify, recorded_since

REFERENCE_CLIENT = Path(__file__).with_name("reference_client.py")


def reference_available() -> str:
    """ "" when the reference can run here, else why not (for the row that is skipped)."""
    if not have_module("aiohttp"):
        return "aiohttp is not installed (pip install -e '.[bench]')"
    return ""


def aiohttp_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("aiohttp")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def write_plan(traffic: Traffic, origin: str, concurrency: int, path: Path) -> Path:
    """The reference client's plan (see reference_client.py) from a gate run's traffic."""
    batches: list[str] = []
    properties: dict[str, str] = {}
    posts: list[dict[str, str]] = []
    for request in traffic.requests:
        kind = classify(request.path)
        target = request.path + (
            "?" + urlencode(request.query, doseq=True) if request.query else ""
        )
        if kind == "batch" and request.method == "GET" and "cursor" not in request.query:
            batches.append(target)
        elif kind == "properties" and request.method == "GET" and "cursor" not in request.query:
            page_id = request.path.rstrip("/").split("/")[-2]
            if page_id in properties:
                raise BenchmarkBroken(f"the gate asked for page {page_id}'s properties twice")
            properties[page_id] = target
        elif request.method == "POST":
            posts.append({"target": target, "body": request.body.decode("utf-8")})
        else:
            raise BenchmarkBroken(
                "the reference client makes batches, then properties, then POSTs; the gate "
                f"also sent {request.method} {request.path} ({kind})"
            )
    plan = {
        "origin": origin,
        "concurrency": concurrency,
        "headers": {"Accept": "application/json"},
        "batches": batches,
        "properties": properties,
        "posts": posts,
    }
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


@dataclass(frozen=True)
class ReferenceRun:
    result: RunResult
    traffic: Traffic


def run_reference(fake: FakeConfluence, plan: Path, cwd: Path, gate: Traffic) -> ReferenceRun:
    """One run of the reference client; its requests must be exactly the gate's."""
    before = len(fake.requests)
    result = run_child([sys.executable, str(REFERENCE_CLIENT), str(plan)], cwd, clean_env())
    traffic = recorded_since(fake, before)
    if result.returncode != 0:
        raise BenchmarkBroken(
            f"reference client exited {result.returncode}:\n" + tail(result.output)
        )
    if traffic.keys() != gate.keys():
        mine, theirs = traffic.keys(), gate.keys()
        missing = sum((theirs - mine).values())
        extra = sum((mine - theirs).values())
        raise BenchmarkBroken(
            f"the reference client's requests are not the gate's: {missing} of the gate's "
            f"not made, {extra} others made (reference: {traffic.kinds_text()}; gate: "
            f"{gate.kinds_text()})"
        )
    return ReferenceRun(result, traffic)


def same_requests(runs: list[Traffic]) -> bool:
    """Whether every run made the same requests (a retry or a probe would add some)."""
    return all(t.keys() == runs[0].keys() for t in runs)

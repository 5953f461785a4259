"""The asyncio reference client: exactly the gate's requests, at the same ceiling.

The benchmark runs it as a child of its own (so its CPU time is its own, as the gate's
is), with a plan taken from what the fake recorded of a gate run::

    python benchmarks/gatebench/reference_client.py PLAN.json

PLAN is a JSON object::

    {"origin": "http://127.0.0.1:PORT", "concurrency": 32, "headers": {...},
     "batches": ["/wiki/api/v2/pages?id=...&status=...&limit=250", ...],
     "properties": {"<page id>": "/wiki/api/v2/pages/<page id>/properties?key=...", ...},
     "posts": [{"target": "/wiki/api/v2/users-bulk", "body": "{...}"}, ...]}

The order is the gate's: every batch of page metadata at once; each page's properties
as soon as the batch that returned the page has been answered; the POSTs (users-bulk)
once every property is in. At most ``concurrency`` requests are in flight, over as many
keep-alive connections. Every answer must be 200 and JSON, and is decoded, as the gate
decodes it. Prints one JSON line: ``{"requests": N, "seconds": S}``; exit 1 on any
failure, with what failed.

Standard library and aiohttp only: it imports nothing from the benchmark or the gate.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp  # type: ignore[import-not-found, unused-ignore]
import yarl  # type: ignore[import-not-found, unused-ignore]


class PlanFailed(Exception):
    """An answer was not what the plan expects (the gate's run got it)."""


async def fetch_all(plan: dict[str, Any]) -> int:
    """Make the plan's requests; how many were made."""
    origin: str = plan["origin"]
    properties: dict[str, str] = plan["properties"]
    limit = asyncio.Semaphore(int(plan["concurrency"]))
    connector = aiohttp.TCPConnector(limit=int(plan["concurrency"]))
    sent = 0

    async with aiohttp.ClientSession(
        connector=connector, headers=plan.get("headers") or {}
    ) as session:

        async def ask(method: str, target: str, body: bytes | None = None) -> Any:
            nonlocal sent
            # encoded=True: the target goes out byte for byte as the gate sent it.
            url = yarl.URL(origin + target, encoded=True)
            headers = {"Content-Type": "application/json"} if body is not None else None
            async with limit, session.request(method, url, data=body, headers=headers) as answer:
                sent += 1
                payload = await answer.read()
                if answer.status != 200:
                    raise PlanFailed(f"{method} {target}: HTTP {answer.status}")
            return json.loads(payload)

        async def batch_then_properties(target: str) -> None:
            listing = await ask("GET", target)
            found = [page.get("id") for page in listing.get("results", [])]
            asks = [ask("GET", properties[p]) for p in found if p in properties]
            await asyncio.gather(*asks)

        await asyncio.gather(*(batch_then_properties(t) for t in plan["batches"]))
        posts = plan.get("posts") or []
        await asyncio.gather(*(ask("POST", p["target"], p["body"].encode()) for p in posts))
    return sent


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: reference_client.py PLAN.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as plan_file:
        plan = json.load(plan_file)
    start = time.perf_counter()
    try:
        sent = asyncio.run(fetch_all(plan))
    except (PlanFailed, aiohttp.ClientError, ValueError) as exc:
        print(f"reference client failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"requests": sent, "seconds": time.perf_counter() - start}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

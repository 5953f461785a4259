"""The release gate's benchmark, in parts (``benchmarks/bench_gate.py`` runs it).

- ``harness``: launching pytest children in a clean environment, with each child's own
  peak RSS and CPU time (user + system) from ``os.wait4``; measurements of repeated runs.
- ``fixtures``: the fake Confluence's pages and the files on disk (policies, snapshots,
  trivial test projects).
- ``traffic``: what the fake recorded during a run, by kind, and its shape.
- ``reference`` / ``reference_client``: an asyncio (aiohttp) client making exactly the
  gate's requests, in a child of its own, as the yardstick for the gate's fetch.
- ``scenarios``: the speed rows (plugin, sequential, floor, xdist, pace, replay, off cost).
- ``request_path``: the request-path rows (CPU per page, the environment's size, the
  asyncio reference, the floor, a site's hard limit, memory, the off cost and replay).
- ``targets``: every target the rows are judged against, in one place.
- ``report``: tables and PASS/MISS lines.
- ``cli``: the command line and the order the rows run in.
"""

"""What the benchmark serves and runs: the fake's pages, policies, snapshots, test projects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tests.fake_confluence import FakeConfluence, approval_value

PROPERTY_KEY = "njyzjq_capable_approval"
#: up to 250 ids per GET /api/v2/pages?id=... (the endpoint's maximum)
BATCH_SIZE = 250
FIRST_PAGE_ID = 718_962_697

#: Beyond this many pages a policy names them with one cql: entry: the gate refuses a
#: policy of more than 50,000 YAML values and points large page sets to cql:.
MAX_LISTED_PAGES = 10_000
BENCH_CQL = "space = BENCH and type = page"


def page_ids(n: int) -> list[str]:
    return [str(FIRST_PAGE_ID + i) for i in range(n)]


def populate(fake: FakeConfluence, ids: Sequence[str]) -> None:
    """Every page carries a complete, current approval."""
    for page_id in ids:
        fake.add_page(page_id, title=f"Release page {page_id}")
        fake.set_approval(page_id, approval_value(), key=PROPERTY_KEY)


def write_policy(path: Path, ids: Sequence[str]) -> Path:
    lines = ["version: 1", f"property_key: {PROPERTY_KEY}", "pages:"]
    if len(ids) <= MAX_LISTED_PAGES:
        lines += [f'  - id: "{page_id}"' for page_id in ids]
    else:
        lines.append(f'  - cql: "{BENCH_CQL}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_trivial(directory: Path, tests: int) -> Path:
    """A project of one test parametrized ``tests`` times (one plain test for 1)."""
    directory.mkdir(parents=True, exist_ok=True)
    if tests == 1:
        body = "def test_x():\n    pass\n"
    else:
        body = (
            "import pytest\n\n\n"
            f'@pytest.mark.parametrize("i", range({tests}))\n'
            "def test_x(i):\n    pass\n"
        )
    (directory / "test_trivial.py").write_text(body, encoding="utf-8")
    return directory


def synthetic_snapshot(template: Path, ids: Sequence[str], out: Path) -> None:
    """A snapshot of ``ids`` made from a recorded one-page snapshot, as the gate writes it.

    Recording 50,000 pages through the fake costs minutes; every page of the benchmark
    is alike, so copying one recorded entry per id (and re-sealing the SHA-256 with the
    gate's own digest) gives the file a recording would.
    """
    from pytest_confluence_approval.snapshot import content_digest

    document = json.loads(template.read_text(encoding="utf-8"))
    (entry,) = document["pages"].values()
    text = json.dumps(entry)
    first_id = entry["page"]["id"]
    document["pages"] = {p: json.loads(text.replace(f'"{first_id}"', f'"{p}"')) for p in ids}
    if len(ids) > MAX_LISTED_PAGES:  # the policy's cql: entry finds them (write_policy)
        titles = [{"id": p, "title": f"Release page {p}"} for p in ids]
        document["queries"] = {BENCH_CQL: {"pages": titles}}
    document["sha256"] = content_digest(document)
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def runner_environment(count: int) -> dict[str, str]:
    """``count`` variables of the size a CI runner sets (GitHub's hosted runners: ~100).

    Names and values are shaped like a runner's (paths, versions, flags) but mean nothing
    to the gate, pytest or requests: only the environment's size changes.
    """
    return {
        f"RUNNER_BENCH_VAR_{i:03d}": f"/opt/hostedtoolcache/tool-{i:03d}/1.{i}.0/x64/bin"
        for i in range(count)
    }

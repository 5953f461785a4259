"""Builds examples/advanced-snapshot.json: what acme's site answers for the advanced policy.

The same fictional release as examples/snapshot.json (same pages, people and recording
time), plus what only the advanced policy asks for: the CQL query's answer, the version
history of the page that ignores minor edits, and one more labelled page. Written with
the gate's own dump_snapshot, so the file is exactly what `--confluence-record` writes.

    python -m tests.advanced_example      # rewrite the file after changing this script

tests/test_adoption.py checks that the committed file is what this script builds.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from pytest_confluence_approval.facts import GroupMembers, PageFacts, QueryResult
from pytest_confluence_approval.snapshot import dump_snapshot, load_snapshot

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BASE = EXAMPLES / "snapshot.json"
TARGET = EXAMPLES / "advanced-snapshot.json"

#: the query in examples/advanced-policy.yaml
RELEASE_LABEL_QUERY = 'type = page AND space = ENG AND label = "release-2025-08"'
RELEASE_BOT = "557058:1d2e3f40-aaaa-4bbb-8ccc-dddddddddddd"
PRIYA = "5b10a2844c20165700ede21g"
JONAS = "557058:f3a1c2d4-9e7b-4c1a-8f2e-0a1b2c3d4e5f"
AMARA = "712020:0c3b7e1d-6a45-4f0e-9d2b-5e6f7a8b9c0d"
#: the groups of the policy's required_groups, as the site lists their members
GROUPS = {
    "security-team": GroupMembers(members=frozenset({PRIYA, AMARA})),
    "qa": GroupMembers(members=frozenset({PRIYA, JONAS})),
}


def _version(number: int, created_at: str, *, minor: bool, message: str) -> dict[str, Any]:
    return {
        "authorId": RELEASE_BOT,
        "createdAt": created_at,
        "message": message,
        "minorEdit": minor,
        "number": number,
    }


def build(target: Path = TARGET) -> None:
    base = load_snapshot(BASE)
    pages = {page_id: copy.deepcopy(base.pages[page_id]) for page_id in base.pages}

    # Change record: the two edits after its approval (2025-07-15) were typo fixes, so
    # ignore_minor_edits keeps the approval current; it still has 1 of 2 approvals, and
    # none from the security team.
    change = pages["718962699"]
    assert change.page is not None
    change.page["version"] = _version(7, "2025-08-01T10:00:00.000Z", minor=True, message="typo")
    versions = [
        change.page["version"],
        _version(6, "2025-07-22T09:30:00.000Z", minor=True, message="fix a link"),
        _version(5, "2025-07-14T16:00:00.000Z", minor=False, message="rollback window"),
    ]
    pages["718962699"] = PageFacts(
        "718962699", page=change.page, properties=change.properties, versions=versions
    )

    # Deployment runbook: labelled for the release; Priya published its current version
    # and then approved it herself, which forbid_self_approval refuses.
    rollback = pages["718962701"]
    assert rollback.page is not None and rollback.properties is not None
    runbook = copy.deepcopy(rollback.page)
    runbook.update(id="718962702", title="Deployment runbook")
    runbook["_links"]["webui"] = "/spaces/ENG/pages/718962702/Deployment+runbook"
    runbook["_links"]["editui"] = "/pages/resumedraft.action?draftId=718962702"
    runbook["_links"]["tinyui"] = "/x/DoBQKw"
    runbook["version"] = {
        **_version(3, "2025-07-29T08:00:00.000Z", minor=False, message="new cut-over steps"),
        "authorId": PRIYA,
    }
    approval = copy.deepcopy(rollback.properties)
    approval[0]["id"] = "727962702"
    approval[0]["value"].update(
        approved=[PRIYA], createdBy=PRIYA, latestVersionBy=PRIYA, completedAt=1753781400000
    )
    approval = [p for p in approval if p["key"] == "njyzjq_capable_approval"]
    pages["718962702"] = PageFacts("718962702", page=runbook, properties=approval)

    # Pages of the query that no explicit entry names, plus the explicit ones.
    found = ("718962697", "718962698", "718962701", "718962702")
    titles = {pid: (pages[pid].page or {}).get("title", "") for pid in found}
    fetched = ("718962697", "718962699", "718962698", "718962701", "718962702")
    dump_snapshot(
        target,
        site=base.site,
        recorded_at=base.recorded_at,
        facts={pid: pages[pid] for pid in fetched},
        names=base.names,
        queries={RELEASE_LABEL_QUERY: QueryResult(pages=tuple(titles.items()))},
        groups=GROUPS,
    )


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET)
    print(f"wrote {TARGET if len(sys.argv) < 2 else sys.argv[1]}")

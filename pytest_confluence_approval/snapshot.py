"""Snapshot files: what a live run fetched, so a replay can decide the same way offline."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import TOOL_NAME, __version__
from .facts import FetchFailure, GroupMembers, PageFacts, QueryResult
from .schemas import json_path, validator

_INT64_MAX = 2**63 - 1

FORMAT = "pytest-confluence-approval snapshot"
FORMAT_VERSION = 1
MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024


class SnapshotError(Exception):
    """The snapshot file is unusable; the message names the file."""


@dataclass(frozen=True)
class Snapshot:
    recorded_at: datetime
    site: str
    pages: Mapping[str, PageFacts]
    #: account id -> display name, as the site granted them when recording
    names: Mapping[str, str]
    #: cql -> what the query found when recording
    queries: Mapping[str, QueryResult] = field(default_factory=dict)
    #: group name -> its members when recording (for required_groups)
    groups: Mapping[str, GroupMembers] = field(default_factory=dict)

    def facts_for(self, page_id: str) -> PageFacts:
        found = self.pages.get(page_id)
        if found is None:
            return PageFacts.failed(
                page_id,
                "the page is not in the snapshot; record a new snapshot that includes it",
            )
        return found


def utc_iso(instant: datetime) -> str:
    return (
        instant.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def dump_snapshot(
    path: Path,
    *,
    site: str,
    recorded_at: datetime,
    facts: Mapping[str, PageFacts],
    names: Mapping[str, str],
    queries: Mapping[str, QueryResult] | None = None,
    groups: Mapping[str, GroupMembers] | None = None,
) -> None:
    pages: dict[str, Any] = {}
    for page_id, f in facts.items():
        if f.failure is not None:
            pages[page_id] = {"failure": {"message": f.failure.message, "status": f.failure.status}}
        else:
            pages[page_id] = {"page": f.page, "properties": f.properties}
            if f.versions is not None:
                pages[page_id]["versions"] = f.versions
            if f.versions_failure is not None:
                pages[page_id]["versions_failure"] = {
                    "message": f.versions_failure.message,
                    "status": f.versions_failure.status,
                }
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "recorded_at": utc_iso(recorded_at),
        "site": site,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "pages": pages,
        "users": dict(names),
        "queries": {
            cql: (
                {"failure": {"message": r.failure.message, "status": r.failure.status}}
                if r.failure
                else {"pages": [{"id": p, "title": t} for p, t in r.pages]}
            )
            for cql, r in (queries or {}).items()
        },
        "groups": {
            name: (
                {"failure": {"message": g.failure.message, "status": g.failure.status}}
                if g.failure
                else {"members": sorted(g.members)}
            )
            for name, g in (groups or {}).items()
        },
    }
    document["sha256"] = content_digest(document)
    write_json_atomically(path, document)


def content_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of what a replay decides on, so an edited or damaged snapshot is refused.

    It catches accidents and casual edits; it is not a signature (whoever can edit the
    file can recompute it), so keep snapshots where audit evidence is kept.
    """
    content = {
        key: document.get(key) for key in ("site", "recorded_at", "pages", "users", "queries")
    }
    # Snapshots recorded before groups existed lack the key; their digest never had it.
    if "groups" in document:
        content["groups"] = document["groups"]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_json_atomically(path: Path, document: Any) -> None:
    """Readers never see half a file: write beside it, then rename over it."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_snapshot(path: Path) -> Snapshot:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_SNAPSHOT_BYTES + 1)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot: {exc.strerror or exc}") from None
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(f"{path}: the snapshot is larger than {MAX_SNAPSHOT_BYTES} bytes")
    try:
        document = json.loads(data)
        # JSON may spell a lone surrogate ("\\udfff"): not Unicode, so no digest (UTF-8).
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise SnapshotError(
            f"{path}: not a snapshot: the file is not valid JSON (text that is not valid "
            "Unicode: a lone surrogate)"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"{path}: not a snapshot: the file is not valid JSON ({exc})") from None
    errors = sorted(
        validator("snapshot").iter_errors(document), key=lambda e: list(map(str, e.path))
    )
    if errors:
        first = errors[0]
        raise SnapshotError(
            f"{path}: not a valid snapshot (format {FORMAT!r} version {FORMAT_VERSION}): "
            f"{json_path(first.absolute_path)}: {first.message[:300]}"
        )
    if content_digest(document) != document["sha256"]:
        raise SnapshotError(
            f"{path}: the snapshot's content does not match its SHA-256: it was edited or "
            "damaged after it was recorded; record it again"
        )
    try:
        recorded_at = datetime.fromisoformat(document["recorded_at"].replace("Z", "+00:00"))
    except ValueError:
        raise SnapshotError(f"{path}: the snapshot's recorded_at is not a valid instant") from None
    query_ids = [p["id"] for q in document.get("queries", {}).values() for p in q.get("pages", [])]
    too_large = [p for p in [*document["pages"], *query_ids] if int(p) > _INT64_MAX]
    if too_large:
        raise SnapshotError(
            f"{path}: not a valid snapshot: page id {too_large[0]} is larger than any "
            "Confluence page id"
        )
    pages: dict[str, PageFacts] = {}
    for page_id, entry in document["pages"].items():
        if "failure" in entry:
            failure = entry["failure"]
            pages[page_id] = PageFacts(
                page_id, failure=FetchFailure(failure["message"], failure["status"])
            )
        else:
            versions_failure = entry.get("versions_failure")
            pages[page_id] = PageFacts(
                page_id,
                page=entry["page"],
                properties=entry["properties"],
                versions=entry.get("versions"),
                versions_failure=FetchFailure(
                    versions_failure["message"], versions_failure["status"]
                )
                if versions_failure
                else None,
            )
    return Snapshot(
        recorded_at=recorded_at,
        site=document["site"],
        pages=pages,
        names=document.get("users", {}),
        queries={
            cql: QueryResult(
                failure=FetchFailure(entry["failure"]["message"], entry["failure"]["status"])
            )
            if "failure" in entry
            else QueryResult(pages=tuple((p["id"], p["title"]) for p in entry["pages"]))
            for cql, entry in document.get("queries", {}).items()
        },
        groups={
            name: GroupMembers(
                failure=FetchFailure(entry["failure"]["message"], entry["failure"]["status"])
            )
            if "failure" in entry
            else GroupMembers(frozenset(entry["members"]))
            for name, entry in document.get("groups", {}).items()
        },
    )

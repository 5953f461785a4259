"""Snapshot files: what a live run fetched, so a replay can decide the same way offline."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from . import TOOL_NAME, __version__
from .facts import FetchFailure, GroupMembers, PageFacts, QueryResult
from .schemas import json_path, validator

if TYPE_CHECKING:
    from .verdict import Verdict

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
    #: page id -> verdict, judged by the xdist controller (only in its handoff to workers)
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)

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
    content = {key: document.get(key) for key in _DIGESTED[:-1]}
    # Snapshots recorded before groups existed lack the key; their digest never had it.
    if "groups" in document:
        content["groups"] = document["groups"]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256()
    # Encoded a megabyte at a time: a whole second copy of a large snapshot would raise
    # the run's peak memory by its size.
    for start in range(0, len(canonical), _HASH_CHUNK):
        digest.update(canonical[start : start + _HASH_CHUNK].encode("utf-8"))
    return digest.hexdigest()


_HASH_CHUNK = 1 << 20
#: what the SHA-256 covers (groups only where the snapshot has them)
_DIGESTED = ("site", "recorded_at", "pages", "users", "queries", "groups")


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


def dump_handoff(path: Path, snapshot: Snapshot) -> str:
    """The xdist controller's handoff to its workers: facts and verdicts, judged once.

    Returns the key the workers need to read it. A pickle (the verdicts as they are, no
    second judging): it is written into the controller's private temporary directory
    (mkdtemp: mode 0700) and sealed with an HMAC whose fresh key reaches the workers
    only through xdist's own channel, never the disk, so a worker unpickles nothing
    but what its controller wrote. A user's snapshot is never read this way.
    """
    key = secrets.token_hex(32)
    data = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)
    seal = hmac.new(bytes.fromhex(key), data, hashlib.sha256).digest()
    with path.open("wb") as stream:
        stream.write(seal + data)
    return key


def _load_handoff(path: Path, key: str) -> Snapshot:
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the xdist controller's handoff: {exc}") from None
    seal, data = blob[:32], blob[32:]
    expected = hmac.new(bytes.fromhex(key), data, hashlib.sha256).digest()
    if not hmac.compare_digest(seal, expected):
        raise SnapshotError(f"{path}: the xdist controller's handoff was altered; run again")
    handed = pickle.loads(data)  # noqa: S301 - sealed by this run's controller (above)
    if not isinstance(handed, Snapshot):
        raise SnapshotError(f"{path}: not the xdist controller's handoff")
    return handed


def _is_plain_base_url(site: object) -> bool:
    """The form a recorded site has (see site.normalize_site), checked without urllib3."""
    if not isinstance(site, str) or not site.isprintable() or any(c in site for c in " \\@"):
        return False
    try:
        parts = urlsplit(site)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not (parts.query or parts.fragment or site.endswith("/"))
    )


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes, in pieces: ``read(limit)`` would reserve all of it at once."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = stream.read(min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def load_snapshot(path: Path, *, handoff_key: str | None = None) -> Snapshot:
    """Read, validate and integrity-check a snapshot.

    ``handoff_key``: the file is the handoff this run's xdist controller wrote for its
    workers (dump_handoff), not a user's snapshot: nothing to check, nothing to judge again.
    """
    if handoff_key is not None:
        return _load_handoff(path, handoff_key)
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_SNAPSHOT_BYTES:
                raise SnapshotError(
                    f"{path}: the snapshot is larger than {MAX_SNAPSHOT_BYTES} bytes"
                )
            data = _read_at_most(stream, MAX_SNAPSHOT_BYTES + 1)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot: {exc.strerror or exc}") from None
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(f"{path}: the snapshot is larger than {MAX_SNAPSHOT_BYTES} bytes")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"{path}: not a snapshot: the file is not valid JSON ({exc})") from None
    del data  # the parsed document is all that is needed from here on
    try:
        # JSON may spell a lone surrogate ("\\udfff"): not Unicode, so no digest (UTF-8).
        # The digest encodes what it covers; the rest of the document is encoded here.
        if isinstance(document, dict):
            rest = {k: v for k, v in document.items() if k not in _DIGESTED}
            json.dumps(rest, ensure_ascii=False).encode("utf-8")
        _check_snapshot(path, document)
    except UnicodeEncodeError:
        raise SnapshotError(
            f"{path}: not a snapshot: the file is not valid JSON (text that is not valid "
            "Unicode: a lone surrogate)"
        ) from None
    try:
        recorded_at = datetime.fromisoformat(document["recorded_at"].replace("Z", "+00:00"))
        # In UTC, as every instant the rules and outputs see: an offset may carry
        # 0001-01-01T00:00+14:00 out of the calendar (OverflowError), refused here.
        recorded_at = recorded_at.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise SnapshotError(f"{path}: the snapshot's recorded_at is not a valid instant") from None
    if not _is_plain_base_url(document["site"]):
        raise SnapshotError(
            f"{path}: not a valid snapshot: its site {document['site']!r} is not a plain "
            "http(s) base URL; record it again"
        )
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


def _check_snapshot(path: Path, document: Any) -> None:
    """The schema, then the SHA-256; raises SnapshotError naming the first problem."""
    # Validating thousands of page entries with jsonschema cost more than judging them.
    # When every entry has the shape the schema allows (checked directly below), the
    # schema checks the rest of the document with the pages left out; otherwise it
    # checks everything, so the error message is the schema's own.
    checked = document
    pages = document.get("pages") if isinstance(document, dict) else None
    if isinstance(pages, dict) and all(_page_entry_ok(k, v) for k, v in pages.items()):
        checked = {**checked, "pages": {}}
    # Likewise a cql: entry's recorded pages (tens of thousands under one query).
    queries = document.get("queries") if isinstance(document, dict) else None
    if isinstance(queries, dict) and all(_query_entry_ok(v) for v in queries.values()):
        checked = {**checked, "queries": {}}
    errors = sorted(
        validator("snapshot").iter_errors(checked), key=lambda e: list(map(str, e.path))
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


#: the schema's page-id pattern, matched whole (the schema's "$" also allows a final \n:
#: such an id only takes the slow path, where the schema decides)
_PAGE_ID = re.compile(r"[1-9][0-9]{0,18}")
_PAGE_ENTRY_KEYS = frozenset({"page", "properties", "versions", "versions_failure"})


def _page_entry_ok(page_id: str, entry: Any) -> bool:
    """True only if this page entry surely matches schemas/snapshot.schema.json.

    False means "let the schema decide", never "invalid": it may be stricter than the
    schema, never looser (tests/test_snapshot.py holds it to that).
    """
    if not _PAGE_ID.fullmatch(page_id) or type(entry) is not dict:
        return False
    if "failure" in entry:
        return len(entry) == 1 and _failure_ok(entry["failure"])
    if not (
        entry.keys() <= _PAGE_ENTRY_KEYS
        and type(entry.get("page")) is dict
        and type(entry.get("properties")) is list
    ):
        return False
    if "versions" in entry and type(entry["versions"]) is not list:
        return False
    return "versions_failure" not in entry or _failure_ok(entry["versions_failure"])


_QUERY_PAGE_KEYS = frozenset({"id", "title"})


def _query_entry_ok(entry: Any) -> bool:
    """True only if this ``queries`` entry surely matches the schema (as _page_entry_ok)."""
    if type(entry) is not dict:
        return False
    if entry.keys() == {"failure"}:
        return _failure_ok(entry["failure"])
    if entry.keys() != {"pages"} or type(entry["pages"]) is not list:
        return False
    return all(
        type(page) is dict
        and page.keys() == _QUERY_PAGE_KEYS
        and type(page["id"]) is str
        and _PAGE_ID.fullmatch(page["id"]) is not None
        and type(page["title"]) is str
        for page in entry["pages"]
    )


def _failure_ok(failure: Any) -> bool:
    return (
        type(failure) is dict
        and failure.keys() == {"message", "status"}
        and type(failure["message"]) is str
        and (failure["status"] is None or type(failure["status"]) is int)
    )

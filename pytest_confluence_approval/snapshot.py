"""Snapshot files: what a live run fetched, so a replay can decide the same way offline."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from . import TOOL_NAME, __version__
from .errors import SnapshotError as SnapshotError
from .facts import FetchFailure, GroupMembers, PageFacts, QueryResult
from .inputs import open_regular_file
from .instants import parse_instant
from .instants import utc_iso as utc_iso
from .pageids import is_page_id, within_int64
from .schemas import json_path, surely_valid, validator
from .strict_json import DECODER as _DECODER
from .strict_json import loads as strict_json_loads

FORMAT = "pytest-confluence-approval snapshot"
FORMAT_VERSION = 1
MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024


class RecordedPages(Mapping[str, PageFacts]):
    """A snapshot's pages, each kept as its compact JSON in UTF-8 and decoded when read.

    Decoded, a page's payloads take about three times the memory of their text, and a
    replay holding every page decoded for the whole run used 1.7x the memory of pytest
    running as many trivial tests. A replay reads each page once, to judge it, and then
    needs only its fetch failure (``settle``), so its memory stays near pytest's own.
    UTF-8, not text: Python stores a text at the width of its widest character, so one
    emoji in a title would make a whole entry 4 bytes a character.
    """

    __slots__ = ("_entries",)

    def __init__(self, texts: Mapping[str, bytes]) -> None:
        #: page id -> the recorded entry as compact JSON in UTF-8; once settled, its
        #: failure (None: it had none)
        self._entries: dict[str, bytes | FetchFailure | None] = dict(texts)

    def __getitem__(self, page_id: str) -> PageFacts:
        entry = self._entries[page_id]
        if not isinstance(entry, bytes):
            return PageFacts(page_id, failure=entry)
        try:
            return PageFacts.from_json(page_id, strict_json_loads(entry))
        except RecursionError:
            # Read once while loading, an entry nested nearly as deep as the stack allows
            # may not be readable again deeper in the stack, where its page is judged.
            return PageFacts.failed(
                page_id,
                "the snapshot's entry of the page is nested too deeply to read (JSON "
                "deeper than Python's recursion limit); check the page's data in "
                "Confluence and record a new snapshot",
            )

    def __contains__(self, page_id: object) -> bool:
        return page_id in self._entries  # without decoding the page, as Mapping's would

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def settle(self, page_ids: Iterable[str]) -> None:
        """These pages are judged: keep only their fetch failures, which outputs report.

        Reading a settled page again gives it without payloads, which judges as "could
        not verify", never as approved.
        """
        for page_id in page_ids:
            entry = self._entries.get(page_id)
            if isinstance(entry, bytes):
                # A failure entry (the schema allows it no other key) is exactly
                # {"failure":{...}} in compact JSON, and only it is decoded here: a page's
                # own payloads, which its editors control, are never read again.
                failed = entry.startswith(_FAILURE_ENTRY)
                self._entries[page_id] = self[page_id].failure if failed else None


#: How every recorded failure entry's compact JSON starts (see RecordedPages.settle)
_FAILURE_ENTRY = b'{"failure":'


@dataclass(frozen=True)
class Snapshot:
    recorded_at: datetime
    site: str
    pages: RecordedPages
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

    def settle(self, page_ids: Iterable[str]) -> None:
        """These pages are judged: release their payloads (see RecordedPages)."""
        self.pages.settle(page_ids)


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
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "recorded_at": utc_iso(recorded_at),
        "site": site,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "pages": {page_id: page.to_json() for page_id, page in facts.items()},
        "users": dict(names),
        "queries": {cql: result.to_json() for cql, result in (queries or {}).items()},
        "groups": {name: group.to_json() for name, group in (groups or {}).items()},
    }
    document["sha256"] = content_digest(document)
    write_json_atomically(path, document)


def content_digest(
    document: Mapping[str, Any], page_texts: Mapping[str, bytes] | None = None
) -> str:
    """SHA-256 of what a replay decides on, so an edited or damaged snapshot is refused.

    It catches accidents and casual edits; it is not a signature (whoever can edit the
    file can recompute it), so keep snapshots where audit evidence is kept.

    The SHA-256 of ``json.dumps(content, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)``, fed a piece at a time (a whole second copy of a large snapshot
    would raise the run's peak memory by its size). ``page_texts``: the pages as that
    same compact JSON in UTF-8, entry by entry, in place of ``document["pages"]``.
    """
    digest = hashlib.sha256()

    def feed(text: str) -> None:
        for start in range(0, len(text), _HASH_CHUNK):
            digest.update(text[start : start + _HASH_CHUNK].encode("utf-8"))

    # Snapshots recorded before groups existed lack the key; their digest never had it.
    keys = sorted(k for k in _DIGESTED if k != "groups" or "groups" in document)
    feed("{")
    for n, key in enumerate(keys):
        feed(("," if n else "") + compact_json(key) + ":")
        if key == "pages" and page_texts is not None:
            feed("{")
            for m, page_id in enumerate(sorted(page_texts)):
                feed(("," if m else "") + compact_json(page_id) + ":")
                digest.update(page_texts[page_id])
            feed("}")
        else:
            feed(compact_json(document.get(key)))
    feed("}")
    return digest.hexdigest()


def compact_json(value: Any) -> str:
    """The canonical JSON the SHA-256 covers: sorted keys, no spaces, text as it is."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


_HASH_CHUNK = 1 << 20
#: what the SHA-256 covers (groups only where the snapshot has them)
_DIGESTED = ("site", "recorded_at", "pages", "users", "queries", "groups")


def write_json_atomically(path: Path, document: Any) -> None:
    """Readers never see half a file: write beside it, then rename over it.

    Strict JSON (no NaN or Infinity, see strict_json.py): other readers must read it."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    write_text_atomically(path, text + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) beside ``path``, then rename it over ``path``: readers see the
    old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def load_snapshot(path: Path) -> Snapshot:
    """Read, validate and integrity-check a snapshot."""
    try:
        with open_regular_file(path) as stream:
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
        # Decoded as json.loads decodes bytes, then the bytes are let go: the text is
        # all that is needed from here on.
        text = data.decode(json.detect_encoding(data), "surrogatepass")
        del data
        try:
            split = _split_pages(text)
        except (ValueError, RecursionError):
            split = None  # json.loads below says what is wrong, in its own words
        if split is None:  # not the usual shape: decoded whole, so the schema can say why
            # As json.loads(bytes) goes on once it has their text: json.loads(text) would
            # refuse a BOM left after decoding with "decode using utf-8-sig", done above.
            document, page_texts = _DECODER.decode(text), None
        else:
            document, page_texts = split
        del text
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"{path}: not a snapshot: the file is not valid JSON ({exc})") from None
    try:
        # JSON may spell a lone surrogate ("\\udfff"): not Unicode, so no digest (UTF-8).
        # The digest encodes what it covers; the rest of the document is encoded here.
        if isinstance(document, dict):
            rest = {k: v for k, v in document.items() if k not in _DIGESTED}
            json.dumps(rest, ensure_ascii=False).encode("utf-8")
        _check_snapshot(path, document, page_texts)
    except UnicodeEncodeError:
        raise SnapshotError(
            f"{path}: not a snapshot: the file is not valid JSON (text that is not valid "
            "Unicode: a lone surrogate)"
        ) from None
    except RecursionError:
        # Decoded, then encoded for the SHA-256 a few frames deeper: JSON nested within
        # a level or two of the recursion limit passes the first and not the second.
        raise SnapshotError(
            f"{path}: not a snapshot: the file is not valid JSON (nested too deeply)"
        ) from None
    try:
        # In UTC, as every instant the rules and outputs see: an offset may carry
        # 0001-01-01T00:00+14:00 out of the calendar, refused here.
        recorded_at = parse_instant(document["recorded_at"])
    except ValueError:
        raise SnapshotError(f"{path}: the snapshot's recorded_at is not a valid instant") from None
    if not _is_plain_base_url(document["site"]):
        raise SnapshotError(
            f"{path}: not a valid snapshot: its site {document['site']!r} is not a plain "
            "http(s) base URL; record it again"
        )
    if page_texts is None:
        page_texts = {p: compact_json(e).encode("utf-8") for p, e in document["pages"].items()}
    document["pages"] = {}
    query_ids = [p["id"] for q in document.get("queries", {}).values() for p in q.get("pages", [])]
    too_large = [p for p in [*page_texts, *query_ids] if not within_int64(p)]
    if too_large:
        raise SnapshotError(
            f"{path}: not a valid snapshot: page id {too_large[0]} is larger than any "
            "Confluence page id"
        )
    return Snapshot(
        recorded_at=recorded_at,
        site=document["site"],
        pages=RecordedPages(page_texts),
        names=document.get("users", {}),
        queries={
            cql: QueryResult.from_json(entry) for cql, entry in document.get("queries", {}).items()
        },
        groups={
            name: GroupMembers.from_json(entry)
            for name, entry in document.get("groups", {}).items()
        },
    )


#: JSON's own whitespace (json.decoder)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    """The position after the JSON whitespace at ``pos``."""
    found = _WHITESPACE.match(text, pos)
    assert found is not None  # the pattern matches the empty string too
    return found.end()


def _split_pages(text: str) -> tuple[dict[str, Any], dict[str, bytes]] | None:
    """The document with ``pages`` left empty, and each page entry as compact JSON in UTF-8.

    Read one page entry at a time, so the decoded payloads of every page are never in
    memory together. It accepts exactly what the whole document's decoder accepts (as
    ``json.loads``, a repeated key: the last wins; strict: no NaN or Infinity), decoding
    with that decoder; None when the text is not a JSON object
    whose ``pages`` is an object of entries that surely match the schema (then the whole
    document is decoded and checked, so the schema names the problem).
    """
    document: dict[str, Any] = {}
    pages: dict[str, bytes] | None = None
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "{":
        return None
    pos = _skip(text, pos + 1)
    while text[pos : pos + 1] == '"':
        key, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos : pos + 1] != ":":
            return None
        pos = _skip(text, pos + 1)
        if key == "pages":
            pages, pos = _split_page_entries(text, pos)
            if pages is None:
                return None
            document[key] = {}
        else:
            document[key], pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos : pos + 1] == "}":
            if pages is None or _skip(text, pos + 1) != len(text):
                return None
            return document, pages
        if text[pos : pos + 1] != ",":
            return None
        pos = _skip(text, pos + 1)
    return None


def _split_page_entries(text: str, pos: int) -> tuple[dict[str, bytes] | None, int]:
    """``pages`` (an object starting at ``pos``) as page id -> compact JSON in UTF-8, and
    the end. Raises UnicodeEncodeError for a lone surrogate (see load_snapshot)."""
    if text[pos : pos + 1] != "{":
        return None, pos
    pages: dict[str, bytes] = {}
    pos = _skip(text, pos + 1)
    if text[pos : pos + 1] == "}":
        return pages, pos + 1
    while text[pos : pos + 1] == '"':
        page_id, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos : pos + 1] != ":":
            return None, pos
        entry, pos = _DECODER.raw_decode(text, _skip(text, pos + 1))
        if not _page_entry_ok(page_id, entry):
            return None, pos
        pages[page_id] = compact_json(entry).encode("utf-8")
        pos = _skip(text, pos)
        if text[pos : pos + 1] == "}":
            return pages, pos + 1
        if text[pos : pos + 1] != ",":
            return None, pos
        pos = _skip(text, pos + 1)
    return None, pos


def _check_snapshot(path: Path, document: Any, page_texts: Mapping[str, bytes] | None) -> None:
    """The schema, then the SHA-256; raises SnapshotError naming the first problem.

    ``page_texts``: the page entries, already checked by ``_page_entry_ok`` and left out
    of ``document`` (see _split_pages).
    """
    # Validating thousands of page entries with jsonschema cost more than judging them.
    # When every entry surely matches (the schema's quick check, schemas.surely_valid),
    # the validator checks the rest of the document with the pages left out; otherwise
    # it checks everything, so the error message is the schema's own.
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
    if content_digest(document, page_texts) != document["sha256"]:
        raise SnapshotError(
            f"{path}: the snapshot's content does not match its SHA-256: it was edited or "
            "damaged after it was recorded; record it again"
        )


#: where snapshot.schema.json describes a page id, a page entry and a query entry
_PAGE_ID = "/properties/pages/propertyNames"
_PAGE_ENTRY = "/properties/pages/additionalProperties"
_QUERY_ENTRY = "/properties/queries/additionalProperties"


def _page_entry_ok(page_id: str, entry: Any) -> bool:
    """True only if this page entry surely matches the schema (see schemas.surely_valid).

    False means "let the schema decide", never "invalid".
    """
    # An id the schema's pattern allows but is_page_id does not (a final "\n", which the
    # schema's "$" takes; 19 digits beyond int64) only takes the slow path.
    id_ok, entry_ok = surely_valid("snapshot", _PAGE_ID), surely_valid("snapshot", _PAGE_ENTRY)
    return is_page_id(page_id) and id_ok(page_id) and entry_ok(entry)


def _query_entry_ok(entry: Any) -> bool:
    """True only if this ``queries`` entry surely matches the schema (as _page_entry_ok)."""
    if not surely_valid("snapshot", _QUERY_ENTRY)(entry):
        return False
    # As for page entries: an id the schema's pattern allows but is_page_id does not.
    return all(is_page_id(page["id"]) for page in entry.get("pages", ()))

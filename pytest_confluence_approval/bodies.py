"""Answers' bodies: read in bounded pieces, weighed before they are parsed, strict JSON.

A server controls a body's size, its pace and its shape. So a body is read a piece at a
time, none of which may outlast the run's deadline, up to a cap; every piece and then
the parse are charged to the run's memory budget before they are allocated; and the
JSON must be RFC 8259's (no NaN or Infinity), nested no deeper than any real answer,
and valid Unicode. No sockets here: a body is anything with ``header`` and ``read1``
(transport.Answer, or a test's stand-in).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Protocol

from . import wording
from .deadline import Deadline, MemoryBudget
from .errors import ConfluenceError
from .strict_json import NonFiniteNumber
from .strict_json import loads as strict_json_loads
from .transport import NoAnswer

#: A body larger than this is refused: no approval answer is anywhere near it.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Body reads go in pieces this small, so the deadline is checked often on a slow body.
READ_CHUNK_BYTES = 64 * 1024
#: JSON deeper than this is refused. Parsed in a fetch thread (a shallow stack), JSON
#: nested nearly as deep as Python's recursion limit was read, then raised RecursionError
#: where the main thread, deeper in the stack, encoded it for --confluence-record. Nothing
#: Confluence or the approval app sends nests more than a dozen levels.
MAX_JSON_DEPTH = 100
#: A JSON escape of a UTF-16 surrogate: paired ones are fine, lone ones are not Unicode.
_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: What each structural character of an answer (``,`` ``:`` ``[`` ``{``) is weighed at:
#: the object it may open or stand before, its slot in a list or dict and its entry in
#: the depth check. CPython needs at most about 76 bytes for the worst shapes
#: (``[{"a":{}},...]``; tests/test_bounds.py measures them).
_BYTES_PER_VALUE = 96


class Body(Protocol):
    """An answer whose body is still to be read (transport.Answer, or a test's stand-in)."""

    def header(self, name: str) -> str | None: ...

    def read1(self, amount: int, timeout: float) -> bytes:
        """Whatever one read brings, at most ``amount`` bytes; b"" at the end. Raises
        transport.NoAnswer when the connection breaks."""
        ...


class Weigher:
    """One client's share of the run's memory budget: what its answers weighed."""

    def __init__(self, budget: MemoryBudget) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        #: what this client's answers weighed (pieces read, then parse_weight)
        self.weighed = 0

    def __repr__(self) -> str:
        return f"<Weigher {self.weighed:,} bytes>"

    def spend(self, weight: int, what: str) -> None:
        """Spend from the run's memory budget; past it every further answer is refused."""
        with self._lock:
            self.weighed += weight
        if not self.budget.spend(weight):
            raise wording.over_budget(what, self.budget.limit)


def parse_weight(data: bytes) -> int:
    """The memory an answer may take once parsed, over and above its bytes: an upper bound.

    json.loads decodes the bytes to text and cuts strings out of it: 2 bytes a byte, or
    8 if any byte is not ASCII or spells a ``\\u`` escape (one such character makes Python
    store a whole text at 4 bytes a character), 12 if one spells a surrogate (the check
    for lone ones encodes the answer once more); and each value an object. Counting
    costs a few passes of C over the bytes, nothing like parsing them.
    """
    if _LONE_SURROGATE_ESCAPE.search(data):
        text = 12
    elif data.isascii() and b"\\u" not in data:
        text = 2
    else:
        text = 8
    values = data.count(b",") + data.count(b":") + data.count(b"[") + data.count(b"{")
    return 1024 + text * len(data) + _BYTES_PER_VALUE * values


def read_json_body(
    body: Body,
    *,
    what: str,
    status: int,
    deadline: Deadline,
    timeout: float,
    weigher: Weigher,
) -> bytes:
    """A JSON answer's body, whole: refused if it is not JSON, or larger than the cap."""
    content_type = body.header("Content-Type") or ""
    if "json" not in content_type.lower():
        raise wording.not_json(what, content_type, status)
    try:
        declared = int(body.header("Content-Length") or "0")
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise ConfluenceError(wording.too_large(what, MAX_BODY_BYTES))
    # A body sent as it is (no Content-Encoding) ends at its declared length: no read
    # is needed to learn that the next one would bring nothing.
    whole_at = declared if declared > 0 and not body.header("Content-Encoding") else None
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            deadline.check(what)
            # read1: whatever one read brings, so a trickling body cannot keep the loop
            # from looking at the deadline.
            chunk = body.read1(READ_CHUNK_BYTES, deadline.trim(timeout))
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ConfluenceError(wording.too_large(what, MAX_BODY_BYTES))
            weigher.spend(2 * len(chunk), what)  # the piece, then its copy when joined
            chunks.append(chunk)
            if whole_at is not None and size >= whole_at:
                break
    except NoAnswer as exc:
        failure = exc
    else:
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if deadline.cancelled or deadline.expired():
        deadline.check(what)
    raise wording.broke_while_reading(what, failure.reason)


def decode_json(data: bytes, *, what: str, weigher: Weigher) -> Any:
    """Strict JSON, charged to the memory budget before json.loads allocates any of it."""
    weigher.spend(parse_weight(data), what)
    try:
        body = strict_json_loads(data)
        if _nested_deeper_than(body, MAX_JSON_DEPTH, data):
            raise ConfluenceError(
                f"Confluence sent malformed JSON for {what}: nested deeper than "
                f"{MAX_JSON_DEPTH} levels; refused"
            )
        if _LONE_SURROGATE_ESCAPE.search(data):
            # JSON may spell a lone surrogate ("\udfff"); json.loads accepts it, but
            # it is not Unicode: no snapshot, report or summary could be written.
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        return body
    except UnicodeEncodeError:
        failure = ConfluenceError(
            f"Confluence sent text for {what} that is not valid Unicode (a lone surrogate); refused"
        )
    except NonFiniteNumber as exc:
        failure = wording.malformed_json(what, str(exc))
    except (ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the parser's stack, as only a
        # hostile or broken server sends it.
        failure = wording.malformed_json(what)
    raise failure from None


def _nested_deeper_than(value: Any, limit: int, text: bytes) -> bool:
    """Whether parsed JSON nests more than ``limit`` objects and arrays, without recursion."""
    if text.count(b"[") + text.count(b"{") <= limit or not isinstance(value, (dict, list)):
        return False  # too few brackets to nest that deep: the usual answer, checked in C
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False

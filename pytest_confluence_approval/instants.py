"""Instants in ISO 8601, read and written in one place; every instant the gate holds is UTC.

One parser, :func:`parse_instant`, with the strictness each source needs:

- ``--confluence-as-of`` is typed by a person: surrounding spaces, lower case and a date
  or date-time without an offset (taken as UTC) are accepted (``naive_as_utc=True``).
- Confluence's timestamps (``createdAt``) and a snapshot's ``recorded_at`` must carry
  an offset: an instant without one cannot be compared safely, so it is refused
  (``naive_as_utc=False``); what a caller makes of a refusal (unknown, an error) is
  its own.

One formatter, :func:`utc_iso`: ``2025-08-01T10:00:00.000Z`` in files (snapshot,
report, JUnit evidence) and ``2025-08-01T10:00:00Z`` in sentences (failure text).

A policy's dates (``expires``, ``expires_on``) are calendar dates, not instants: the
policy reads them itself. Stdlib only, at the bottom of the layers.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_instant(text: str, *, naive_as_utc: bool = False) -> datetime:
    """An ISO 8601 / RFC 3339 instant, in UTC. Raises ValueError if ``text`` is none.

    RFC 3339 allows a lowercase "z"; fromisoformat takes neither "z" nor "Z" on every
    Python version, so the offset is spelled out. Without an offset: UTC if
    ``naive_as_utc``, else refused. Converted to UTC here, as every instant the rules and
    outputs see: an offset can carry an instant such as 0001-01-01T00:00+14:00 off the
    calendar, which is refused too (a ValueError, not an OverflowError).
    """
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            if not naive_as_utc:
                raise ValueError(f"{text!r} has no UTC offset")
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} lies outside the calendar in UTC") from None


def instant_or_none(value: object) -> datetime | None:
    """An instant Confluence sent (``createdAt``), or None when it sent none this parser
    accepts with an offset: unknown, for the rules to fail closed on, never an error."""
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


def from_epoch_ms(value: int | None) -> datetime | None:
    """Milliseconds since 1970-01-01 UTC (the approval's ``completedAt``) as an instant."""
    if value is None:
        return None
    return _EPOCH + timedelta(milliseconds=value)


def utc_iso(
    instant: datetime, *, timespec: Literal["milliseconds", "seconds"] = "milliseconds"
) -> str:
    """The instant in UTC, ISO 8601 with a ``Z``: milliseconds for files, seconds for text."""
    return instant.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")

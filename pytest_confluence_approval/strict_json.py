"""JSON as RFC 8259 defines it, for everything the gate reads from Confluence or a snapshot.

Python's json module reads (and writes) ``NaN``, ``Infinity`` and ``-Infinity``, which
are not JSON, and reads a number too large for a double (``1e999``) as infinity, which
it then writes as ``Infinity``: a hostile or broken server could get them recorded raw
into a snapshot or a report that jq, JavaScript, Go or Java refuse to read. Here they are
refused on the way in, as malformed JSON; every writer passes ``allow_nan=False`` on the
way out, so a value that slipped past would stop the write rather than be written.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NonFiniteNumber(ValueError):
    """NaN, an infinity or a number beyond a double's range: malformed JSON here (a
    ValueError, as json's own decoding errors are, so whoever refuses those refuses it)."""


def _refuse_constant(constant: str) -> Any:
    raise NonFiniteNumber(f"{constant}, which JSON does not allow")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        shown = text if len(text) <= 20 else text[:20] + "…"
        raise NonFiniteNumber(f"{shown}, a number too large to read")
    return number


#: json's decoder, strict (for raw_decode, which json.loads lacks)
DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``, strict: raises ValueError for NaN and the rest."""
    return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)

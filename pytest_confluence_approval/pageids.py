"""What a Confluence page id is, in one place: a positive int64 in plain decimal.

No sign, no leading zero, ASCII digits only (``str.isdigit`` alone would take ``"²"``
or Arabic-Indic digits): ``^[1-9][0-9]{0,18}$`` and at most 2**63 - 1. The schemas
(policy, snapshot) spell the same pattern in JSON; the 19 digits they allow can still
be more than an int64, which :func:`within_int64` checks after them.

Stdlib only, at the bottom of the layers.
"""

from __future__ import annotations

import re

#: The page-id pattern of the schemas (policy.schema.json, snapshot.schema.json).
PAGE_ID_PATTERN = r"^[1-9][0-9]{0,18}$"
#: The largest Confluence page id (ids are int64 values).
MAX_PAGE_ID = 2**63 - 1
#: The pattern matched whole: with ``$``, ``re.match`` would also take a final ``"\n"``.
_PAGE_ID = re.compile(PAGE_ID_PATTERN.removeprefix("^").removesuffix("$"))


def is_page_id(value: object) -> bool:
    """A positive int64 in plain decimal: no sign, no leading zero (``^[1-9][0-9]{0,18}$``)."""
    return (
        isinstance(value, str)
        and _PAGE_ID.fullmatch(value) is not None
        and (len(value) < 19 or int(value) <= MAX_PAGE_ID)
    )


def within_int64(page_id: str) -> bool:
    """Whether an id that matches the schemas' pattern is also small enough to be one."""
    return int(page_id) <= MAX_PAGE_ID

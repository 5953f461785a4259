"""The gate's node ids (``policy.yaml::page[<id> <name>]``), read back into page ids.

Reports reach an xdist controller, and the JUnit evidence hook, as node ids only,
without their item. Light (stdlib only): pytest-xdist's side of the gate reads them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_ITEM_NAME = re.compile(r"::page\[(\d+)[ \]]")


def page_id_of(nodeid: str, *, policy: Path, rootpath: Path) -> str | None:
    """The page id in one of the gate's node ids (``policy.yaml::page[<id> <name>]``).

    Only an item of the policy file is a page: a repository test that happens to be
    called ``page[101]`` must not count as judging page 101.
    """
    file_part, _, rest = nodeid.partition("::")
    found = _ITEM_NAME.match("::" + rest)
    if found is None or not is_policy(file_part, policy, rootpath):
        return None
    return found.group(1)


@functools.lru_cache(maxsize=64)
def is_policy(file_part: str, policy: Path, rootpath: Path) -> bool:
    """Whether a node id's file part (relative to the rootdir) is the policy file."""
    try:
        return (rootpath / file_part).resolve() == policy.resolve()
    except OSError:
        return False

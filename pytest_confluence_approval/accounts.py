"""Atlassian account ids: when two of them are one person, and how text names a person.

Pure: no I/O, no pytest. Everything that compares account ids (counting, four eyes,
required approvers, groups, approval writers) reads them through :func:`account_key`,
and everything a person reads names accounts through :func:`person`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache

#: An Atlassian account id, matched whole: letters, digits, ':', '-' and '_' (the
#: approval and policy schemas' pattern; ``[A-Za-z0-9]`` are ASCII ranges whatever the flags).
ACCOUNT_ID = re.compile(r"[A-Za-z0-9:_-]{1,128}")


def account_key(account: str) -> str:
    """The one spelling of an account id that comparisons use: lower case.

    Account ids are hexadecimal (24 hex digits, or ``557058:`` and a UUID), and a hex
    digit or a UUID means the same in either case (UUIDs are case-insensitive on input,
    RFC 9562): Atlassian writes them in lower case, so ``5B10AC…`` can only name the
    account ``5b10ac…``. Anything not shaped like an account id is kept as sent: it
    matches no account id either way.
    """
    return account.lower() if ACCOUNT_ID.fullmatch(account) else account


# --- naming people in text ----------------------------------------------------------------

#: Characters a plain name may hold beside letters, marks and digits (any script).
_NAME_PUNCTUATION = frozenset(".'\u2019-")
#: Words that join two names into a list, in the language of the gate's texts.
_CONJUNCTIONS = frozenset({"and", "or"})


@lru_cache(maxsize=4096)
def _plain(name: str) -> bool:
    """Whether a display name reads as one person wherever it stands in a list.

    Words of letters, marks and digits (any script), joined by single spaces, with
    ``.``, ``'``, a typographic apostrophe and ``-`` inside them. Anything else (a
    comma, ``;``, ``&``, ``/``, brackets, quotes, another kind of space, the words
    "and"/"or") could read as a list separator or as the end of the name.
    """
    for word in name.split(" "):
        if not word or word.casefold() in _CONJUNCTIONS:
            return False
        for char in word:
            if not (
                char.isalnum()
                or char in _NAME_PUNCTUATION
                or unicodedata.category(char).startswith("M")
            ):
                return False
    return True


def _quoted(text: str) -> str:
    """``text`` in double quotes, its own quotes and backslashes escaped: it cannot end early."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _account_text(account: str) -> str:
    # Ids from the approval lists and the policy are account ids; an author id Confluence
    # sent may be anything, and is quoted unless it is shaped like one.
    return account if ACCOUNT_ID.fullmatch(account) else _quoted(account)


def person(
    account: str,
    names: Mapping[str, str],
    *,
    ambiguous: Collection[str] = (),
    with_id: bool = False,
) -> str:
    """How any text the gate writes for people names one account.

    The display name alone where it cannot be mistaken for more than one person (or
    for someone else): it is plain (see ``_plain``) and not in ``ambiguous`` (names
    that two accounts share, or that are another account's id: see
    :func:`ambiguous_names`). Otherwise, and always with ``with_id``, the name is
    followed by the account id, ``Priya Raman (5b10ac…)``, and a name that is not
    plain is quoted: ``"Priya Raman, Jonas Weber" (5b10ac…)``. An account without a
    display name is its id.
    """
    name = names.get(account)
    if not name:
        return _account_text(account)
    plain = _plain(name)
    if plain and not with_id and name not in ambiguous:
        return name
    return f"{name if plain else _quoted(name)} ({_account_text(account)})"


def people(
    accounts: Iterable[str],
    names: Mapping[str, str],
    *,
    ambiguous: Collection[str] = (),
    with_id: bool = False,
) -> str:
    """Several accounts, each as :func:`person` names it, separated by ", "."""
    return ", ".join(person(a, names, ambiguous=ambiguous, with_id=with_id) for a in accounts)


def ambiguous_names(accounts: Iterable[str], names: Mapping[str, str]) -> frozenset[str]:
    """The display names that could be taken for another of ``accounts``: names two of
    them share, and names that are one of their ids (the text shows an account without
    a display name as its id)."""
    ids = set(accounts)
    seen: set[str] = set()
    shared: set[str] = set()
    for account in ids:
        name = names.get(account)
        if name:
            if name in seen or account_key(name) in ids:
                shared.add(name)
            seen.add(name)
    return frozenset(shared)

"""The one layer between untrusted text and a human: every output line passes through here.

Who controls what: anyone who can edit a Confluence page (or their own profile)
controls page titles, display names, account ids, property keys, CQL result titles
and any message Confluence sends back. The gate copies those into its terminal
output, failure texts, test ids, JUnit XML, warnings and the CI job summary. If they
were copied raw, a title could start a line of its own (``::error::`` is a GitHub
workflow command), move the cursor over our ``NOT APPROVED`` (ESC, CR), reorder
what a reader sees (bidi overrides) or hide characters (zero-width).

The design rule is: **the unit of human-facing output is a line**. Every output
builds a list of lines, each made of our own words with untrusted pieces pasted in,
and renders it with :func:`render_lines` (or one line with :func:`render_line`). Our
own text never contains a control character, so rendering the *whole* line is the
same as escaping each untrusted piece, and no call site has to remember which
piece came from Confluence. What rendering guarantees, for any input:

- no C0/C1 control (ESC, CR, LF, BEL, DEL, U+0085, ...), no format character
  (Unicode category Cf: bidi embeddings, overrides and isolates, U+200E/U+200F,
  U+061C, zero-width U+200B-U+200D, U+2060, U+FEFF, ...), no line or paragraph
  separator (U+2028/U+2029) and no lone surrogate is emitted: each is shown as a
  visible escape (``\\n``, ``\\x1b``, ``\\u202e``, ``\\U000e0001``), and a backslash
  is shown as ``\\\\``, so the escaping is reversible and two different texts never
  look alike;
- no line shows more than :data:`MAX_SHOWN` characters (escapes included): the rest is
  replaced by ``… [N more characters not shown]`` (the JSON report keeps it all);
- no text contains ``##[``, ``##vso[`` or ``##teamcity[`` (GitHub's legacy workflow
  command, Azure Pipelines' and TeamCity's service messages, which their agents find
  anywhere in a line): the second ``#`` is shown as ``\\x23``;
- no rendered line begins with ``::`` (a GitHub Actions workflow command), even
  after leading blanks: the first colon of such a line is shown as ``\\x3a``.
  Every line the gate prints starts with its own words anyway (``NOT APPROVED:
  page 101 ...``, ``  - ...``, ``title: ...``), so this is a second lock, not the
  first.

The JSON report and snapshots are not human-facing: they keep the raw values (JSON
escapes them). The job summary adds Markdown/HTML escaping on top (jobsummary.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: The most characters of one line (or table cell) shown. Confluence's own titles stop
#: at 255 characters; a megabyte title would only bloat the terminal and the JUnit file,
#: and push the job summary past GitHub's 1 MiB limit, which then drops it whole.
MAX_SHOWN = 2000

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
#: Categories never emitted: controls, format characters (bidi, zero-width),
#: line/paragraph separators and lone surrogates (which cannot even be encoded).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    if unicodedata.category(char) not in _HIDDEN_CATEGORIES:
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def neutral(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` with every control, format and separator character visibly escaped;
    at most ``limit`` characters of escaped text are shown, then how many were not."""
    if len(text) <= limit and text.isprintable() and "\\" not in text and "##" not in text:
        return text  # the common case: nothing to do (isprintable is False for Cc/Cf/Zl/Zp/Cs)
    shown: list[str] = []
    size = 0
    for index, char in enumerate(text[:limit]):
        piece = _escape(char)
        size += len(piece)
        if size > limit:  # counted after escaping: "\U000e0001" is ten characters shown
            return _no_midline_command("".join(shown)) + _not_shown(len(text) - index)
        shown.append(piece)
    rest = len(text) - limit
    return _no_midline_command("".join(shown)) + (_not_shown(rest) if rest > 0 else "")


#: "##[cmd]" (GitHub's legacy form), "##vso[...]" (Azure Pipelines), "##teamcity[...]":
#: CI agents find these anywhere in a line, not only at its start.
_MIDLINE_COMMAND = re.compile(r"(?<=#)#(?=[A-Za-z]*\[)")


def _no_midline_command(text: str) -> str:
    """The second ``#`` of ``##[`` or ``##vso[`` shown as ``\\x23``: no agent runs it."""
    return _MIDLINE_COMMAND.sub(r"\\x23", text)


def _not_shown(count: int) -> str:
    return f"… [{count} more characters not shown]"


def render_line(line: str, limit: int = MAX_SHOWN) -> str:
    """One line of output, safe to print: neutralised, and never a workflow command."""
    safe = neutral(line, limit)
    body = safe.lstrip()
    if body.startswith("::"):  # the runner may trim leading blanks: escape the colon itself
        return safe[: len(safe) - len(body)] + "\\x3a" + body[1:]
    return safe


def render_lines(lines: Iterable[str]) -> str:
    """Our lines, each rendered safe, joined by the only newlines the output contains."""
    return "\n".join(render_line(line) for line in lines)

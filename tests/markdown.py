"""Read a job summary the way GitHub renders it: with real Markdown parsers, not regexes.

Two of them: markdown-it-py (CommonMark with tables) and cmark-gfm, GitHub's own
renderer, with GitHub's extensions: tables, strikethrough, the tag filter and the
autolinker, which turns bare ``www.``, ``http(s)://`` and e-mail addresses (also
``mailto:`` and ``xmpp:``) in text into links.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options
from markdown_it import MarkdownIt
from markdown_it.token import Token


@dataclass
class Rendered:
    headings: list[str] = field(default_factory=list)
    #: each table as rows of cell texts (the header row first)
    tables: list[list[list[str]]] = field(default_factory=list)
    #: raw HTML blocks and inline HTML (comments, tags): a summary must have none
    html: list[str] = field(default_factory=list)
    #: every link target
    links: list[str] = field(default_factory=list)
    #: paragraphs' plain text
    paragraphs: list[str] = field(default_factory=list)


def _text(inline: Token, into: Rendered) -> str:
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "html_inline":
            into.html.append(child.content)
        elif child.type == "link_open":
            into.links.append(str(child.attrs.get("href")))
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


def render(text: str) -> Rendered:
    """Parse GitHub-flavoured Markdown (CommonMark with raw HTML, plus tables)."""
    md = MarkdownIt("commonmark").enable("table")
    out = Rendered()
    tokens = md.parse(text)
    table: list[list[str]] | None = None
    row: list[str] | None = None
    for index, token in enumerate(tokens):
        if token.type == "html_block":
            out.html.append(token.content)
        elif token.type == "table_open":
            table = []
            out.tables.append(table)
        elif token.type == "tr_open":
            row = []
            assert table is not None
            table.append(row)
        elif token.type == "inline":
            opener = tokens[index - 1].type
            content = _text(token, out)
            if opener in ("th_open", "td_open"):
                assert row is not None
                row.append(content)
            elif opener == "heading_open":
                out.headings.append(tokens[index - 1].tag + " " + content)
            elif opener == "paragraph_open":
                out.paragraphs.append(content)
    return out


#: The elements Markdown itself makes of a job summary; any other tag is raw HTML.
_MARKDOWN_TAGS = frozenset(
    {"h1", "h2", "h3", "h4", "h5", "h6", "p", "strong", "em", "del", "a", "code"}
    | {"table", "thead", "tbody", "tr", "th", "td"}
)


class _GitHubHtml(HTMLParser):
    """cmark-gfm's HTML read back into a Rendered: what a reader of the page sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = Rendered()
        self._text: list[str] | None = None  # the block being read (heading, cell, paragraph)
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _MARKDOWN_TAGS:
            self.out.html.append(self.get_starttag_text() or tag)
        elif tag == "table":
            self.out.tables.append([])
        elif tag == "tr":
            self._row = []
            self.out.tables[-1].append(self._row)
        elif tag in ("th", "td", "p") or tag[0] == "h":
            self._text = []
        elif tag == "a":
            self.out.links.append(str(dict(attrs).get("href")))

    def handle_endtag(self, tag: str) -> None:
        if tag not in _MARKDOWN_TAGS:
            self.out.html.append(f"</{tag}>")
            return
        if self._text is None or not (tag in ("th", "td", "p") or tag[0] == "h"):
            return
        text, self._text = "".join(self._text), None
        if tag in ("th", "td"):
            assert self._row is not None
            self._row.append(text)
        elif tag == "p":
            self.out.paragraphs.append(text)
        else:
            self.out.headings.append(f"{tag} {text}")

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_comment(self, data: str) -> None:
        self.out.html.append(f"<!--{data}-->")


def render_gfm(text: str) -> Rendered:
    """Render as GitHub does (cmark-gfm, GitHub's extensions, raw HTML passed through so
    that any of it shows up in ``html``), and read the HTML back."""
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    reader = _GitHubHtml()
    reader.feed(html)
    reader.close()
    return reader.out


#: Both renderers, by name: a summary must read the same in each.
RENDERERS: dict[str, Callable[[str], Rendered]] = {
    "markdown-it-py": render,
    "cmark-gfm": render_gfm,
}

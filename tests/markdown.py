"""Read a job summary the way GitHub renders it: with a real Markdown parser, not regexes."""

from __future__ import annotations

from dataclasses import dataclass, field

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

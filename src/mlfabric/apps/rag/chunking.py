"""Heading-aware chunking, pure: a document's sections become overlapping windows of
words that never cross a heading, each carrying its heading path."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlfabric.errors import InvalidInput

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Section:
    """Text under one heading path (``("Guide", "Install")``; empty before any)."""

    heading: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Chunk:
    """One window of a section: its number in the document, heading path and text."""

    index: int
    heading: str
    text: str


def markdown_sections(text: str) -> list[Section]:
    """Sections of a Markdown text split at ATX headings (``#`` .. ``######``)."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []

    def close() -> None:
        body = " ".join(" ".join(lines).split())  # wrapped lines are one text
        if body:
            sections.append(Section(tuple(t for _, t in path), body))
        lines.clear()

    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else _MD_HEADING.match(line)
        if m is None:
            lines.append(line)
            continue
        close()
        level = len(m.group(1))
        path = [(lv, t) for lv, t in path if lv < level] + [(level, m.group(2))]
    close()
    return sections


def plain_sections(text: str) -> list[Section]:
    """Sections of plain text (or a PDF's): a short line without closing punctuation
    that starts a paragraph is a heading, the first one the title (level 1)."""
    out: list[str] = []
    starts, seen = True, False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            starts = True
            out.append("")
        elif (starts and len(line) <= 60 and len(line.split()) <= 8 and line[0].isupper()
              and line[-1] not in ".!?,;:"):
            out.append(("## " if seen else "# ") + line)
            seen = True
        else:
            out.append(line)
            starts = line[-1] in ".!?:"
    return markdown_sections("\n".join(out))


def chunk_sections(sections: list[Section], *, size: int = 120, overlap: int = 30
                   ) -> list[Chunk]:
    """Windows of at most ``size`` words, the next starting ``overlap`` words before the
    last one ended, within each section."""
    if size < 1 or not 0 <= overlap < size:
        raise InvalidInput(f"chunk size {size} and overlap {overlap}: need size >= 1 and "
                           "0 <= overlap < size", field="overlap", value=overlap)
    chunks: list[Chunk] = []
    for s in sections:
        words = s.text.split()
        start = 0
        while start < len(words):
            window = words[start:start + size]
            chunks.append(Chunk(len(chunks), " > ".join(s.heading), " ".join(window)))
            if start + size >= len(words):
                break
            start += size - overlap
    return chunks

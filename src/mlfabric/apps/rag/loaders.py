"""Documents read into sections by their format: text, Markdown, HTML, PDF (pypdf) and
DOCX (python-docx). What cannot be read raises ``BadDocument`` with the reason, so an
ingestion reports the file and goes on."""

from __future__ import annotations

import os
from pathlib import Path

from mlfabric.apps.rag.chunking import Section, markdown_sections, plain_sections
from mlfabric.errors import MlfabricError
from mlfabric.extras import require

MAX_BYTES = 20 * 1024 * 1024  # larger files are reported, not read
TEXT = (".txt", ".text", ".rst", ".csv", ".json", ".log")
MARKDOWN = (".md", ".markdown")
HTML = (".html", ".htm")


class BadDocument(MlfabricError):
    """A file that cannot be ingested, and why (binary, encrypted, empty, too large...)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _text(data: bytes, path: str) -> str:
    if b"\0" in data[:8192]:
        raise BadDocument(path, "binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadDocument(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _html(data: bytes, path: str) -> list[Section]:
    bs4 = require("bs4", "rag")
    soup = bs4.BeautifulSoup(_text(data, path), "html.parser")
    for tag in soup(["head", "script", "style", "noscript", "template"]):
        tag.decompose()
    for level in range(1, 7):  # headings become Markdown ones, split the same way
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n{'#' * level} {h.get_text(' ', strip=True)}\n")
    for block in soup.find_all(["p", "li", "div", "br", "tr", "pre", "blockquote"]):
        block.insert_after("\n")
    return markdown_sections(soup.get_text())


def _pdf(data: bytes, path: str) -> list[Section]:
    pypdf = require("pypdf", "rag")
    import io

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadDocument(path, "encrypted PDF (a password is needed)")
        pages = [(page.extract_text() or "") for page in reader.pages]
    except BadDocument:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise BadDocument(path, f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    return plain_sections("\n".join(pages))


def _docx(data: bytes, path: str) -> list[Section]:
    docx = require("docx", "rag")
    import io

    try:
        doc = docx.Document(io.BytesIO(data))
    except Exception as exc:  # a zip that is no DOCX, or a damaged one
        raise BadDocument(path, f"unreadable DOCX ({type(exc).__name__}: {exc})") from exc
    lines = []
    for p in doc.paragraphs:
        style = (p.style.name if p.style is not None else "") or ""
        if style.startswith("Heading ") and style[8:].isdigit():
            lines.append(f"{'#' * min(int(style[8:]), 6)} {p.text}")
        elif style == "Title":
            lines.append(f"# {p.text}")
        else:
            lines.append(p.text)
    return markdown_sections("\n".join(lines))


def read_document(path: str | os.PathLike[str], *, name: str | None = None,
                  max_bytes: int = MAX_BYTES) -> list[Section]:
    """The sections of the document at ``path`` (``name``: how reports call it)."""
    shown = name or str(path)
    size = os.path.getsize(path)
    if size > max_bytes:
        raise BadDocument(shown, f"too large ({size} bytes; the limit is {max_bytes})")
    data = Path(path).read_bytes()
    ext = Path(str(path)).suffix.lower()
    if ext == ".pdf":
        sections = _pdf(data, shown)
    elif ext == ".docx":
        sections = _docx(data, shown)
    elif ext in HTML:
        sections = _html(data, shown)
    elif ext in MARKDOWN:
        sections = markdown_sections(_text(data, shown))
    else:
        sections = plain_sections(_text(data, shown))
    if not sections:
        raise BadDocument(shown, "empty document (no text)")
    return sections

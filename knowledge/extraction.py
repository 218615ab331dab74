"""What an uploaded file is (sniffed from its bytes and its name) and the text inside it.

Every input here is hostile: a renamed executable, a PDF with a password, a DOCX that inflates
to gigabytes, text in an unknown encoding. Detection raises ``UnsupportedFileType`` (415 at
upload); extraction raises ``ExtractionFailed`` with a sentence the user can act on, which the
processing job keeps as its error.
"""

import codecs
import io
import logging
import os
import re
import struct
import time
import unicodedata
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import IO

import charset_normalizer
from django.conf import settings

from knowledge.errors import ExtractionFailed, UnsupportedFileType
from retrieval.indexing import Page  # what extraction hands to indexing

logger = logging.getLogger(__name__)

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
HTML = "text/html"
CSV = "text/csv"
JSON = "application/json"

TEXT_TYPES = frozenset({TEXT, MARKDOWN, HTML, CSV, JSON})
EXTENSIONS = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".txt": TEXT,
    ".text": TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".csv": CSV,
    ".json": JSON,
}
# Leading bytes of formats that are never text (executables, archives, images, old Office).
BINARY_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\xd0\xcf\x11\xe0",
    b"\x00asm",
)
TEXT_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
SNIFF_BYTES = 8192
ZIP_ENTRIES_MAX = 10_000  # no document is made of more parts
_ZIP_END = struct.Struct("<4s4H2LH")  # the end of central directory record
FILENAME_MAX = 255


# --- Names and types ------------------------------------------------------------------------


def filename_sanitize(raw: str) -> str:
    """The client's filename made safe to store and show: metadata only, never a path.

    Path parts (``../``, ``C:\\``) are dropped, NUL and other control or format characters are
    removed, whitespace is collapsed, and a long name is cut to 255 characters keeping its
    extension. A name with nothing left becomes ``file`` (plus its extension, if any).
    """
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in {"C", "Z"} or ch == " ")
    name = " ".join(name.split())
    if name.startswith(".") and name.count(".") == 1:  # ".txt": an extension without a name
        name = "file" + name
    name = name.strip(". ")
    suffix = PurePosixPath(name).suffix
    if not name:
        name = "file"
    if len(name) > FILENAME_MAX:
        keep = suffix if len(suffix) <= 16 else ""
        name = name[: FILENAME_MAX - len(keep)] + keep
    return name


def _zip_entries(source: str | IO[bytes]) -> int | None:
    """The entry count a zip's end record declares (None: no record found), read from the
    last bytes only: listing a zip of millions of empty entries costs seconds of CPU."""
    tail_size = _ZIP_END.size + 65_535  # the record, then a comment of up to 64 KiB
    try:
        if isinstance(source, str):
            with open(source, "rb") as fp:
                fp.seek(max(0, os.path.getsize(source) - tail_size))
                tail = fp.read()
        else:
            position = source.tell()
            source.seek(0, io.SEEK_END)
            source.seek(max(0, source.tell() - tail_size))
            tail = source.read()
            source.seek(position)
    except OSError:
        return None
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _ZIP_END.size:
        return None
    return _ZIP_END.unpack_from(tail, at)[4]  # entries in the central directory, in all


def _sniff(head: bytes, source: str | IO[bytes]) -> str:
    """``pdf``, ``docx``, ``zip``, ``binary`` or ``text``, from the bytes alone."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        entries = _zip_entries(source)
        if entries is None or entries >= ZIP_ENTRIES_MAX:  # 0xFFFF: a ZIP64 count, no docx
            return "zip"
        try:
            with zipfile.ZipFile(source) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return "binary"
        return "docx" if "word/document.xml" in names else "zip"
    if head.startswith(BINARY_MAGIC):
        return "binary"
    if head.startswith(TEXT_BOMS):
        return "text"
    if b"\x00" in head:
        return "binary"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        if charset_normalizer.from_bytes(head).best() is None:
            return "binary"
    return "text"


def content_type_detect(*, filename: str, head: bytes, source: str | IO[bytes]) -> str:
    """The file's content type, when its bytes and its extension agree on an accepted one.

    A file without an extension is taken for what its bytes are (text is ``text/plain``).
    Anything else — an unknown extension, an executable named ``.pdf`` or ``.txt``, a zip that
    is not a Word document — raises ``UnsupportedFileType`` (415).
    """
    suffix = PurePosixPath(filename).suffix.lower()
    sniffed = _sniff(head, source)
    if not suffix:
        by_content = {"pdf": PDF, "docx": DOCX, "text": TEXT}.get(sniffed)
        if by_content is None:
            raise UnsupportedFileType()
        return by_content
    declared = EXTENSIONS.get(suffix)
    if declared is None:
        raise UnsupportedFileType(
            f"Unsupported file type {suffix!r}: PDF, DOCX, TXT, Markdown, HTML, CSV and JSON "
            "are accepted."
        )
    expected = "pdf" if declared == PDF else "docx" if declared == DOCX else "text"
    if sniffed != expected:
        raise UnsupportedFileType(
            f"The file's content does not match its {suffix!r} extension "
            f"(it looks like {'a ' + sniffed if sniffed != 'text' else 'text'})."
        )
    return declared


# --- Extraction -----------------------------------------------------------------------------


class _Budget:
    """The guards of one extraction: a deadline and a cap on the characters produced."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + settings.FILE_EXTRACT_TIMEOUT
        self.chars = 0

    def check(self, added: int = 0) -> None:
        self.chars += added
        if self.chars > settings.FILE_MAX_TEXT_CHARS:
            raise ExtractionFailed(
                f"The file holds more than {settings.FILE_MAX_TEXT_CHARS:,} characters of text."
            )
        if time.monotonic() > self.deadline:
            raise ExtractionFailed(
                f"Extracting the text took longer than {settings.FILE_EXTRACT_TIMEOUT} s."
            )


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; a stray one in a PDF must not fail the whole file.
    return text.replace("\x00", "")


def text_decode(data: bytes) -> str:
    """Bytes of a text file as a string: UTF-8 (with or without BOM), else the encoding
    charset-normalizer detects (UTF-16, Latin-1, cp1252, Shift-JIS, ...)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise ExtractionFailed("The text's encoding could not be detected (is it binary?).")
    # Western single-byte code pages often score alike; cp1252 is by far the most common, so
    # it wins unless another one is clearly better.
    for match in matches:
        if (
            match.encoding == "cp1252"
            and match.chaos <= best.chaos + 0.15
            and match.coherence >= best.coherence - 0.05
        ):
            return str(match)
    return str(best)


def _pdf(data: bytes, budget: _Budget) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs carry only an owner password (printing, copying): they open with "".
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError, FileNotDecryptedError):
                opened = 0
            if not opened:
                raise ExtractionFailed(
                    "The PDF is protected by a password; upload a copy without one."
                )
        count = len(reader.pages)
        if count > settings.FILE_MAX_PAGES:
            raise ExtractionFailed(
                f"The PDF has {count:,} pages; at most {settings.FILE_MAX_PAGES:,} are accepted."
            )
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            text = _clean(page.extract_text() or "")
            budget.check(len(text))
            pages.append(Page(text=text, page=number))
    except ExtractionFailed:
        raise
    except FileNotDecryptedError:
        raise ExtractionFailed(
            "The PDF is protected by a password; upload a copy without one."
        ) from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        logger.info("unreadable PDF: %r", exc)
        raise ExtractionFailed("The PDF could not be read (it is damaged or not a PDF).") from None
    except RecursionError:
        raise ExtractionFailed(
            "The PDF could not be read (its structure nests too deep)."
        ) from None
    return pages


def _docx_guard(data: bytes) -> None:
    """Refuse a DOCX whose zip declares more inflated bytes than allowed, before inflating any.

    zipfile never inflates a member past its declared size (a lie fails its CRC check), so the
    declared sizes bound what python-docx can make us hold in memory.
    """
    limit = settings.FILE_DOCX_MAX_UNCOMPRESSED_BYTES
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ExtractionFailed("The DOCX file could not be read (it is damaged).") from None
    if len(members) > ZIP_ENTRIES_MAX:
        raise ExtractionFailed("The DOCX file holds too many parts to be a document.")
    total = sum(member.file_size for member in members)
    if total > limit:
        raise ExtractionFailed(
            f"The DOCX file would inflate to {total:,} bytes; the limit is {limit:,} (a zip bomb?)."
        )
    for member in members:
        if member.file_size > 10 * 1024 * 1024 and member.file_size > 200 * max(
            member.compress_size, 1
        ):
            raise ExtractionFailed(
                "The DOCX file is compressed more than 200:1, like a zip bomb; refused."
            )


def _docx(data: bytes, budget: _Budget) -> list[Page]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    _docx_guard(data)
    try:
        document = docx.Document(io.BytesIO(data))
        parts: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                text = block.text
            elif isinstance(block, Table):
                rows = []
                for row in block.rows:
                    cells: list[str] = []
                    for cell in row.cells:
                        value = cell.text.strip()
                        if not cells or cells[-1] != value:  # merged cells repeat their text
                            cells.append(value)
                    rows.append(" | ".join(cells))
                text = "\n".join(rows)
            else:
                continue
            text = _clean(text)
            budget.check(len(text) + 1)
            parts.append(text)
    except ExtractionFailed:
        raise
    except Exception as exc:  # python-docx and lxml raise a wide variety on damaged files
        logger.info("unreadable DOCX: %r", exc)
        raise ExtractionFailed(
            "The DOCX file could not be read (it is damaged or not a Word document)."
        ) from None
    return [Page(text="\n".join(parts))]


class _HTMLText(HTMLParser):
    """Visible text of an HTML document, with its structure: no script, style or template;
    navigation (``nav``, ``aside``, ``role="navigation"`` and the like) left out, and only the
    main content when the page marks it (``main``, ``article``, ``role="main"``); blocks on new
    lines, paragraphs apart, ``pre`` blocks verbatim; each ``h1``-``h6`` starts a section."""

    SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe"})
    CHROME = frozenset({"nav", "aside", "footer"})
    CHROME_ROLES = frozenset({"navigation", "search", "banner", "contentinfo", "complementary"})
    HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
    BLOCK = frozenset(
        {
            "address",
            "article",
            "aside",
            "blockquote",
            "br",
            "dd",
            "div",
            "dl",
            "dt",
            "figcaption",
            "figure",
            "footer",
            "form",
            "header",
            "hr",
            "li",
            "main",
            "nav",
            "ol",
            "p",
            "section",
            "table",
            "td",
            "th",
            "tr",
            "ul",
        }
    )
    PARAGRAPH = frozenset({"p", "pre", "table", "ul", "ol", "dl", "blockquote", "section"})

    def __init__(self, budget: _Budget, *, main_only: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.budget = budget
        self.main_only = main_only
        self.lines: list[str] = []  # finished lines; "" is a paragraph break
        self.line: list[str] = []
        self.skipping: list[tuple[str, int]] = []  # (tag, nesting) of a left-out element
        self.main: list[tuple[str, int]] = []  # (tag, nesting) of the main element, once open
        self.pre = 0
        self.title: list[str] = []
        self.in_title = False
        self.heading: list[str] | None = None
        self.heading_level = 0
        self.sections: list[tuple[int, int, str]] = []  # (line number, level, heading)

    # -- the element stack, kept by tag name and nesting (HTML in the wild is not balanced)

    def _track(self, stack: list[tuple[str, int]], tag: str, delta: int) -> None:
        if stack and stack[-1][0] == tag:
            name, depth = stack[-1]
            stack[-1] = (name, depth + delta)
            if stack[-1][1] <= 0:
                stack.pop()

    def _visible(self) -> bool:
        return not self.skipping and (self.main or not self.main_only)

    def _break(self, paragraph: bool = False) -> None:
        text = " ".join("".join(self.line).split()) if not self.pre else "".join(self.line)
        self.line = []
        if text.strip():
            self.lines.append(text)
        if paragraph and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        attributes = dict(attrs)
        if self.skipping:
            self._track(self.skipping, tag, 1)
            return
        if tag in self.SKIP or tag in self.CHROME or attributes.get("role") in self.CHROME_ROLES:
            self.skipping.append((tag, 1))
            return
        if self.main:
            self._track(self.main, tag, 1)
        elif tag in ("main", "article") or attributes.get("role") == "main":
            self.main.append((tag, 1))
        if not self._visible():
            return
        if tag in self.HEADINGS:
            self._break(paragraph=True)
            self.heading, self.heading_level = [], self.HEADINGS[tag]
        elif tag == "pre":
            self._break(paragraph=True)
            self.pre += 1
        elif tag in self.BLOCK:
            self._break(paragraph=tag in self.PARAGRAPH)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if self.skipping:
            self._track(self.skipping, tag, -1)
            return
        visible = self._visible()
        if self.main:
            self._track(self.main, tag, -1)
        if not visible:
            return
        if tag in self.HEADINGS and self.heading is not None:
            text = " ".join("".join(self.heading).replace("\u00b6", "").split())
            self._break(paragraph=True)
            if text:
                self.sections.append((len(self.lines), self.heading_level, text))
                self.lines.append(text)
                self.lines.append("")
            self.heading = None
        elif tag == "pre":
            self._break(paragraph=True)
            self.pre = max(0, self.pre - 1)
        elif tag in self.BLOCK:
            self._break(paragraph=tag in self.PARAGRAPH)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr") and self._visible() and not self.skipping:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
            return
        if not self._visible() or data == "\u00b6":  # a heading's permalink sign
            return
        self.budget.check(len(data))
        if self.heading is not None:
            self.heading.append(data)
        elif self.pre:
            parts = data.split("\n")
            for part in parts[:-1]:
                self.line.append(part)
                self._break()
            self.line.append(parts[-1])
        else:
            self.line.append(data)

    def page(self) -> Page:
        self._break()
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        title = " ".join("".join(self.title).split())
        offsets, text_parts, position = [], [], 0
        for line in self.lines:
            offsets.append(position)
            text_parts.append(line)
            position += len(line) + 1
        text = "\n".join(text_parts)
        return Page(text=text, title=title, sections=_section_paths(title, self.sections, offsets))


def _section_paths(
    title: str, headings: list[tuple[int, int, str]], offsets: list[int]
) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """(character offset, heading path) of each section: the headings above it, outermost
    first; the page's first top-level heading is left out when the title already says it."""
    out: list[tuple[int, tuple[str, ...]]] = []
    stack: list[tuple[int, str]] = []
    for line, level, text in headings:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
        path = [t for _, t in stack]
        if title and path and path[0].lower() in title.lower():
            path = path[1:]
        out.append((offsets[line] if line < len(offsets) else 0, tuple(path)))
    return tuple(out)


_MAIN = re.compile(r"<main\b|<article\b|role=[\"']?main\b", re.IGNORECASE)


def _html(data: bytes, budget: _Budget) -> list[Page]:
    html = text_decode(data)
    parser = _HTMLText(budget, main_only=bool(_MAIN.search(html)))
    parser.feed(html)
    parser.close()
    page = parser.page()
    if not page.text.strip() and parser.main_only:  # a main element that holds nothing
        parser = _HTMLText(budget, main_only=False)
        parser.feed(html)
        parser.close()
        page = parser.page()
    return [Page(text=_clean(page.text), title=page.title, sections=page.sections)]


_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_MD_FENCE = re.compile(r"^[ \t]*(```|~~~)")


def _markdown(data: bytes, budget: _Budget) -> list[Page]:
    """Markdown's text as it is, its ``#`` headings (outside code fences) starting sections."""
    text = _clean(text_decode(data))
    budget.check(len(text))
    headings: list[tuple[int, int, str]] = []
    offsets: list[int] = []
    position, fenced = 0, False
    for number, line in enumerate(text.split("\n")):
        offsets.append(position)
        position += len(line) + 1
        if _MD_FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := _MD_HEADING.match(line)):
            headings.append((number, len(match.group(1)), match.group(2).strip()))
    title = headings[0][2] if headings and headings[0][1] == 1 else ""
    return [Page(text=text, title=title, sections=_section_paths(title, headings, offsets))]


def _text(data: bytes, budget: _Budget) -> list[Page]:
    text = _clean(text_decode(data))
    budget.check(len(text))
    return [Page(text=text)]


EXTRACTORS: dict[str, Callable[[bytes, _Budget], list[Page]]] = {
    PDF: _pdf,
    DOCX: _docx,
    HTML: _html,
    TEXT: _text,
    MARKDOWN: _markdown,
    CSV: _text,
    JSON: _text,
}


def text_extract(*, data: bytes, content_type: str) -> list[Page]:
    """The text of a file, per page for PDFs. Raises ``ExtractionFailed`` with the reason.

    Guards (settings): FILE_MAX_PAGES, FILE_MAX_TEXT_CHARS, FILE_EXTRACT_TIMEOUT (checked
    between pages and blocks) and, for DOCX, FILE_DOCX_MAX_UNCOMPRESSED_BYTES.
    """
    extractor = EXTRACTORS.get(content_type)
    if extractor is None:
        raise ExtractionFailed(f"Files of type {content_type} cannot be processed.")
    budget = _Budget()
    pages = extractor(data, budget)
    budget.check()
    if not any(page.text.strip() for page in pages):
        raise ExtractionFailed(
            "The file contains no text (a scanned PDF needs OCR, which is not available)."
        )
    return pages

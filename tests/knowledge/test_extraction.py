"""Text extraction and type detection on hostile and ordinary documents."""

import io
import time
import zipfile
from pathlib import Path

import pytest

from knowledge.errors import ExtractionFailed, UnsupportedFileType
from knowledge.extraction import (
    DOCX,
    HTML,
    PDF,
    TEXT,
    ZIP_ENTRIES_MAX,
    content_type_detect,
    filename_sanitize,
    text_extract,
)
from tests.knowledge.helpers import docx_bomb, docx_bytes, pdf_bytes


def test_pdf_text_keeps_page_numbers() -> None:
    pages = text_extract(data=pdf_bytes(["First page", "Second (page)"]), content_type=PDF)

    assert [(p.page, p.text) for p in pages] == [(1, "First page"), (2, "Second (page)")]


def test_encrypted_pdf_fails_with_a_clear_reason() -> None:
    with pytest.raises(ExtractionFailed, match="protected by a password"):
        text_extract(data=pdf_bytes(["secret"], password="hunter2"), content_type=PDF)


def test_corrupt_pdf_fails_with_a_clear_reason() -> None:
    good = pdf_bytes(["some text"] * 3)
    for damaged in (b"%PDF-1.7\n garbage", good[: len(good) // 2], good[:20] + b"\0" * 400):
        with pytest.raises(ExtractionFailed, match=r"PDF could not be read|contains no text"):
            text_extract(data=damaged, content_type=PDF)


def test_too_many_pages_fail(settings) -> None:
    settings.FILE_MAX_PAGES = 2

    with pytest.raises(ExtractionFailed, match="3 pages; at most 2"):
        text_extract(data=pdf_bytes(["a", "b", "c"]), content_type=PDF)


def test_too_much_text_fails(settings) -> None:
    settings.FILE_MAX_TEXT_CHARS = 1000

    with pytest.raises(ExtractionFailed, match="more than 1,000 characters"):
        text_extract(data=b"x" * 1001, content_type=TEXT)


def test_extraction_past_its_time_limit_fails(settings) -> None:
    settings.FILE_EXTRACT_TIMEOUT = 0  # every check is past the deadline

    with pytest.raises(ExtractionFailed, match="longer than 0 s"):
        text_extract(data=pdf_bytes(["a", "b"]), content_type=PDF)


def test_docx_paragraphs_and_tables() -> None:
    data = docx_bytes(["Intro paragraph.", "Second one."], table=[["Name", "Qty"], ["Tea", "2"]])

    (page,) = text_extract(data=data, content_type=DOCX)

    assert page.page is None
    assert page.text == "Intro paragraph.\nSecond one.\nName | Qty\nTea | 2"


def test_docx_zip_bomb_is_refused_before_inflating() -> None:
    with pytest.raises(ExtractionFailed, match="zip bomb"):
        text_extract(data=docx_bomb(), content_type=DOCX)


def test_docx_declaring_more_than_the_limit_is_refused(settings) -> None:
    settings.FILE_DOCX_MAX_UNCOMPRESSED_BYTES = 4096

    with pytest.raises(ExtractionFailed, match="would inflate to"):
        text_extract(data=docx_bytes(["hello"] * 200), content_type=DOCX)


def test_damaged_docx_fails() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<not-xml")
    with pytest.raises(ExtractionFailed, match="DOCX file could not be read"):
        text_extract(data=out.getvalue(), content_type=DOCX)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café déjà vu, naïve façade. Ça coûte cher à Noël.", "cp1252"),
        ("Привет, как дела? Это тест кодировки.", "cp1251"),
        ("Hello in UTF-16 with its byte order mark.", "utf-16"),
        ("Grüße aus Köln, schöne Straße. " * 3, "latin-1"),
        ("Plain UTF-8 with a BOM: ünïcödé", "utf-8-sig"),
    ],
)
def test_text_in_other_encodings_is_decoded(text: str, encoding: str) -> None:
    (page,) = text_extract(data=text.encode(encoding), content_type=TEXT)

    assert page.text == text


def test_html_keeps_visible_text_only() -> None:
    html = (
        b"<html><head><title>T</title><style>p{color:red}</style></head><body>"
        b"<script>alert('x')</script><h1>Title</h1><p>Hello <b>there</b> &amp; you</p>"
        b"<noscript>enable js</noscript><ul><li>one</li><li>two</li></ul></body></html>"
    )

    (page,) = text_extract(data=html, content_type=HTML)

    assert page.text == "Title\n\nHello there & you\n\none\ntwo"  # paragraphs apart
    assert page.title == "T"


def test_html_keeps_its_sections_code_and_main_content_and_drops_navigation() -> None:
    html = (
        b"<html><head><title>Guide \xe2\x80\x94 Manual</title></head><body>"
        b"<nav><a href='/'>Home</a> Menu</nav>"
        b"<div role='navigation'>Previous topic</div>"
        b"<div role='main'><h1>Guide</h1><p>Intro text.</p>"
        b"<h2>Install<a class='headerlink' href='#i'>\xc2\xb6</a></h2><p>Run the installer.</p>"
        b"<h3>On Linux</h3><pre>def f():\n    return 1\n</pre>"
        b"<h2>Use</h2><p>Call it.</p></div>"
        b"<div class='footer'>Copyright</div></body></html>"
    )

    (page,) = text_extract(data=html, content_type=HTML)

    assert page.title == "Guide \u2014 Manual"
    for chrome in ("Home", "Menu", "Previous topic", "Copyright", "\u00b6"):
        assert chrome not in page.text
    assert "def f():\n    return 1" in page.text  # code verbatim, indentation kept
    paths = {path: page.text[start:].split("\n")[0] for start, path in page.sections}
    assert paths == {
        (): "Guide",  # the page's h1, already in the title
        ("Install",): "Install",
        ("Install", "On Linux"): "On Linux",
        ("Use",): "Use",
    }


def test_markdown_headings_start_sections_but_not_inside_code_fences() -> None:
    text = b"# Manual\n\nIntro.\n\n## Setup\n\n```sh\n# not a heading\n```\n\n### Linux\n\napt.\n"

    (page,) = text_extract(data=text, content_type="text/markdown")

    assert page.text == text.decode()  # Markdown's text stays as it is
    assert page.title == "Manual"
    assert [path for _, path in page.sections] == [(), ("Setup",), ("Setup", "Linux")]


def test_no_text_at_all_fails() -> None:
    with pytest.raises(ExtractionFailed, match="no text"):
        text_extract(data=pdf_bytes([""]), content_type=PDF)


def test_nul_characters_are_dropped() -> None:
    (page,) = text_extract(data=b"\xff\xfeA\x00\x00\x00B\x00", content_type=TEXT)

    assert page.text == "AB"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32.txt", "system32.txt"),
        ("report\x00.pdf.txt", "report.pdf.txt"),
        ("bad\x01\x1b[31mname\u202e.txt", "bad[31mname.txt"),
        ("  spaced   out  .md", "spaced out .md"),
        ("..", "file"),
        (".txt", "file.txt"),
        ("a" * 1000 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_filenames_are_sanitized(raw: str, clean: str) -> None:
    assert filename_sanitize(raw) == clean


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.pdf", pdf_bytes(["x"]), PDF),
        ("a.docx", docx_bytes(["x"]), DOCX),
        ("a.md", b"# Title\n", "text/markdown"),
        ("a.csv", b"a,b\n1,2\n", "text/csv"),
        ("a.json", b'{"a": 1}', "application/json"),
        ("a.HTML", b"<p>hi</p>", HTML),
        ("README", b"just text", TEXT),
        ("scan", pdf_bytes(["x"]), PDF),
    ],
)
def test_types_from_content_and_extension(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    path = tmp_path / "upload"
    path.write_bytes(data)

    assert content_type_detect(filename=name, head=data[:8192], source=str(path)) == expected


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("setup.pdf", b"MZ\x90\x00\x03" + b"\0" * 100),  # a Windows executable, renamed
        ("notes.txt", b"\x7fELF\x02\x01\x01" + b"\0" * 100),
        ("notes.txt", pdf_bytes(["x"])),  # a PDF calling itself text
        ("report.docx", b"PK\x03\x04 not a zip"),
        ("tool.exe", b"harmless text"),
        ("archive", b"\x1f\x8b\x08\x00" + b"\0" * 20),
        ("data.csv", b"a,b\x00\x00\x01\x02"),
    ],
)
def test_mismatched_or_binary_types_are_415(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / "upload"
    path.write_bytes(data)

    with pytest.raises(UnsupportedFileType):
        content_type_detect(filename=name, head=data[:8192], source=str(path))


def test_a_zip_of_too_many_entries_is_refused_without_listing_them(tmp_path: Path) -> None:
    """The entry count comes from the zip's end record: listing 300k entries took seconds of
    CPU inside the upload request."""
    path = tmp_path / "upload"
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(ZIP_ENTRIES_MAX):
            archive.writestr(f"{n}", b"")
        archive.writestr("word/document.xml", b"<w:document/>")
    data = path.read_bytes()

    started = time.process_time()
    with pytest.raises(UnsupportedFileType):
        content_type_detect(filename="report.docx", head=data[:8192], source=str(path))
    assert time.process_time() - started < 0.05

"""Documents made in the tests (PDF, DOCX, zip bombs) and the upload / wait helpers."""

import io
import time
import zipfile
from typing import Any

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
from rest_framework.test import APIClient

BOUNDARY = "----knowledge-test-boundary"
TERMINAL = {"indexed", "failed", "cancelled"}


def pdf_bytes(pages: list[str], *, password: str | None = None) -> bytes:
    """A real PDF with one line of Helvetica text per page (optionally password-protected)."""
    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for text in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    if password is not None:
        writer.encrypt(
            user_password=password, owner_password="owner-" + password, algorithm="RC4-128"
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_bomb(inflated: int = 40 * 1024 * 1024) -> bytes:
    """A valid DOCX plus one part of ``inflated`` zero bytes, compressed ~1000:1."""
    source = zipfile.ZipFile(io.BytesIO(docx_bytes(["Looks harmless."])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            archive.writestr(item, source.read(item.filename))
        with archive.open("word/media/padding.bin", "w", force_zip64=True) as part:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(inflated // len(chunk)):
                part.write(chunk)
    return out.getvalue()


def multipart(filename: bytes, data: bytes, *, field: str = "file") -> tuple[bytes, str]:
    """A multipart body sent as is (the test client would clean the filename itself)."""
    body = (
        f"--{BOUNDARY}\r\n".encode()
        + f'Content-Disposition: form-data; name="{field}"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def upload(
    client: APIClient, name: str | bytes, data: bytes, query: str = "", **headers: Any
) -> Any:
    body, content_type = multipart(name.encode() if isinstance(name, str) else name, data)
    return client.generic("POST", f"/api/files/{query}", body, content_type=content_type, **headers)


def wait_for_job(client: APIClient, file_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll ``GET /api/files/{id}`` until its job reaches a terminal state; returns the job."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/files/{file_id}")
        assert response.status_code == 200, response.content
        job = response.json()["job"]
        if job is not None and job["state"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not finish: {job}")
        time.sleep(0.05)

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib

import pytest

from engine.attachments import (
    DetectedFile,
    check_upload,
    content_disposition,
    format_size,
    safe_filename,
)
from engine.errors import ValidationFailed

MB = 1024 * 1024
MAX_FILE = 10 * MB
MAX_TOTAL = 25 * MB


# --- Real small files --------------------------------------------------------------------------


def make_pdf() -> bytes:
    body = (
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >> endobj\n"
    )
    xref_at = len(body)
    return body + (
        b"xref\n0 4\n0000000000 65535 f \n"
        b"trailer << /Size 4 /Root 1 0 R >>\nstartxref\n" + str(xref_at).encode() + b"\n%%EOF\n"
    )


def make_png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make_jpeg() -> bytes:
    # SOI + JFIF APP0 + EOI: enough for signature detection.
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def make_gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def _zip(members: list[tuple[str, str | bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            # ODF requires "mimetype" first and uncompressed.
            method = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            zf.writestr(name, data, compress_type=method)
    return buf.getvalue()


CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="{target}"/></Relationships>'
)


def _content_types(part: str, content_type: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Types xmlns="{CT_NS}">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{part}" ContentType="{content_type}"/>'
        "</Types>"
    )


def make_docx(
    main_type: str | None = None, extra: list[tuple[str, str | bytes]] | None = None
) -> bytes:
    main_type = main_type or (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    )
    return _zip(
        [
            ("[Content_Types].xml", _content_types("word/document.xml", main_type)),
            ("_rels/.rels", RELS.format(target="word/document.xml")),
            (
                "word/document.xml",
                '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                "<w:body><w:p><w:r><w:t>Olá</w:t></w:r></w:p></w:body></w:document>",
            ),
        ]
        + (extra or [])
    )


def make_xlsx() -> bytes:
    return _zip(
        [
            (
                "[Content_Types].xml",
                _content_types(
                    "xl/workbook.xml",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                ),
            ),
            ("_rels/.rels", RELS.format(target="xl/workbook.xml")),
            (
                "xl/workbook.xml",
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                "<sheets/></workbook>",
            ),
        ]
    )


def make_odf(mimetype: str) -> bytes:
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
        "</manifest:manifest>"
    )
    return _zip(
        [
            ("mimetype", mimetype),
            ("META-INF/manifest.xml", manifest),
            ("content.xml", "<office:document-content/>"),
        ]
    )


ODT_MIME = "application/vnd.oasis.opendocument.text"
ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"


def check(filename: str, content: bytes, existing_total: int = 0) -> DetectedFile:
    return check_upload(filename, content, existing_total, MAX_FILE, MAX_TOTAL)


def refused(filename: str, content: bytes, existing_total: int = 0) -> str:
    with pytest.raises(ValidationFailed) as exc_info:
        check(filename, content, existing_total)
    assert set(exc_info.value.errors) == {"arquivo"}
    return exc_info.value.errors["arquivo"]


# --- Accepted ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename, content, content_type",
    [
        ("relatório.pdf", make_pdf(), "application/pdf"),
        ("tela.png", make_png(), "image/png"),
        ("foto.jpg", make_jpeg(), "image/jpeg"),
        ("foto.JPEG", make_jpeg(), "image/jpeg"),
        ("anim.gif", make_gif(), "image/gif"),
        (
            "doc.docx",
            make_docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "planilha.xlsx",
            make_xlsx(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("texto.odt", make_odf(ODT_MIME), ODT_MIME),
        ("planilha.ods", make_odf(ODS_MIME), ODS_MIME),
        (
            "notas.txt",
            "Protocolo com erro às 10h\nSegunda linha\n".encode(),
            "text/plain; charset=utf-8",
        ),
        ("dados.csv", "nome;valor\nJoão;1\n".encode("cp1252"), "text/csv; charset=windows-1252"),
        ("servidor.log", b"\x1b[31mERROR\x1b[0m falha\r\n\ttrace", "text/plain; charset=utf-8"),
        ("bom.txt", b"\xef\xbb\xbfcom BOM", "text/plain; charset=utf-8"),
    ],
)
def test_accepted(filename: str, content: bytes, content_type: str) -> None:
    detected = check(filename, content)
    assert detected.content_type == content_type
    assert detected.size == len(content)
    assert detected.sha256 == hashlib.sha256(content).hexdigest()
    assert detected.safe_filename == filename


# --- Refused by content ------------------------------------------------------------------------


def test_html_refused() -> None:
    html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
    assert refused("pagina.html", html) == (
        "O arquivo pagina.html parece ser uma página HTML, SVG ou XML, "
        "que não é aceita por segurança."
    )
    # Renaming does not help.
    assert "HTML" in refused("pagina.txt", b"\n  <html><script>alert(1)</script>")
    assert "HTML" in refused("x.txt", b"<script>alert(1)</script>")


def test_svg_refused() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    assert "HTML, SVG ou XML" in refused("imagem.svg", svg)
    assert "HTML, SVG ou XML" in refused("imagem.png", b'<?xml version="1.0"?>' + svg)


def test_executable_refused() -> None:
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200
    message = refused("programa.exe", exe)
    assert message.startswith("O arquivo programa.exe não é de um tipo aceito.")
    assert "PDF, PNG, JPEG, GIF" in message
    assert refused("programa.pdf", exe).startswith("O arquivo programa.pdf não é de um tipo aceito")
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 100
    assert "não é de um tipo aceito" in refused("binario.txt", elf)


def test_zip_archive_refused() -> None:
    archive = _zip([("a.txt", "oi"), ("b.pdf", make_pdf())])
    assert refused("coisas.zip", archive) == (
        "O arquivo coisas.zip é um arquivo compactado (ZIP), que não é aceito; "
        "envie os arquivos separadamente."
    )
    assert "compactado" in refused("coisas.docx", archive)


def test_macro_enabled_office_refused() -> None:
    docm = make_docx("application/vnd.ms-word.document.macroEnabled.main+xml")
    assert "compactado" in refused("macro.docx", docm)
    with_vba = make_docx(extra=[("word/vbaProject.bin", b"\x00" * 10)])
    assert "macros" in refused("macro.docx", with_vba)


def test_old_office_refused() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    assert "formato antigo do Office" in refused("antigo.doc", ole)


def test_broken_zip_refused() -> None:
    truncated = make_docx()[:60]
    message = refused("quebrado.docx", truncated)
    assert "corrompido" in message or "compactado" in message


def test_binary_garbage_refused() -> None:
    assert "não é de um tipo aceito" in refused("dados.txt", b"abc\x00def")
    assert "não é de um tipo aceito" in refused("dados.txt", b"abc\x01\x02def")


def test_content_types_with_doctype_not_trusted() -> None:
    evil_ct = (
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">]>'
        + _content_types(
            "word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        ).split("?>", 1)[1]
    )
    archive = _zip([("[Content_Types].xml", evil_ct), ("word/document.xml", "<w/>")])
    assert "compactado" in refused("doc.docx", archive)


def test_oversized_zip_member_is_not_inflated() -> None:
    # 4 MB of spaces compress to a few KB: the reader must stop at its cap.
    bomb = _zip([("[Content_Types].xml", b" " * (4 * MB)), ("word/document.xml", "<w/>")])
    assert len(bomb) < 100_000
    assert "estrutura interna inválida" in refused("bomba.docx", bomb)


def test_docx_whose_main_part_is_missing_refused() -> None:
    ct = _content_types(
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    )
    assert "compactado" in refused("doc.docx", _zip([("[Content_Types].xml", ct)]))


# --- Extension must agree ----------------------------------------------------------------------


def test_renamed_file_refused() -> None:
    assert refused("foto.png", make_pdf()) == (
        "O arquivo foto.png é um PDF, mas tem a extensão .png. "
        "Renomeie-o com a extensão .pdf ou envie o arquivo correto."
    )
    assert "é uma imagem PNG, mas tem a extensão .jpg" in refused("foto.jpg", make_png())
    assert "é um documento DOCX, mas tem a extensão .xlsx" in refused("a.xlsx", make_docx())
    assert "é um documento ODT, mas tem a extensão .ods" in refused("a.ods", make_odf(ODT_MIME))
    assert "é um arquivo de texto, mas tem a extensão .pdf" in refused("a.pdf", b"texto simples")
    assert "é um PDF, mas tem a extensão .exe" in refused("a.exe", make_pdf())


def test_missing_extension_refused() -> None:
    assert refused("relatorio", make_pdf()) == (
        "O arquivo relatorio é um PDF, mas não tem extensão. Renomeie-o com a extensão .pdf."
    )


def test_client_content_type_is_irrelevant() -> None:
    # check_upload takes no client type at all; the extension alone proves nothing.
    assert "HTML" in refused("seguro.pdf", b"<html><script>x</script></html>")


# --- Sizes -------------------------------------------------------------------------------------


def test_empty_file_refused() -> None:
    assert refused("vazio.txt", b"") == "O arquivo vazio.txt está vazio."


def test_over_file_limit() -> None:
    size = int(12.3 * MB)
    content = b"%PDF-1.4\n" + b"a" * (size - 9)
    assert refused("grande.pdf", content) == (
        "O arquivo grande.pdf tem 12,3 MB; o limite é 10 MB por arquivo."
    )


def test_just_over_file_limit_never_shows_equal_sizes() -> None:
    content = b"a" * (MAX_FILE + 1)
    assert refused("limite.txt", content) == (
        "O arquivo limite.txt tem 10,1 MB; o limite é 10 MB por arquivo."
    )
    assert check("exato.txt", b"a" * MAX_FILE).size == MAX_FILE


def test_over_total_limit() -> None:
    content = b"%PDF-1.4\n" + b"a" * (3 * MB)
    assert refused("mais.pdf", content, existing_total=23 * MB) == (
        "O arquivo mais.pdf (3,1 MB) ultrapassa o limite de 25 MB de anexos por chamado; "
        "restam 2 MB."
    )
    assert check("cabe.pdf", make_pdf(), existing_total=24 * MB).size == len(make_pdf())


def test_limits_checked_before_content() -> None:
    # A huge executable gets the size message, without inspecting its bytes.
    assert "o limite é 10 MB por arquivo" in refused("x.exe", b"MZ" + b"\x00" * MAX_FILE)


def test_format_size() -> None:
    assert format_size(0) == "0 bytes"
    assert format_size(1) == "1 byte"
    assert format_size(1536) == "1,5 KB"
    assert format_size(10 * MB) == "10 MB"
    assert format_size(int(12.34 * MB)) == "12,3 MB"
    assert format_size(int(12.34 * MB), round_up=True) == "12,4 MB"


# --- Names and headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("relatório final.pdf", "relatório final.pdf"),
        ("C:\\Users\\maria\\Documents\\ação.pdf", "ação.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/tmp/x.txt", "x.txt"),
        ("a\r\nb.txt", "ab.txt"),
        ("fatura\u202efdp.exe", "faturafdp.exe"),  # right-to-left override stripped
        ('aspas"e<tags>.txt', "aspas_e_tags_.txt"),
        ("  muitos    espaços  .txt ", "muitos espaços.txt"),
        (".oculto", "oculto"),
        ("...", "arquivo"),
        ("", "arquivo"),
        (None, "arquivo"),
        ("CON.txt", "CON_.txt"),
        ("Ac\u0327a\u0303o.txt", "Ação.txt"),  # decomposed accents recomposed (NFC)
    ],
)
def test_safe_filename(raw: str | None, expected: str) -> None:
    assert safe_filename(raw) == expected


def test_safe_filename_limits_length_keeping_extension() -> None:
    name = safe_filename("á" * 500 + ".pdf")
    assert len(name) == 150
    assert name.endswith("á.pdf")


def test_detected_uses_safe_filename() -> None:
    detected = check("C:\\fakepath\\tela.png", make_png())
    assert detected.safe_filename == "tela.png"


def test_content_disposition() -> None:
    assert content_disposition("relatório final.pdf") == (
        "attachment; filename=\"relatorio final.pdf\"; filename*=UTF-8''relat%C3%B3rio%20final.pdf"
    )
    header = content_disposition('a"b\\c\r\nSet-Cookie: x=1;.txt')
    assert "\r" not in header and "\n" not in header
    ascii_part = header.split("filename=", 1)[1].split("; filename*=", 1)[0]
    assert ascii_part.count('"') == 2  # only the surrounding quotes
    assert "\\" not in ascii_part
    assert content_disposition("数据.csv").startswith('attachment; filename="__.csv"; ')
    assert content_disposition("100%.txt").startswith('attachment; filename="100_.txt"')

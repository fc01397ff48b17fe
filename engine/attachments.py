"""Upload checks for attachments: size limits, type by content, safe names.

The type comes from the bytes, never from the client's Content-Type; the
extension must then agree with it, so a file is always served with the type
it really has. Only formats that a browser will not run as a page are
accepted (no HTML, SVG or XML), and no archives or executables.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from urllib.parse import quote
from xml.etree import ElementTree

import filetype

from engine.errors import ValidationFailed

# The error key of a refused upload; the page shows it on the files field it came from.
FIELD = "arquivo"
MAX_FILENAME_CHARS = 150

ACCEPTED_TYPES_TEXT = "PDF, PNG, JPEG, GIF, texto (TXT, CSV, LOG), DOCX, XLSX, ODT ou ODS"

# Limits for reading members of an office zip: real [Content_Types].xml files
# are a few KB; the caps keep a zip bomb from being inflated into memory.
_MAX_ZIP_MEMBER_READ = 1024 * 1024
_MAX_ZIP_MEMBERS = 10_000


@dataclass(frozen=True)
class DetectedFile:
    safe_filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class _Kind:
    name: str  # shown to users: "um PDF"
    content_type: str
    extensions: tuple[str, ...]  # first one is suggested when renaming


_PDF = _Kind("um PDF", "application/pdf", (".pdf",))
_PNG = _Kind("uma imagem PNG", "image/png", (".png",))
_JPEG = _Kind("uma imagem JPEG", "image/jpeg", (".jpg", ".jpeg"))
_GIF = _Kind("uma imagem GIF", "image/gif", (".gif",))
_TEXT = _Kind("um arquivo de texto", "text/plain", (".txt", ".csv", ".log"))
_DOCX = _Kind(
    "um documento DOCX",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    (".docx",),
)
_XLSX = _Kind(
    "uma planilha XLSX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    (".xlsx",),
)
_ODT = _Kind("um documento ODT", "application/vnd.oasis.opendocument.text", (".odt",))
_ODS = _Kind("uma planilha ODS", "application/vnd.oasis.opendocument.spreadsheet", (".ods",))

# Signature-detected types (via the filetype package) that we accept.
_BY_SNIFFED_MIME = {
    "application/pdf": _PDF,
    "image/png": _PNG,
    "image/jpeg": _JPEG,
    "image/gif": _GIF,
}

# Main-part content types in [Content_Types].xml; macro-enabled variants are absent on purpose.
_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": _DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": _XLSX,
}
_ODF_MIMETYPES = {_ODT.content_type: _ODT, _ODS.content_type: _ODS}

# Every accepted kind, once: the upload help, its error and the file chooser's ``accept``
# all come from here, so they cannot disagree (ACCEPTED_TYPES_TEXT names the same kinds).
_ACCEPTED_KINDS = (_PDF, _PNG, _JPEG, _GIF, _TEXT, _DOCX, _XLSX, _ODT, _ODS)
ACCEPTED_EXTENSIONS: tuple[str, ...] = tuple(e for k in _ACCEPTED_KINDS for e in k.extensions)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc/.xls/.msg and encrypted Office files
_ZIP_MAGIC = b"PK\x03\x04"

# What browsers sniff as HTML (WHATWG MIME sniffing) plus XML/SVG: refused even as .txt,
# because an old or misconfigured client could render it and run its scripts.
_MARKUP_RE = re.compile(
    rb"<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p"
    rb"|!--|\?xml|svg|object|embed|meta|link|img|form)[\s>/]",
    re.IGNORECASE,
)
# Tab, LF, FF, CR and ESC (ANSI colours in logs) are fine in text; other C0 controls are not.
_TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{prefix}{i}" for prefix in ("COM", "LPT") for i in range(1, 10)
}
_FILENAME_FORBIDDEN_RE = re.compile(r'[<>:"/\\|?*]')


class _Refused(Exception):
    """A content problem whose message is already user-facing (filename filled in later)."""


# --- Sizes -----------------------------------------------------------------------------------


def format_size(n: int, *, round_up: bool = False) -> str:
    """pt-BR size: ``"512 bytes"``, ``"1,5 KB"``, ``"12,3 MB"``; ``",0"`` is dropped.

    ``round_up`` is used for the file's own size so that a file just over the limit
    never reads as equal to it ("10,1 MB" rather than "10 MB").
    """
    if n < 1024:
        return f"{n} bytes" if n != 1 else "1 byte"
    for unit, factor in (("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
        value = n / factor
        if value < 1024 or unit == "GB":
            tenths = math.ceil(value * 10 - 1e-9) if round_up else round(value * 10)
            whole, frac = divmod(tenths, 10)
            text = f"{whole}" if frac == 0 else f"{whole},{frac}"
            return f"{text} {unit}"
    raise AssertionError("unreachable")


# --- Filenames -------------------------------------------------------------------------------


def safe_filename(filename: str | None) -> str:
    """A name safe to store and to send back in a header.

    Drops any directory part (both ``/`` and ``\\``), control and format characters
    (including the bidi overrides used to disguise ``exe.pdf``), characters Windows
    forbids, and leading dots; keeps accents (NFC). At most 150 characters, the
    extension preserved. Falls back to ``"arquivo"``.
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _FILENAME_FORBIDDEN_RE.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.upper() in _WINDOWS_RESERVED:
        stem += "_"
    ext = ext[:20]
    suffix = f".{ext}" if ext else ""
    stem = stem[: MAX_FILENAME_CHARS - len(suffix)].rstrip(" .")
    if not stem:
        stem = "arquivo"
    return stem + suffix


def _extension(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot else ""


def content_disposition(filename: str) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''percent-encoded`` (RFC 6266/5987).

    The plain ``filename`` is an ASCII fallback (accents stripped, quotes and
    backslashes replaced) for old clients; modern ones use ``filename*``.
    """
    name = safe_filename(filename)
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_name = "".join(
        c if (" " <= c <= "~" and c not in '"\\%') else "_"
        for c in decomposed
        if not unicodedata.combining(c)
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# --- Content detection -----------------------------------------------------------------------


def _read_member(zf: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _MAX_ZIP_MEMBER_READ:
        raise _Refused("tem uma estrutura interna inválida")
    with zf.open(info) as member:
        # Read one byte past the cap: the header's file_size may lie.
        data = member.read(_MAX_ZIP_MEMBER_READ + 1)
    if len(data) > _MAX_ZIP_MEMBER_READ:
        raise _Refused("tem uma estrutura interna inválida")
    return data


def _detect_zip(content: bytes) -> _Kind:
    """DOCX/XLSX by their [Content_Types].xml, ODT/ODS by their ``mimetype`` member.

    Reads at most two small members and never extracts anything to disk.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = zf.namelist()
            if len(names) > _MAX_ZIP_MEMBERS:
                raise _Refused("tem uma estrutura interna inválida")
            if any(n.lower().endswith("vbaproject.bin") for n in names):
                raise _Refused("contém macros, que não são aceitas")

            mimetype = _read_member(zf, "mimetype")
            if mimetype is not None:
                kind = _ODF_MIMETYPES.get(mimetype.decode("ascii", "replace").strip())
                if kind is not None:
                    return kind

            types_xml = _read_member(zf, "[Content_Types].xml")
            if types_xml is not None:
                kind = _ooxml_kind(types_xml, set(names))
                if kind is not None:
                    return kind
    except _Refused:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        RuntimeError,
        NotImplementedError,
        EOFError,
        ValueError,
        OSError,
    ) as exc:
        # Encrypted members, unknown compression, truncated data, bad CRC, ...
        raise _Refused("está corrompido ou não pôde ser lido") from exc
    raise _Refused(
        "é um arquivo compactado (ZIP), que não é aceito; envie os arquivos separadamente"
    )


def _ooxml_kind(types_xml: bytes, names: set[str]) -> _Kind | None:
    # A DOCTYPE is never needed here; refusing it rules out entity-expansion tricks.
    if b"<!DOCTYPE" in types_xml.upper():
        return None
    try:
        root = ElementTree.fromstring(types_xml)
    except ElementTree.ParseError:
        return None
    for element in root:
        if not element.tag.endswith("}Override") and element.tag != "Override":
            continue
        kind = _OOXML_MAIN.get((element.get("ContentType") or "").strip())
        part = (element.get("PartName") or "").lstrip("/")
        if kind is not None and part in names:
            return kind
    return None


def _looks_like_text(content: bytes) -> bool:
    """UTF-8 (BOM allowed) or Windows-1252/Latin-1 text without NUL or other control bytes.

    Windows-1252 is the Latin-1 superset Brazilian Windows tools write; bytes it
    leaves undefined fail decoding, which weeds out most binary data.
    """
    if b"\x00" in content:
        return False
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("cp1252")
        except UnicodeDecodeError:
            return False
    return not _TEXT_CONTROL_RE.search(text)


def _looks_like_markup(content: bytes) -> bool:
    head = content[:1024].lstrip(b"\xef\xbb\xbf \t\r\n\x0c")
    return _MARKUP_RE.match(head) is not None


def _detect(content: bytes) -> _Kind:
    if content.startswith(_ZIP_MAGIC):
        return _detect_zip(content)
    if content.startswith(_OLE_MAGIC):
        raise _Refused(
            "está no formato antigo do Office (.doc, .xls) ou protegido por senha; "
            "salve-o como DOCX, XLSX ou PDF"
        )
    sniffed = filetype.guess_mime(content)
    if sniffed in _BY_SNIFFED_MIME:
        return _BY_SNIFFED_MIME[sniffed]
    if _looks_like_markup(content):
        raise _Refused("parece ser uma página HTML, SVG ou XML, que não é aceita por segurança")
    # Checked even when a signature matched: a few signatures are printable ("BM", "ID3")
    # and a CSV may start with them. Executables and archives carry NUL bytes, so they
    # never pass as text.
    if _looks_like_text(content):
        return _TEXT
    raise _Refused(f"não é de um tipo aceito. Envie {ACCEPTED_TYPES_TEXT}")


def _content_type(kind: _Kind, ext: str, content: bytes) -> str:
    if kind is not _TEXT:
        return kind.content_type
    base = "text/csv" if ext == ".csv" else "text/plain"
    try:
        content.decode("utf-8")
        charset = "utf-8"
    except UnicodeDecodeError:
        charset = "windows-1252"
    return f"{base}; charset={charset}"


# --- Entry point -----------------------------------------------------------------------------


def check_upload(
    filename: str | None,
    content: bytes,
    existing_total: int,
    max_file: int,
    max_total: int,
) -> DetectedFile:
    """Validate one upload against the limits and the allowed types.

    ``existing_total`` is the size of the chamado's attachments already kept.
    Raises ``ValidationFailed({FIELD: message})`` with a pt-BR message naming the
    file; checks run cheapest first (empty, per-file size, total, then content).
    """
    name = safe_filename(filename)
    size = len(content)

    def fail(message: str) -> ValidationFailed:
        return ValidationFailed({FIELD: message})

    if size == 0:
        raise fail(f"O arquivo {name} está vazio.")
    if size > max_file:
        raise fail(
            f"O arquivo {name} tem {format_size(size, round_up=True)}; "
            f"o limite é {format_size(max_file)} por arquivo."
        )
    if existing_total + size > max_total:
        remaining = max(max_total - existing_total, 0)
        raise fail(
            f"O arquivo {name} ({format_size(size, round_up=True)}) ultrapassa o limite de "
            f"{format_size(max_total)} de anexos por chamado; restam {format_size(remaining)}."
        )

    try:
        kind = _detect(content)
    except _Refused as refused:
        raise fail(f"O arquivo {name} {refused}.") from None

    ext = _extension(name)
    if ext not in kind.extensions:
        wanted = kind.extensions[0]
        if ext:
            message = (
                f"O arquivo {name} é {kind.name}, mas tem a extensão {ext}. "
                f"Renomeie-o com a extensão {wanted} ou envie o arquivo correto."
            )
        else:
            message = (
                f"O arquivo {name} é {kind.name}, mas não tem extensão. "
                f"Renomeie-o com a extensão {wanted}."
            )
        raise fail(message)

    return DetectedFile(
        safe_filename=name,
        content_type=_content_type(kind, ext, content),
        size=size,
        sha256=hashlib.sha256(content).hexdigest(),
    )

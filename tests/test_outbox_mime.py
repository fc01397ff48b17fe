"""engine.outbox.build_email: the bodies read back exactly as the stdlib's MIMEText with a
quoted-printable UTF-8 charset would make them.

The parts are encoded by binascii (C) instead of email.quoprimime (Python); whatever text
a template or a requester produced, a mail client must decode the same characters, the
encoded lines must stay within RFC 2045's 76 characters, and the multipart boundary must
never occur in a body.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.message import Message
from email.mime.text import MIMEText

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import outbox

_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP

TEXTS = st.one_of(
    st.text(max_size=400),
    st.lists(
        st.sampled_from(
            [
                " ",
                "\t",
                "\n",
                "\r",
                "\r\n",
                "=",
                ".",
                "a",
                "é",
                "ç",
                "—",
                "😀",
                "\x0b",
                "\x85",
                "x" * 90,
            ]
        ),
        max_size=60,
    ).map("".join),
    st.sampled_from(
        [
            "",
            "\n",
            ".\n.",
            "linha com espaço no fim \nfim\t\n",
            "=3D não é um escape, é texto",
            "Olá, Maria!\r\nSeu chamado CH-2026-000123 foi recebido.\r\n",
            "a" * 200 + "=" + "b" * 200,
            "ç" * 100,
        ]
    ),
)


def mail(text: str, html: str, subject: str = "Chamado recebido") -> outbox.OutgoingMail:
    return outbox.OutgoingMail(
        pk=1,
        message_id="<teste@chamados.gov.br>",
        to_addr="maria@example.gov.br",
        subject=subject,
        body_text=text,
        body_html=html,
        created_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
    )


def bodies(message: Message) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_subtype()] = payload.decode(part.get_content_charset() or "")
    return found


def stdlib(subtype: str, text: str) -> str:
    payload = MIMEText(text, subtype, _UTF8_QP).get_payload(decode=True)  # type: ignore[arg-type]
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(TEXTS, TEXTS)
def test_the_bodies_decode_as_mimetext_encodes_them(text: str, html: str) -> None:
    raw = outbox.as_bytes(outbox.build_email(mail(text, html)))
    assert raw.isascii()
    parsed = email.message_from_bytes(raw)
    for part in parsed.get_payload():
        encoded = part.get_payload()
        assert all(len(line) <= 76 for line in encoded.splitlines())  # RFC 2045
    boundary = parsed.get_boundary()
    assert boundary is not None and boundary.startswith("=_")
    assert raw.count(f"--{boundary}".encode()) == 3  # two parts and the closing line
    got = bodies(parsed)
    # Line breaks arrive as CRLF on the wire; a client reads each as one line break.
    assert got["plain"].replace("\r\n", "\n") == stdlib("plain", text).replace("\r\n", "\n")
    assert got["html"].replace("\r\n", "\n") == stdlib("html", html).replace("\r\n", "\n")


def test_headers_and_parts_as_before() -> None:
    raw = outbox.as_bytes(outbox.build_email(mail("Olá", "<p>Olá</p>", "Ação necessária")))
    parsed = email.message_from_bytes(raw)
    assert parsed.get_content_type() == "multipart/alternative"
    assert str(email.header.make_header(email.header.decode_header(parsed["Subject"]))) == (
        "Ação necessária"
    )
    for part, subtype in zip(parsed.get_payload(), ("plain", "html"), strict=True):
        assert part.get_content_type() == f"text/{subtype}"
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part["MIME-Version"] == "1.0"
    assert bodies(parsed) == {"plain": "Olá", "html": "<p>Olá</p>"}


_COMPAT32 = policy.compat32.clone(linesep="\r\n", max_line_length=998)
HEADER_VALUES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120),
    st.text(max_size=60),
    st.sampled_from(["", " ", "a  b", " a", "a ", "a\tb", "=?utf-8?q?x?=", "x" * 1200]),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.sampled_from(["Subject", "To", "X-Teste", "Content-Type"]), HEADER_VALUES)
def test_a_header_is_written_as_compat32_writes_it(name: str, value: str) -> None:
    """MAIL_POLICY writes a plain header without the Header round trip: the same bytes."""
    assert outbox.MAIL_POLICY.fold_binary(name, value) == _COMPAT32.fold_binary(name, value)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(TEXTS, HEADER_VALUES.filter(lambda v: "\n" not in v and "\r" not in v and "\x00" not in v))
def test_a_message_is_the_same_bytes_as_with_compat32(text: str, subject: str) -> None:
    message = outbox.build_email(mail(text, f"<p>{text}</p>", subject or "Assunto"))
    assert message.as_bytes(policy=outbox.MAIL_POLICY) == message.as_bytes(policy=_COMPAT32)

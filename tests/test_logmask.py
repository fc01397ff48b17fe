"""CPF and e-mail addresses are masked by the app's log handler, whoever logs them."""

from __future__ import annotations

import io
import json
import logging
import smtplib

import pytest

from engine import outbox
from engine.mail import MailSettings
from tests.logscan import personal_data_lines
from web.logmask import PersonalDataFilter, mask
from web.observability import JsonFormatter, install_json_logging


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_scan_finds_what_an_unmasked_handler_writes() -> None:
    # The session-wide check (tests/conftest.py) can fail: without the filter it would.
    stream = io.StringIO()
    bare = logging.StreamHandler(stream)
    bare.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.unmasked")
    log.addHandler(bare)
    log.propagate = False
    try:
        log.warning("login de 390.533.447-05 <maria@example.gov.br>")
    finally:
        log.removeHandler(bare)
        log.propagate = True
    assert len(personal_data_lines(stream.getvalue())) == 1


@pytest.mark.parametrize(
    "raw",
    [
        "CPF 39053344705 entrou",
        "CPF 390.533.447-05 entrou",
        "Destinatário recusado: {'maria.silva+x@exemplo.com.br': (550, b'no')}",
    ],
)
def test_mask(raw: str) -> None:
    assert personal_data_lines(mask(raw)) == []


def test_protocols_and_ids_are_not_masked() -> None:
    text = "CH-2026-000123 nup 23037.001462/2021-65 id 12345 em 2026-12-06T07:00:00Z"
    assert mask(text) == text


def test_the_apps_handler_masks_messages_arguments_and_exceptions() -> None:
    handler = install_json_logging()
    assert any(isinstance(f, PersonalDataFilter) for f in handler.filters)
    stream = io.StringIO()
    original = handler.setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("engine.lgpd_test")
    try:
        log.warning("Papel admin concedido ao CPF de bootstrap %s", "52998224725")
        try:
            raise smtplib.SMTPRecipientsRefused({"joao@exemplo.com.br": (550, b"no")})
        except smtplib.SMTPRecipientsRefused:
            log.exception("falhou para %s", "joao@exemplo.com.br")
    finally:
        handler.setStream(original)  # type: ignore[attr-defined]
    text = stream.getvalue()
    assert personal_data_lines(text) == []
    lines = _lines(stream)
    assert lines[0]["msg"] == "Papel admin concedido ao CPF de bootstrap ***.***.***-**"
    assert "***@***" in lines[1]["msg"] and "***@***" in lines[1]["exc"]


def test_a_refused_recipient_is_logged_masked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A real path of the app: the outbox logs the SMTP error, which names the address.
    handler = install_json_logging()
    stream = io.StringIO()
    original = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        logging.getLogger("engine.outbox").warning(
            "E-mail %s: tentativa %d falhou: %s",
            "<x@chamados>",
            1,
            outbox.PermanentDeliveryError("Destinatário recusado: {'ana@exemplo.com.br': 550}"),
        )
    finally:
        handler.setStream(original)  # type: ignore[attr-defined]
    assert personal_data_lines(stream.getvalue()) == []
    assert MailSettings.from_env(env={}, instance_dir=tmp_path).capture

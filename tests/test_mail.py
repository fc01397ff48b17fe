"""Rendering of the chamado model's e-mails: subject, both bodies, links, escaping, sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine import mail as mail_module
from engine import specs
from engine.mail import MailSettings, absolute_url, check_template, datahora, rich_text

MAIL_DIR = Path(__file__).resolve().parent.parent / "processes" / "mail"
# The e-mail files that ship with the chamado model, as a process version stores them.
TEMPLATES = {f"mail/{p.name}": p.read_text(encoding="utf-8") for p in MAIL_DIR.iterdir()}
# The chamado model's e-mails (the other shipped model has its own, tested with it).
KINDS = specs.referenced_mail((MAIL_DIR.parent / "chamado.bpmn").read_bytes())
CATALOGS = {
    "motivo_devolucao": {
        "conta_govbr": (
            "Problema com a conta gov.br",
            "Procure o atendimento em https://e.gov.br/solicitaratendimentogovbr.",
        ),
        "mau": (EVIL_LABEL := '<script>alert("x")</script>', '<script>alert("x")</script>'),
    }
}


def render(kind: str, context: dict[str, Any], base: str) -> mail_module.RenderedMail:
    return mail_module.render(TEMPLATES, kind, context, base, CATALOGS)


BASE = "https://chamados.example.gov.br"
EVIL = '<script>alert("x")</script>'
PRAZO = datetime(2026, 3, 10, 20, 30, tzinfo=UTC)  # 17:30 in Brasília

# Every kind with the context the service passes, and what each message must say.
CASES: dict[str, tuple[dict[str, Any], str, list[str]]] = {
    "chamado_registrado": (
        {
            "protocolo": "CH-2026-000123",
            "nome": "Maria da Silva",
            "tracking_url": "/meus-chamados/7",
            "servico": "Aposentadoria por idade",
            "orgao": "INSS",
        },
        "Chamado CH-2026-000123 registrado",
        ["CH-2026-000123", "Aposentadoria por idade", "INSS", f"{BASE}/meus-chamados/7"],
    ),
    "ajuste_solicitado": (
        {
            "protocolo": "CH-2026-000123",
            "nome": "Maria da Silva",
            "ajuste_solicitado": "Anexe o print da tela de erro.",
            "prazo": PRAZO,
            "tarefa_url": "/tarefas/42",
        },
        "Chamado CH-2026-000123: ajuste solicitado",
        ["Anexe o print da tela de erro.", "10/03/2026 às 17:30", f"{BASE}/tarefas/42"],
    ),
    "chamado_resolvido": (
        {
            "protocolo": "CH-2026-000123",
            "nome": "Maria da Silva",
            "resposta": "O serviço foi corrigido.",
            "tracking_url": f"{BASE}/meus-chamados/7",
        },
        "Chamado CH-2026-000123 resolvido",
        ["resolvido", "O serviço foi corrigido.", f"{BASE}/meus-chamados/7"],
    ),
    "chamado_devolvido": (
        {
            "protocolo": "CH-2026-000123",
            "nome": "Maria da Silva",
            "motivo_devolucao": "conta_govbr",
            "justificativa_devolucao": "Sua dúvida é sobre a senha.",
            "tracking_url": "/meus-chamados/7",
        },
        "Chamado CH-2026-000123 devolvido",
        [
            "Problema com a conta gov.br",
            "https://e.gov.br/solicitaratendimentogovbr",
            "Sua dúvida é sobre a senha.",
            f"{BASE}/meus-chamados/7",
        ],
    ),
    "encerrado_sem_resposta": (
        {"protocolo": "CH-2026-000123", "nome": "Maria da Silva", "tracking_url": "/x/7"},
        "Chamado CH-2026-000123 encerrado por falta de resposta",
        ["encerrado", "prazo", f"{BASE}/x/7"],
    ),
    "sla_vencido": (
        {
            "protocolo": "CH-2026-000123",
            "analista": "Ana Souza",
            "prazo": PRAZO,
            "analise_url": "/analise/7",
        },
        "Prazo de análise vencido: chamado CH-2026-000123",
        ["Ana Souza", "10/03/2026 às 17:30", f"{BASE}/analise/7"],
    ),
}


def test_every_kind_has_a_case_and_both_templates() -> None:
    assert set(CASES) == set(KINDS)
    for kind in KINDS:
        assert (MAIL_DIR / f"{kind}.txt").is_file() and (MAIL_DIR / f"{kind}.html").is_file()
        assert check_template(f"mail/{kind}.html", TEMPLATES) is None


@pytest.mark.parametrize("kind", sorted(CASES))
def test_render_every_kind(kind: str) -> None:
    context, subject, expected = CASES[kind]
    mail = render(kind, context, BASE + "/")
    assert mail.subject == subject
    for body in (mail.text, mail.html):
        for fragment in expected:
            assert fragment in body, (kind, fragment)
    if "nome" in context:
        assert "Olá, Maria da Silva." in mail.text
    # The link is a real anchor in the HTML body; the footer points at the site.
    url = next(f for f in expected if f.startswith(BASE))
    assert f'href="{url}"' in mail.html
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")
    assert 'lang="pt-BR"' in mail.html
    assert f"{BASE}/" in mail.text.splitlines()[-1]
    assert "\n\n\n" not in mail.text
    assert "None" not in mail.text and "None" not in mail.html


def test_user_text_is_escaped_in_html_and_kept_in_text() -> None:
    context = {
        "protocolo": "CH-2026-000001",
        "nome": EVIL,
        "motivo_devolucao": "mau",
        "justificativa_devolucao": f"linha 1\nlinha 2 {EVIL}",
        "tracking_url": "/x",
    }
    mail = render("chamado_devolvido", context, BASE)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html
    assert "linha 1<br>\nlinha 2" in mail.html
    # Plain text is not HTML: the words are shown as typed.
    assert EVIL in mail.text


def test_resposta_escaped_and_links_made_safe() -> None:
    context = dict(CASES["chamado_resolvido"][0])
    context["resposta"] = 'Veja https://gov.br/a?b=1&c="x" e <img src=x onerror=alert(1)>.'
    mail = render("chamado_resolvido", context, BASE)
    assert "<img" not in mail.html
    assert '<a href="https://gov.br/a?b=1&amp;c=">https://gov.br/a?b=1&amp;c=</a>' in mail.html


def test_optional_values_may_be_missing() -> None:
    context = dict(CASES["chamado_registrado"][0], servico=None, orgao=None)
    mail = render("chamado_registrado", context, BASE)
    assert "Recebemos o seu chamado." in mail.text
    devolvido = dict(CASES["chamado_devolvido"][0], justificativa_devolucao="")
    text = render("chamado_devolvido", devolvido, BASE).text
    assert "Explicação" not in text
    sla = dict(CASES["sla_vencido"][0], analista=None)
    assert "não foi assumido" in render("sla_vencido", sla, BASE).text


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_optional_value_absent(kind: str) -> None:
    # The service passes None for what a ticket lacks (no name, no deadline timer, ...).
    context = {
        key: (value if key == "protocolo" or key.endswith("_url") else None)
        for key, value in CASES[kind][0].items()
    }
    mail = render(kind, context, BASE)
    for body in (mail.text, mail.html):
        assert "None" not in body and "Olá, ." not in body and " em  (" not in body
        assert "CH-2026-000123" in body
    assert "\n\n\n" not in mail.text


def test_unknown_template_fails_loudly_and_templates_are_sandboxed() -> None:
    with pytest.raises(Exception, match="nao_existe"):
        render("nao_existe", {"protocolo": "x"}, BASE)
    # A designer's template cannot reach Python internals.
    evil = {
        "mail/x.txt": '{% extends "_layout.txt" %}{% block content %}'
        "{{ ''.__class__.__mro__[1].__subclasses__() }}{% endblock %}",
        "mail/x.html": "<p>x</p>",
    }
    with pytest.raises(Exception, match="unsafe|access"):
        mail_module.render(evil, "x", {}, BASE)


def test_links_are_built_from_base_url_and_only_web_addresses() -> None:
    assert absolute_url("http://127.0.0.1:5000", "/a/1") == "http://127.0.0.1:5000/a/1"
    assert absolute_url("https://h/app/", "/a/1") == "https://h/app/a/1"
    assert absolute_url("https://h", "https://other/x") == "https://other/x"
    with pytest.raises(ValueError):
        absolute_url("https://h", "javascript:alert(1)")


def test_subject_is_one_line() -> None:
    context = dict(CASES["encerrado_sem_resposta"][0], protocolo="CH-1\r\nBcc: x@y")
    assert "\n" not in render("encerrado_sem_resposta", context, BASE).subject


def test_dates_in_brasilia_time() -> None:
    assert datahora(datetime(2026, 1, 1, 2, 5, tzinfo=UTC)) == "31/12/2025 às 23:05"
    assert datahora(datetime(2026, 1, 1, 2, 5)) == "31/12/2025 às 23:05"  # naive = UTC
    assert datahora(None) == ""


def test_rich_text_trailing_punctuation_stays_out_of_the_link() -> None:
    html = str(rich_text("Veja (https://e.gov.br/x)."))
    assert html == 'Veja (<a href="https://e.gov.br/x">https://e.gov.br/x</a>).'


def test_settings_from_env(tmp_path: Path) -> None:
    capture = MailSettings.from_env({}, instance_dir=tmp_path)
    assert capture.capture and capture.capture_dir == tmp_path / "mail"
    assert capture.mail_from == "Chamados gov.br <nao-responda@chamados.gov.br>"
    assert capture.max_attempts == 6
    smtp = MailSettings.from_env(
        {
            "SMTP_HOST": "smtp.example",
            "SMTP_PORT": "587",
            "SMTP_USER": "u",
            "SMTP_PASSWORD": "p",
            "SMTP_STARTTLS": "true",
            "MAIL_FROM": "X <x@example>",
            "MAIL_MAX_ATTEMPTS": "3",
        }
    )
    assert not smtp.capture
    assert (smtp.smtp_host, smtp.smtp_port, smtp.smtp_user, smtp.smtp_password) == (
        "smtp.example",
        587,
        "u",
        "p",
    )
    assert smtp.smtp_starttls and smtp.mail_from == "X <x@example>" and smtp.max_attempts == 3
    with pytest.raises(ValueError, match="SMTP_STARTTLS"):
        MailSettings.from_env({"SMTP_STARTTLS": "talvez"})
    with pytest.raises(ValueError, match="SMTP_PORT"):
        MailSettings.from_env({"SMTP_PORT": "abc"})

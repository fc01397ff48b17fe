"""E-mail: configuration and rendering (pt-BR Jinja2 templates, plain text + HTML).

Configuration (environment):

* ``SMTP_HOST`` — unset means **capture mode**: nothing leaves the machine; every message
  is written as an ``.eml`` file into ``instance/mail/`` and marked sent, and the admin page
  ``/admin/emails`` lists it. ``make run`` needs no mail server this way.
* ``SMTP_PORT`` (25), ``SMTP_USER``/``SMTP_PASSWORD`` (login only when a user is set),
  ``SMTP_STARTTLS`` (``true``/``false``, default false: local relays and sinks rarely offer
  TLS; set it for any relay across a network), ``MAIL_FROM``, ``MAIL_MAX_ATTEMPTS`` (6).

Each message kind is one template pair, ``mail_templates/<kind>.txt`` and ``<kind>.html``,
both extending a shared layout; the subject lives in :data:`KINDS` next to the context the
kind requires, so a caller that forgets a field fails loudly when the message is enqueued,
inside its own transaction, instead of sending a half-empty e-mail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from engine.settings import PROJECT_ROOT

TEMPLATES_DIR = Path(__file__).resolve().parent / "mail_templates"
LOCAL_TZ = ZoneInfo("America/Sao_Paulo")
DEFAULT_FROM = "Chamados gov.br <nao-responda@chamados.gov.br>"
DEFAULT_MAX_ATTEMPTS = 6

_TRUE = {"1", "true", "yes", "sim", "on"}
_FALSE = {"0", "false", "no", "nao", "não", "off"}


@dataclass(frozen=True)
class MailKind:
    label: str  # for the admin page
    subject: str  # a str.format pattern over the context
    required: tuple[str, ...]


KINDS: dict[str, MailKind] = {
    "chamado_registrado": MailKind(
        "Chamado registrado",
        "Chamado {protocolo} registrado",
        ("protocolo", "nome", "tracking_url", "servico", "orgao"),
    ),
    "ajuste_solicitado": MailKind(
        "Ajuste solicitado",
        "Chamado {protocolo}: ajuste solicitado",
        ("protocolo", "nome", "ajuste_solicitado", "prazo", "ajuste_url"),
    ),
    "chamado_resolvido": MailKind(
        "Chamado resolvido",
        "Chamado {protocolo} resolvido",
        ("protocolo", "nome", "resposta", "tracking_url"),
    ),
    "chamado_devolvido": MailKind(
        "Chamado devolvido",
        "Chamado {protocolo} devolvido",
        ("protocolo", "nome", "motivo", "motivo_help", "explicacao", "tracking_url"),
    ),
    "encerrado_sem_resposta": MailKind(
        "Encerrado sem resposta",
        "Chamado {protocolo} encerrado por falta de resposta",
        ("protocolo", "nome", "tracking_url"),
    ),
    "sla_vencido": MailKind(
        "Prazo de análise vencido",
        "Prazo de análise vencido: chamado {protocolo}",
        ("protocolo", "analista", "prazo", "analysis_url"),
    ),
}


@dataclass(frozen=True)
class MailSettings:
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = DEFAULT_FROM
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    capture_dir: Path = PROJECT_ROOT / "instance" / "mail"
    timeout: float = 10.0

    @property
    def capture(self) -> bool:
        """True when no SMTP server is configured: messages go to ``capture_dir``."""
        return not self.smtp_host

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, instance_dir: Path | None = None
    ) -> MailSettings:
        env = dict(os.environ if env is None else env)
        instance = instance_dir or PROJECT_ROOT / "instance"
        max_attempts = _int(env, "MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)
        if max_attempts < 1:
            raise ValueError("MAIL_MAX_ATTEMPTS deve ser pelo menos 1")
        return cls(
            smtp_host=env.get("SMTP_HOST") or None,
            smtp_port=_int(env, "SMTP_PORT", 25),
            smtp_user=env.get("SMTP_USER") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_starttls=_bool(env, "SMTP_STARTTLS", False),
            mail_from=env.get("MAIL_FROM") or DEFAULT_FROM,
            max_attempts=max_attempts,
            capture_dir=instance / "mail",
        )


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{key} deve ser um número inteiro, recebido {raw!r}") from exc


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{key} deve ser true ou false, recebido {raw!r}")


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def render(kind: str, context: Mapping[str, Any], base_url: str) -> RenderedMail:
    """Subject, plain text and HTML of one message.

    Values of ``*_url`` keys may be paths (``/chamados/12``), joined to ``base_url``
    (APP_BASE_URL), or absolute http(s) URLs kept as they are.
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise ValueError(f"Tipo de e-mail desconhecido: {kind!r}")
    missing = [key for key in spec.required if key not in context]
    if missing:
        raise ValueError(f"Faltam dados para o e-mail {kind!r}: {', '.join(missing)}")
    data = {
        key: absolute_url(base_url, value) if key.endswith("_url") else value
        for key, value in context.items()
    }
    data["base_url"] = base_url.rstrip("/") + "/"
    env = _environment()
    return RenderedMail(
        subject=_one_line(spec.subject.format(**data)),
        text=_tidy(env.get_template(f"{kind}.txt").render(data)),
        html=env.get_template(f"{kind}.html").render(data),
    )


def absolute_url(base_url: str, value: Any) -> str:
    url = str(value or "")
    if url.startswith("/"):
        return urljoin(base_url.rstrip("/") + "/", url.lstrip("/"))
    # Anything else must already be a web address: no javascript:, no mailto: tricks.
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"Endereço inválido para um link de e-mail: {url!r}")
    return url


def datahora(value: datetime | None) -> str:
    """``31/12/2026 às 18:00`` in Brasília time (naive values are UTC, as stored)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ).strftime("%d/%m/%Y às %H:%M")


_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"


def rich_text(value: Any) -> Markup:
    """User text for the HTML body: escaped, line breaks kept, web addresses made links."""
    text = "" if value is None else str(value)
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(str(escape(text[last : match.start()])))
        out.append(f'<a href="{escape(url)}">{escape(url)}</a>')
        last = end
    out.append(str(escape(text[last:])))
    html = "".join(out).replace("\r\n", "\n").replace("\n", "<br>\n")
    return Markup(html)


def _tidy(text: str) -> str:
    # Optional paragraphs leave runs of blank lines behind; one is enough.
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _one_line(text: str) -> str:
    # A subject is a header: a newline from a catalog label must never start a new one.
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # Templates ship with the code: no stat() of the file on every message.
        auto_reload=False,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # A missing optional value (no órgão, no answer typed) prints nothing, never "None".
        finalize=lambda value: "" if value is None else value,
    )
    env.filters["datahora"] = datahora
    env.filters["rich_text"] = rich_text
    return env

"""E-mail: configuration and rendering (pt-BR Jinja2 templates, plain text + HTML).

Configuration (environment):

* ``SMTP_HOST`` — unset means **capture mode**: nothing leaves the machine; every message
  is written as an ``.eml`` file into ``instance/mail/`` and marked sent, and the admin page
  ``/admin/emails`` lists it. ``make run`` needs no mail server this way.
* ``SMTP_PORT`` (25), ``SMTP_USER``/``SMTP_PASSWORD`` (login only when a user is set),
  ``SMTP_STARTTLS`` (``true``/``false``, default false: local relays and sinks rarely offer
  TLS; set it for any relay across a network), ``MAIL_FROM``, ``MAIL_MAX_ATTEMPTS`` (6),
  ``MAIL_SENDERS`` (sender threads per scheduler, each with its own SMTP connection: 2 on
  PostgreSQL, 1 on SQLite).

Each message is a template pair that ships with its process model (``mail/<name>.txt``,
whose ``subject`` block is the subject, and ``mail/<name>.html``), both extending the
platform's layout in ``mail_templates/``. They are written by process designers, so they
render in a Jinja sandbox bounded in CPU time and length (engine.templating); a broken one
is refused when the model is deployed, and one that fails at run time (or goes past a bound)
fails the action that caused it, in its own transaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    DictLoader,
    Environment,
    FileSystemLoader,
    TemplateError,
    Undefined,
    pass_context,
    select_autoescape,
)
from markupsafe import Markup, escape

from engine import templating
from engine.identity_cache import IdentityCache
from engine.settings import PROJECT_ROOT

TEMPLATES_DIR = Path(__file__).resolve().parent / "mail_templates"
LOCAL_TZ = ZoneInfo("America/Sao_Paulo")
DEFAULT_FROM = "Chamados gov.br <nao-responda@chamados.gov.br>"
DEFAULT_MAX_ATTEMPTS = 6

_TRUE = {"1", "true", "yes", "sim", "on"}
_FALSE = {"0", "false", "no", "nao", "não", "off"}


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
    # Sender threads per scheduler process, each with its own SMTP connection (engine.mailer);
    # None: 2 on PostgreSQL, 1 on SQLite (one writer at a time: a second sender only waits).
    senders: int | None = None

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
        senders = _int(env, "MAIL_SENDERS", 0) or None
        if senders is not None and not 1 <= senders <= 32:
            raise ValueError("MAIL_SENDERS deve estar entre 1 e 32")
        return cls(
            smtp_host=env.get("SMTP_HOST") or None,
            smtp_port=_int(env, "SMTP_PORT", 25),
            smtp_user=env.get("SMTP_USER") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_starttls=_bool(env, "SMTP_STARTTLS", False),
            mail_from=env.get("MAIL_FROM") or DEFAULT_FROM,
            max_attempts=max_attempts,
            capture_dir=instance / "mail",
            senders=senders,
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


def render(
    templates: Mapping[str, str],
    name: str,
    context: Mapping[str, Any],
    base_url: str,
    catalogs: Mapping[str, Mapping[str, tuple[str, str | None]]] | None = None,
) -> RenderedMail:
    """Subject, plain text and HTML of the model's e-mail ``name``.

    ``templates`` are the files that ship with the process model ("mail/<name>.txt" and
    ".html"); they extend the platform's layout. The subject is the text template's
    ``subject`` block. Values of ``*_url`` keys may be paths (``/chamados/12``), joined to
    ``base_url`` (APP_BASE_URL), or absolute http(s) URLs kept as they are.
    """
    data = {
        key: absolute_url(base_url, value) if key.endswith("_url") and value else value
        for key, value in context.items()
    }
    data["base_url"] = base_url.rstrip("/") + "/"
    data[_CATALOGS] = catalogs or {}
    env = _model_environment(templates)
    text_name, html_name = f"mail/{name}.txt", f"mail/{name}.html"
    # One budget for the three renders: a message costs at most that, not three times it.
    with templating.budget():
        text_template = env.get_template(text_name)
        subject_block = text_template.blocks.get("subject")
        subject = (
            templating.text(subject_block(text_template.new_context(data)))
            if subject_block
            else name
        )
        text = templating.render(text_template, data)
        html = templating.render(env.get_template(html_name), data)
    return RenderedMail(subject=_one_line(subject), text=_tidy(text), html=html)


def platform_templates(name: str) -> dict[str, str]:
    """The platform's own e-mail ``name`` (not a model's: engine/mail_templates), as
    ``render`` takes a model's templates; it extends the same layout as theirs."""
    return {
        f"mail/{name}{ext}": (TEMPLATES_DIR / f"{name}{ext}").read_text("utf-8")
        for ext in (".txt", ".html")
    }


def check_template(name: str, templates: Mapping[str, str]) -> str | None:
    """A problem with one of a model's e-mail files (syntax, unknown parent, loops that
    would repeat past the render's bound), or None."""
    try:
        env = _model_environment(templates)
        with templating.budget():  # compiling runs filters on constants
            env.get_template(name)
        source = templates.get(name)
        return templating.loop_problem(env.parse(source)) if source is not None else None
    except TemplateError as exc:
        return str(exc)


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


_CATALOGS = "catalogos"
# Per set of model templates (a process version's); 65, as many as it kept before.
_ENVIRONMENTS: IdentityCache[Environment] = IdentityCache(65)


@pass_context
def _catalog_label(context: Any, code: Any, catalog: str) -> str | None:
    """``{{ codigo | catalogo('nome_do_catalogo') }}``: a catalog code's label."""
    found = context.get(_CATALOGS, {}).get(catalog, {}).get(code)
    return found[0] if found else code


@pass_context
def _catalog_help(context: Any, code: Any, catalog: str) -> str | None:
    found = context.get(_CATALOGS, {}).get(catalog, {}).get(code)
    return found[1] if found else None


def _model_environment(templates: Mapping[str, str]) -> Environment:
    """One environment per set of model templates (a process version's), built once."""
    return _ENVIRONMENTS.get(templates, lambda: _new_environment(templates))


def _new_environment(templates: Mapping[str, str]) -> Environment:
    # Sandboxed and bounded: templates are written by process designers, not shipped
    # with the code.
    env = templating.BoundedEnvironment(
        loader=ChoiceLoader(
            [
                DictLoader({k: v for k, v in templates.items() if k.startswith("mail/")}),
                # The platform's layout and button, for the model's templates to extend.
                FileSystemLoader(TEMPLATES_DIR),
            ]
        ),
        auto_reload=False,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        # Instance data varies: a value the step did not set prints nothing.
        undefined=Undefined,
        none_as_empty=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["datahora"] = datahora
    env.filters["rich_text"] = rich_text
    env.filters["catalogo"] = _catalog_label
    env.filters["catalogo_ajuda"] = _catalog_help
    return env

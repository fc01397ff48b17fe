"""Typed configuration read from the environment, with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: dict[str, str], key: str, default: int, minimum: int | None = None) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{key} deve ser um número inteiro, recebido {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ValueError(f"{key} deve ser no mínimo {minimum}, recebido {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_dir: Path = PROJECT_ROOT / "instance"
    processes_dir: Path = PROJECT_ROOT / "processes"
    forms_dir: Path = PROJECT_ROOT / "forms"
    data_dir: Path = PROJECT_ROOT / "data"
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachments_per_chamado_max_bytes: int = 25 * 1024 * 1024
    bootstrap_admin_cpf: str | None = None
    # Login sessions (engine.sessions): ended after this long without a request, and
    # after this long whatever the activity (gov.br issues no refresh token).
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    # Links in e-mail are built from it: mail is sent by the scheduler, outside any request.
    app_base_url: str = "http://127.0.0.1:5000"
    queue_page_size: int = 20
    # Likely duplicates of a ticket (engine.outages): tickets sent within this many hours
    # of it, before or after, about the same órgão, service and problem type.
    duplicate_window_hours: int = 72
    # Service tasks' HTTP connector (engine.connectors): the hosts it may call, comma
    # separated (names, "*.suffix", addresses, networks), and its total timeout.
    connector_http_hosts: str = ""
    connector_http_timeout: int = 10
    # PostgreSQL: how long a statement waits for a row another transaction holds before
    # its transaction is rolled back (answered 503, nothing saved: engine.db.is_contention),
    # as SQLite waits for its write lock (engine.db.SQLITE_BUSY_TIMEOUT_MS).
    lock_timeout_seconds: int = 30

    @classmethod
    def from_env(
        cls, env: dict[str, str] | None = None, instance_dir: Path | None = None
    ) -> Settings:
        env = dict(os.environ if env is None else env)
        instance = instance_dir or PROJECT_ROOT / "instance"
        default_db = f"sqlite:///{instance / 'chamados.sqlite3'}"
        return cls(
            database_url=env.get("DATABASE_URL") or default_db,
            instance_dir=instance,
            attachment_max_bytes=_int(env, "ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
            attachments_per_chamado_max_bytes=_int(
                env, "ATTACHMENTS_PER_CHAMADO_MAX_BYTES", 25 * 1024 * 1024
            ),
            bootstrap_admin_cpf=env.get("BOOTSTRAP_ADMIN_CPF") or None,
            app_base_url=env.get("APP_BASE_URL") or "http://127.0.0.1:5000",
            session_idle_minutes=_int(env, "SESSION_IDLE_MINUTES", 30, minimum=1),
            session_max_hours=_int(env, "SESSION_MAX_HOURS", 12, minimum=1),
            duplicate_window_hours=_int(env, "DUPLICATE_WINDOW_HOURS", 72, minimum=1),
            connector_http_hosts=env.get("CONNECTOR_HTTP_ALLOWED_HOSTS") or "",
            connector_http_timeout=_int(env, "CONNECTOR_HTTP_TIMEOUT", 10, minimum=1),
            lock_timeout_seconds=_int(env, "DATABASE_LOCK_TIMEOUT_SECONDS", 30, minimum=1),
        )

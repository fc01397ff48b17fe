"""Typed configuration read from the environment, with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: dict[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{key} deve ser um número inteiro, recebido {raw!r}") from exc


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
    # Links in e-mail are built from it: mail is sent by the scheduler, outside any request.
    app_base_url: str = "http://127.0.0.1:5000"
    queue_page_size: int = 20

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
        )

"""Database schema versions (Alembic): upgrade, and check the database is current."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(db: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", db.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def revision_module(filename: str) -> ModuleType:
    """A migration file of ``versions/`` as a module, for a later migration that reuses
    what it defined (its columns, expressions, triggers): a name that starts with a
    digit cannot be imported."""
    path = MIGRATIONS / "versions" / filename
    spec = importlib.util.spec_from_file_location(f"chamados_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade(db: Engine) -> None:
    config = alembic_config(db)
    with db.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(db: Engine) -> str | None:
    with db.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def pending_message(db: Engine) -> str | None:
    """A pt-BR explanation when the database is behind the code, else None."""
    return pending_text(current_revision(db), head_revision())


def pending_text(current: str | None, head: str | None) -> str | None:
    """What ``pending_message`` says of these revisions (None when they match)."""
    if current == head:
        return None
    return (
        f"O banco de dados está na versão {current or 'vazia'} e o código espera {head}: "
        "rode `chamados db upgrade` antes de iniciar a aplicação."
    )

"""A fresh PostgreSQL database per test, dropped when the test session ends."""

from __future__ import annotations

import atexit
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_created: list[str] = []


def _admin(url: str):  # type: ignore[no-untyped-def]
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def fresh_database(url: str) -> str:
    name = f"chamados_test_{uuid.uuid4().hex[:12]}"
    admin = _admin(url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _created.append(name)
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@atexit.register
def _drop_all() -> None:
    if not _created:
        return
    from tests.conftest import TEST_DATABASE_URL

    admin = _admin(TEST_DATABASE_URL)
    with admin.connect() as conn:
        for name in _created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()

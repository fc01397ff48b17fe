"""Use cases: the one place that opens transactions.

Each public method runs in one transaction; a domain error rolls it back so a
failed or stale action changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.db import make_engine, make_session_factory
from engine.settings import Settings


@dataclass
class Chamados:
    settings: Settings
    db: Engine
    session_factory: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings) -> Chamados:
        db = make_engine(settings.database_url)
        return cls(settings=settings, db=db, session_factory=make_session_factory(db))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.session_factory() as session, session.begin():
            yield session

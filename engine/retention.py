"""How long a closed instance keeps personal data, and which instances are past it.

Each process declares its retention in the model (``retentionDays`` on the
``bpmn:process``, engine.policy); an admin may set another per process (table
``retention_settings``). A process with neither keeps its instances' data. An instance
is due when it closed that many days ago, or when its requester's request to erase
what is not needed (a process whose end event says ``erasePersonalData``) was accepted
after it closed. Accounts are due once nothing keeps them: no instance of their own
left, no role or group, no login for ``ACCOUNT_RETENTION_DAYS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from engine.models import (
    Chamado,
    GroupMember,
    ProcessVersion,
    RetentionSetting,
    RoleGrant,
    User,
)

ACCOUNT_RETENTION_DAYS = 365
# At most this many instances listed on the admin's page, or anonymised per run.
BATCH = 200
PERSON = "pessoa"


@dataclass(frozen=True)
class ProcessRetention:
    process_id: str
    title: str
    declared_days: int | None  # the model's retentionDays
    admin_days: int | None  # retention_settings

    @property
    def days(self) -> int | None:
        return self.admin_days if self.admin_days is not None else self.declared_days


@dataclass(frozen=True)
class Due:
    """An instance whose personal data should go now."""

    chamado_id: int
    protocolo: str
    process_id: str
    closed_at: datetime
    reason: str  # "prazo" | "pedido"


def admin_settings(session: Session) -> dict[str, int]:
    return dict(session.execute(select(RetentionSetting.process_id, RetentionSetting.days)).all())


def set_days(
    session: Session, process_id: str, days: int | None, actor_id: int, now: datetime
) -> None:
    row = session.get(RetentionSetting, process_id)
    if days is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(
            RetentionSetting(
                process_id=process_id, days=days, updated_at=now, updated_by_id=actor_id
            )
        )
    else:
        row.days, row.updated_at, row.updated_by_id = days, now, actor_id
    session.flush()


def due(
    session: Session, retentions: list[ProcessRetention], now: datetime, limit: int = BATCH
) -> list[Due]:
    """Instances past their retention or covered by an accepted erasure, oldest first."""
    found: dict[int, Due] = {}
    base = (
        select(Chamado.id, Chamado.protocolo, ProcessVersion.process_id, Chamado.closed_at)
        .join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id)
        .where(Chamado.closed_at.is_not(None), Chamado.anonymized_at.is_(None))
        .order_by(Chamado.closed_at, Chamado.id)
        .limit(limit)
    )
    for item in retentions:
        if item.days is None:
            continue
        cutoff = now - timedelta(days=item.days)
        query = base.where(
            ProcessVersion.process_id == item.process_id, Chamado.closed_at <= cutoff
        )
        for row in session.execute(query):
            found[row.id] = Due(row.id, row.protocolo, row.process_id, row.closed_at, "prazo")
    asked = base.join(User, User.id == Chamado.requester_id).where(
        User.erasure_requested_at.is_not(None), Chamado.closed_at < User.erasure_requested_at
    )
    for row in session.execute(asked):
        found.setdefault(
            row.id, Due(row.id, row.protocolo, row.process_id, row.closed_at, "pedido")
        )
    return sorted(found.values(), key=lambda d: (d.closed_at, d.chamado_id))[:limit]


def lock_due(session: Session, chamado_id: int) -> Chamado | None:
    """The instance, locked, if it still holds personal data (None: another node or an
    earlier run got it first: SKIP LOCKED on PostgreSQL, the write lock on SQLite)."""
    return session.scalar(
        select(Chamado)
        .where(
            Chamado.id == chamado_id,
            Chamado.anonymized_at.is_(None),
            Chamado.closed_at.is_not(None),
        )
        .with_for_update(skip_locked=True)
    )


def due_accounts(session: Session, now: datetime, limit: int = BATCH) -> list[int]:
    """Accounts nothing keeps any more (see the module's docstring)."""
    cutoff = now - timedelta(days=ACCOUNT_RETENTION_DAYS)
    query = (
        select(User.id)
        .where(
            User.kind == PERSON,
            func.coalesce(User.last_login_at, User.created_at) < cutoff,
            ~exists().where(Chamado.requester_id == User.id),
            ~exists().where(RoleGrant.cpf == User.cpf),
            ~exists().where(GroupMember.cpf == User.cpf),
        )
        .order_by(User.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def lock_account(session: Session, user_id: int) -> User | None:
    return session.scalar(
        select(User)
        .where(User.id == user_id, User.kind == PERSON)
        .with_for_update(skip_locked=True)
    )


def record_erasure_request(session: Session, user_id: int, now: datetime) -> None:
    """The requester's accepted request to erase what is not needed (an end event's
    ``erasePersonalData``): instances they closed before now become due."""
    session.execute(update(User).where(User.id == user_id).values(erasure_requested_at=now))

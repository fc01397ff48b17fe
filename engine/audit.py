"""Audit rows: one writer for every action that leaves a trace, ticket or administration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine import context, corewrite
from engine.models import AuditEvent, utcnow


def record(
    session: Session,
    action: str,
    summary: str,
    *,
    chamado_id: int | None = None,
    actor_id: int | None = None,
    at: datetime | None = None,
    public: bool = False,
    message: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit row in the caller's transaction (a Core INSERT, written at once), with
    the request id of the request or job that caused it. Private unless ``public``:
    public rows form the requester's timeline."""
    corewrite.insert_many(
        session,
        AuditEvent.__table__,
        [
            {
                "chamado_id": chamado_id,
                "actor_id": actor_id,
                "at": at or utcnow(),
                "action": action,
                "summary": summary,
                "public": public,
                "message": message,
                "details": details,
                "request_id": context.request_id.get(),
            }
        ],
    )

"""Who may use the "Processos" area, and how a designer is recorded on rows."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.errors import Forbidden
from engine.models import User
from engine.usecases.base import Actor

DESIGNER = "designer"


def require_designer(actor: Actor) -> None:
    if DESIGNER not in actor.roles:
        raise Forbidden("Apenas projetistas de processo podem fazer isto.")


def cpf_of(session: Session, actor: Actor) -> str | None:
    """Versions and drafts record people by CPF, as role grants do."""
    user = session.get(User, actor.id)
    return user.cpf if user else None

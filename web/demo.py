"""Demo data for `make run`: roles and groups for the development provider's people."""

from __future__ import annotations

from typing import Any

from engine import groups, users
from engine.service import Chamados
from web.dev_oidc import DEMO_PEOPLE


def seed_demo(svc: Chamados) -> list[dict[str, Any]]:
    shown = []
    with svc.transaction() as session:
        for person in DEMO_PEOPLE:
            role = person.get("role")
            roles = [role] if isinstance(role, str) and role not in ("", "requester") else []
            for r in roles:
                users.grant_role(session, person["cpf"], r, None)
            for key in person.get("groups", []):
                groups.add_member(session, key, person["cpf"], svc.clock())
            label = ", ".join(users.ROLE_LABELS.get(r, r) for r in roles) or "Solicitante"
            if person.get("groups"):
                label += " (" + ", ".join(person["groups"]) + ")"
            shown.append({**person, "role_label": label})
    return shown

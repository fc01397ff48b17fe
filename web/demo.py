"""Demo data for `make run`: roles and groups for the development provider's people, and
example ready answers."""

from __future__ import annotations

from typing import Any

from engine.service import ROLE_LABELS, Chamados
from web.dev_oidc import DEMO_PEOPLE


def seed_demo(svc: Chamados) -> list[dict[str, Any]]:
    shown, enrolments = [], []
    for person in DEMO_PEOPLE:
        role = person.get("role")
        roles = [role] if isinstance(role, str) and role not in ("", "requester") else []
        enrolments.append((person["cpf"], roles, person.get("groups", [])))
        label = ", ".join(ROLE_LABELS.get(r, r) for r in roles) or "Solicitante"
        if person.get("groups"):
            label += " (" + ", ".join(person["groups"]) + ")"
        shown.append({**person, "role_label": label})
    svc.admin.enrol(enrolments)
    svc.ready_answers.seed_examples()
    return shown

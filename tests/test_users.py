"""engine.users: upsert on login, role grants by CPF, audit trail, bootstrap admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import context
from engine.errors import Conflict, ValidationFailed
from engine.identity import Identity
from engine.models import AuditEvent, RoleGrant, User
from engine.service import Chamados
from engine.settings import Settings
from engine.users import (
    ROLE_LABELS,
    ROLES,
    ensure_bootstrap_admin,
    grant_role,
    list_grants,
    parse_cpf,
    revoke_role,
    roles_for,
    upsert_user,
)
from tests.conftest import database_url

MARIA = "39053344705"
ANA = "11144477735"
CARLOS = "52998224725"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Chamados]:
    settings = Settings(database_url=database_url(tmp_path))
    service = Chamados.from_settings(settings)
    service.migrate()
    yield service
    service.unit.db.dispose()


def ident(cpf: str = MARIA, **kw: object) -> Identity:
    fields: dict[str, object] = {
        "cpf": cpf,
        "name": "Maria da Silva",
        "email": "maria@example.gov.br",
        "email_verified": True,
    }
    fields.update(kw)
    return Identity(**fields)  # type: ignore[arg-type]


def test_roles_and_labels() -> None:
    assert ROLES == ("analyst", "supervisor", "designer", "admin")
    assert ROLE_LABELS == {
        "analyst": "Analista",
        "supervisor": "Supervisor(a)",
        "designer": "Designer de processos",
        "admin": "Administrador(a)",
    }


def test_upsert_creates_then_updates(db: Chamados) -> None:
    with db.unit.transaction() as s:
        user = upsert_user(s, ident(social_name="Mari", phone="61987650001"))
        first_id, first_login = user.id, user.last_login_at
        assert user.display_name == "Mari"
        assert first_login is not None
    with db.unit.transaction() as s:
        # Next login: new name, social name removed, e-mail absent (unverified now).
        user = upsert_user(s, ident(name="Maria Silva", email=None, social_name=None))
        assert user.id == first_id
        assert user.name == "Maria Silva"
        assert user.social_name is None
        assert user.email == "maria@example.gov.br"  # last verified one kept
        assert user.phone == "61987650001"
        assert user.last_login_at is not None and user.last_login_at >= first_login
    with db.unit.transaction() as s:
        assert s.scalar(select(User).where(User.cpf == MARIA)) is not None
        assert len(s.scalars(select(User)).all()) == 1


def test_upsert_without_name_uses_formatted_cpf(db: Chamados) -> None:
    with db.unit.transaction() as s:
        assert upsert_user(s, ident(name="")).name == "390.533.447-05"


def test_grant_any_cpf_spelling_and_twice_is_harmless(db: Chamados) -> None:
    with db.unit.transaction() as s:
        assert grant_role(s, "111.444.777-35", "analyst", CARLOS) is True
        assert grant_role(s, "111 444 777 35", "analyst", CARLOS) is False
        assert grant_role(s, ANA, "Supervisor", None) is True  # case-insensitive key
    with db.unit.transaction() as s:
        assert roles_for(s, ANA) == {"analyst", "supervisor"}
        assert roles_for(s, "111.444.777-35") == {"analyst", "supervisor"}
        assert roles_for(s, MARIA) == set()
        assert roles_for(s, "not a cpf") == set()
        grants = s.scalars(select(RoleGrant)).all()
        assert len(grants) == 2
        assert {g.granted_by for g in grants} == {CARLOS, None}
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == ["role.grant", "role.grant"]
        assert events[0].chamado_id is None and events[0].public is False
        assert events[0].details == {"cpf": ANA, "role": "analyst", "by_cpf": CARLOS}
        assert events[1].details == {"cpf": ANA, "role": "supervisor"}
        assert "Analista" in events[0].summary and "111.444.777-35" in events[0].summary


def test_audit_actor_is_the_granting_user(db: Chamados) -> None:
    with db.unit.transaction() as s:
        carlos = upsert_user(s, ident(CARLOS, name="Carlos Admin"))
        grant_role(s, ANA, "analyst", CARLOS)
    with db.unit.transaction() as s:
        event = s.scalar(select(AuditEvent))
        assert event is not None and event.actor_id == carlos.id


def test_role_audit_rows_carry_the_request_id(db: Chamados) -> None:
    """Like every audit row (engine.audit.record): the request or job that caused it."""
    token = context.request_id.set("req-roles-1")
    try:
        with db.unit.transaction() as s:
            grant_role(s, ANA, "analyst", None)
            revoke_role(s, ANA, "analyst", None)
    finally:
        context.request_id.reset(token)
    with db.unit.transaction() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.action, e.request_id) for e in events] == [
            ("role.grant", "req-roles-1"),
            ("role.revoke", "req-roles-1"),
        ]


@pytest.mark.parametrize("cpf", ["", "123", "111.111.111-11", "390.533.447-04", "abc"])
def test_invalid_cpf_refused(db: Chamados, cpf: str) -> None:
    with db.unit.transaction() as s, pytest.raises(ValidationFailed) as info:
        grant_role(s, cpf, "analyst", None)
    assert "cpf" in info.value.errors
    assert "CPF inválido" in info.value.errors["cpf"]


@pytest.mark.parametrize("role", ["", "root", "requester", None])
def test_invalid_role_refused(db: Chamados, role: str | None) -> None:
    with db.unit.transaction() as s, pytest.raises(ValidationFailed) as info:
        grant_role(s, ANA, role, None)  # type: ignore[arg-type]
    assert "Papel inválido" in info.value.errors["role"]


def test_revoke(db: Chamados) -> None:
    with db.unit.transaction() as s:
        grant_role(s, ANA, "analyst", None)
        grant_role(s, CARLOS, "admin", None)
    with db.unit.transaction() as s:
        assert revoke_role(s, "111.444.777-35", "analyst", CARLOS) is True
        assert revoke_role(s, ANA, "analyst", CARLOS) is False  # harmless
    with db.unit.transaction() as s:
        assert roles_for(s, ANA) == set()
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions == ["role.grant", "role.grant", "role.revoke"]


def test_last_admin_cannot_be_revoked(db: Chamados) -> None:
    with db.unit.transaction() as s:
        grant_role(s, CARLOS, "admin", None)
    with pytest.raises(Conflict), db.unit.transaction() as s:
        revoke_role(s, CARLOS, "admin", CARLOS)
    with db.unit.transaction() as s:
        grant_role(s, ANA, "admin", CARLOS)
        assert revoke_role(s, CARLOS, "admin", ANA) is True


def test_bootstrap_admin(db: Chamados) -> None:
    with db.unit.transaction() as s:
        assert ensure_bootstrap_admin(s, None) is False
        assert ensure_bootstrap_admin(s, "") is False
        assert ensure_bootstrap_admin(s, "529.982.247-25") is True
        assert ensure_bootstrap_admin(s, CARLOS) is False  # idempotent
    with db.unit.transaction() as s:
        assert roles_for(s, CARLOS) == {"admin"}
    with db.unit.transaction() as s, pytest.raises(ValidationFailed):
        ensure_bootstrap_admin(s, "123")


def test_list_grants(db: Chamados) -> None:
    with db.unit.transaction() as s:
        upsert_user(s, ident(ANA, name="Ana Souza", social_name="Aninha"))
        grant_role(s, ANA, "admin", None)
        grant_role(s, ANA, "analyst", None)
        grant_role(s, MARIA, "designer", None)  # never logged in
    with db.unit.transaction() as s:
        grants = list_grants(s)
        only_analysts = list_grants(s, ["analyst", "supervisor"])
    assert [(g.cpf, g.role) for g in grants] == [
        (ANA, "analyst"),
        (ANA, "admin"),
        (MARIA, "designer"),
    ]
    assert grants[0].name == "Aninha"
    assert grants[0].role_label == "Analista"
    assert grants[0].cpf_formatted == "111.444.777-35"
    assert grants[2].name is None
    assert [(g.cpf, g.role) for g in only_analysts] == [(ANA, "analyst")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("390.533.447-05", MARIA),
        ("39053344705", MARIA),
        ("390533447-05", MARIA),
        (" 390 533 447 05 ", MARIA),
        ("390.533.447/05", MARIA),
        ("390.533.447-0X", None),
        (None, None),
    ],
)
def test_parse_cpf(raw: str | None, expected: str | None) -> None:
    assert parse_cpf(raw) == expected

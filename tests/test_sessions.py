"""Server-side login sessions (engine.sessions): a copied cookie stops working once its
session ends — "Sair", "Sair de todos os dispositivos", an administrator, a revoked
role, inactivity or the maximum lifetime (on a fake clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select, update

from engine import sessions
from engine.identity import Identity
from engine.models import AuditEvent, User, UserSession
from engine.service import Chamados
from engine.settings import Settings
from tests.conftest import FRIDAY_EVENING, FakeClock, writer_holding_the_lock
from tests.test_api import build_app
from tests.test_auth import set_session_user
from web.auth import SESSION_KEY
from web.cli_roles import role as role_cli

MARIA, ANA, CARLOS = "39053344705", "11144477735", "52998224725"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FRIDAY_EVENING)


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[Flask]:
    app = build_app(tmp_path)
    app.extensions["chamados"].clock = clock
    yield app
    app.extensions["chamados"].unit.db.dispose()


@pytest.fixture
def svc(app: Flask) -> Chamados:
    return app.extensions["chamados"]


def logged_in(client: FlaskClient) -> bool:
    """Whether the client's cookie is a login: a page that needs one answers, and so
    does the API with the browser session."""
    page = client.get("/sessoes")
    api = client.get("/api/v1/chamados")
    assert (page.status_code == 200) == (api.status_code == 200), (page, api)
    return page.status_code == 200


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def csrf(client: FlaskClient) -> str:
    return client.get("/_csrf").get_data(as_text=True)


def rows_of(svc: Chamados, cpf: str) -> list[UserSession]:
    with svc.unit.session_factory() as s:
        user_id = s.scalar(select(User.id).where(User.cpf == cpf))
        stmt = select(UserSession).where(UserSession.user_id == user_id).order_by(UserSession.id)
        return list(s.scalars(stmt))


# --- the cookie carries a token, the server the session --------------------------------------


def test_only_the_hash_of_the_token_is_stored(app: Flask, svc: Chamados) -> None:
    browser = app.test_client()
    token = set_session_user(app, browser, MARIA, "Maria da Silva")
    (row,) = rows_of(svc, MARIA)
    assert row.token_hash == sessions.hash_token(token) != token
    assert row.created_at == row.last_seen_at == FRIDAY_EVENING
    assert row.ended_at is None and row.user_agent == "pytest"
    with browser.session_transaction() as sess:
        assert dict(sess) == {SESSION_KEY: token}  # no user id, no CPF: only the token


def test_the_user_agent_is_kept_short(svc: Chamados) -> None:
    _user, token = svc.sessions.log_in(
        Identity(cpf=MARIA, name="Maria"), "Mozilla/5.0\n" + "x" * 500
    )
    (row,) = rows_of(svc, MARIA)
    assert row.user_agent is not None and len(row.user_agent) == sessions.USER_AGENT_MAX
    assert row.user_agent.startswith("Mozilla/5.0 x")  # control characters folded


def test_a_copied_cookie_stops_working_after_sair(app: Flask, svc: Chamados) -> None:
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    thief = copy_of(app, browser)
    assert logged_in(browser) and logged_in(thief)

    resp = browser.post("/sair", data={"csrf_token": csrf(browser)})
    assert resp.status_code == 302
    assert not logged_in(browser)
    assert not logged_in(thief)  # the copy was signed by us, but its session has ended
    (row,) = rows_of(svc, MARIA)
    assert row.ended_at == FRIDAY_EVENING and row.end_reason == sessions.LOGOUT


def test_sair_needs_the_csrf_token(app: Flask, svc: Chamados) -> None:
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    assert browser.post("/sair").status_code == 400
    assert logged_in(browser)
    assert rows_of(svc, MARIA)[0].ended_at is None


# --- idle timeout and maximum lifetime -------------------------------------------------------


def test_a_session_lapses_after_30_minutes_without_requests(
    app: Flask, svc: Chamados, clock: FakeClock
) -> None:
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    # Active every 20 minutes: alive well past 30 minutes after the login.
    for _ in range(4):
        clock.advance(minutes=20)
        assert logged_in(browser)
    assert rows_of(svc, MARIA)[0].last_seen_at == clock.now
    clock.advance(minutes=30)
    assert not logged_in(browser)
    (row,) = rows_of(svc, MARIA)
    assert row.ended_at == clock.now and row.end_reason == sessions.IDLE
    clock.advance(minutes=1)
    assert not logged_in(copy_of(app, browser))  # ended for good, not only for this cookie


def test_a_session_ends_12_hours_after_the_login_however_active(
    app: Flask, svc: Chamados, clock: FakeClock
) -> None:
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    for _ in range(12 * 4 - 1):
        clock.advance(minutes=15)
        assert logged_in(browser)
    clock.advance(minutes=15)  # 12 hours after the login
    assert not logged_in(browser)
    (row,) = rows_of(svc, MARIA)
    assert row.end_reason == sessions.EXPIRED


def test_timeouts_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env={"SESSION_IDLE_MINUTES": "5", "SESSION_MAX_HOURS": "2"}, instance_dir=tmp_path
    )
    policy = sessions.Policy.of(settings)
    assert policy == sessions.Policy(idle=timedelta(minutes=5), lifetime=timedelta(hours=2))
    default = sessions.Policy.of(Settings.from_env(env={}, instance_dir=tmp_path))
    assert default == sessions.Policy(idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
    with pytest.raises(ValueError, match="SESSION_IDLE_MINUTES"):
        Settings.from_env(env={"SESSION_IDLE_MINUTES": "0"}, instance_dir=tmp_path)


def test_a_shorter_idle_timeout_applies(app: Flask, svc: Chamados, clock: FakeClock) -> None:
    svc.settings = Settings(**{**svc.settings.__dict__, "session_idle_minutes": 5})
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    clock.advance(minutes=4)
    assert logged_in(browser)
    clock.advance(minutes=5)
    assert not logged_in(browser)


# --- the per-request check stays cheap -------------------------------------------------------


def statements_during(db: Engine, work: object) -> list[str]:
    """The SQL statements ``work()`` runs (SQLite's own BEGIN IMMEDIATE left out)."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(statement)

    event.listen(db, "before_cursor_execute", record)
    try:
        assert callable(work)
        work()
    finally:
        event.remove(db, "before_cursor_execute", record)
    return seen


def test_authentication_is_one_read_and_last_seen_is_written_once_a_minute(
    app: Flask, svc: Chamados, clock: FakeClock
) -> None:
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    # /_csrf reads nothing else: what runs is the authentication alone.
    first = statements_during(svc.unit.db, lambda: browser.get("/_csrf"))
    assert len(first) == 1 and first[0].lstrip().upper().startswith("SELECT")
    clock.advance(seconds=59)
    assert len(statements_during(svc.unit.db, lambda: browser.get("/_csrf"))) == 1
    clock.advance(seconds=2)
    touched = statements_during(svc.unit.db, lambda: browser.get("/_csrf"))
    assert [s.lstrip().split()[0].upper() for s in touched] == ["SELECT", "UPDATE"]
    assert rows_of(svc, MARIA)[0].last_seen_at == clock.now


def test_last_seen_is_not_written_while_sqlite_is_busy(
    app: Flask, svc: Chamados, clock: FakeClock
) -> None:
    if svc.unit.db.dialect.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    clock.advance(minutes=5)
    with writer_holding_the_lock(svc, update(User).values(name="Escrevendo")):
        assert logged_in(browser)  # served, not queued behind the writer
    assert rows_of(svc, MARIA)[0].last_seen_at == FRIDAY_EVENING  # left to a later request
    assert logged_in(browser)
    assert rows_of(svc, MARIA)[0].last_seen_at == clock.now


def test_a_touch_never_revives_an_ended_session(svc: Chamados, clock: FakeClock) -> None:
    _user, token = svc.sessions.log_in(Identity(cpf=MARIA, name="Maria"), None)
    live = svc.sessions.session_user(token)
    assert live is not None
    assert svc.sessions.log_out(token)
    assert not svc.sessions.log_out(token)  # once
    with svc.unit.db.begin() as conn:
        assert not sessions.touch(conn, live.session_id, clock.now + timedelta(minutes=5))
    assert svc.sessions.session_user(token) is None


# --- sair de todos os dispositivos -----------------------------------------------------------


def test_sair_de_todos_os_dispositivos(app: Flask, svc: Chamados) -> None:
    laptop, phone, other = app.test_client(), app.test_client(), app.test_client()
    set_session_user(app, laptop, MARIA, "Maria da Silva")
    set_session_user(app, phone, MARIA, "Maria da Silva")
    set_session_user(app, other, ANA, "Ana Souza")
    page = laptop.get("/sessoes").get_data(as_text=True)
    assert page.count("pytest") == 2 and page.count("Esta sessão") == 1

    resp = laptop.post("/sessoes/sair-de-todos", data={"csrf_token": csrf(laptop)})
    assert resp.status_code == 302
    assert not logged_in(laptop) and not logged_in(phone)
    assert logged_in(other)  # someone else's sessions are theirs
    ended = rows_of(svc, MARIA)
    assert {r.end_reason for r in ended} == {sessions.LOGOUT_ALL}
    with svc.unit.session_factory() as s:
        event_row = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event_row is not None and event_row.action == "sessao.sair_de_todas"
    assert event_row.details == {"user_id": ended[0].user_id, "sessions": 2}


def test_sair_de_todos_needs_the_csrf_token(app: Flask, svc: Chamados) -> None:
    laptop, phone = app.test_client(), app.test_client()
    set_session_user(app, laptop, MARIA, "Maria da Silva")
    set_session_user(app, phone, MARIA, "Maria da Silva")
    assert laptop.post("/sessoes/sair-de-todos").status_code == 400
    forged = laptop.post("/sessoes/sair-de-todos", data={"csrf_token": "forjado"})
    assert forged.status_code == 400
    assert logged_in(laptop) and logged_in(phone)


def test_a_new_login_opens_a_new_session_and_ends_the_browsers_old_one(
    svc: Chamados,
) -> None:
    _user, first = svc.sessions.log_in(Identity(cpf=MARIA, name="Maria"), None)
    _user, second = svc.sessions.log_in(Identity(cpf=MARIA, name="Maria"), None, replaces=first)
    assert first != second
    assert (
        svc.sessions.session_user(first) is None and svc.sessions.session_user(second) is not None
    )
    assert [r.end_reason for r in rows_of(svc, MARIA)] == [sessions.RELOGIN, None]


# --- administrators, and revoked roles -------------------------------------------------------


def test_an_admin_ends_a_persons_sessions(app: Flask, svc: Chamados) -> None:
    admin, maria, ana = app.test_client(), app.test_client(), app.test_client()
    set_session_user(app, admin, CARLOS, "Carlos Admin", "admin")
    set_session_user(app, maria, MARIA, "Maria da Silva")
    set_session_user(app, ana, ANA, "Ana Souza")
    page = admin.get("/admin/sessoes")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Maria da Silva" in html and "390.533.447-05" in html and "Ana Souza" in html

    resp = admin.post("/admin/sessoes", data={"csrf_token": csrf(admin), "cpf": "390.533.447-05"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/sessoes"
    assert "1 sessão(ões) encerrada(s)" in admin.get("/admin/sessoes").get_data(as_text=True)
    assert not logged_in(maria)
    assert logged_in(ana) and logged_in(admin)
    assert rows_of(svc, MARIA)[0].end_reason == sessions.ADMIN

    unknown = admin.post("/admin/sessoes", data={"csrf_token": csrf(admin), "cpf": "123"})
    assert unknown.status_code == 422 and "CPF inválido" in unknown.get_data(as_text=True)


def test_only_admins_end_other_peoples_sessions(app: Flask, svc: Chamados) -> None:
    ana, maria = app.test_client(), app.test_client()
    set_session_user(app, ana, ANA, "Ana Souza", "analyst", "supervisor")
    set_session_user(app, maria, MARIA, "Maria da Silva")
    assert ana.get("/admin/sessoes").status_code == 403
    refused = ana.post("/admin/sessoes", data={"csrf_token": csrf(ana), "cpf": MARIA})
    assert refused.status_code == 403
    assert logged_in(maria)


def test_ending_sessions_as_admin_needs_the_csrf_token(app: Flask) -> None:
    admin, maria = app.test_client(), app.test_client()
    set_session_user(app, admin, CARLOS, "Carlos Admin", "admin")
    set_session_user(app, maria, MARIA, "Maria da Silva")
    assert admin.post("/admin/sessoes", data={"cpf": MARIA}).status_code == 400
    assert logged_in(maria)


def test_revoking_a_role_on_the_admin_page_ends_that_persons_sessions(
    app: Flask, svc: Chamados
) -> None:
    admin, ana, maria = app.test_client(), app.test_client(), app.test_client()
    set_session_user(app, admin, CARLOS, "Carlos Admin", "admin")
    set_session_user(app, ana, ANA, "Ana Souza", "analyst", "supervisor")
    set_session_user(app, maria, MARIA, "Maria da Silva")
    resp = admin.post(
        "/admin/papeis",
        data={"csrf_token": csrf(admin), "action": "revoke", "cpf": ANA, "role": "analyst"},
    )
    assert resp.status_code == 302
    assert not logged_in(ana)  # logs in again, with the roles she still has
    assert logged_in(maria) and logged_in(admin)
    assert rows_of(svc, ANA)[0].end_reason == sessions.ROLE_REVOKED
    # Granting changes nothing about sessions.
    again = app.test_client()
    set_session_user(app, again, ANA, "Ana Souza")
    admin.post(
        "/admin/papeis",
        data={"csrf_token": csrf(admin), "action": "grant", "cpf": ANA, "role": "analyst"},
    )
    assert logged_in(again)


def test_a_refused_revoke_ends_nothing(app: Flask, svc: Chamados) -> None:
    admin = app.test_client()
    set_session_user(app, admin, CARLOS, "Carlos Admin", "admin")
    resp = admin.post(
        "/admin/papeis",
        data={"csrf_token": csrf(admin), "action": "revoke", "cpf": CARLOS, "role": "admin"},
    )
    assert resp.status_code == 409  # the last administrator
    assert logged_in(admin)


def test_revoking_a_role_from_the_cli_ends_that_persons_sessions(app: Flask, svc: Chamados) -> None:
    ana = app.test_client()
    set_session_user(app, ana, ANA, "Ana Souza", "analyst")
    with app.app_context():
        result = CliRunner().invoke(role_cli, ["revoke", ANA, "analyst"])
    assert result.exit_code == 0, result.output
    assert not logged_in(ana)
    assert rows_of(svc, ANA)[0].end_reason == sessions.ROLE_REVOKED


def test_a_lapsed_session_says_so_once_but_not_on_the_way_out(app: Flask, clock: FakeClock) -> None:
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    clock.advance(minutes=31)
    assert "Sua sessão terminou" in browser.get("/").get_data(as_text=True)
    assert "Sua sessão terminou" not in browser.get("/").get_data(as_text=True)

    leaving = app.test_client()
    set_session_user(app, leaving, MARIA, "Maria da Silva")
    token = csrf(leaving)
    clock.advance(minutes=31)
    resp = leaving.post("/sair", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    home = leaving.get("/").get_data(as_text=True)
    assert "Você saiu do sistema." in home and "Sua sessão terminou" not in home

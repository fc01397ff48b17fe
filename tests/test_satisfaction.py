"""Satisfaction (Lei 13.460/2017, art. 23): the result e-mail's one-click link, spent
once; tampered and reused links refused; the tracking page answers and changes it for
seven days; every answer audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from engine.errors import Conflict, NotFound, ValidationFailed
from engine.models import AuditEvent, OutboxMessage, SatisfactionSurvey
from engine.satisfaction import LinkOutcome
from engine.service import ActorRef, Chamados
from tests.conftest import FakeClock, add_person, full_copy
from tests.test_api import build_app
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import chamado, decide, submit_registration
from tests.webform import fill

MARIA = "39053344705"
RESOLVE = {"decisao": "resolver", "resposta": "Corrigimos a integração."}
_LINK = re.compile(r"(https?://[^\s\"]+/avaliacao/([A-Za-z0-9_-]{43}))\?nota=(\d)")


def resolved(svc: Chamados, maria: ActorRef, ana: ActorRef) -> tuple[int, str]:
    """A resolved chamado and the token its result e-mail links to."""
    cid = submit_registration(svc, maria)
    decide(svc, ana, cid, RESOLVE)
    with svc.unit.session_factory() as s:
        mail = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.chamado_id == cid, OutboxMessage.kind == "chamado_resolvido"
            )
        ).one()
    links = _LINK.findall(mail.body_text)
    assert [int(n) for _url, _token, n in links] == [1, 2, 3, 4, 5]
    html_links = _LINK.findall(mail.body_html)
    assert [int(n) for _url, _token, n in html_links] == [1, 2, 3, 4, 5]
    assert "O atendimento resolveu seu problema?" in mail.body_text
    assert "O atendimento resolveu seu problema?" in mail.body_html
    tokens = {token for _url, token, _n in links + html_links}
    assert len(tokens) == 1
    return cid, tokens.pop()


def survey(svc: Chamados, cid: int) -> SatisfactionSurvey:
    with svc.unit.session_factory() as s:
        row = s.get(SatisfactionSurvey, cid)
        assert row is not None
        return row


def test_the_link_records_once_and_only_its_hash_is_kept(
    tsvc: Chamados, people: tuple[ActorRef, ActorRef]
) -> None:
    maria, ana = people
    cid, token = resolved(tsvc, maria, ana)
    row = survey(tsvc, cid)
    assert row.rating is None and token not in row.token_hash
    first = tsvc.satisfaction.answer_by_link(token, "4")
    assert (first.outcome, first.rating, first.chamado_id) == (LinkOutcome.RECORDED, 4, cid)
    again = tsvc.satisfaction.answer_by_link(token, "1")  # a second click, another score
    assert again.outcome is LinkOutcome.ALREADY_USED and again.rating == 4
    row = survey(tsvc, cid)
    assert (row.rating, row.channel) == (4, "email")
    with tsvc.unit.session_factory() as s:
        audit = s.scalars(
            select(AuditEvent).where(
                AuditEvent.chamado_id == cid, AuditEvent.action == "satisfacao.respondida"
            )
        ).all()
    assert [(a.details, a.public, a.actor_id) for a in audit] == [({"nota": 4}, False, None)]


@pytest.mark.parametrize(
    "tampered",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character changed
        lambda t: t[:-2],  # cut short
        lambda t: t + "x",
        lambda t: "../" + t[3:],
        lambda t: "",
    ],
)
def test_a_tampered_link_records_nothing(
    tsvc: Chamados, people: tuple[ActorRef, ActorRef], tampered: object
) -> None:
    maria, ana = people
    cid, token = resolved(tsvc, maria, ana)
    answer = tsvc.satisfaction.answer_by_link(tampered(token), "5")  # type: ignore[operator]
    assert answer.outcome is LinkOutcome.INVALID and answer.protocolo is None
    assert survey(tsvc, cid).rating is None
    assert tsvc.satisfaction.answer_by_link(token, "5").outcome is LinkOutcome.RECORDED


@pytest.mark.parametrize("nota", ["0", "6", "", "4.5", "x", None])
def test_a_score_outside_the_scale_is_refused(
    tsvc: Chamados, people: tuple[ActorRef, ActorRef], nota: str | None
) -> None:
    maria, ana = people
    cid, token = resolved(tsvc, maria, ana)
    with pytest.raises(ValidationFailed) as refused:
        tsvc.satisfaction.answer_by_link(token, nota)
    assert refused.value.errors == {"nota": "Escolha uma nota de 1 a 5."}
    assert tsvc.satisfaction.answer_by_link(token, "3").outcome is LinkOutcome.RECORDED


def test_the_clicked_page_takes_a_comment_within_the_hour(
    tsvc: Chamados, people: tuple[ActorRef, ActorRef], clock: FakeClock
) -> None:
    maria, ana = people
    cid, token = resolved(tsvc, maria, ana)
    comment = tsvc.satisfaction.comment_by_link(token, "5", "Resolvido")
    assert comment.outcome is LinkOutcome.INVALID or comment.outcome is LinkOutcome.EXPIRED
    assert survey(tsvc, cid).comment is None  # no comment before the click
    tsvc.satisfaction.answer_by_link(token, "2")
    clock.advance(minutes=30)
    done = tsvc.satisfaction.comment_by_link(token, "3", "  Demorou, mas resolveu.  ")
    assert (done.outcome, done.rating, done.comment) == (
        LinkOutcome.RECORDED,
        3,
        "Demorou, mas resolveu.",
    )
    with pytest.raises(ValidationFailed) as refused:
        tsvc.satisfaction.comment_by_link(token, "3", "x" * 1001)
    assert "1000 caracteres" in refused.value.errors["comentario"]
    clock.advance(minutes=31)
    late = tsvc.satisfaction.comment_by_link(token, "1", "Mudei de ideia")
    assert late.outcome is LinkOutcome.EXPIRED
    assert (survey(tsvc, cid).rating, survey(tsvc, cid).comment) == (3, "Demorou, mas resolveu.")


def test_the_tracking_page_answers_and_changes_for_seven_days(
    tsvc: Chamados, people: tuple[ActorRef, ActorRef], clock: FakeClock
) -> None:
    maria, ana = people
    cid, token = resolved(tsvc, maria, ana)
    first = tsvc.satisfaction.answer(maria, cid, "2", "")
    assert (first.rating, first.channel, first.comment) == (2, "pagina", None)
    # The page answered: the e-mail's link is spent.
    assert tsvc.satisfaction.answer_by_link(token, "5").outcome is LinkOutcome.ALREADY_USED
    clock.advance(days=6, hours=23)
    changed = tsvc.satisfaction.answer(maria, cid, "4", "Voltou a funcionar.")
    assert (changed.rating, changed.comment) == (4, "Voltou a funcionar.")
    assert changed.answered_at == first.answered_at  # the first answer's date stands
    clock.advance(hours=2)
    with pytest.raises(Conflict, match="O prazo para mudar sua avaliação terminou em"):
        tsvc.satisfaction.answer(maria, cid, "1", "")
    assert survey(tsvc, cid).rating == 4
    # "Meus dados" (LGPD) holds the answer with the ticket.
    mine = {s["protocolo"]: s for s in full_copy(tsvc, maria)["solicitacoes"]}
    answer = mine[chamado(tsvc, cid).protocolo]["avaliacao"]
    assert (answer["nota"], answer["comentario"]) == (4, "Voltou a funcionar.")


def test_only_the_requester_of_an_ended_ticket_answers(
    tsvc: Chamados, people: tuple[ActorRef, ActorRef]
) -> None:
    maria, ana = people
    joao = add_person(tsvc, "12345678909", "João")
    open_one = submit_registration(tsvc, maria)
    with pytest.raises(Conflict, match="ainda não terminou"):
        tsvc.satisfaction.answer(maria, open_one, "5", "")
    cid, _token = resolved(tsvc, maria, ana)
    with pytest.raises(NotFound):
        tsvc.satisfaction.answer(joao, cid, "5", "")
    with pytest.raises(NotFound):
        tsvc.satisfaction.answer(ana, cid, "5", "")
    assert tsvc.satisfaction.for_tracking(joao, cid) is None
    assert survey(tsvc, cid).rating is None


def test_every_process_asks_when_it_ends_and_only_once(
    tsvc: Chamados, people: tuple[ActorRef, ActorRef]
) -> None:
    """The question belongs to the platform: a ticket ends once, one survey."""
    maria, ana = people
    cid, _token = resolved(tsvc, maria, ana)
    with tsvc.unit.session_factory() as s:
        assert len(s.scalars(select(SatisfactionSurvey)).all()) == 1
        staff_mail = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.chamado_id == cid, OutboxMessage.kind != "chamado_resolvido"
            )
        ).all()
    assert all("/avaliacao/" not in m.body_text for m in staff_mail)


# --- pages ----------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def _resolved_in(app: Flask) -> tuple[int, str]:
    svc: Chamados = app.extensions["chamados"]
    maria = add_person(svc, MARIA, "Maria da Silva")
    ana = add_person(svc, "11144477735", "Ana", "analyst")
    return resolved(svc, maria, ana)


def test_one_click_without_a_login_then_a_comment(app: Flask) -> None:
    _cid, token = _resolved_in(app)
    client = app.test_client()
    clicked = client.get(f"/avaliacao/{token}?nota=5")
    page = clicked.get_data(as_text=True)
    assert clicked.status_code == 200
    assert "Obrigado! Registramos sua avaliação do chamado CH-" in page
    assert "5 – Resolveu totalmente" in page
    posted = client.post(
        f"/avaliacao/{token}",
        data=fill(page, {"nota": "4", "comentario": "Ótimo <b>atendimento</b>"}, "comentario"),
    )
    html = posted.get_data(as_text=True)
    assert posted.status_code == 200 and "foi atualizada: 4 – Resolveu quase tudo" in html
    assert "Ótimo &lt;b&gt;atendimento&lt;/b&gt;" in html
    reused = client.get(f"/avaliacao/{token}?nota=1")
    assert reused.status_code == 409
    assert "Este link de avaliação já foi usado" in reused.get_data(as_text=True)
    bad = client.get(f"/avaliacao/{token[:-1]}Z?nota=1")
    assert bad.status_code == 404
    assert "Link de avaliação inválido" in bad.get_data(as_text=True)


def test_a_comment_too_long_comes_back_with_what_was_typed(app: Flask) -> None:
    _cid, token = _resolved_in(app)
    client = app.test_client()
    page = client.get(f"/avaliacao/{token}?nota=3").get_data(as_text=True)
    long = "palavra " * 200
    refused = client.post(
        f"/avaliacao/{token}", data=fill(page, {"nota": "3", "comentario": long}, "comentario")
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "<title>Erro: Avaliação" in html
    assert "O comentário pode ter até 1000 caracteres." in html
    assert long.strip() in html and 'value="3" required checked' in html


def test_a_link_without_a_score_asks_for_one(app: Flask) -> None:
    _cid, token = _resolved_in(app)
    page = app.test_client().get(f"/avaliacao/{token}").get_data(as_text=True)
    assert "Escolha a nota que descreve o atendimento." in page


def test_the_tracking_page_asks_answers_and_keeps_what_was_typed(app: Flask) -> None:
    cid, token = _resolved_in(app)
    client = app.test_client()
    set_session_user(app, client, MARIA, "Maria da Silva")
    page = client.get(f"/chamados/{cid}").get_data(as_text=True)
    assert "Avaliação do atendimento" in page and "Enviar avaliação" in page
    action = f"/chamados/{cid}/avaliacao"
    refused = client.post(action, data=fill(page, {"comentario": "Sem nota"}, action))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Escolha uma nota de 1 a 5." in html
    assert "Sem nota" in html and "<title>Erro: Acompanhar" in html
    sent = client.post(action, data=fill(page, {"nota": "5", "comentario": "Valeu"}, action))
    assert sent.status_code == 302
    after = client.get(f"/chamados/{cid}").get_data(as_text=True)
    assert "Sua avaliação: <strong>5 – Resolveu totalmente</strong>" in after
    assert "Mudar avaliação" in after
    assert app.test_client().get(f"/avaliacao/{token}?nota=1").status_code == 409


def test_another_person_cannot_answer_for_the_ticket(app: Flask) -> None:
    cid, _token = _resolved_in(app)
    client = app.test_client()
    set_session_user(app, client, "12345678909", "João")
    csrf = client.get("/_csrf").get_data(as_text=True)
    resp = client.post(f"/chamados/{cid}/avaliacao", data={"nota": "1", "csrf_token": csrf})
    assert resp.status_code == 404
    assert client.post(f"/chamados/{cid}/avaliacao", data={"nota": "1"}).status_code == 400
    svc: Chamados = app.extensions["chamados"]
    assert survey(svc, cid).rating is None


def test_the_change_window_closes(tsvc: Chamados, people: tuple[ActorRef, ActorRef]) -> None:
    maria, ana = people
    cid, _token = resolved(tsvc, maria, ana)
    answered = tsvc.satisfaction.answer(maria, cid, "3", "")
    assert answered.change_until() == answered.answered_at + timedelta(days=7)  # type: ignore[operator]

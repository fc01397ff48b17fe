"""Every ticket event sends its e-mail: through the outbox, to a real SMTP server."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select

from engine import outbox
from engine.models import OutboxMessage
from engine.service import ActorRef, Chamados
from tests.conftest import SOFIA, FakeClock, add_person
from tests.smtp_server import SmtpServer
from tests.test_engine_lifecycle import chamado, decide, open_task
from tests.test_timers import ask_adjustment, submit


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def deliver(svc: Chamados, server: SmtpServer) -> dict[str, list[EmailMessage]]:
    outbox.deliver_due(svc.unit.transaction, server.transport(), svc.clock(), "teste")
    by_kind: dict[str, list[EmailMessage]] = {}
    with svc.unit.session_factory() as s:
        kinds = dict(s.execute(select(OutboxMessage.message_id, OutboxMessage.kind)).all())
        assert set(s.scalars(select(OutboxMessage.status))) == {"sent"}
    for received in server.handler.received:
        by_kind.setdefault(kinds[str(received.message["Message-ID"])], []).append(received.message)
    return by_kind


def test_every_event_mails_the_right_person(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef], smtp: SmtpServer
) -> None:
    maria, ana = people
    base = tsvc.settings.app_base_url
    add_person(tsvc, SOFIA, "Sofia Supervisora", "supervisor")
    adjusted = submit(tsvc, maria)
    ask_adjustment(tsvc, ana, adjusted)
    task = open_task(tsvc, adjusted)
    tsvc.requests.complete_task(
        maria,
        task.id,
        tsvc.requests.task_form(maria, task.id).data,
        chamado(tsvc, adjusted).version,
    )
    returned = submit(tsvc, maria)
    decide(tsvc, ana, returned, {"decisao": "devolver", "motivo_devolucao": "conta_govbr"})
    abandoned = submit(tsvc, maria)
    ask_adjustment(tsvc, ana, abandoned)
    clock.advance(days=11)
    assert tsvc.timers.fire_due_timers("w")  # the SLA of `adjusted` and the closing of `abandoned`
    decide(tsvc, ana, adjusted, {"decisao": "resolver", "resposta": "Corrigido <b>hoje</b>."})

    mail = deliver(tsvc, smtp)
    maria_addr = "39053344705@example.gov.br"
    assert len(mail["chamado_registrado"]) == 3
    receipt = mail["chamado_registrado"][0]
    assert receipt["To"] == maria_addr
    text, html = bodies(receipt)
    assert chamado(tsvc, adjusted).protocolo in receipt["Subject"]
    assert f"{base}/chamados/{adjusted}" in text and f"{base}/chamados/{adjusted}" in html

    protocolo = chamado(tsvc, adjusted).protocolo
    (adjust,) = [m for m in mail["ajuste_solicitado"] if protocolo in m["Subject"]]
    text, html = bodies(adjust)
    assert "Detalhe melhor." in text and f"{base}/tarefas/" in text
    # Asked on 27/11 at 18:00 (Brasília): ten days to answer.
    assert "07/12/2026" in text and "07/12/2026" in html

    (resolved,) = mail["chamado_resolvido"]
    text, html = bodies(resolved)
    assert "Corrigido <b>hoje</b>." in text and "&lt;b&gt;hoje&lt;/b&gt;" in html

    (ret,) = mail["chamado_devolvido"]
    text, html = bodies(ret)
    assert "Dificuldade com conta gov.br" in text
    assert "https://e.gov.br/solicitaratendimentogovbr" in text
    assert 'href="https://e.gov.br/solicitaratendimentogovbr"' in html

    (closed,) = mail["encerrado_sem_resposta"]
    assert closed["To"] == maria_addr
    assert f"{base}/chamados/{abandoned}" in bodies(closed)[0]

    sla = mail["sla_vencido"]
    assert [m["To"] for m in sla] == [f"{SOFIA}@example.gov.br"]
    assert f"{base}/analise/{adjusted}" in bodies(sla[0])[0]
    # Delivering again sends nothing twice.
    before = len(smtp.handler.received)
    outbox.deliver_due(tsvc.unit.transaction, smtp.transport(), tsvc.clock(), "teste")
    assert len(smtp.handler.received) == before


def test_a_rolled_back_action_sends_nothing(
    tsvc: Chamados, people: tuple[ActorRef, ActorRef], smtp: SmtpServer
) -> None:
    maria, ana = people
    cid = submit(tsvc, maria)
    t = open_task(tsvc, cid, "analyst")
    tsvc.analysis.claim(ana, t.id)
    try:  # a stale version: the decision (and its e-mail) is rolled back
        tsvc.requests.complete_task(ana, t.id, {"decisao": "resolver", "resposta": "Feito."}, 1)
    except Exception:
        pass
    mail = deliver(tsvc, smtp)
    assert set(mail) == {"chamado_registrado"}

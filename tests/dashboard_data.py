"""A known set of tickets for the Painel's tests, driven through the real engine.

Four chamados with the clock moved between the steps, so every figure has an exact
expected value (Brasília time, UTC−3):

- A: sent Fri 27/11 18:00, INSS, "Aposentadoria por idade", erro_api; claimed 1 h later,
  resolved 3 h after it was sent; answered 5 with a comment.
- B: sent Fri 27/11 23:30 (Sat 28/11 02:30 UTC), INSS, "Pensão por morte", lentidao;
  first analysis 4 h later (an adjustment round), resolved 12 h 30 after it was sent;
  answered 3 without a comment.
- C: sent Sat 28/11 09:00, órgão 244 (MEC), "Aposentadoria por idade", erro_api; never
  analysed, still open, its analysis overdue.
- D: sent Mon 30/11 10:00, INSS, "Aposentadoria por idade", erro_api; returned 30 min
  later; answered 1 with a comment.

The clock ends on Wed 02/12 12:00 (Brasília), after the overdue timer of C fired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.service import ActorRef, Chamados
from tests.conftest import FakeClock, add_person
from tests.test_engine_lifecycle import chamado, decide, open_task, registration

MARIA, ANA = "39053344705", "11144477735"
INSS, OTHER_ORGAO = 1934, 244
# 27/11/2026 18:00 in Brasília.
START = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
END = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Known:
    maria: ActorRef
    ana: ActorRef
    ids: dict[str, int]


def _submit(svc: Chamados, maria: ActorRef, **overrides: object) -> int:
    started = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, started.id)
    svc.requests.complete_task(
        maria, task.id, registration(**overrides), chamado(svc, started.id).version
    )
    return started.id


def _claim(svc: Chamados, ana: ActorRef, cid: int) -> None:
    svc.analysis.claim(ana, open_task(svc, cid, "analyst").id)


def build(svc: Chamados, clock: FakeClock) -> Known:
    maria = add_person(svc, MARIA, "Maria da Silva")
    ana = add_person(svc, ANA, "Ana Souza", "analyst")
    ids: dict[str, int] = {}
    clock.now = START
    ids["A"] = _submit(svc, maria)
    clock.advance(hours=1)
    _claim(svc, ana, ids["A"])
    clock.advance(hours=2)
    decide(svc, ana, ids["A"], {"decisao": "resolver", "resposta": "Corrigido."})
    clock.advance(minutes=5)
    svc.satisfaction.answer(maria, ids["A"], "5", "Ótimo atendimento")

    clock.now = START + timedelta(hours=5, minutes=30)  # 23:30 in Brasília
    ids["B"] = _submit(svc, maria, nome_servico="Pensão por morte", tipo_problema="lentidao")
    clock.advance(hours=4)
    decide(svc, ana, ids["B"], {"decisao": "ajuste", "ajuste_solicitado": "Qual protocolo?"})

    clock.now = START + timedelta(hours=15)  # Sat 09:00
    ids["C"] = _submit(svc, maria, orgao=OTHER_ORGAO)
    clock.advance(hours=1)
    task = open_task(svc, ids["B"])
    form = svc.requests.task_form(maria, task.id)
    svc.requests.complete_task(maria, task.id, form.data, chamado(svc, ids["B"]).version)
    clock.advance(hours=2)  # Sat 12:00: 12 h 30 after B was sent
    decide(svc, ana, ids["B"], {"decisao": "resolver", "resposta": "Corrigido."})
    clock.advance(minutes=5)
    svc.satisfaction.answer(maria, ids["B"], "3", "")

    clock.now = START + timedelta(days=2, hours=16)  # Mon 30/11 10:00
    ids["D"] = _submit(svc, maria)
    clock.advance(minutes=30)
    decide(svc, ana, ids["D"], {"decisao": "devolver", "motivo_devolucao": "fora_escopo"})
    clock.advance(minutes=5)
    svc.satisfaction.answer(maria, ids["D"], "1", "Não era isso")

    clock.now = END
    svc.timers.fire_due_timers("dashboard-test")
    assert chamado(svc, ids["C"]).overdue
    return Known(maria, ana, ids)

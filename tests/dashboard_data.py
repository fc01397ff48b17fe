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


# Demo-like tickets for the Painel's screenshot (tests/test_dashboard_browser.py).
DEMO_ORGAOS = (1934, 1934, 1934, 244, 244, 308820, 304, 253, 25064)
DEMO_SERVICES = (
    "Aposentadoria por idade",
    "Pensão por morte",
    "Seguro-desemprego",
    "Benefício de prestação continuada",
    "Matrícula no ensino técnico",
    "Carteira de trabalho digital",
)
DEMO_TYPES = ("erro_api", "erro_api", "erro_integracao", "lentidao", "erro_roteamento", "outros")
DEMO_DAYS = 28
# The last day of the demo, 17:00 in Brasília.
DEMO_END = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)


def demo(svc: Chamados, clock: FakeClock, tickets: int = 70) -> Known:
    """Four weeks of tickets, a few a day, with the usual mix: most analysed within hours,
    some asked for an adjustment, some returned, a few still open or overdue, and the
    satisfaction answers of most of the closed ones. Deterministic (a seeded random)."""
    import random

    rng = random.Random(12)
    maria = add_person(svc, MARIA, "Maria da Silva")
    ana = add_person(svc, ANA, "Ana Souza", "analyst")
    start = DEMO_END - timedelta(days=DEMO_DAYS)
    # (when, what): every action of every ticket, played in time order.
    plan: list[tuple[datetime, int, str]] = []
    for n in range(tickets):
        # More tickets in the last week: the wave of a failing integration.
        day = min(DEMO_DAYS - 1, int(DEMO_DAYS * rng.random() ** 0.6))
        sent = start + timedelta(days=day, hours=rng.uniform(11, 22))
        plan.append((sent, n, "enviar"))
        if sent > DEMO_END - timedelta(days=2) and rng.random() < 0.7:
            continue  # still waiting
        if rng.random() < 0.08:
            continue  # never picked: its deadline passes
        first = sent + timedelta(minutes=rng.choice((20, 45, 90, 180, 300, 600, 1500)))
        plan.append((first, n, "ajuste" if rng.random() < 0.2 else "decidir"))
    plan.sort()
    ids: dict[int, int] = {}
    followups: list[tuple[datetime, int, str]] = []
    while plan or followups:
        plan.extend(followups)
        followups = []
        plan.sort()
        when, n, action = plan.pop(0)
        if when > DEMO_END:
            continue
        clock.now = when
        svc.timers.fire_due_timers("dashboard-demo")  # deadlines pass as time goes by
        if action == "enviar":
            ids[n] = _submit(
                svc,
                maria,
                orgao=rng.choice(DEMO_ORGAOS),
                nome_servico=rng.choice(DEMO_SERVICES),
                tipo_problema=rng.choice(DEMO_TYPES),
            )
        elif action == "ajuste":
            decide(svc, ana, ids[n], {"decisao": "ajuste", "ajuste_solicitado": "Qual protocolo?"})
            followups.append((when + timedelta(hours=rng.uniform(2, 30)), n, "reenviar"))
        elif action == "reenviar":
            task = open_task(svc, ids[n])
            form = svc.requests.task_form(maria, task.id)
            svc.requests.complete_task(maria, task.id, form.data, chamado(svc, ids[n]).version)
            followups.append((when + timedelta(hours=rng.uniform(1, 8)), n, "decidir"))
        elif action == "decidir":
            if rng.random() < 0.15:
                data = {"decisao": "devolver", "motivo_devolucao": "fora_escopo"}
            else:
                data = {"decisao": "resolver", "resposta": "Corrigimos a integração."}
            decide(svc, ana, ids[n], data)
            if rng.random() < 0.75:
                followups.append((when + timedelta(minutes=rng.uniform(5, 600)), n, "avaliar"))
        elif action == "avaliar":
            score = rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 6))[0]
            comment = rng.choice(("", "", "Resolveram rápido.", "Demorou, mas resolveu."))
            svc.satisfaction.answer(maria, ids[n], str(score), comment)
    clock.now = DEMO_END
    svc.timers.fire_due_timers("dashboard-demo")
    return Known(maria, ana, {str(n): cid for n, cid in ids.items()})

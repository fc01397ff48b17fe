"""3. Queue scale: everything an analyst calls — the work queue (page /fila and API
/api/v1/queue, every view and the common filters), their own tasks, the analysis page
and its API, the form, claim and release, the duplicates, the search by protocol and by
CPF — with 1,000 tickets and with 1,000,000 on PostgreSQL (issue #16, target 3: every
call of the million within 1.2× of the same call at 1,000).

One database per size, both holding the same handful of real tickets made through the
engine (one per status; the analysed calls use Maria's ticket in analysis), then the rest
generated:

* PostgreSQL: inside the database (INSERT … SELECT FROM generate_series), a million in a
  few minutes. A realistic spread from a hash of the row number: about ten tickets per
  requester, órgãos Zipf-like (a few get most tickets), problem types, ages up to two
  years (open ones recent), statuses mostly closed — 15 % in analysis, a third of those
  claimed, half of the claims by the measured analyst (so her own view holds a full page
  at 1,000 too) and the rest by eight; 5 % waiting for an adjustment; 5 % drafts —
  adjustment rounds, SLA due dates; each ticket with the task rows its path leaves
  (registration, analysis, adjustment). Inserted oldest first, as production inserts
  them; then VACUUM ANALYZE, as autovacuum would. The generated tickets' workflow_state
  is empty (no measured call loads a generated ticket's workflow; a real state is TOASTed
  out of the row anyway, so the heap is the same size).
* SQLite: with Core inserts from Python (the real tickets' workflow states copied), at a
  smaller size — 100,000 — since a million through Python takes too long; SQLite gets no
  ANALYZE (the product never runs it).

Both sizes are served at once (one server worker each) and every call is made on one
then on the other, alternately, by one client; figures are medians. Verdict per call:
the big size within 1.2× of the small one.

    python -m bench.queue_scale [--sizes 1000,1000000] [--sqlite-sizes 1000,100000]
                                [--requests 20] [--backends sqlite,postgresql] [--keep]
    python -m bench.queue_scale --drop     # the PostgreSQL databases --keep left

With ``--keep`` the PostgreSQL databases stay after the run (``chamados_bench_queue_<size>``)
and the next run with ``--keep`` measures them again without loading them. ``--quick``:
PostgreSQL 1,000 vs 100,000, SQLite 1,000 vs 10,000, 8 requests per call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import common
from bench.common import fmt, median, note, table, title, verdict

TARGET_RATIO = 1.2
SERVICES = (
    "Aposentadoria por idade",
    "Salário-maternidade",
    "Auxílio-doença",
    "Seguro-desemprego",
    "Emissão de passaporte",
    "Carteira de trabalho digital",
    "Certidão de antecedentes criminais",
    "Registro de marca",
    "Restituição do imposto de renda",
    "Inscrição no CadÚnico",
    "Matrícula no ENEM",
    "Cartão Nacional de Saúde",
)
# status -> share of the tickets
STATUS_MIX = (
    ("resolvido", 0.55),
    ("devolvido", 0.18),
    ("encerrado_sem_resposta", 0.02),
    ("em_analise", 0.15),
    ("aguardando_ajuste", 0.05),
    ("rascunho", 0.05),
)
CLOSED = {"resolvido", "devolvido", "encerrado_sem_resposta"}
ANALYSTS = 8

# (label, kind, method, path): kind "api" uses the bearer token, "page" the session
# cookie. {orgao}, {categoria}: the most frequent ones; {chamado}, {task}, {protocolo},
# {cpf}: Maria's real ticket in analysis, its analysis task, its protocol, her CPF.
# The calls run in this order each round: the claim before the pages that show the form
# to its holder, the release after them, so every round starts unclaimed.
ENDPOINTS: tuple[tuple[str, str, str, str], ...] = (
    ("API fila: disponíveis", "api", "GET", "/api/v1/queue"),
    ("API fila: minhas", "api", "GET", "/api/v1/queue?view=minhas"),
    ("API fila: todas", "api", "GET", "/api/v1/queue?view=todas"),
    ("API fila: incidentes", "api", "GET", "/api/v1/queue?view=incidentes"),
    ("API fila: página 5", "api", "GET", "/api/v1/queue?view=todas&page=5"),
    ("API fila: órgão", "api", "GET", "/api/v1/queue?orgao={orgao}"),
    ("API fila: tipo de problema", "api", "GET", "/api/v1/queue?categoria={categoria}"),
    ("API fila: serviço (processo)", "api", "GET", "/api/v1/queue?processo=chamado"),
    ("API fila: grupo", "api", "GET", "/api/v1/queue?grupo=analyst"),
    ("API fila: reenviados", "api", "GET", "/api/v1/queue?situacao=reenviado"),
    ("API fila: há 7+ dias", "api", "GET", "/api/v1/queue?idade=7"),
    ("página /fila", "page", "GET", "/fila"),
    ("página /fila minhas", "page", "GET", "/fila?visao=minhas"),
    ("página /fila todas", "page", "GET", "/fila?visao=todas"),
    ("página /fila incidentes", "page", "GET", "/fila?visao=incidentes"),
    ("página /fila órgão + atrasados", "page", "GET", "/fila?orgao={orgao}&situacao=atrasado"),
    ("página /fila tipo + novos", "page", "GET", "/fila?categoria={categoria}&situacao=novo"),
    ("página /fila todas, página 5", "page", "GET", "/fila?visao=todas&pagina=5"),
    ("API minhas tarefas", "api", "GET", "/api/v1/tasks"),
    ("API assumir (claim)", "api", "POST", "/api/v1/tasks/{task}/claim"),
    ("página /analise (com formulário)", "page", "GET", "/analise/{chamado}"),
    ("API chamado (equipe)", "api", "GET", "/api/v1/chamados/{chamado}"),
    ("API formulário da tarefa", "api", "GET", "/api/v1/tasks/{task}"),
    ("API respostas prontas da tarefa", "api", "GET", "/api/v1/tasks/{task}/ready-answers"),
    ("API liberar (release)", "api", "POST", "/api/v1/tasks/{task}/release"),
    ("página duplicados", "page", "GET", "/fila/chamados/{chamado}/duplicados"),
    ("API duplicados", "api", "GET", "/api/v1/chamados/{chamado}/duplicates"),
    ("página /busca protocolo", "page", "GET", "/busca?q={protocolo}"),
    ("API busca protocolo", "api", "GET", "/api/v1/search?q={protocolo}"),
    ("API busca CPF", "api", "GET", "/api/v1/search?q={cpf}"),
    ("API serviços", "api", "GET", "/api/v1/services"),
)
# What a page must show (else it is a login page or an error).
PAGE_MARKS = {
    "/fila": b"Fila de trabalho",
    "/analise": b"Analisar",
    "/busca": b"Buscar",
    "/fila/chamados": b"uplicad",
}


# --- data ------------------------------------------------------------------------------------


def _real_tickets(svc: Any, maria: common.Person, ana: common.Person) -> dict[str, Any]:
    """One real ticket per status through the engine: workflow states and task shapes."""
    from sqlalchemy import select

    from engine.models import Chamado, HumanTask

    def task_id(cid: int, group: str) -> int:
        with svc.unit.session_factory() as s:
            return int(
                s.scalar(
                    select(HumanTask.id).where(
                        HumanTask.chamado_id == cid,
                        HumanTask.state == "ready",
                        HumanTask.group == group,
                    )
                )
            )

    m, a = maria.actor, ana.actor

    def submitted() -> Any:
        c = svc.requests.start_chamado(m, "chamado")
        return svc.requests.complete_task(
            m, task_id(c.id, "requester"), common.registration(), c.version
        )

    def decide(c: Any, data: dict[str, Any]) -> Any:
        t = task_id(c.id, "analyst")
        svc.analysis.claim(a, t)
        return svc.requests.complete_task(a, t, data, c.version)

    ids = {"rascunho": svc.requests.start_chamado(m, "chamado").id}
    c = submitted()
    ids["em_analise"] = c.id
    c = decide(submitted(), common.ADJUST_REQUEST)
    ids["aguardando_ajuste"] = c.id
    ids["resolvido"] = decide(submitted(), common.RESOLVE).id
    ids["devolvido"] = decide(
        submitted(), {"decisao": "devolver", "motivo_devolucao": "fora_escopo"}
    ).id
    with svc.unit.session_factory() as s:
        states = {
            st: s.scalar(select(Chamado.workflow_state).where(Chamado.id == cid))
            for st, cid in ids.items()
        }
        shapes = {
            t.task_name: {
                "title": t.title,
                "lane": t.lane,
                "group": t.group,
                "form_schema": t.form_schema,
                "form_ui_schema": t.form_ui_schema,
            }
            for t in s.scalars(select(HumanTask))
        }
        version_id = s.scalar(
            select(Chamado.process_version_id).where(Chamado.id == ids["rascunho"])
        )
    # Closed without an answer: the adjustment state is the nearest real one.
    states["encerrado_sem_resposta"] = states["aguardando_ajuste"]
    return {"states": states, "shapes": shapes, "version_id": version_id, "count": len(ids)}


def bulk_load(svc: Any, total: int, analysts: list[int], seed: int = 7) -> dict[str, Any]:
    """Fill the database up to ``total`` tickets with SQL (executemany in batches)."""
    from sqlalchemy import func, select

    from engine.models import CatalogItem, Chamado, HumanTask, Orgao, ProtocolSequence, User

    rng = random.Random(seed)
    now = datetime.now(UTC)
    maria = common.add_person(svc, common.MARIA, "Maria da Silva")
    ana = next(iter(analysts))
    real = _real_tickets(svc, maria, common.Person(ana, common.ANA, frozenset({"analyst"}), ""))
    n = max(0, total - real["count"])
    with svc.unit.session_factory() as s:
        orgao_ids = list(s.scalars(select(Orgao.id).order_by(Orgao.id)))
        tipos = list(
            s.scalars(
                select(CatalogItem.code).where(
                    CatalogItem.catalog == "tipo_problema", CatalogItem.active.is_(True)
                )
            )
        )
        next_chamado = (s.scalar(select(func.max(Chamado.id))) or 0) + 1
        next_task = (s.scalar(select(func.max(HumanTask.id))) or 0) + 1
        next_user = (s.scalar(select(func.max(User.id))) or 0) + 1
    rng.shuffle(orgao_ids)
    orgao_weights = [1 / (rank + 1) ** 1.1 for rank in range(len(orgao_ids))]
    tipo_weights = [rng.uniform(0.5, 3) for _ in tipos]

    requesters = []
    users_rows = []
    for i in range(max(20, n // 10)):
        cpf = common.cpf_from(300_000_000 + i)
        users_rows.append(
            {
                "id": next_user + i,
                "cpf": cpf,
                "kind": "pessoa",
                "name": f"Pessoa {i}",
                "email": f"{cpf}@example.gov.br",
                "created_at": now - timedelta(days=800),
            }
        )
        requesters.append((next_user + i, f"{cpf}@example.gov.br"))

    statuses = [st for st, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    seq_by_year: dict[int, int] = {}
    with svc.unit.session_factory() as s:
        for row in s.scalars(select(ProtocolSequence)):
            seq_by_year[row.year] = row.last_value
    chamados: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    shapes = real["shapes"]

    def task(cid: int, name: str, created: datetime, state: str, **extra: Any) -> None:
        nonlocal next_task
        shape = shapes[name]
        tasks.append(
            {
                "id": next_task,
                "chamado_id": cid,
                "task_guid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "task_name": name,
                "title": shape["title"],
                "lane": shape["lane"],
                "group": shape["group"],
                "state": state,
                "assignee_id": extra.get("assignee_id"),
                "form_schema": shape["form_schema"],
                "form_ui_schema": shape["form_ui_schema"],
                "draft_data": None,
                "draft_step": None,
                "created_at": created,
                "claimed_at": extra.get("claimed_at"),
                "completed_at": extra.get("completed_at"),
                "completed_by_id": extra.get("completed_by_id"),
            }
        )
        next_task += 1

    def analysed(cid: int, opened: datetime, done: datetime, analyst: int) -> None:
        """An analysis the analyst claimed a quarter of the way in and completed."""
        task(
            cid,
            "analisar_chamado",
            opened,
            "completed",
            assignee_id=analyst,
            claimed_at=opened + (done - opened) / 4,
            completed_at=done,
            completed_by_id=analyst,
        )

    for k in range(n):
        cid = next_chamado + k
        st = rng.choices(statuses, weights)[0]
        requester, email = rng.choice(requesters)
        horizon = {"em_analise": 60, "aguardando_ajuste": 30, "rascunho": 15}.get(st, 730)
        created = now - timedelta(days=rng.random() ** 1.5 * horizon, seconds=rng.randrange(86400))
        seq_by_year[created.year] = seq_by_year.get(created.year, 0) + 1
        rounds = 0
        if st != "rascunho":
            rounds = rng.choices((0, 1, 2), (0.7, 0.25, 0.05))[0]
        if st in ("aguardando_ajuste", "encerrado_sem_resposta"):
            rounds = max(1, rounds)
        step = timedelta(hours=rng.uniform(1, 72) * min(1.0, horizon / 60))
        t = created
        # Half the analyses are Ana's (the measured analyst): her "minhas" page is full
        # at the small size too.
        analyst = analysts[0] if rng.random() < 0.5 else rng.choice(analysts)
        row: dict[str, Any] = {
            "id": cid,
            "protocolo": f"CH-{created.year}-{seq_by_year[created.year]:06d}",
            "requester_id": requester,
            "process_version_id": real["version_id"],
            "status": st,
            "version": 1,
            "workflow_state": real["states"][st],
            "orgao_id": None,
            "categoria": None,
            "servico": None,
            "email": email,
            "adjustment_rounds": rounds,
            "outcome_message": None,
            "analysis_seconds": 0,
            "analysis_started_at": None,
            "analysis_due_at": None,
            "overdue": False,
            "created_at": created,
            "submitted_at": None,
            "updated_at": created,
            "closed_at": None,
        }
        if st == "rascunho":
            task(cid, "registrar_chamado", created, "ready", assignee_id=requester)
        else:
            t += step
            task(
                cid,
                "registrar_chamado",
                created,
                "completed",
                assignee_id=requester,
                completed_at=t,
                completed_by_id=requester,
            )
            row.update(
                orgao_id=rng.choices(orgao_ids, orgao_weights)[0],
                categoria=rng.choices(tipos, tipo_weights)[0],
                servico=rng.choice(SERVICES),
                submitted_at=t,
            )
            versions = 2
            for r in range(rounds):
                last_round = r == rounds - 1
                opened = t
                t += step
                analysed(cid, opened, t, analyst)
                row["analysis_seconds"] += int(step.total_seconds())
                if last_round and st in ("aguardando_ajuste", "encerrado_sem_resposta"):
                    state = "ready" if st == "aguardando_ajuste" else "cancelled"
                    done = None if state == "ready" else t + timedelta(days=10)
                    task(
                        cid,
                        "ajustar_solicitacao",
                        t,
                        state,
                        assignee_id=requester,
                        completed_at=done,
                    )
                    versions += 2
                    break
                opened = t
                t += step
                task(
                    cid,
                    "ajustar_solicitacao",
                    opened,
                    "completed",
                    assignee_id=requester,
                    completed_at=t,
                    completed_by_id=requester,
                )
                versions += 3
            if st == "em_analise":
                claimed = rng.random() < 1 / 3
                task(
                    cid,
                    "analisar_chamado",
                    t,
                    "ready",
                    assignee_id=analyst if claimed else None,
                    claimed_at=t + step / 4 if claimed else None,
                )
                due = t + timedelta(days=2)
                row.update(analysis_started_at=t, analysis_due_at=due, overdue=due < now)
            elif st in ("resolvido", "devolvido"):
                opened = t
                t += step
                analysed(cid, opened, t, analyst)
                row["outcome_message"] = (
                    "Corrigimos a integração." if st == "resolvido" else "Fora do escopo."
                )
                versions += 2
            if st in CLOSED:
                row["closed_at"] = t if st != "encerrado_sem_resposta" else t + timedelta(days=10)
            row["version"] = versions
            row["updated_at"] = min(t, now)
        chamados.append(row)

    load_s = write_rows(svc.unit.db, users_rows, chamados, tasks, seq_by_year)
    with svc.unit.session_factory() as s:
        counts = {
            "chamados": s.scalar(select(func.count()).select_from(Chamado)),
            "human_tasks": s.scalar(select(func.count()).select_from(HumanTask)),
            "queue_ready_analysis": s.scalar(
                select(func.count())
                .select_from(HumanTask)
                .where(HumanTask.state == "ready", HumanTask.group == "analyst")
            ),
            "queue_unclaimed": s.scalar(
                select(func.count())
                .select_from(HumanTask)
                .where(
                    HumanTask.state == "ready",
                    HumanTask.group == "analyst",
                    HumanTask.assignee_id.is_(None),
                )
            ),
            "users": s.scalar(select(func.count()).select_from(User)),
        }
    top_orgao = max(zip(orgao_weights, orgao_ids, strict=True))[1]
    return {"counts": counts, "load_seconds": load_s, "top_orgao": top_orgao}


def sql_load(svc: Any, total: int, analysts: list[int]) -> dict[str, Any]:
    """PostgreSQL: fill the database up to ``total`` tickets inside the database."""
    from sqlalchemy import select, text

    from engine.models import CatalogItem, Orgao

    maria = common.add_person(svc, common.MARIA, "Maria da Silva")
    ana = common.Person(analysts[0], common.ANA, frozenset({"analyst"}), "")
    real = _real_tickets(svc, maria, ana)
    n = max(0, total - real["count"])
    with svc.unit.session_factory() as s:
        orgao_ids = list(s.scalars(select(Orgao.id).order_by(Orgao.id)))
        tipos = list(
            s.scalars(
                select(CatalogItem.code)
                .where(CatalogItem.catalog == "tipo_problema", CatalogItem.active.is_(True))
                .order_by(CatalogItem.code)
            )
        )
    shapes = real["shapes"]
    started = time.perf_counter()
    with svc.unit.db.begin() as conn:
        users = max(20, n // 10)
        first_user = (
            conn.execute(
                text(
                    "INSERT INTO users (cpf, kind, name, email, created_at) "
                    "SELECT '8' || lpad(i::text, 10, '0'), 'pessoa', 'Pessoa ' || i, "
                    "'8' || lpad(i::text, 10, '0') || '@example.gov.br', "
                    "now() - interval '800 days' "
                    "FROM generate_series(1, :n) AS i RETURNING id"
                ),
                {"n": users},
            )
            .scalars()
            .all()[0]
        )
        # g: the row number i and three pseudo-random numbers of it (b: the status
        # bucket, r: the age, z: the órgão and type, Zipf-like through its cube).
        conn.execute(
            text(
                "INSERT INTO chamados (protocolo, requester_id, process_version_id, status, "
                "status_label, version, workflow_state, orgao_id, categoria, servico, email, "
                "adjustment_rounds, outcome_message, analysis_seconds, analysis_started_at, "
                "analysis_due_at, overdue, created_at, submitted_at, updated_at, closed_at, "
                "first_analysis_at) "
                "SELECT 'CH-2019-' || lpad(i::text, 7, '0'), :u + i % :users, :version, st, "
                "initcap(replace(st, '_', ' ')), 3, '', "
                "CASE WHEN st <> 'rascunho' THEN (CAST(:orgaos AS integer[]))"
                "  [1 + floor(:n_orgaos * z * z * z)::int] END, "
                "CASE WHEN st <> 'rascunho' THEN (CAST(:tipos AS text[]))"
                "  [1 + floor(:n_tipos * z * z)::int] END, "
                "CASE WHEN st <> 'rascunho' THEN (CAST(:services AS text[]))[1 + i % 12] END, "
                "'8' || lpad((i % :users)::text, 10, '0') || '@example.gov.br', "
                "CASE WHEN st IN ('aguardando_ajuste', 'encerrado_sem_resposta') THEN 1 "
                "  WHEN st = 'rascunho' THEN 0 WHEN i % 20 = 0 THEN 2 WHEN i % 4 = 0 THEN 1 "
                "  ELSE 0 END, "
                "CASE st WHEN 'resolvido' THEN 'Corrigimos a integração.' "
                "  WHEN 'devolvido' THEN 'Fora do escopo.' END, "
                "CASE WHEN st IN ('rascunho', 'em_analise') THEN 0 ELSE 3600 END, "
                "CASE WHEN st = 'em_analise' THEN created + interval '1 hour' END, "
                "CASE WHEN st = 'em_analise' THEN created + interval '49 hours' END, "
                "st = 'em_analise' AND created + interval '49 hours' < now(), "
                "created, CASE WHEN st <> 'rascunho' THEN created + interval '1 hour' END, "
                "CASE WHEN st IN ('resolvido', 'devolvido', 'encerrado_sem_resposta') "
                "  THEN LEAST(now(), created + interval '1 day' * (1 + 20 * r)) "
                "  ELSE created + interval '1 hour' END, "
                "CASE WHEN st IN ('resolvido', 'devolvido', 'encerrado_sem_resposta') "
                "  THEN LEAST(now(), created + interval '1 day' * (1 + 20 * r)) END, "
                "CASE WHEN st NOT IN ('rascunho', 'em_analise') THEN created + interval '2 hours' "
                "  END "
                "FROM ("
                "  SELECT i, st, r, z, now() - interval '1 day' * CASE st "
                "    WHEN 'em_analise' THEN 60 WHEN 'aguardando_ajuste' THEN 30 "
                "    WHEN 'rascunho' THEN 15 ELSE 730 END * r * sqrt(r) "
                "    - interval '1 second' * (i % 86400) AS created "
                "  FROM ("
                "    SELECT i, r, z, CASE WHEN b < 55 THEN 'resolvido' "
                "      WHEN b < 73 THEN 'devolvido' "
                "      WHEN b < 75 THEN 'encerrado_sem_resposta' WHEN b < 90 THEN 'em_analise' "
                "      WHEN b < 95 THEN 'aguardando_ajuste' ELSE 'rascunho' END AS st "
                "    FROM (SELECT i, (i::bigint * 7919) % 100 AS b, "
                "      ((i::bigint * 104729) % 1000003) / 1000003.0 AS r, "
                "      ((i::bigint * 15485863) % 999983) / 999983.0 AS z "
                "      FROM generate_series(1, :n) AS i) AS h"
                "  ) AS s"
                ") AS g ORDER BY created"
            ),
            {
                "u": first_user,
                "users": users,
                "version": real["version_id"],
                "orgaos": orgao_ids,
                "n_orgaos": len(orgao_ids),
                "tipos": tipos,
                "n_tipos": len(tipos),
                "services": list(SERVICES),
                "n": n,
            },
        )
        # The task rows each ticket's path leaves, oldest first. Synthetic tickets are
        # the ones with an empty workflow_state.
        task_sql = (
            'INSERT INTO human_tasks (chamado_id, task_guid, task_name, title, lane, "group", '
            "state, assignee_id, form_schema, form_ui_schema, created_at, claimed_at, "
            "completed_at, completed_by_id) "
            "SELECT id, md5(id::text || :name), :name, :title, :lane, :grp, {state}, "
            "{assignee}, :fs, :fus, {created}, {claimed}, {completed}, {completed_by} "
            "FROM chamados WHERE workflow_state = '' AND {where} ORDER BY {created}"
        )

        def tasks(name: str, where: str, **cols: str) -> None:
            shape = shapes[name]
            sql = task_sql.format(where=where, **cols)
            conn.execute(
                text(sql),
                {
                    "name": name,
                    "title": shape["title"],
                    "lane": shape["lane"],
                    "grp": shape["group"],
                    "fs": shape["form_schema"],
                    "fus": shape["form_ui_schema"],
                    "analysts": analysts,
                },
            )

        tasks(
            "registrar_chamado",
            "true",
            state="CASE WHEN status = 'rascunho' THEN 'ready' ELSE 'completed' END",
            assignee="requester_id",
            created="created_at",
            claimed="NULL",
            completed="submitted_at",
            completed_by="CASE WHEN status <> 'rascunho' THEN requester_id END",
        )
        # Half the claims are Ana's (the measured analyst), the rest spread over all: at
        # 1,000 tickets she holds ~25, so her "minhas" page is full (20) at both sizes.
        who = (
            f"CASE WHEN id % 2 = 0 THEN (CAST(:analysts AS integer[]))[1] "
            f"ELSE (CAST(:analysts AS integer[]))[1 + id % {len(analysts)}] END"
        )
        tasks(
            "analisar_chamado",
            "status <> 'rascunho'",
            state="CASE WHEN status = 'em_analise' THEN 'ready' ELSE 'completed' END",
            assignee=f"CASE WHEN status <> 'em_analise' OR id % 3 = 0 THEN {who} END",
            created="submitted_at",
            claimed=(
                "CASE WHEN status <> 'em_analise' OR id % 3 = 0 "
                "THEN submitted_at + interval '30 minutes' END"
            ),
            completed="CASE WHEN status <> 'em_analise' THEN first_analysis_at END",
            completed_by=f"CASE WHEN status <> 'em_analise' THEN {who} END",
        )
        tasks(
            "ajustar_solicitacao",
            "status IN ('aguardando_ajuste', 'encerrado_sem_resposta')",
            state="CASE WHEN status = 'aguardando_ajuste' THEN 'ready' ELSE 'cancelled' END",
            assignee="requester_id",
            created="first_analysis_at",
            claimed="NULL",
            completed="closed_at",
            completed_by="NULL",
        )
    with svc.unit.db.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return {"load_seconds": time.perf_counter() - started}


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Site:
    size: int
    server: common.Server
    db_url: str
    instance: Path
    token: str
    cookie: str
    info: dict[str, Any]
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    # Rows each call's answer holds here (API items, table rows of a page): a call whose
    # small side lists fewer than a page compares answers of different sizes.
    rows: dict[str, int] = field(default_factory=dict)


ENDPOINT_INDEX = {label: i for i, (label, *_rest) in enumerate(ENDPOINTS)}


def _kept_name(size: int) -> str:
    return f"chamados_bench_queue_{size}"


def _describe(svc: Any) -> dict[str, Any]:
    """What the calls need and what the database holds (after a load or on reuse)."""
    from sqlalchemy import func, select

    from engine.models import Chamado, HumanTask, User

    with svc.unit.session_factory() as s:
        maria = s.scalar(select(User.id).where(User.cpf == common.MARIA))
        real = s.execute(
            select(Chamado.id, Chamado.protocolo).where(
                Chamado.requester_id == maria, Chamado.status == "em_analise"
            )
        ).one()
        task = s.scalar(
            select(HumanTask.id).where(
                HumanTask.chamado_id == real.id,
                HumanTask.state == "ready",
                HumanTask.group == "analyst",
            )
        )

        def top(column: Any) -> Any:
            return s.scalar(
                select(column)
                .where(column.is_not(None))
                .group_by(column)
                .order_by(func.count().desc(), column)
                .limit(1)
            )

        ready = (HumanTask.state == "ready", HumanTask.group == "analyst")
        return {
            "chamado": real.id,
            "protocolo": real.protocolo,
            "task": task,
            "cpf": common.MARIA,
            "orgao": top(Chamado.orgao_id),
            "categoria": top(Chamado.categoria),
            "counts": {
                "chamados": s.scalar(select(func.count()).select_from(Chamado)),
                "human_tasks": s.scalar(select(func.count()).select_from(HumanTask)),
                "queue_ready_analysis": s.scalar(
                    select(func.count()).select_from(HumanTask).where(*ready)
                ),
                "queue_unclaimed": s.scalar(
                    select(func.count())
                    .select_from(HumanTask)
                    .where(*ready, HumanTask.assignee_id.is_(None))
                ),
                "users": s.scalar(select(func.count()).select_from(User)),
            },
        }


def session_cookie(svc: Any, cpf: str, name: str) -> str:
    """The Flask session cookie a logged-in analyst's browser would send: the token of a
    server-side session (engine.sessions) opened as the login callback opens it."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from engine.identity import Identity
    from web.auth import SESSION_KEY

    _user, token = svc.sessions.log_in(Identity(cpf=cpf, name=name), "benchmark")
    app = Flask("bench")
    app.secret_key = common.SECRET_KEY
    signer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert signer is not None
    return f"session={signer.dumps({SESSION_KEY: token})}"


@contextlib.contextmanager
def open_site(kind: str, size: int, wd: Path, keep: bool) -> Iterator[Site]:
    instance = wd / f"{kind}-{size}"
    instance.mkdir()
    keep_as = _kept_name(size) if keep and kind == "postgresql" else None
    with common.TempDatabase(kind, instance, keep_as=keep_as) as db:
        t0 = time.perf_counter()
        behind = db.reused and _behind(db.url)
        svc = common.make_service(db.url, instance)
        if behind:
            # A kept database just migrated: a backfill rewrote rows, so their pages are
            # no longer all-visible and index-only scans read the heap again until a
            # vacuum — which autovacuum may not start for a while. Measure what a
            # database looks like after it, as the first load does.
            from sqlalchemy import text

            with svc.unit.db.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        analysts = [
            common.add_person(svc, common.ANA, "Ana Souza", "analyst"),
            *(
                common.add_person(svc, common.cpf_from(400_000 + i), f"Analista {i}", "analyst")
                for i in range(ANALYSTS - 1)
            ),
        ]
        reused = False
        if db.reused:
            from sqlalchemy import func, select

            from engine.models import Chamado

            with svc.unit.session_factory() as s:
                loaded = s.scalar(select(func.count()).select_from(Chamado))
            if loaded != size:
                raise SystemExit(f"{_kept_name(size)} está incompleto: rode com --drop e de novo")
            reused = True
        elif kind == "postgresql":
            sql_load(svc, size, [a.id for a in analysts])
        else:
            bulk_load(svc, size, [a.id for a in analysts])
        info = _describe(svc)
        info["ready_seconds"] = time.perf_counter() - t0
        info["reused"] = reused
        cookie = session_cookie(svc, common.ANA, "Ana Souza")
        svc.unit.db.dispose()
        with common.Server(db.url, instance, workers=1) as server:
            yield Site(size, server, db.url, instance, analysts[0].token, cookie, info)


def _behind(url: str) -> bool:
    """The database's schema is older than this code's (a kept one about to migrate)."""
    from sqlalchemy import create_engine

    from engine import schema

    engine = create_engine(url)
    try:
        return schema.current_revision(engine) != schema.head_revision()
    finally:
        engine.dispose()


def fetch(site: Site, kind: str, method: str, path: str) -> tuple[float, float]:
    """One request; returns (wall seconds, worker CPU seconds)."""
    cpu0 = site.server.cpu()
    started = time.perf_counter()
    if kind == "api":
        status, body = common.request(method, site.server.port, path, token=site.token)
    else:
        status, body = common.request(method, site.server.port, path, cookie=site.cookie)
    wall = time.perf_counter() - started
    cpu = site.server.cpu() - cpu0
    if status not in (200, 204):
        raise RuntimeError(f"{method} {path}: {status} {body[:300]!r}\n{site.server.tail()}")
    if kind == "page":
        mark = next(m for p, m in PAGE_MARKS.items() if path.startswith(p))
        if mark not in body:
            raise RuntimeError(f"{path}: a página não é a esperada (login?) {body[:200]!r}")
    site.rows[path] = _rows(kind, body)
    return wall, cpu


def _rows(kind: str, body: bytes) -> int:
    if kind == "page":  # body rows of the page's tables (each header holds one row)
        return body.count(b"<tr") - body.count(b"<thead")
    try:
        items = json.loads(body).get("items")
    except (ValueError, AttributeError):
        return 0
    return len(items) if isinstance(items, list) else 0


def sql_breakdown(site: Site, path: str, kind: str, explain: int = 2) -> list[dict[str, Any]]:
    """Every SQL statement of one GET, timed, in-process on the same database, and the
    plans of its ``explain`` slowest SELECTs (EXPLAIN ANALYZE on PostgreSQL)."""
    from sqlalchemy import event

    timings: list[dict[str, Any]] = []
    with common.inprocess_app(site.db_url, site.instance) as app:
        client = app.test_client()
        engine = app.extensions["chamados"].unit.db
        headers = {}
        if kind == "api":
            headers = {"Authorization": f"Bearer {site.token}"}
        else:
            name, _, value = site.cookie.partition("=")
            client.set_cookie(name, value)
        client.get(path, headers=headers)  # warm
        started: dict[int, float] = {}

        def before(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
            started[id(cursor)] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, parameters: Any, *a: Any) -> None:
            ms = (time.perf_counter() - started.pop(id(cursor), time.perf_counter())) * 1000
            timings.append(
                {
                    "ms": ms,
                    "sql": re.sub(r"\s+", " ", statement).strip(),
                    "raw": statement,
                    "params": parameters,
                }
            )

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            total0 = time.perf_counter()
            resp = client.get(path, headers=headers)
            total = (time.perf_counter() - total0) * 1000
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        selects = sorted(
            (t for t in timings if t["sql"].startswith("SELECT")), key=lambda t: -t["ms"]
        )
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
        with engine.connect() as conn:
            for stmt in selects[:explain]:
                plan = conn.exec_driver_sql(prefix + stmt["raw"], stmt["params"]).fetchall()
                stmt["plan"] = [" | ".join(str(c) for c in row) for row in plan]
        timings.append({"ms": total, "sql": "(pedido inteiro, em processo)"})
    for t in timings:
        t.pop("raw", None)
        t["params"] = repr(t.get("params"))[:300]
    return timings


def _summary(sql: str) -> str:
    """A statement in one short line: its verb, its tables and its WHERE clause."""
    if not sql.startswith("SELECT"):
        return sql[:110]
    n_counts = sql.count("SELECT count(*)")
    if sql.startswith("SELECT count(*)"):
        head = "SELECT count(*) FROM (subconsulta)"
    elif n_counts:
        head = f"SELECT {n_counts} contagens (subconsultas)"
    else:
        head = "SELECT ..."
    tables = re.findall(r"(?:FROM|JOIN) (\w+)(?: AS (\w+))?", sql)
    names = ", ".join(dict.fromkeys(alias or name for name, alias in tables))
    where = sql.rsplit(" WHERE ", 1)[-1] if " WHERE " in sql else ""
    where = re.sub(r"human_tasks\.", "", where).replace(") AS anon_1", "")
    return f"{head} [{names}] WHERE {where}"[:150]


def _path(template: str, info: dict[str, Any]) -> str:
    return template.format(**{k: v for k, v in info.items() if k != "counts"})


def run(
    sizes_by_kind: dict[str, list[int]],
    requests: int,
    profile: bool,
    time_budget: float,
    keep: bool,
) -> dict[str, Any]:
    described = "; ".join(
        f"{kind}: {' e '.join(fmt(s) for s in sizes)}" for kind, sizes in sizes_by_kind.items()
    )
    title(f"3. Escala da fila: tudo o que a analista chama, com ({described}) chamados")
    if "postgresql" in sizes_by_kind:
        why = common.postgres_available()
        if why:
            note(f"ATENÇÃO: PostgreSQL indisponível ({why}); medindo só SQLite.")
            sizes_by_kind.pop("postgresql")
    result: dict[str, Any] = {"sizes": sizes_by_kind, "backends": {}}
    verdicts = []
    deadline = time.monotonic() + time_budget
    for kind, sizes in sizes_by_kind.items():
        with contextlib.ExitStack() as stack:
            wd = stack.enter_context(common.workdir(f"queue-{kind}"))
            sites = []
            for size in sizes:
                site = stack.enter_context(open_site(kind, size, wd, keep))
                sites.append(site)
                c = site.info["counts"]
                how = "reusado (--keep)" if site.info["reused"] else "carregado"
                note(
                    f"{kind}, {fmt(size)} chamados: banco {how} em "
                    f"{site.info['ready_seconds']:.0f} s ({fmt(c['chamados'])} chamados, "
                    f"{fmt(c['human_tasks'])} tarefas, {fmt(c['queue_ready_analysis'])} análises "
                    f"abertas, {fmt(c['queue_unclaimed'])} não atribuídas, "
                    f"{fmt(c['users'])} pessoas)"
                )
            # The filters' values: the big database's most frequent órgão and type, for both.
            values = {"orgao": sites[-1].info["orgao"], "categoria": sites[-1].info["categoria"]}
            for site in sites:
                site.info.update(values)
            paths = {
                site.size: [
                    (label, k, method, _path(p, site.info)) for label, k, method, p in ENDPOINTS
                ]
                for site in sites
            }
            for _ in range(2):  # warm: templates, caches, connections, the database's pages
                for site in sites:
                    for _label, k, method, p in paths[site.size]:
                        fetch(site, k, method, p)
            done = 0
            for _ in range(requests):
                if time.monotonic() > deadline:
                    note(f"ATENÇÃO: orçamento de tempo esgotado após {done} pedidos por chamada.")
                    break
                for i, _endpoint in enumerate(ENDPOINTS):
                    for site in sites if done % 2 == 0 else reversed(sites):
                        label, k, method, p = paths[site.size][i]
                        wall, cpu = fetch(site, k, method, p)
                        site.samples.setdefault(label, []).append(wall)
                        site.cpu.setdefault(label, []).append(cpu)
                done += 1
            small, big = sites[0], sites[-1]
            rows = []
            fig: dict[str, Any] = {
                "databases": {s.size: s.info for s in sites},
                "requests_per_call": done,
                "calls": {},
            }
            over = []
            for label, _k, _m, p in ENDPOINTS:
                a, b = median(small.samples[label]) * 1000, median(big.samples[label]) * 1000
                ca = median(small.cpu[label]) * 1000
                cb = median(big.cpu[label]) * 1000
                ratio = b / a
                listed = f"{small.rows.get(paths[small.size][ENDPOINT_INDEX[label]][3], 0)} / "
                listed += f"{big.rows.get(paths[big.size][ENDPOINT_INDEX[label]][3], 0)}"
                rows.append((label, a, b, ratio, ca, cb, listed))
                fig["calls"][label] = {
                    "path": p,
                    "median_ms": {str(small.size): a, str(big.size): b},
                    "ratio": ratio,
                    "cpu_ms": {str(small.size): ca, str(big.size): cb},
                    "rows": listed,
                }
                if ratio > TARGET_RATIO:
                    over.append(label)
            print()
            note(
                f"{kind}: mediana de {done} pedidos por chamada, os dois tamanhos intercalados; "
                "tempos em ms; CPU = mediana de ms de CPU do worker por pedido; linhas = "
                "itens da resposta (API) ou linhas de tabela (página) em cada tamanho."
            )
            table(
                [
                    "chamada",
                    f"{fmt(small.size)} ms",
                    f"{fmt(big.size)} ms",
                    "razão",
                    f"CPU {fmt(small.size)}",
                    f"CPU {fmt(big.size)}",
                    "linhas",
                ],
                rows,
            )
            worst = max(rows, key=lambda r: r[3])
            verdicts.append(
                verdict(
                    not over,
                    f"{kind}: cada uma das {len(ENDPOINTS)} chamadas da analista a "
                    f"{fmt(big.size)} chamados em até {TARGET_RATIO}× do tempo a "
                    f"{fmt(small.size)} (pior: {worst[0]}, {worst[3]:.2f}×)",
                    f"acima da meta: {', '.join(over)}; comandos SQL na seção 3",
                )
            )
            fig["over"] = over
            chosen = [lbl for lbl, *_ in ENDPOINTS] if profile else over
            fig["breakdown"] = {}
            for label, k, method, _p in (e for e in ENDPOINTS if e[0] in chosen):
                if method != "GET":
                    continue
                p = _path(dict((e[0], e[3]) for e in ENDPOINTS)[label], big.info)
                print()
                note(f"{kind}, {fmt(big.size)} chamados: comandos SQL de GET {p}, na ordem:")
                timings = sql_breakdown(big, p, k)
                table(
                    ["comando SQL (resumo)", "ms"], [(_summary(t["sql"]), t["ms"]) for t in timings]
                )
                for stmt in timings:
                    if stmt.get("plan"):
                        note(f"Plano de: {_summary(stmt['sql'])[:100]} ({stmt['ms']:.1f} ms)")
                        for line in stmt["plan"]:
                            note(f"    {line}")
                fig["breakdown"][label] = timings
            result["backends"][kind] = fig
    result["verdicts"] = verdicts
    common.save_results("queue_scale", result)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000", help="PostgreSQL")
    parser.add_argument("--sqlite-sizes", default="1000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=20, help="por chamada e tamanho")
    parser.add_argument("--profile", action="store_true", help="comandos SQL de toda chamada")
    parser.add_argument(
        "--time-budget", type=float, default=900, help="segundos de medida, no máximo"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="PostgreSQL 1 000 e 100 000, SQLite 1 000 e 10 000; 8 pedidos",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="mantém os bancos PostgreSQL ao fim (chamados_bench_queue_<tamanho>) e os reusa",
    )
    parser.add_argument("--drop", action="store_true", help="apaga os bancos de --keep e sai")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.sqlite_sizes = "1000,100000", "1000,10000"
        args.requests = min(args.requests, 8)
    pg_sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.drop:
        for size in pg_sizes:
            common.drop_postgres_database(_kept_name(size))
        note(f"bancos apagados: {', '.join(_kept_name(n) for n in pg_sizes)}")
        return {"verdicts": []}
    sizes = {"sqlite": sorted(int(s) for s in args.sqlite_sizes.split(",")), "postgresql": pg_sizes}
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    return run(
        {k: sizes[k] for k in kinds}, args.requests, args.profile, args.time_budget, args.keep
    )


def write_rows(
    engine: Any,
    users: list[dict[str, Any]],
    chamados: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    seq_by_year: dict[int, int],
) -> float:
    """Write generated rows with Core inserts in batches; returns the seconds it took.

    The protocol sequences follow the generated numbers, PostgreSQL's id sequences follow
    the explicit ids, and ANALYZE gives the planner the real figures.
    """
    from sqlalchemy import text

    from engine.models import Chamado, HumanTask, ProtocolSequence, User

    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(User.__table__.insert(), users)
    for table_, rows in ((Chamado.__table__, chamados), (HumanTask.__table__, tasks)):
        for i in range(0, len(rows), 5000):
            with engine.begin() as conn:
                conn.execute(table_.insert(), rows[i : i + 5000])
    with engine.begin() as conn:
        for year, value in seq_by_year.items():
            updated = conn.execute(
                ProtocolSequence.__table__.update()
                .where(ProtocolSequence.year == year)
                .values(last_value=value)
            ).rowcount
            if not updated:
                conn.execute(
                    ProtocolSequence.__table__.insert(), {"year": year, "last_value": value}
                )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for tbl in ("users", "chamados", "human_tasks"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{tbl}', 'id'), "
                        f"(SELECT max(id) FROM {tbl}))"
                    )
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


if __name__ == "__main__":
    main()

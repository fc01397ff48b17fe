"""3. Queue scale: the work-queue page (/fila) and the API list (/api/v1/queue) with 1,000
and with 100,000 tickets in the database.

Per database kind, one database per size: a handful of real tickets made through the
engine (one per status), then the rest bulk-inserted with SQL — chamados and their
human_tasks rows, with a realistic spread: requesters (about ten tickets each), órgãos
(Zipf-like: a few get most tickets), tipos de problema, ages up to two years, statuses
(mostly closed; 15 % in analysis, a third of those claimed; some waiting for an
adjustment; some drafts), adjustment rounds, SLA due dates. Each synthetic ticket gets
the workflow_state of the real ticket of its status, so rows have their real size
(the queue never loads it). PostgreSQL gets ANALYZE after the load, as autovacuum
would; SQLite gets none (the product never runs it).

Both sizes are served at once (one gunicorn worker each) and requested alternately
by one client; figures are medians. Target: the 100,000 figure within 1.5× the 1,000 one.

    python -m bench.queue_scale [--sizes 1000,100000] [--requests 30] [--backends ...]
"""

from __future__ import annotations

import argparse
import contextlib
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

TARGET_RATIO = 1.5
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


# (label, kind, path) — kind "api" uses the bearer token, "page" the session cookie.
ENDPOINTS = (
    ("API /api/v1/queue", "api", "/api/v1/queue"),
    ("página /fila", "page", "/fila"),
    ("API visão todas", "api", "/api/v1/queue?view=todas"),
    ("página filtro órgão + atrasados", "page", "/fila?orgao={orgao}&situacao=atrasado"),
)
MAIN_ENDPOINTS = ("API /api/v1/queue", "página /fila")


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
        analyst = rng.choice(analysts)
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


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Site:
    size: int
    server: common.Server
    db_url: str
    instance: Path
    token: str
    cookie: str
    load: dict[str, Any]
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)


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
def open_site(kind: str, size: int, wd: Path) -> Iterator[Site]:
    instance = wd / f"{kind}-{size}"
    instance.mkdir()
    with common.TempDatabase(kind, instance) as db:
        svc = common.make_service(db.url, instance)
        analysts = [
            common.add_person(svc, common.ANA, "Ana Souza", "analyst"),
            *(
                common.add_person(svc, common.cpf_from(400_000 + i), f"Analista {i}", "analyst")
                for i in range(7)
            ),
        ]
        load = bulk_load(svc, size, [a.id for a in analysts])
        ana = analysts[0]
        cookie = session_cookie(svc, ana.cpf, "Ana Souza")
        svc.unit.db.dispose()
        with common.Server(db.url, instance, workers=1) as server:
            yield Site(size, server, db.url, instance, ana.token, cookie, load)


def fetch(site: Site, kind: str, path: str) -> tuple[float, float]:
    """One request; returns (wall seconds, worker CPU seconds)."""
    cpu0 = site.server.cpu()
    started = time.perf_counter()
    if kind == "api":
        status, body = common.request("GET", site.server.port, path, token=site.token)
    else:
        status, body = common.request("GET", site.server.port, path, cookie=site.cookie)
    wall = time.perf_counter() - started
    cpu = site.server.cpu() - cpu0
    if status != 200:
        raise RuntimeError(f"{path}: {status} {body[:300]!r}\n{site.server.tail()}")
    if kind == "page" and b"Fila de trabalho" not in body:
        raise RuntimeError(f"{path}: a página não é a fila (login?)")
    return wall, cpu


def sql_breakdown(site: Site, path: str, kind: str, requests: int = 0) -> dict[str, Any]:
    """Every SQL statement of one queue request, timed, in-process on the same database;
    the plans of its slowest count and of its page query; then ``requests`` more requests
    with the server's parts wrapped (common.Attribution: CPU of this process)."""
    import flask.templating
    from sqlalchemy import event

    timings: list[dict[str, Any]] = []
    attr = None
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
        timings.append({"ms": total, "sql": "(pedido inteiro, em processo)"})
        # The plans of the slowest count and of the page's own query.
        # The capped counts: one statement each, or several scalar subqueries in one.
        counts = [t for t in timings[:-1] if "SELECT count(*)" in t["sql"]]
        items = [
            t
            for t in timings[:-1]
            if "ORDER BY human_tasks.created_at" in t["sql"] and "count(*)" not in t["sql"]
        ]
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
        with engine.connect() as conn:
            for stmt in [max(counts, key=lambda t: t["ms"])] * bool(counts) + items[:1]:
                plan = conn.exec_driver_sql(explain + stmt["raw"], stmt["params"]).fetchall()
                stmt["plan"] = [" | ".join(str(c) for c in row) for row in plan]
        if requests:
            client.get(path, headers=headers)  # after the EXPLAINs: a warm connection again
            svc = app.extensions["chamados"]
            attr = common.Attribution()
            attr.wrap(app, "wsgi_app", "Flask/Werkzeug, autenticação, JSON (resto)")
            for name in ("queue", "queue_orgaos", "catalog", "orgao_label", "analysts"):
                attr.wrap(svc.analysis, name, "casos de uso (resto)")
            attr.wrap(flask.templating, "_render", "template Jinja2 (render)")
            attr.wrap_orm()
            attr.watch_sql(engine, "SQL: driver (execute)")
            try:
                for _ in range(requests):
                    client.get(path, headers=headers)
            finally:
                attr.restore()
    for t in timings:
        t.pop("raw", None)
        t["params"] = repr(t.get("params"))[:300]
    return {"statements": timings, "attribution": attr}


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


def run(
    sizes: list[int], kinds: list[str], requests: int, profile: bool, time_budget: float
) -> dict[str, Any]:
    title(
        "3. Escala da fila: página /fila e API /api/v1/queue com "
        f"{' e '.join(fmt(s) for s in sizes)} chamados"
    )
    if "postgresql" in kinds:
        why = common.postgres_available()
        if why:
            note(f"ATENÇÃO: PostgreSQL indisponível ({why}); medindo só SQLite.")
            kinds = [k for k in kinds if k != "postgresql"]
    result: dict[str, Any] = {"sizes": sizes, "backends": {}}
    verdicts = []
    deadline = time.monotonic() + time_budget
    for kind in kinds:
        with contextlib.ExitStack() as stack:
            wd = stack.enter_context(common.workdir(f"queue-{kind}"))
            sites = []
            for size in sizes:
                t0 = time.perf_counter()
                site = stack.enter_context(open_site(kind, size, wd))
                sites.append(site)
                c = site.load["counts"]
                note(
                    f"{kind}, {fmt(size)} chamados: banco pronto em "
                    f"{time.perf_counter() - t0:.0f} s ({fmt(c['chamados'])} chamados, "
                    f"{fmt(c['human_tasks'])} tarefas, {fmt(c['queue_ready_analysis'])} análises "
                    f"abertas, {fmt(c['queue_unclaimed'])} não atribuídas, "
                    f"{fmt(c['users'])} pessoas)"
                )
            orgao = sites[-1].load["top_orgao"]
            endpoints = [(label, k, p.format(orgao=orgao)) for label, k, p in ENDPOINTS]
            for site in sites:  # warm: templates, caches, connections
                for _label, k, p in endpoints:
                    for _ in range(3):
                        fetch(site, k, p)
            done = 0
            for _ in range(requests):
                if time.monotonic() > deadline:
                    note(f"ATENÇÃO: orçamento de tempo esgotado após {done} pedidos por ponto.")
                    break
                for label, k, p in endpoints:
                    for site in sites:
                        wall, cpu = fetch(site, k, p)
                        site.samples.setdefault(label, []).append(wall)
                        site.cpu[label] = site.cpu.get(label, 0.0) + cpu
                done += 1
            small, big = sites[0], sites[-1]
            rows = []
            fig: dict[str, Any] = {
                "load": {s.size: s.load for s in sites},
                "requests_per_point": done,
                "endpoints": {},
            }
            for label, _k, p in endpoints:
                a, b = median(small.samples[label]) * 1000, median(big.samples[label]) * 1000
                ca = small.cpu[label] * 1000 / max(1, done)
                cb = big.cpu[label] * 1000 / max(1, done)
                rows.append((label, a, b, b / a, ca, cb))
                fig["endpoints"][label] = {
                    "path": p,
                    "median_ms": {str(small.size): a, str(big.size): b},
                    "ratio": b / a,
                    "cpu_ms": {str(small.size): ca, str(big.size): cb},
                }
            print()
            note(
                f"{kind}: mediana de {done} pedidos por ponto, intercalados; tempos em ms; "
                "CPU = ms de CPU do worker por pedido."
            )
            table(
                [
                    "pedido",
                    f"{fmt(small.size)} ms",
                    f"{fmt(big.size)} ms",
                    "razão",
                    f"CPU {fmt(small.size)}",
                    f"CPU {fmt(big.size)}",
                ],
                rows,
            )
            for label in MAIN_ENDPOINTS:
                r = fig["endpoints"][label]["ratio"]
                verdicts.append(
                    verdict(
                        r <= TARGET_RATIO,
                        f"{kind}, {label}: {fmt(big.size)} ≤ {TARGET_RATIO}× {fmt(small.size)} "
                        f"(medido: {r:.2f}×)",
                        "comandos SQL e CPU por parte na seção 3",
                    )
                )
            if profile or any(
                fig["endpoints"][lbl]["ratio"] > TARGET_RATIO for lbl in MAIN_ENDPOINTS
            ):
                fig["breakdown"] = {}
                for label, k, p in endpoints:
                    if label not in MAIN_ENDPOINTS:
                        continue
                    cpu_ms = fig["endpoints"][label]["cpu_ms"][str(big.size)]
                    print()
                    note(
                        f"{kind}, {fmt(big.size)} chamados: comandos SQL de um GET {p}, "
                        "na ordem (em processo, mesmo banco):"
                    )
                    out = sql_breakdown(big, p, k, requests=10)
                    timings = out["statements"]
                    table(
                        ["comando SQL (resumo)", "ms"],
                        [(_summary(t["sql"]), t["ms"]) for t in timings],
                    )
                    if k == "api":  # the page issues the same queue statements
                        for stmt in timings:
                            if stmt.get("plan"):
                                note(
                                    f"Plano de: {_summary(stmt['sql'])[:100]} ({stmt['ms']:.1f} ms)"
                                )
                                for line in stmt["plan"]:
                                    note(f"    {line}")
                    note(
                        f"GET {p}: CPU deste processo por parte (instrumentado, 10 pedidos; "
                        "no PostgreSQL o tempo das consultas fica no servidor do banco):"
                    )
                    report = out.pop("attribution").report(10, "pedido", cpu_ms)
                    fig["breakdown"][label] = {**out, "attribution": report}
            result["backends"][kind] = fig
    result["verdicts"] = verdicts
    common.save_results("queue_scale", result)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=30, help="por ponto e tamanho")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--time-budget", type=float, default=300, help="segundos de medida, no máximo"
    )
    parser.add_argument("--quick", action="store_true", help="1 000 e 10 000 chamados, 10 pedidos")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.requests = "1000,10000", min(args.requests, 10)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    return run(
        sizes,
        [k.strip() for k in args.backends.split(",") if k.strip()],
        args.requests,
        args.profile,
        args.time_budget,
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

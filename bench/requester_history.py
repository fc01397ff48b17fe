"""5. Requester history: every page and API call of a requester — the home page, the
services, a service's page, "Minhas solicitações" and the lists of the API (each view,
the oldest page by cursor), a ticket's page and its API, their task's form, "Meus
dados" (the simplified page and API, and the download of the complete copy), the known
problems of a service, the órgão search — for a requester with 10,000 past tickets and
for one with 10, in the same database (issue #16, target 3: within 1.2× for every call).

The complete copy of "Meus dados" (LGPD art. 19, II) is built by the scheduler's job,
here in process before the server starts, for both requesters: its CPU, wall time,
Python memory peak (tracemalloc) and size are printed. Its two downloads (the page's,
gzip as browsers take it, and the API's, decompressed) transfer the person's whole data,
so they grow with it by nature: measured and printed, not judged against the 1.2×.

Per database kind, one database: a handful of real tickets made through the engine (their
workflow states and task shapes, as in bench.queue_scale), then, with Core inserts, the
two measured requesters and a crowd of others (1,000 requesters, ~10 tickets each) around
them. Both measured requesters have the same open work — 2 drafts, 2 tickets in analysis,
1 awaiting their adjustment — and differ only in their past: closed tickets (resolved,
returned, closed for lack of answer) with their completed task rows, over two years.
The ticket pages read each one's newest ticket in analysis; the form, their newest draft's
registration task. PostgreSQL gets ANALYZE after the load, as autovacuum would; SQLite
gets none (the product never runs it).

One server worker serves both; each call is made for one requester then the other,
alternately; figures are medians. Verdict: every call of the 10,000 within 1.2× of the
same call of the 10. The statements of the calls over the target are printed with their
plans (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).

    python -m bench.requester_history [--history 10,10000] [--requests 60] [--backends ...]
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
from bench.queue_scale import SERVICES, _real_tickets, session_cookie, write_rows

TARGET_RATIO = 1.2
# Open work of each measured requester, the same for both: status -> tickets.
OPEN_WORK = (("rascunho", 2), ("em_analise", 2), ("aguardando_ajuste", 1))
CLOSED_MIX = (("resolvido", 0.72), ("devolvido", 0.24), ("encerrado_sem_resposta", 0.04))
CROWD = 1_000  # other requesters, ~10 tickets each

# (label, kind, path) — kind "api" uses the bearer token, "page" the session cookie;
# {oldest} is a cursor just before the person's ten oldest tickets, {ticket} their newest
# ticket in analysis, {task} the registration task of their newest draft.
ENDPOINTS = (
    ("API /api/v1/tasks", "api", "/api/v1/tasks"),
    ("API /api/v1/chamados", "api", "/api/v1/chamados"),
    ("página /minhas-solicitacoes", "page", "/minhas-solicitacoes"),
    ("página /minhas-solicitacoes encerrados", "page", "/minhas-solicitacoes?visao=encerrados"),
    ("API encerrados, 10 por página", "api", "/api/v1/chamados?view=encerrados&limit=10"),
    ("API todos, 10 mais antigos (cursor)", "api", "/api/v1/chamados?limit=10&cursor={oldest}"),
    ("página inicial /", "page", "/"),
    ("página /servicos", "page", "/servicos"),
    ("página do serviço /servicos/chamado", "page", "/servicos/chamado"),
    ("API /api/v1/services", "api", "/api/v1/services"),
    ("API problemas conhecidos do serviço", "api", "/api/v1/services/chamado/known-problems"),
    ("página /orgaos/busca", "page", "/orgaos/busca?q=receita"),
    ("página do chamado /chamados/<id>", "page", "/chamados/{ticket}"),
    ("API /api/v1/chamados/<id>", "api", "/api/v1/chamados/{ticket}"),
    ("API formulário da tarefa", "api", "/api/v1/tasks/{task}"),
    ("página /meus-dados", "page", "/meus-dados"),
    ("API /api/v1/me/data", "api", "/api/v1/me/data"),
    ("download /meus-dados.json (gzip)", "page", "/meus-dados.json"),
    ("API /api/v1/me/data/copy", "api", "/api/v1/me/data/copy"),
)
# The complete copy's downloads: the person's whole data, growing with it (not judged).
TRANSFERS = frozenset({"download /meus-dados.json (gzip)", "API /api/v1/me/data/copy"})
# Sent as a browser sends it: the stored gzip goes out as it is.
GZIP = frozenset({"download /meus-dados.json (gzip)"})


# --- data ------------------------------------------------------------------------------------


@dataclass
class Generator:
    """Chamados and their human_tasks rows, as dicts for Core inserts."""

    real: dict[str, Any]
    orgao_ids: list[int]
    tipos: list[str]
    analysts: list[int]
    now: datetime
    next_chamado: int
    next_task: int
    seq_by_year: dict[int, int]
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    chamados: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)

    def task(self, cid: int, name: str, created: datetime, state: str, **extra: Any) -> None:
        shape = self.real["shapes"][name]
        self.tasks.append(
            {
                "id": self.next_task,
                "chamado_id": cid,
                "task_guid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
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
        self.next_task += 1

    def ticket(self, requester: int, email: str, st: str, created: datetime) -> None:
        """One ticket in status ``st`` with the task rows its path leaves behind."""
        rng, cid = self.rng, self.next_chamado
        self.next_chamado += 1
        self.seq_by_year[created.year] = self.seq_by_year.get(created.year, 0) + 1
        row: dict[str, Any] = {
            "id": cid,
            "protocolo": f"CH-{created.year}-{self.seq_by_year[created.year]:06d}",
            "requester_id": requester,
            "process_version_id": self.real["version_id"],
            "status": st,
            "version": 1,
            "workflow_state": self.real["states"][st],
            "orgao_id": None,
            "categoria": None,
            "servico": None,
            "email": email,
            "adjustment_rounds": 0,
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
        self.chamados.append(row)
        if st == "rascunho":
            self.task(cid, "registrar_chamado", created, "ready", assignee_id=requester)
            return
        analyst = rng.choice(self.analysts)
        t = created + timedelta(hours=rng.uniform(0.2, 4))
        self.task(
            cid,
            "registrar_chamado",
            created,
            "completed",
            assignee_id=requester,
            completed_at=t,
            completed_by_id=requester,
        )
        row.update(
            orgao_id=rng.choice(self.orgao_ids),
            categoria=rng.choice(self.tipos),
            servico=rng.choice(SERVICES),
            submitted_at=t,
            version=2,
        )
        if st == "em_analise":
            self.task(cid, "analisar_chamado", t, "ready")
            row.update(analysis_started_at=t, analysis_due_at=t + timedelta(days=2))
            return
        done = t + timedelta(hours=rng.uniform(1, 48))
        self.task(
            cid,
            "analisar_chamado",
            t,
            "completed",
            assignee_id=analyst,
            claimed_at=t,
            completed_at=done,
            completed_by_id=analyst,
        )
        row.update(version=4, analysis_seconds=int((done - t).total_seconds()))
        if st in ("aguardando_ajuste", "encerrado_sem_resposta"):
            row["adjustment_rounds"] = 1
            ready = st == "aguardando_ajuste"
            self.task(
                cid,
                "ajustar_solicitacao",
                done,
                "ready" if ready else "cancelled",
                assignee_id=requester,
                completed_at=None if ready else done + timedelta(days=10),
            )
            if not ready:
                row.update(closed_at=done + timedelta(days=10), version=6)
        else:
            row.update(
                closed_at=done,
                outcome_message=(
                    "Corrigimos a integração." if st == "resolvido" else "Fora do escopo."
                ),
            )
        row["updated_at"] = min(row["closed_at"] or done, self.now)

    def history(self, requester: int, email: str, closed: int, open_work: Any) -> None:
        """``closed`` past tickets over two years, then the open work, recent."""
        statuses = [st for st, _ in CLOSED_MIX]
        weights = [w for _, w in CLOSED_MIX]
        for _ in range(closed):
            age = timedelta(days=30 + self.rng.random() * 700, seconds=self.rng.randrange(86400))
            self.ticket(requester, email, self.rng.choices(statuses, weights)[0], self.now - age)
        for st, n in open_work:
            for _ in range(n):
                age = timedelta(days=self.rng.random() * 20, seconds=self.rng.randrange(86400))
                self.ticket(requester, email, st, self.now - age)


def bulk_load(svc: Any, history: list[int], seed: int = 11) -> dict[str, Any]:
    """The measured requesters (one per ``history`` size) and the crowd, with SQL."""
    from sqlalchemy import func, select

    from engine.models import CatalogItem, Chamado, HumanTask, Orgao, ProtocolSequence, User

    analysts = [
        common.add_person(svc, common.ANA, "Ana Souza", "analyst"),
        *(
            common.add_person(svc, common.cpf_from(400_000 + i), f"Analista {i}", "analyst")
            for i in range(3)
        ),
    ]
    maria = common.add_person(svc, common.MARIA, "Maria da Silva")
    real = _real_tickets(svc, maria, analysts[0])
    measured = [
        common.add_person(svc, common.cpf_from(500_000 + i), f"Solicitante {fmt(n)}")
        for i, n in enumerate(history)
    ]
    with svc.unit.session_factory() as s:
        gen = Generator(
            real=real,
            orgao_ids=list(s.scalars(select(Orgao.id).order_by(Orgao.id))),
            tipos=list(
                s.scalars(select(CatalogItem.code).where(CatalogItem.catalog == "tipo_problema"))
            ),
            analysts=[a.id for a in analysts],
            now=datetime.now(UTC),
            next_chamado=(s.scalar(select(func.max(Chamado.id))) or 0) + 1,
            next_task=(s.scalar(select(func.max(HumanTask.id))) or 0) + 1,
            seq_by_year={row.year: row.last_value for row in s.scalars(select(ProtocolSequence))},
            rng=random.Random(seed),
        )
        next_user = (s.scalar(select(func.max(User.id))) or 0) + 1
    crowd = []
    for i in range(CROWD):
        cpf = common.cpf_from(600_000 + i)
        crowd.append(
            {
                "id": next_user + i,
                "cpf": cpf,
                "kind": "pessoa",
                "name": f"Pessoa {i}",
                "email": f"{cpf}@example.gov.br",
                "created_at": gen.now - timedelta(days=800),
            }
        )
    # Interleaved with the crowd, as tickets arrive: the measured rows are not adjacent.
    for person, n in zip(measured, history, strict=True):
        gen.history(person.id, f"{person.cpf}@example.gov.br", n, OPEN_WORK)
    for user in crowd:
        closed = gen.rng.randrange(5, 16)
        open_work = [(st, int(gen.rng.random() < 0.3)) for st, _n in OPEN_WORK]
        gen.history(user["id"], user["email"], closed, open_work)

    engine = svc.unit.db
    load_s = write_rows(engine, crowd, gen.chamados, gen.tasks, gen.seq_by_year)
    people = []
    with svc.unit.session_factory() as s:
        for person in measured:
            mine = Chamado.requester_id == person.id
            rows = s.execute(
                select(Chamado.created_at, Chamado.id)
                .where(mine)
                .order_by(Chamado.created_at, Chamado.id)
                .limit(11)
            ).all()
            people.append(
                {
                    "person": person,
                    "tickets": s.scalar(select(func.count()).select_from(Chamado).where(mine)),
                    "closed": s.scalar(
                        select(func.count())
                        .select_from(Chamado)
                        .where(mine, Chamado.closed_at.is_not(None))
                    ),
                    "task_rows": s.scalar(
                        select(func.count())
                        .select_from(HumanTask)
                        .where(HumanTask.assignee_id == person.id)
                    ),
                    "oldest_cursor": _cursor_before(rows[-1]),
                    "ticket": s.scalar(
                        select(Chamado.id)
                        .where(mine, Chamado.status == "em_analise")
                        .order_by(Chamado.created_at.desc())
                        .limit(1)
                    ),
                    "task": s.scalar(
                        select(HumanTask.id)
                        .join(Chamado, Chamado.id == HumanTask.chamado_id)
                        .where(mine, Chamado.status == "rascunho", HumanTask.state == "ready")
                        .order_by(Chamado.created_at.desc())
                        .limit(1)
                    ),
                }
            )
        counts = {
            "chamados": s.scalar(select(func.count()).select_from(Chamado)),
            "human_tasks": s.scalar(select(func.count()).select_from(HumanTask)),
            "users": s.scalar(select(func.count()).select_from(User)),
        }
    return {"counts": counts, "load_seconds": load_s, "people": people}


def _cursor_before(row: Any) -> str:
    """The cursor of the page after ``row`` in the "todos" view: the rows older than it."""
    from engine import listing

    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return listing.encode_cursor(listing.Cursor(listing.CHAMADOS, "todos", False, created, row.id))


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Who:
    history: int
    token: str
    cookie: str
    info: dict[str, Any]
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def open_site(
    kind: str, history: list[int], wd: Path
) -> Iterator[tuple[common.Server, str, Path, list[Who], dict[str, Any]]]:
    instance = wd / kind
    instance.mkdir()
    with common.TempDatabase(kind, instance) as db:
        svc = common.make_service(db.url, instance)
        load = bulk_load(svc, history)
        # A server-side login session per requester (engine.sessions), as the callback opens.
        people = [
            Who(n, p["person"].token, session_cookie(svc, p["person"].cpf, f"Solicitante {n}"), p)
            for n, p in zip(history, load["people"], strict=True)
        ]
        load["copies"] = build_copies(svc, load["people"])
        svc.unit.db.dispose()
        with common.Server(db.url, instance, workers=1) as server:
            yield server, db.url, instance, people, load


def build_copies(svc: Any, people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each measured requester asks for the complete copy and the scheduler's job builds
    it (in process, as ``chamados scheduler`` would): CPU, wall, Python memory peak."""
    import tracemalloc

    from sqlalchemy import func, select

    from engine.models import DataCopy
    from engine.service import ActorRef

    out = []
    for p in people:
        person = p["person"]
        svc.privacy.request_copy(ActorRef(person.id))
        tracemalloc.start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        built = svc.privacy.build_copies("bench")
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        _now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        with svc.unit.session_factory() as s:
            row = s.execute(
                select(DataCopy.instances, DataCopy.size, func.length(DataCopy.content)).where(
                    DataCopy.user_id == person.id, DataCopy.status == "ready"
                )
            ).one()
        assert built == 1 and row.instances == p["tickets"], (built, row.instances, p["tickets"])
        out.append(
            {
                "tickets": p["tickets"],
                "cpu_s": cpu,
                "wall_s": wall,
                "peak_mb": peak / 2**20,
                "json_kb": row.size / 1024,
                "gzip_kb": row[2] / 1024,
            }
        )
    return out


def fetch(
    server: common.Server, who: Who, kind: str, path: str, gzip: bool = False
) -> tuple[float, float, int]:
    """One request; returns (wall seconds, worker CPU seconds, body bytes)."""
    headers = {"Accept-Encoding": "gzip"} if gzip else None
    cpu0 = server.cpu()
    started = time.perf_counter()
    if kind == "api":
        status, body = common.request("GET", server.port, path, token=who.token, headers=headers)
    else:
        status, body = common.request("GET", server.port, path, cookie=who.cookie, headers=headers)
    wall = time.perf_counter() - started
    cpu = server.cpu() - cpu0
    if status != 200:
        raise RuntimeError(f"{path}: {status} {body[:300]!r}\n{server.tail()}")
    # Fragments and downloads have no header with the person's name.
    whole = not path.endswith(".json") and not path.startswith("/orgaos/busca")
    if kind == "page" and whole and b"Sair" not in body:
        raise RuntimeError(f"{path}: a página não é de quem entrou (login?)")
    return wall, cpu, len(body)


def plans(db_url: str, instance: Path, who: Who, endpoints: list[tuple[str, str, str]]) -> Any:
    """Every SQL statement of each call for ``who``, in-process on the same database,
    with its plan: EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite."""
    from sqlalchemy import event

    out: dict[str, list[dict[str, Any]]] = {}
    with common.inprocess_app(db_url, instance) as app:
        client = app.test_client()
        engine = app.extensions["chamados"].unit.db
        name, _, value = who.cookie.partition("=")
        client.set_cookie(name, value)
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
        for label, kind, path in endpoints:
            headers = {"Authorization": f"Bearer {who.token}"} if kind == "api" else {}
            client.get(path, headers=headers)  # warm
            seen: list[dict[str, Any]] = []

            def before(
                _c: Any, _cur: Any, statement: str, parameters: Any, *_a: Any, seen: Any = seen
            ) -> None:
                seen.append({"raw": statement, "params": parameters})

            event.listen(engine, "before_cursor_execute", before)
            try:
                resp = client.get(path, headers=headers)
            finally:
                event.remove(engine, "before_cursor_execute", before)
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            listed = [s for s in seen if "chamados" in s["raw"] or "human_tasks" in s["raw"]]
            with engine.connect() as conn:
                for stmt in listed:
                    rows = conn.exec_driver_sql(explain + stmt["raw"], stmt["params"]).fetchall()
                    stmt["plan"] = [str(r[-1] if explain.endswith("PLAN ") else r[0]) for r in rows]
                    stmt["sql"] = _summary(stmt.pop("raw"))
                    stmt.pop("params")
            out[label] = [{"statements": len(seen)}, *listed]
    return out


def _summary(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql).strip()
    n_counts = sql.count("SELECT count(*)")
    head = f"SELECT {n_counts} contagens" if n_counts else "SELECT ..."
    tables = re.findall(r"(?:FROM|JOIN) (\w+)", sql)
    where = sql.split(" WHERE ", 1)[1] if " WHERE " in sql else ""
    return f"{head} [{', '.join(dict.fromkeys(tables))}] WHERE {where}"[:140]


def run(history: list[int], kinds: list[str], requests: int, time_budget: float) -> dict[str, Any]:
    title(
        "5. Histórico do solicitante: suas listas com "
        f"{' e '.join(fmt(n) for n in history)} chamados passados"
    )
    if "postgresql" in kinds:
        why = common.postgres_available()
        if why:
            note(f"ATENÇÃO: PostgreSQL indisponível ({why}); medindo só SQLite.")
            kinds = [k for k in kinds if k != "postgresql"]
    result: dict[str, Any] = {"history": history, "backends": {}}
    verdicts = []
    deadline = time.monotonic() + time_budget
    for kind in kinds:
        with contextlib.ExitStack() as stack:
            wd = stack.enter_context(common.workdir(f"history-{kind}"))
            t0 = time.perf_counter()
            server, db_url, instance, people, load = stack.enter_context(
                open_site(kind, history, wd)
            )
            c = load["counts"]
            note(
                f"{kind}: banco pronto em {time.perf_counter() - t0:.0f} s "
                f"({fmt(c['chamados'])} chamados, {fmt(c['human_tasks'])} tarefas, "
                f"{fmt(c['users'])} pessoas)"
            )
            for who in people:
                note(
                    f"  solicitante com {fmt(who.history)} passados: {fmt(who.info['tickets'])} "
                    f"chamados ({fmt(who.info['closed'])} encerrados), "
                    f"{fmt(who.info['task_rows'])} tarefas atribuídas no histórico"
                )

            def path_for(who: Who, p: str) -> str:
                info = who.info
                return p.format(
                    oldest=info["oldest_cursor"], ticket=info["ticket"], task=info["task"]
                )

            for copy in load["copies"]:
                note(
                    f"  cópia completa de quem tem {fmt(copy['tickets'])} chamados (tarefa "
                    f"agendada): {copy['cpu_s']:.2f} s de CPU, {copy['wall_s']:.2f} s, pico de "
                    f"memória Python {copy['peak_mb']:.1f} MB, JSON {copy['json_kb']:.0f} KB, "
                    f"guardada em gzip {copy['gzip_kb']:.0f} KB"
                )
            for who in people:  # warm: templates, caches, connections
                for label, k, p in ENDPOINTS:
                    for _ in range(3):
                        fetch(server, who, k, path_for(who, p), label in GZIP)
            done = 0
            for _ in range(requests):
                if time.monotonic() > deadline:
                    note(f"ATENÇÃO: orçamento de tempo esgotado após {done} pedidos por ponto.")
                    break
                for label, k, p in ENDPOINTS:
                    for who in people if done % 2 == 0 else people[::-1]:
                        wall, cpu, size = fetch(server, who, k, path_for(who, p), label in GZIP)
                        who.samples.setdefault(label, []).append(wall)
                        who.cpu[label] = who.cpu.get(label, 0.0) + cpu
                        who.size[label] = size
                done += 1
            light, heavy = people[0], people[-1]
            rows = []
            fig: dict[str, Any] = {"load": load_summary(load), "requests_per_point": done}
            fig["endpoints"] = {}
            for label, _k, p in ENDPOINTS:
                a = median(light.samples[label]) * 1000
                b = median(heavy.samples[label]) * 1000
                ca = light.cpu[label] * 1000 / max(1, done)
                cb = heavy.cpu[label] * 1000 / max(1, done)
                sa, sb = light.size[label], heavy.size[label]
                rows.append((label, a, b, b / a, ca, cb, f"{sa / 1024:.1f}/{sb / 1024:.1f}"))
                fig["endpoints"][label] = {
                    "path": p,
                    "median_ms": {str(light.history): a, str(heavy.history): b},
                    "ratio": b / a,
                    "cpu_ms": {str(light.history): ca, str(heavy.history): cb},
                    "bytes": {str(light.history): sa, str(heavy.history): sb},
                }
            print()
            note(
                f"{kind}: mediana de {done} pedidos por ponto, alternados; tempos em ms; "
                "CPU = ms de CPU do worker por pedido; KB = tamanho da resposta."
            )
            table(
                [
                    "pedido",
                    f"{fmt(light.history)} ms",
                    f"{fmt(heavy.history)} ms",
                    "razão",
                    f"CPU {fmt(light.history)}",
                    f"CPU {fmt(heavy.history)}",
                    "KB",
                ],
                rows,
            )
            judged = [e for e in ENDPOINTS if e[0] not in TRANSFERS]
            over = [lbl for lbl, *_ in judged if fig["endpoints"][lbl]["ratio"] > TARGET_RATIO]
            worst = max(judged, key=lambda e: fig["endpoints"][e[0]]["ratio"])[0]
            note(
                f"{kind}: fora da meta, os downloads da cópia completa ("
                + "; ".join(
                    f"{lbl}: {fig['endpoints'][lbl]['bytes'][str(heavy.history)] / 1024:.0f} KB, "
                    f"{fig['endpoints'][lbl]['ratio']:.1f}×"
                    for lbl in sorted(TRANSFERS)
                )
                + "): transferem todos os dados da pessoa, que crescem com o histórico."
            )
            fig["copies"] = load["copies"]
            verdicts.append(
                verdict(
                    not over,
                    f"{kind}: cada uma das {len(judged)} chamadas do solicitante com "
                    f"{fmt(heavy.history)} passados em até {TARGET_RATIO}× da de quem tem "
                    f"{fmt(light.history)} (pior: {worst}, "
                    f"{fig['endpoints'][worst]['ratio']:.2f}×)",
                    f"acima da meta: {', '.join(over)}; comandos SQL e planos logo abaixo",
                )
            )
            fig["over"] = over
            chosen = [e for e in ENDPOINTS if e[0] in over]
            found = {}
            if chosen:
                print()
                note(
                    f"{kind}: comandos SQL das chamadas acima da meta para o solicitante com "
                    f"{fmt(heavy.history)} passados, e seus planos:"
                )
                endpoints = [(lbl, k, path_for(heavy, p)) for lbl, k, p in chosen]
                found = plans(db_url, instance, heavy, endpoints)
            for label, (head, *stmts) in found.items():
                note(f"{label}: {head['statements']} comandos SQL no pedido")
                for stmt in stmts:
                    note(f"  {stmt['sql']}")
                    for line in stmt["plan"]:
                        note(f"      {line}")
            fig["plans"] = found
            result["backends"][kind] = fig
    result["verdicts"] = verdicts
    common.save_results("requester_history", result)
    return result


def load_summary(load: dict[str, Any]) -> dict[str, Any]:
    return {
        "counts": load["counts"],
        "load_seconds": load["load_seconds"],
        "people": [
            {k: v for k, v in p.items() if k in ("tickets", "closed", "task_rows")}
            for p in load["people"]
        ],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default="10,10000", help="chamados passados de cada um")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=60, help="por ponto e solicitante")
    parser.add_argument(
        "--time-budget", type=float, default=240, help="segundos de medida, no máximo"
    )
    parser.add_argument("--quick", action="store_true", help="20 pedidos por ponto")
    parser.add_argument("--profile", action="store_true", help="sem efeito: os planos saem sempre")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = min(args.requests, 20)
    history = sorted(int(s) for s in args.history.split(","))
    return run(
        history,
        [k.strip() for k in args.backends.split(",") if k.strip()],
        args.requests,
        args.time_budget,
    )


if __name__ == "__main__":
    main()

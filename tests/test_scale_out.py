"""Scale-out: two app servers and two schedulers, real processes on one PostgreSQL.

Two ``chamados serve`` (granian, ``web.wsgi:app``) and two ``chamados scheduler`` processes
share a fresh database; a real SMTP server (aiosmtpd, in this process) receives the mail.
Sixteen clients drive 200 tickets concurrently over the REST API, alternating between the
two servers at every request: start, registration, several analysts racing to claim each
analysis, and decisions mixing resolve, return, adjust → adjusted → resolve, and adjustments
left unanswered until the 10-day timer closes the ticket. Some submissions are posted twice
at once, one to each server.

Time cannot be moved inside other processes, so an unanswered ticket's timer is made due
in this process the way time passing would make it: in one transaction (with the ticket's
version bump, like any action) the waiting boundary timer's ``event_value`` in the saved
workflow — which SpiffWorkflow itself compares with the clock when the scheduler fires it —
is set to a minute ago, and ``engine.timers.sync`` mirrors it into ``workflow_timers.due_at``.
The schedulers then have to find it, fire it once and send its e-mail once.

At the end the database and the SMTP server are checked: every ticket where it should be,
protocol numbers unique, each task completed once, each claim won once, each timer fired
once, each message sent once and received once under its Message-ID.

PostgreSQL only (SQLite is one file on one host): skipped without TEST_DATABASE_URL.
"""

from __future__ import annotations

import itertools
import os
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from SpiffWorkflow import TaskState
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from engine import runtime, timers, tokens, users
from engine.identity import Identity
from engine.models import AuditEvent, Chamado, HumanTask, OutboxMessage, Submission, WorkflowTimer
from engine.service import Chamados
from engine.settings import PROJECT_ROOT, Settings
from engine.validators import is_valid_cpf_digits
from tests import procs
from tests.conftest import TEST_DATABASE_URL
from tests.test_engine_lifecycle import registration

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="scale-out needs PostgreSQL: set TEST_DATABASE_URL (CI does)",
)

TICKETS = 200
CLIENTS = 16
REQUESTERS = 6
ANALYSTS = 4
CLAIMERS = 3  # analysts racing for each analysis task
SCHEDULER_INTERVAL = 0.5  # seconds (CHAMADOS_SCHEDULER_INTERVAL)
START_TIMEOUT = 60.0
SETTLE_TIMEOUT = 120.0
HTTP_TIMEOUT = 60.0

# What a ticket goes through, by index; and where it must end.
RESOLVE, RETURN, ADJUST_RESOLVE, UNANSWERED = "resolve", "return", "adjust_resolve", "unanswered"
SCENARIOS = (RESOLVE, RETURN, ADJUST_RESOLVE, UNANSWERED)
FINAL_STATUS = {
    RESOLVE: "resolvido",
    RETURN: "devolvido",
    ADJUST_RESOLVE: "resolvido",
    UNANSWERED: "encerrado_sem_resposta",
}
MAIL_KINDS = {
    RESOLVE: Counter({"chamado_registrado": 1, "chamado_resolvido": 1}),
    RETURN: Counter({"chamado_registrado": 1, "chamado_devolvido": 1}),
    ADJUST_RESOLVE: Counter(
        {"chamado_registrado": 1, "ajuste_solicitado": 1, "chamado_resolvido": 1}
    ),
    UNANSWERED: Counter(
        {"chamado_registrado": 1, "ajuste_solicitado": 1, "encerrado_sem_resposta": 1}
    ),
}
COMPLETED_TASKS = {  # BPMN user task -> times completed
    RESOLVE: Counter({"registrar_chamado": 1, "analisar_chamado": 1}),
    RETURN: Counter({"registrar_chamado": 1, "analisar_chamado": 1}),
    ADJUST_RESOLVE: Counter(
        {"registrar_chamado": 1, "analisar_chamado": 2, "ajustar_solicitacao": 1}
    ),
    UNANSWERED: Counter({"registrar_chamado": 1, "analisar_chamado": 1}),
}
# Ticket-changing audit rows, each exactly this many times.
AUDITS = {
    RESOLVE: Counter(
        {
            "chamado.criado": 1,
            "chamado.enviado": 1,
            "tarefa.assumida": 1,
            "tarefa.concluida": 1,
            "chamado.resolvido": 1,
        }
    ),
    RETURN: Counter(
        {
            "chamado.criado": 1,
            "chamado.enviado": 1,
            "tarefa.assumida": 1,
            "tarefa.concluida": 1,
            "chamado.devolvido": 1,
        }
    ),
    ADJUST_RESOLVE: Counter(
        {
            "chamado.criado": 1,
            "chamado.enviado": 1,
            "tarefa.assumida": 2,
            "tarefa.concluida": 2,
            "mensagem": 1,
            "chamado.ajustado": 1,
            "chamado.resolvido": 1,
        }
    ),
    UNANSWERED: Counter(
        {
            "chamado.criado": 1,
            "chamado.enviado": 1,
            "tarefa.assumida": 1,
            "tarefa.concluida": 1,
            "mensagem": 1,
            "temporizador": 1,
            "chamado.encerrado_sem_resposta": 1,
        }
    ),
}
# Version bumps: one per completed task, plus (unanswered) the back-dating and the firing.
FINAL_VERSION = {RESOLVE: 3, RETURN: 3, ADJUST_RESOLVE: 5, UNANSWERED: 5}


def scenario_of(index: int) -> str:
    return SCENARIOS[index % len(SCENARIOS)]


def posted_twice(index: int) -> bool:
    """Every third ticket's submissions are posted twice at once, once to each server."""
    return index % 3 == 0


# --- people ----------------------------------------------------------------------------------


def make_cpf(seed: int) -> str:
    base = f"{seed:09d}"
    for _ in range(2):
        total = sum(int(d) * w for d, w in zip(base, range(len(base) + 1, 1, -1), strict=True))
        base += str(0 if total % 11 < 2 else 11 - total % 11)
    assert is_valid_cpf_digits(base), base
    return base


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    email: str
    token: str


def add_person(svc: Chamados, seed: int, name: str, *roles: str) -> Person:
    cpf = make_cpf(seed)
    email = f"{cpf}@example.gov.br"
    with svc.unit.transaction() as s:
        user = users.upsert_user(s, Identity(cpf=cpf, name=name, email=email, email_verified=True))
        for role in roles:
            users.grant_role(s, cpf, role, None)
        plaintext, _row = tokens.create_token(s, user.id, "escala", user.id, svc.clock())
        return Person(user.id, name, email, plaintext)


# --- SMTP ------------------------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler: counts every accepted message by its Message-ID."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: Counter[str] = Counter()
        self.rcpt: dict[str, list[str]] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        message_id = str(message["Message-ID"]).strip()
        with self.lock:
            self.by_id[message_id] += 1
            self.rcpt[message_id] = list(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def total(self) -> int:
        with self.lock:
            return sum(self.by_id.values())

    def snapshot(self) -> tuple[Counter[str], dict[str, list[str]]]:
        with self.lock:
            return Counter(self.by_id), dict(self.rcpt)


# --- the cluster -----------------------------------------------------------------------------


@dataclass
class Cluster:
    svc: Chamados
    servers: list[str]  # base URLs
    processes: list[procs.Proc]
    inbox: Inbox
    requesters: list[Person]
    analysts: list[Person]

    def diagnose(self) -> str:
        return "\n\n".join(p.describe() for p in self.processes)


def _drop_database(url: str) -> None:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _chamados_cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from web.cli import main; main()", *args]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    from tests.pg import fresh_database

    url = fresh_database(TEST_DATABASE_URL)
    started: list[procs.Proc] = []
    controller: Controller | None = None
    svc: Chamados | None = None
    try:
        settings = Settings.from_env(env={}, instance_dir=tmp_path / "setup")
        settings = Settings(**{**settings.__dict__, "database_url": url})
        svc = Chamados.from_settings(settings)
        svc.init_database()
        requesters = [
            add_person(svc, 100_000_000 + i, f"Solicitante {i}") for i in range(REQUESTERS)
        ]
        analysts = [
            add_person(svc, 200_000_000 + i, f"Analista {i}", "analyst") for i in range(ANALYSTS)
        ]

        inbox = Inbox()
        smtp_port = procs.free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()

        ports = [procs.free_port(), procs.free_port()]
        servers = [f"http://127.0.0.1:{port}" for port in ports]
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("CHAMADOS_SCHEDULER", "PROMETHEUS_MULTIPROC_DIR", "BOOTSTRAP_ADMIN_CPF")
        }
        env.update(
            DATABASE_URL=url,
            SECRET_KEY=secrets.token_hex(16),
            OIDC_ISSUER="http://127.0.0.1:9",  # never contacted: the API uses bearer tokens
            APP_BASE_URL=servers[0],
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp_port),
            CHAMADOS_SCHEDULER_INTERVAL=str(SCHEDULER_INTERVAL),
            PYTHONUNBUFFERED="1",
        )
        logs = tmp_path / "logs"
        logs.mkdir()
        for n, port in enumerate(ports):
            instance = tmp_path / f"app{n}"
            instance.mkdir()
            args = _chamados_cli(
                "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                "--threads", "2", "--workers-kill-timeout", "5",
            )  # fmt: skip
            env_n = {**env, "INSTANCE_DIR": str(instance)}
            started.append(procs.start(f"app{n}", args, env_n, logs, PROJECT_ROOT))
        for n in range(2):
            instance = tmp_path / f"scheduler{n}"
            instance.mkdir()
            env_n = {**env, "INSTANCE_DIR": str(instance)}
            args = _chamados_cli("scheduler")
            started.append(procs.start(f"scheduler{n}", args, env_n, logs, PROJECT_ROOT))
        for proc, base in zip(started, servers, strict=False):
            procs.wait_http(proc, f"{base}/readyz", START_TIMEOUT)
        for proc in started[2:]:
            assert proc.alive(), proc.describe()

        yield Cluster(svc, servers, started, inbox, requesters, analysts)
    finally:
        for proc in started:
            proc.stop()
        if controller is not None:
            controller.stop()
        if svc is not None:
            svc.unit.db.dispose()
        _drop_database(url)


# --- HTTP ------------------------------------------------------------------------------------

_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


@dataclass
class Reply:
    status: int
    body: Any
    server: str


def call(base: str, who: Person, method: str, path: str, body: Any = None) -> Reply:
    resp = _session().request(
        method,
        f"{base}/api/v1{path}",
        json=body,
        # A fresh connection per request: reusing one the server is just closing after its
        # keep-alive timeout gets a reset that says nothing about the product.
        headers={"Authorization": f"Bearer {who.token}", "Connection": "close"},
        timeout=HTTP_TIMEOUT,
    )
    if not resp.content:
        data = None
    elif "json" in resp.headers.get("Content-Type", ""):
        data = resp.json()
    else:  # e.g. an HTML error page: kept for the failure message
        data = resp.text[:500]
    return Reply(resp.status_code, data, base)


def expect(reply: Reply, status: int, what: str) -> Any:
    assert reply.status == status, f"{what} via {reply.server}: {reply.status} {reply.body}"
    return reply.body


# --- one ticket ------------------------------------------------------------------------------


@dataclass
class Outcome:
    index: int
    scenario: str
    chamado_id: int = 0
    protocolo: str = ""
    claim_races: list[list[int]] = field(default_factory=list)
    double_posts: list[list[int]] = field(default_factory=list)


class Driver:
    def __init__(self, cluster: Cluster, racers: ThreadPoolExecutor) -> None:
        self.cluster = cluster
        self.racers = racers

    def race(self, calls: list[Callable[[], Reply]]) -> list[Reply]:
        """Run the calls at the same moment (a barrier), each on its own thread."""
        barrier = threading.Barrier(len(calls), timeout=30)

        def run(fn: Callable[[], Reply]) -> Reply:
            barrier.wait()
            return fn()

        futures = [self.racers.submit(run, fn) for fn in calls]
        return [f.result() for f in futures]

    def drive(self, index: int) -> Outcome:
        out = Outcome(index, scenario_of(index))
        servers = self.cluster.servers
        step = itertools.count()

        def server() -> str:  # alternate servers at every request
            return servers[(index + next(step)) % 2]

        requester = self.cluster.requesters[index % REQUESTERS]
        rotation = [self.cluster.analysts[(index + k) % ANALYSTS] for k in range(ANALYSTS)]
        claimers = rotation[:CLAIMERS]

        started = expect(
            call(server(), requester, "POST", "/processes/chamado/instances"), 201, "start"
        )
        out.chamado_id, out.protocolo = started["chamado"]["id"], started["chamado"]["protocolo"]
        cid = out.chamado_id
        task_id = started["task"]["id"]
        form = expect(call(server(), requester, "GET", f"/tasks/{task_id}"), 200, "form")
        data = {
            **form["data"],
            **registration(
                solicitante_nome=requester.name,
                solicitante_email=requester.email,
                detalhamento=f"Erro 500 na consulta de protocolos (caso {index}).",
            ),
        }
        sent = self.submit(out, requester, task_id, data, form["version"], server)
        assert sent["chamado"]["status"] == "em_analise", sent

        winner = self.claim(out, cid, claimers, server)
        if out.scenario == RESOLVE:
            self.decide(out, winner, cid, {"decisao": "resolver", "resposta": "Corrigido."}, server)
            return out
        if out.scenario == RETURN:
            decision = {
                "decisao": "devolver",
                "motivo_devolucao": "fora_escopo",
                "justificativa_devolucao": "Não é um erro da Plataforma.",
            }
            self.decide(out, winner, cid, decision, server)
            return out
        decision = {"decisao": "ajuste", "ajuste_solicitado": "Informe a mensagem de erro."}
        done = self.decide(out, winner, cid, decision, server)
        assert done["chamado"]["status"] == "aguardando_ajuste", done
        if out.scenario == UNANSWERED:
            make_adjustment_timer_due(self.cluster.svc, cid)
            return out

        view = expect(call(server(), requester, "GET", f"/chamados/{cid}"), 200, "tracking")
        adjust_id = view["open_tasks"][0]["id"]
        form = expect(call(server(), requester, "GET", f"/tasks/{adjust_id}"), 200, "adjust form")
        changed = {**form["data"], "detalhamento": f"Erro 500: timeout no conector ({index})."}
        again = self.submit(out, requester, adjust_id, changed, form["version"], server)
        assert again["chamado"]["status"] == "em_analise", again
        winner = self.claim(out, cid, rotation[1 : 1 + CLAIMERS], server)
        self.decide(out, winner, cid, {"decisao": "resolver", "resposta": "Corrigido."}, server)
        return out

    def submit(
        self,
        out: Outcome,
        who: Person,
        task_id: int,
        data: dict[str, Any],
        version: int,
        server: Callable[[], str],
    ) -> Any:
        body = {"data": data, "version": version}
        path = f"/tasks/{task_id}/submit"
        if not posted_twice(out.index):
            return expect(call(server(), who, "POST", path, body), 200, f"submit {path}")
        first, second = server(), server()
        replies = self.race(
            [
                lambda: call(first, who, "POST", path, body),
                lambda: call(second, who, "POST", path, body),
            ]
        )
        codes = sorted(r.status for r in replies)
        out.double_posts.append(codes)
        # Posted twice at once to two servers: exactly one completes the task.
        assert codes == [200, 409], [(r.server, r.status, r.body) for r in replies]
        return next(r.body for r in replies if r.status == 200)

    def claim(
        self, out: Outcome, cid: int, claimers: list[Person], server: Callable[[], str]
    ) -> Person:
        view = expect(call(server(), claimers[0], "GET", f"/chamados/{cid}"), 200, "analysis")
        open_analysis = [t for t in view["open_tasks"] if t["group"] == "analyst"]
        assert len(open_analysis) == 1, view["open_tasks"]
        task_id = open_analysis[0]["id"]
        targets = [(who, server()) for who in claimers]
        replies = self.race(
            [
                (lambda who=who, base=base: call(base, who, "POST", f"/tasks/{task_id}/claim"))
                for who, base in targets
            ]
        )
        codes = [r.status for r in replies]
        out.claim_races.append(codes)
        # Several analysts, two servers, one task: exactly one wins, the others get 409.
        assert sorted(codes) == [204] + [409] * (len(claimers) - 1), [
            (r.server, r.status, r.body) for r in replies
        ]
        for reply in replies:
            if reply.status == 409:
                assert "assumida" in reply.body["detail"], reply.body
        return next(who for (who, _), r in zip(targets, replies, strict=True) if r.status == 204)

    def decide(
        self,
        out: Outcome,
        analyst: Person,
        cid: int,
        decision: dict[str, Any],
        server: Callable[[], str],
    ) -> Any:
        view = expect(call(server(), analyst, "GET", f"/chamados/{cid}"), 200, "analysis")
        task = next(t for t in view["open_tasks"] if t["group"] == "analyst")
        assert task["assignee_id"] == analyst.user_id, task
        form = expect(call(server(), analyst, "GET", f"/tasks/{task['id']}"), 200, "form")
        done = self.submit(out, analyst, task["id"], decision, form["version"], server)
        if decision["decisao"] != "ajuste":
            assert done["chamado"]["status"] == FINAL_STATUS[out.scenario], done
        return done


ADJUSTMENT_TIMER = "timer_sem_resposta"


def make_adjustment_timer_due(svc: Chamados, chamado_id: int) -> None:
    """Let the 10 days pass for one ticket: its waiting adjustment timer is now a minute late.

    One transaction, as an action would: bump the version (which also row-locks the ticket),
    set the timer task's ``event_value`` in the saved workflow — what SpiffWorkflow compares
    with the clock when the scheduler fires — and mirror it into ``workflow_timers``.
    """
    past = datetime.now(UTC) - timedelta(minutes=1)
    with svc.unit.transaction() as s:
        bumped = s.execute(
            update(Chamado)
            .where(Chamado.id == chamado_id)
            .values(version=Chamado.version + 1)
            .execution_options(synchronize_session=False)
        )
        assert bumped.rowcount == 1
        chamado = s.get(Chamado, chamado_id)
        assert chamado is not None and chamado.status == "aguardando_ajuste"
        bundle = svc.unit.bundle(s, chamado.process_version_id)
        wf = runtime.load(bundle, chamado.workflow_state)
        waiting = [
            t
            for t in wf.get_tasks(state=TaskState.WAITING)
            if t.task_spec.bpmn_id == ADJUSTMENT_TIMER
        ]
        assert len(waiting) == 1, [t.task_spec.bpmn_id for t in waiting]
        waiting[0].internal_data["event_value"] = past.isoformat()
        chamado.workflow_state = runtime.dump(bundle, wf)
        timers.sync(s, chamado, wf, datetime.now(UTC))
        row = s.scalars(
            select(WorkflowTimer).where(
                WorkflowTimer.chamado_id == chamado_id,
                WorkflowTimer.element_id == ADJUSTMENT_TIMER,
                WorkflowTimer.state == "waiting",
            )
        ).one()
        s.flush()
        assert row.due_at <= datetime.now(UTC), row.due_at


# --- the test --------------------------------------------------------------------------------


def test_two_servers_and_two_schedulers_drive_200_tickets_once_each(cluster: Cluster) -> None:
    began = time.monotonic()
    with (
        ThreadPoolExecutor(CLIENTS, thread_name_prefix="client") as clients,
        ThreadPoolExecutor(CLIENTS * CLAIMERS, thread_name_prefix="racer") as racers,
    ):
        driver = Driver(cluster, racers)
        futures = [clients.submit(driver.drive, i) for i in range(TICKETS)]
        outcomes: list[Outcome] = []
        failures: list[str] = []
        for i, future in enumerate(futures):
            try:
                outcomes.append(future.result(timeout=SETTLE_TIMEOUT))
            except Exception as exc:  # collect all, report them together
                failures.append(f"ticket {i} ({scenario_of(i)}): {type(exc).__name__}: {exc}")
    assert not failures, (
        f"{len(failures)} ticket(s) failed:\n" + "\n".join(failures[:10]) + cluster.diagnose()
    )
    driven = time.monotonic() - began

    by_id = {o.chamado_id: o for o in outcomes}
    expected_mail = sum(sum(MAIL_KINDS[o.scenario].values()) for o in outcomes)
    unanswered = [o.chamado_id for o in outcomes if o.scenario == UNANSWERED]
    svc, inbox = cluster.svc, cluster.inbox

    def settled() -> bool:
        for proc in cluster.processes:
            assert proc.alive(), proc.describe()
        with svc.unit.session_factory() as s:
            closed = s.scalar(
                select(func.count())
                .select_from(Chamado)
                .where(Chamado.id.in_(unanswered), Chamado.status == "encerrado_sem_resposta")
            )
            mail = dict(
                s.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ).all()
            )
        # ">=": a message too many must fail below, with the counts, not time out here.
        sent, unsent = mail.get("sent", 0), sum(mail.values()) - mail.get("sent", 0)
        return (
            closed == len(unanswered)
            and unsent == 0
            and sent >= expected_mail
            and inbox.total() >= sent
        )

    def progress() -> str:
        with svc.unit.session_factory() as s:
            statuses = dict(
                s.execute(select(Chamado.status, func.count()).group_by(Chamado.status)).all()
            )
            mail = dict(
                s.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ).all()
            )
            timer_states = dict(
                s.execute(
                    select(WorkflowTimer.state, func.count()).group_by(WorkflowTimer.state)
                ).all()
            )
        return (
            f"tickets {statuses}; outbox {mail} (expected {expected_mail} sent); "
            f"SMTP received {inbox.total()}; timers {timer_states}\n{cluster.diagnose()}"
        )

    procs.wait_until(
        settled, SETTLE_TIMEOUT, "the schedulers to fire every timer and send every e-mail",
        interval=0.2, diagnose=progress,
    )  # fmt: skip
    # A few more scheduler rounds: a duplicate firing or sending would show up now.
    time.sleep(4 * SCHEDULER_INTERVAL)
    settled_at = time.monotonic() - began

    with svc.unit.session_factory() as s:
        # Every ticket where its story ends, each action applied once (one bump each).
        rows = s.execute(
            select(
                Chamado.id, Chamado.protocolo, Chamado.status, Chamado.version, Chamado.closed_at
            )
        ).all()
        assert len(rows) == TICKETS
        wrong = [
            (r.id, by_id[r.id].scenario, r.status, r.version)
            for r in rows
            if (r.status, r.version)
            != (FINAL_STATUS[by_id[r.id].scenario], FINAL_VERSION[by_id[r.id].scenario])
            or r.closed_at is None
        ]
        assert not wrong, (
            f"tickets not where they should be (id, scenario, status, version): {wrong[:20]}"
        )

        # Protocol numbers: unique, the ones the API gave, sequential within the year.
        protocolos = [r.protocolo for r in rows]
        assert len(set(protocolos)) == TICKETS, Counter(protocolos).most_common(3)
        assert set(protocolos) == {o.protocolo for o in outcomes}
        assert sorted(int(p.rsplit("-", 1)[1]) for p in protocolos) == list(range(1, TICKETS + 1))

        # Each task completed once, by one person, and exactly the tasks the story has.
        twice = s.execute(
            select(HumanTask.task_guid, func.count())
            .group_by(HumanTask.task_guid)
            .having(func.count() > 1)
        ).all()
        assert twice == []
        completed: dict[int, Counter[str]] = {cid: Counter() for cid in by_id}
        for task in s.scalars(select(HumanTask).where(HumanTask.state == "completed")):
            assert task.completed_by_id is not None and task.completed_at is not None
            completed[task.chamado_id][task.task_name] += 1
        wrong_tasks = {
            cid: dict(done)
            for cid, done in completed.items()
            if done != COMPLETED_TASKS[by_id[cid].scenario]
        }
        assert not wrong_tasks, f"completed tasks per ticket: {list(wrong_tasks.items())[:10]}"
        still_open = s.scalar(
            select(func.count()).select_from(HumanTask).where(HumanTask.state == "ready")
        )
        assert still_open == 0
        # The requester's sendings (each staff decision is kept as a submission too).
        submissions = Counter(
            s.scalars(select(Submission.chamado_id).where(Submission.group == "requester"))
        )
        assert submissions == Counter(
            {o.chamado_id: 2 if o.scenario == ADJUST_RESOLVE else 1 for o in outcomes}
        )

        # The audit trail: each completion, claim and ending recorded once.
        audits: dict[int, Counter[str]] = {cid: Counter() for cid in by_id}
        for cid, action in s.execute(
            select(AuditEvent.chamado_id, AuditEvent.action).where(
                AuditEvent.chamado_id.is_not(None)
            )
        ):
            audits[cid][action] += 1
        wrong_audits = {
            cid: dict(seen) for cid, seen in audits.items() if seen != AUDITS[by_id[cid].scenario]
        }
        assert not wrong_audits, f"audit rows per ticket: {list(wrong_audits.items())[:10]}"

        # Timers: each unanswered ticket's adjustment timer fired once; nothing else fired,
        # nothing is left waiting (every analysis deadline was cancelled by its decision).
        timer_rows = s.scalars(select(WorkflowTimer)).all()
        fired = [t for t in timer_rows if t.state == "fired"]
        assert sorted(t.chamado_id for t in fired) == sorted(unanswered)
        assert {t.element_id for t in fired} == {ADJUSTMENT_TIMER}
        assert all(t.fired_at is not None for t in fired)
        assert [t for t in timer_rows if t.state == "waiting"] == []
        assert len({t.task_guid for t in timer_rows}) == len(timer_rows)
        # Fired by the scheduler processes (the lease names host:pid of the one that fired).
        # How they share the work depends on the phase of their polling: not asserted.
        firing_pids = Counter(int(str(t.leased_by).rsplit(":", 1)[1]) for t in fired)
        schedulers = {p.pid for p in cluster.processes if p.name.startswith("scheduler")}
        assert set(firing_pids) <= schedulers, (firing_pids, schedulers)

        # Outbox: each message sent, at the first attempt; the kinds each story causes.
        messages = s.scalars(select(OutboxMessage)).all()
        assert len(messages) == expected_mail
        assert Counter(m.status for m in messages) == Counter({"sent": expected_mail})
        assert all(m.attempts == 1 for m in messages), Counter(m.attempts for m in messages)
        kinds: dict[int, Counter[str]] = {cid: Counter() for cid in by_id}
        for m in messages:
            assert m.chamado_id is not None
            kinds[m.chamado_id][m.kind] += 1
        wrong_mail = {
            cid: dict(k) for cid, k in kinds.items() if k != MAIL_KINDS[by_id[cid].scenario]
        }
        assert not wrong_mail, f"mail per ticket: {list(wrong_mail.items())[:10]}"

    # The SMTP server got each message exactly once, under the Message-ID the outbox holds.
    received, recipients = inbox.snapshot()
    duplicates = {mid: n for mid, n in received.items() if n != 1}
    assert not duplicates, f"received more than once: {list(duplicates.items())[:10]}"
    assert sum(received.values()) == len(messages)
    assert set(received) == {m.message_id for m in messages}
    assert all(recipients[m.message_id] == [m.to_addr] for m in messages)

    # The races really happened, on both servers.
    races = [codes for o in outcomes for codes in o.claim_races]
    assert len(races) == sum(2 if o.scenario == ADJUST_RESOLVE else 1 for o in outcomes)
    assert sum(len(o.double_posts) for o in outcomes) > 0

    # No process crashed or logged an unhandled error.
    for proc in cluster.processes:
        assert proc.alive(), proc.describe()
        assert "Traceback" not in proc.output(tail=10**7), proc.describe()

    print(
        f"\n{TICKETS} tickets driven in {driven:.1f} s, settled in {settled_at:.1f} s; "
        f"{len(messages)} e-mails, {len(fired)} timers fired {sorted(firing_pids.values())} "
        f"by the two schedulers, {len(races)} claim races"
    )

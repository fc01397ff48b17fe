"""The SQL a two-task instance costs over the REST API, as upper bounds a regression breaks.

The model of issue #16's comparison (bench/two_tasks.py): start → a requester's task → an
analyst's task → end, driven by the six calls an integration makes. Statements are counted
at the driver (``before_cursor_execute``: SQLite's ``BEGIN IMMEDIATE`` included), commits
at the connection. The bounds are today's counts on SQLite (PostgreSQL issues no explicit
BEGIN, so it needs one fewer per write): a statement added to any of these paths — an
extra read per request, a write in a read, one more commit — fails here before any
benchmark runs. Lower a bound when a change saves a statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy import event

from tests.conftest import ANA, MARIA
from tests.test_api import Api, build_app, deploy_tiny_process, person, queue_task_id

# (statements, commits) per call, at most.
BUDGET = {
    # auth; BEGIN; the person with the current version; protocol number; ticket (with
    # the status its first step gives it, since issue #16); audit; its first task.
    "iniciar": (7, 1),
    # The person's groups come from the process's copy (engine.groups.GroupCache), checked
    # against the groups' revision the authentication reads: one statement fewer in
    # "listar", "fila", "assumir" and "enviar B" since migration 0021.
    "listar": (2, 0),  # auth (with the groups' revision); the page
    # auth; BEGIN; the task locked with its ticket, the last form, and the ticket's open
    # task and timer rows (one statement fewer in both "enviar" since then: the step's
    # mirroring read them on its own); the task; the submission; the form's searchable
    # text (engine.search, one upsert); audit; the next task; the ticket.
    "enviar A": (9, 1),
    "fila": (3, 0),  # auth; every count in one statement; the page
    # 5 until migration 0018: every claim now also keeps the ticket's first analysis for
    # the Painel (Chamado.first_analysis_at), one UPDATE … WHERE first_analysis_at IS NULL
    # (it changes nothing after the first claim; cheaper than reading first to skip it).
    "assumir": (5, 1),
    # … and, as the instance ends, its satisfaction survey (engine.satisfaction): one insert
    "enviar B": (9, 1),
}
PER_INSTANCE = (35, 4)
# PostgreSQL: no BEGIN statement, and the INSERTs nothing checks at the call ride with the
# step's next statement (engine.prepared's execute_later): "iniciar"'s audit with the first
# task; "enviar A"'s submission, searchable text and audit with the next task; "enviar B"'s
# submission and first audit with the second, which the satisfaction survey carries (one
# table's rows never share a statement: their ids keep the order of their calls). The
# claim's audit is its last write: the commit sends it on its own.
BUDGET_POSTGRESQL = {
    "iniciar": (5, 1),
    "listar": (2, 0),
    "enviar A": (5, 1),
    "fila": (3, 0),
    "assumir": (4, 1),
    "enviar B": (6, 1),
}
PER_INSTANCE_POSTGRESQL = (25, 4)


@contextmanager
def counted(app: Flask) -> Iterator[dict[str, int]]:
    db = app.extensions["chamados"].unit.db
    counts = {"statements": 0, "commits": 0}

    def on_execute(*_a: object) -> None:
        counts["statements"] += 1

    def on_commit(*_a: object) -> None:
        counts["commits"] += 1

    event.listen(db, "before_cursor_execute", on_execute)
    event.listen(db, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(db, "before_cursor_execute", on_execute)
        event.remove(db, "commit", on_commit)


def instance(app: Flask, maria: Api, ana: Api) -> dict[str, tuple[int, int]]:
    """One instance, start to end; what each call cost."""
    spent: dict[str, tuple[int, int]] = {}

    @contextmanager
    def call(label: str) -> Iterator[None]:
        with counted(app) as counts:
            yield
        spent[label] = (counts["statements"], counts["commits"])

    with call("iniciar"):
        started = maria.post("/processes/pedido_simples/instances", expect=201)
    cid = started["chamado"]["id"]
    with call("listar"):
        listed = maria.get("/tasks")
    a = next(i["task"]["id"] for i in listed["items"] if i["chamado"]["id"] == cid)
    with call("enviar A"):
        sent = maria.post(
            f"/tasks/{a}/submit",
            {"data": {"descricao": "Preciso de acesso ao painel."}, "version": 1},
        )
    with call("fila"):
        b = queue_task_id(ana, cid)
    with call("assumir"):
        ana.post(f"/tasks/{b}/claim", expect=204)
    with call("enviar B"):
        done = ana.post(
            f"/tasks/{b}/submit",
            {"data": {"parecer": "Concedido."}, "version": sent["chamado"]["version"]},
        )
    assert done["chamado"]["closed_at"], done
    return spent


def test_a_two_task_instance_stays_within_its_statement_budget(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    deploy_tiny_process(app, tmp_path)
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    ana = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    instance(app, maria, ana)  # warm: specs parsed, caches filled, tokens' last use noted
    spent = instance(app, maria, ana)
    postgresql = app.extensions["chamados"].unit.db.dialect.name == "postgresql"
    budgets, per_instance = (
        (BUDGET_POSTGRESQL, PER_INSTANCE_POSTGRESQL) if postgresql else (BUDGET, PER_INSTANCE)
    )
    over = {
        label: (spent[label], budget)
        for label, budget in budgets.items()
        if spent[label][0] > budget[0] or spent[label][1] > budget[1]
    }
    assert over == {}, f"acima do orçamento (gasto, limite): {over}"
    statements = sum(s for s, _ in spent.values())
    commits = sum(c for _, c in spent.values())
    assert statements <= per_instance[0] and commits <= per_instance[1], spent
    app.extensions["chamados"].unit.db.dispose()

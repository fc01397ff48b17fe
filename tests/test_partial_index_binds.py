"""No statement compares a partial index's predicate column with a bound value.

The queue's partial indexes hold open task rows only (``WHERE state = 'ready'``, migration
0022). Given ``human_tasks.state = ?``, SQLite re-plans the statement on every execution
(the bound value could decide whether such an index applies): the task's lock cost ~110 µs
instead of ~15 µs, ten of them per chamado. PostgreSQL's generic plan of a prepared
statement cannot use the index at all. engine.models.TASK_READY writes the value into the
SQL text; this guard runs a two-task instance and the queue's filters through the REST
API and fails on any statement that binds such a column again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, select

from engine.models import TASK_READY, Base, HumanTask
from tests.conftest import ANA, MARIA
from tests.test_api import Api, build_app, deploy_tiny_process, person
from tests.test_statement_budget import instance

# A comparison with a placeholder, in either driver's style (qmark, pyformat, numeric).
_BOUND = r"(?:=|!=|<>|IN\s*\(|IN\s*\(\s*__\[POSTCOMPILE)\s*(?:\?|%\(\w+\)s|\$\d+)"
_ALIAS = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)(?:\s+AS\s+(\w+))?", re.IGNORECASE)


def predicate_columns() -> set[tuple[str, str]]:
    """(table, column) of every ``column = 'value'`` in a partial index's predicate."""
    found = set()
    for table in Base.metadata.tables.values():
        for index in table.indexes:
            where = index.dialect_options["sqlite"].get("where")
            if where is not None:
                for column in re.findall(r"(\w+)\s*=\s*'", str(where)):
                    found.add((table.name, column))
    return found


def bound_predicates(sql: str, columns: set[tuple[str, str]]) -> list[str]:
    """The comparisons of ``sql`` that bind a value to one of ``columns``."""
    names = {}
    for table, alias in _ALIAS.findall(sql):
        names[alias or table] = table
    hits = []
    for qualifier, column in re.findall(rf'(\w+)\."?(\w+)"?\s*{_BOUND}', sql):
        if (names.get(qualifier, qualifier), column) in columns:
            hits.append(f"{qualifier}.{column}")
    return hits


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    db = app.extensions["chamados"].unit.db
    seen: list[str] = []

    def on_execute(_conn: object, _cursor: object, sql: str, *_a: object) -> None:
        seen.append(sql)

    event.listen(db, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(db, "before_cursor_execute", on_execute)


def test_the_detector_sees_a_bound_task_state_and_passes_the_written_one() -> None:
    columns = predicate_columns()
    assert ("human_tasks", "state") in columns
    bound = str(select(HumanTask.id).where(HumanTask.state == "ready").compile())
    written = str(select(HumanTask.id).where(HumanTask.state == TASK_READY).compile())
    assert bound_predicates(bound.replace(":state_1", "?"), columns) == ["human_tasks.state"]
    assert bound_predicates(written, columns) == []
    aliased = "SELECT 1 FROM human_tasks AS t WHERE t.state = %(state_1)s"
    assert bound_predicates(aliased, columns) == ["t.state"]
    timers = "SELECT 1 FROM workflow_timers WHERE workflow_timers.state = ?"
    assert bound_predicates(timers, columns) == []  # no partial index on timers


@pytest.mark.parametrize(
    "filters",
    [
        "",
        "&categoria=erro",
        "&situacao=reenviado",
        "&situacao=novo",
        "&orgao=1",
        "&idade=2",
        "&processo=pedido_simples",
    ],
)
def test_an_instance_and_the_queue_never_bind_an_open_task(tmp_path: Path, filters: str) -> None:
    app = build_app(tmp_path)
    deploy_tiny_process(app, tmp_path)
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    ana = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    columns = predicate_columns()
    with statements(app) as seen:
        instance(app, maria, ana)
        maria.post("/processes/pedido_simples/instances", expect=201)
        ana.get(f"/queue?view=disponiveis{filters}")
        ana.get(f"/queue?view=minhas{filters}")
        ana.get(f"/queue?view=todas{filters}")
        maria.get("/tasks")
    assert len(seen) > 30
    offending = {sql: hits for sql in seen if (hits := bound_predicates(sql, columns))}
    assert offending == {}
    app.extensions["chamados"].unit.db.dispose()

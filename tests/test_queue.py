"""The work queue stays cheap with a large backlog: counts stop at a cap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from engine.models import HumanTask
from engine.queue import COUNT_CAP, QueueFilters
from engine.service import ActorRef, Chamados
from tests.test_api import sql_seen
from tests.test_engine_lifecycle import submit_registration


def test_counts_stop_at_the_cap(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    cid = submit_registration(svc, maria)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "chamado_id": cid,
            "task_guid": str(uuid.uuid4()),
            "task_name": "analisar_chamado",
            "title": "Analisar chamado",
            "group": "analyst",
            "state": "ready",
            "created_at": start + timedelta(minutes=i),
        }
        for i in range(COUNT_CAP + 50)
    ]
    with svc.unit.transaction() as s:
        s.execute(insert(HumanTask), rows)
    page = svc.analysis.queue(ana, QueueFilters())
    assert page.total == COUNT_CAP and page.count_cap == COUNT_CAP
    assert page.counts["disponiveis"] == COUNT_CAP and page.counts["minhas"] == 0
    assert page.pages == COUNT_CAP // svc.settings.queue_page_size
    assert page.items[0].created_at == start  # oldest first
    last = svc.analysis.queue(ana, QueueFilters(page=page.pages))
    assert len(last.items) == svc.settings.queue_page_size


def test_every_tab_is_counted_in_one_statement(
    svc: Chamados, maria: ActorRef, ana: ActorRef, bruno: ActorRef
) -> None:
    cid = submit_registration(svc, maria)  # its analysis: ready, unclaimed
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def task(
        i: int, state: str = "ready", assignee: int | None = None, group: str = "analyst"
    ) -> dict[str, object]:
        return {
            "chamado_id": cid,
            "task_guid": str(uuid.uuid4()),
            "task_name": "analisar_chamado",
            "title": "Analisar chamado",
            "group": group,
            "state": state,
            "assignee_id": assignee,
            "created_at": start + timedelta(minutes=i),
        }

    rows = [task(i) for i in range(7)]  # 8 unclaimed with the real one
    rows += [task(10 + i, assignee=ana.id) for i in range(3)]
    rows += [task(20 + i, assignee=bruno.id) for i in range(2)]
    rows += [task(30 + i, state="completed", assignee=ana.id) for i in range(4)]  # not open
    rows += [task(40, group="requester", assignee=maria.id)]  # not the analysts' queue
    with svc.unit.transaction() as s:
        s.execute(insert(HumanTask), rows)
    every_tab = {"disponiveis": 8, "minhas": 3, "todas": 13, "incidentes": 0}

    for view, total in (("disponiveis", 8), ("minhas", 3), ("todas", 13)):
        with sql_seen(svc.unit.db) as seen:
            page = svc.analysis.queue(ana, QueueFilters(view=view))
        assert (page.total, page.counts) == (total, every_tab)
        assert len(page.items) == total
        assert sum("count(*)" in st for st in seen["statements"]) == 1, seen["statements"]

    # Filtered, the page's total is its own; the tabs still count every open task.
    filtered = svc.analysis.queue(ana, QueueFilters(view="disponiveis", categoria="nao_existe"))
    assert (filtered.total, filtered.items, filtered.counts) == (0, [], every_tab)
    kept = svc.analysis.queue(ana, QueueFilters(view="minhas", categoria="erro_api"))
    assert (kept.total, kept.counts) == (3, every_tab)


def test_statements_are_built_once_per_shape_and_bind_each_calls_values(
    svc: Chamados, maria: ActorRef, ana: ActorRef, bruno: ActorRef
) -> None:
    """A call only binds its values: the statements of a shape (the view and which filters
    are present) are built once and reused, whatever the values — and the values still
    decide the result (nothing of one call is baked into the kept statements)."""
    from sqlalchemy import select

    from engine import queue
    from engine.models import Chamado

    first, second = submit_registration(svc, maria), submit_registration(svc, maria)
    with svc.unit.transaction() as s:
        orgao = s.scalar(select(Chamado.orgao_id).where(Chamado.id == first))
        assert orgao is not None
        retyped = s.get(Chamado, second)
        assert retyped is not None
        retyped.categoria = "outra_categoria"
    svc.analysis.claim(bruno, svc.analysis.queue(bruno, QueueFilters()).items[0].id)

    queue._statements.cache_clear()
    by_orgao = svc.analysis.queue(ana, QueueFilters(orgao_id=orgao))
    other_orgao = svc.analysis.queue(ana, QueueFilters(orgao_id=orgao + 1))
    assert [t.chamado_id for t in by_orgao.items] == [second]  # the first is bruno's
    assert (other_orgao.total, other_orgao.items) == (0, [])
    mine, his = (svc.analysis.queue(who, QueueFilters(view="minhas")) for who in (ana, bruno))
    assert (mine.total, [t.chamado_id for t in his.items]) == (0, [first])
    typed = svc.analysis.queue(bruno, QueueFilters(view="todas", categoria="outra_categoria"))
    assert [t.chamado_id for t in typed.items] == [second]
    # Three shapes (órgão, "minhas", todas + category), each built once.
    assert queue._statements.cache_info().misses == 3
    assert queue._statements.cache_info().hits == 2
    groups = ["analyst"]
    kept = queue._statements(queue._shape(QueueFilters(orgao_id=orgao), groups))
    assert kept is queue._statements(queue._shape(QueueFilters(orgao_id=orgao + 7), groups))
    # A value no ticket can have is a shape of its own (it matches nothing, unbound).
    huge = svc.analysis.queue(ana, QueueFilters(orgao_id=2**40))
    assert (huge.total, huge.items) == (0, [])


def test_a_filtered_count_reads_only_columns_one_task_index_holds() -> None:
    """A filter on a ticket's column is answered from the task rows' copies of it
    (migration 0022): the counts join no ticket (the incidents' own count aside), and
    every column one count reads is held by one index of human_tasks (on PostgreSQL: its
    keys and INCLUDE), so the capped walk reads that index alone — the walk that a
    million tickets must not lengthen (bench/queue_scale.py)."""
    import itertools

    from sqlalchemy import Column
    from sqlalchemy.sql import visitors

    from engine import queue
    from engine.models import HumanTask

    def held(index: Any) -> set[str]:
        """Its keys and its INCLUDE: PostgreSQL 15 scans an index alone only when it holds
        every column of the conditions, even one its partial predicate settles."""
        included = index.dialect_options["postgresql"]["include"] or []
        return {c.name for c in index.columns} | set(included)

    indexes = [held(i) for i in HumanTask.__table__.indexes]
    optional = dict(orgao_id=3, categoria="x", process_id="chamado", min_age_days=2, group="g")
    for view, situacao in itertools.product(queue.VIEWS, (None, "novo", "reenviado", "atrasado")):
        for n in range(len(optional) + 1):
            for chosen in itertools.combinations(optional, n):
                filters = QueueFilters(
                    view=view,
                    situacao=situacao,
                    **{k: optional[k] for k in chosen},  # type: ignore[arg-type]
                )
                shape = queue._shape(filters, ["analyst"])
                count = queue._capped_count(queue._apply(queue._base(), shape), shape)
                read = {
                    (el.table.name, el.name)
                    for el in visitors.iterate(count)
                    if isinstance(el, Column) and el.table is not None
                }
                assert {t for t, _c in read} == {"human_tasks"}, read
                columns = {c for _t, c in read}
                assert any(columns <= index for index in indexes), (filters, columns)
    # Each equality on a copied column has an index of the open rows that starts with
    # the group and it, then the queue's order (the state, which the predicate settles,
    # last: a condition PostgreSQL drops must not stand between the bounds); the
    # statements say "state = 'ready'" in their SQL, so a planner can use it (a bound
    # value would not imply the index's).
    keys = {
        (tuple(c.name for c in i.columns), str(i.dialect_options["sqlite"]["where"]))
        for i in HumanTask.__table__.indexes
    }
    for column in ("orgao_id", "categoria", "process_id", "resent"):
        key = ("group", column, "created_at", "assignee_id", "state")
        assert (key, "state = 'ready'") in keys
    shape = queue._shape(QueueFilters(orgao_id=3), ["analyst"])
    assert "state = 'ready'" in str(queue._statements(shape).counts.statement)


def test_task_rows_are_never_read_by_a_parallel_plan_on_postgresql(svc: Chamados) -> None:
    """Every read of human_tasks is a short walk (a cap, a page): a parallel plan's workers
    start slower than it runs (migration 0020). SQLite has no parallel plans."""
    import pytest
    from sqlalchemy import text

    with svc.unit.db.connect() as conn:
        if conn.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: SQLite plans no parallel scans")
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'human_tasks'")
        ).scalar()
    assert options is not None and "parallel_workers=0" in options


def test_one_tickets_tasks_are_found_by_its_index_on_sqlite(svc: Chamados) -> None:
    """The staff's access checks read one ticket's tasks of their groups. SQLite has no
    statistics (the product never runs ANALYZE): with (chamado_id, state) as the ticket's
    index it walked the group's whole queue index instead (45–210 ms at 100,000 tickets;
    migration 0020). The ticket's ready tasks still come by the same index."""
    import pytest
    from sqlalchemy import exists, select

    with svc.unit.db.connect() as conn:
        if conn.dialect.name != "sqlite":
            pytest.skip("SQLite's planner without statistics; PostgreSQL plans by its own")
        query = select(exists().where(HumanTask.chamado_id == 1, HumanTask.group.in_(["analyst"])))
        ready = select(HumanTask.id).where(HumanTask.chamado_id == 1, HumanTask.state == "ready")
        for stmt in (query, ready):
            compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
            explained = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            plan = " ".join(str(r[-1]) for r in explained)
            assert "INDEX ix_human_tasks_chamado" in plan, plan


def test_filter_values_written_into_the_sql_are_quoted(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """The groups and the filters' values reach the database inside the SQL text (so a
    prepared plan sees them, engine.queue): a value with quotes, a backslash or SQL in it
    is one value, and it matches exactly the tickets holding it."""
    from sqlalchemy import update

    from engine.models import Chamado

    tricky = "o'brien\\x'); DELETE FROM human_tasks; --"
    first, second = submit_registration(svc, maria), submit_registration(svc, maria)
    with svc.unit.transaction() as s:
        s.execute(update(Chamado).where(Chamado.id == first).values(categoria=tricky))
        s.execute(update(Chamado).where(Chamado.id == second).values(categoria="o'brien"))
    for view in ("disponiveis", "todas"):
        found = svc.analysis.queue(ana, QueueFilters(view=view, categoria=tricky))
        assert [t.chamado_id for t in found.items] == [first]
        plain = svc.analysis.queue(ana, QueueFilters(view=view, categoria="o'brien"))
        assert [t.chamado_id for t in plain.items] == [second]
    assert svc.analysis.queue(ana, QueueFilters(view="todas")).total == 2


def test_the_queue_sends_its_groups_values_and_limits_inside_the_sql(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """A prepared statement's plan is reused only when it sees what decides it: the
    group, the filter's value and the limits are in the SQL text; the analyst and "now",
    which change with every call, stay bound (engine.queue, _GROUPS)."""
    from sqlalchemy import select

    from engine.models import Chamado

    cid = submit_registration(svc, maria)
    with svc.unit.session_factory() as s:
        orgao = s.scalar(select(Chamado.orgao_id).where(Chamado.id == cid))
    filters = QueueFilters(view="minhas", orgao_id=orgao, categoria="erro_api")
    with sql_seen(svc.unit.db) as seen:
        svc.analysis.queue(ana, filters)
    queue_sql = [st for st in seen["statements"] if "human_tasks" in st]
    assert len(queue_sql) == 2, queue_sql  # the counts, the page
    for statement in queue_sql:
        assert "'analyst'" in statement and f"orgao_id = {orgao}" in statement
        assert "categoria = 'erro_api'" in statement and "state = 'ready'" in statement
    counts, page = queue_sql
    assert f"LIMIT {COUNT_CAP}" in counts and "LIMIT 20" in page
    assert f"assignee_id = {ana.id}" not in counts  # bound, not written


def test_a_combined_filter_is_counted_from_one_filters_index_on_sqlite(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """Type + "novos": SQLite, without statistics, walked the ``resent`` index (most open
    tasks are new) and read each task's row for its type — page "tipo + novos" 1.40× at
    100,000 tickets. Its filter indexes now hold the other filters too (migration 0026):
    the count reads the type's index alone."""
    import pytest

    first = submit_registration(svc, maria)
    if svc.unit.db.dialect.name != "sqlite":
        pytest.skip("SQLite's planner without statistics; PostgreSQL plans by its own")
    for situacao in ("novo", "reenviado", "atrasado"):
        filters = QueueFilters(view="disponiveis", categoria="erro_api", situacao=situacao)
        with sql_seen(svc.unit.db) as seen:
            found = svc.analysis.queue(ana, filters)
        assert [t.chamado_id for t in found.items] == ([first] if situacao == "novo" else [])
        counts = next(st for st in seen["statements"] if "human_tasks" in st)
        with svc.unit.db.connect() as conn:
            # Only "now" and the analyst stay bound: any value does for the plan.
            explained = conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {counts}", (None,) * counts.count("?")
            )
            plan = " ".join(str(r[-1]) for r in explained)
        assert "COVERING INDEX ix_human_tasks_by_categoria " in plan, plan

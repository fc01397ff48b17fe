"""The work queue stays cheap with a large backlog: counts stop at a cap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

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

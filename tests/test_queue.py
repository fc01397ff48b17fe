"""The work queue stays cheap with a large backlog: counts stop at a cap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from engine.models import HumanTask
from engine.queue import COUNT_CAP, QueueFilters
from engine.service import ActorRef, Chamados
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
    with svc.transaction() as s:
        s.execute(insert(HumanTask), rows)
    page = svc.queue(ana, QueueFilters())
    assert page.total == COUNT_CAP and page.count_cap == COUNT_CAP
    assert page.counts["disponiveis"] == COUNT_CAP and page.counts["minhas"] == 0
    assert page.pages == COUNT_CAP // svc.settings.queue_page_size
    assert page.items[0].created_at == start  # oldest first
    last = svc.queue(ana, QueueFilters(page=page.pages))
    assert len(last.items) == svc.settings.queue_page_size

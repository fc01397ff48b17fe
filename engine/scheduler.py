"""APScheduler jobs: fire due BPMN timers, anonymise the instances past their retention
(LGPD), and those the facade adds (messages, incidents, the complete copies of "Meus
dados"); and the e-mail senders, started and stopped with it.

Runs inside the app (``make run``) or as its own process (``chamados scheduler``);
any number of either on one database stays correct, because each job claims
its rows (SKIP LOCKED on PostgreSQL, leases on SQLite) and fires or sends each
one once. Mail is not an interval job: the senders (engine.mailer) drain the outbox
while it has work and are woken by the commits that enqueue mail. Built by the facade
(engine.service.Chamados.scheduler).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_START, SchedulerEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine import outbox
from engine.mail import MailSettings
from engine.mailer import Mailer
from engine.outbox import Transport
from engine.unit import Unit
from engine.usecases.privacy import Privacy
from engine.usecases.timing import Timing

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def fire_timers(timers: Timing, worker: str) -> int:
    fired = timers.fire_due_timers(worker)
    if fired:
        log.info("temporizadores disparados: %s", fired)
    return len(fired)


def deliver_mail(unit: Unit, transport: Transport, settings: MailSettings, worker: str) -> int:
    """Drain the outbox once, here and now (the senders do it on their own; tests call this)."""
    try:
        report = outbox.drain(
            unit.transaction, transport, unit.clock, worker, max_attempts=settings.max_attempts
        )
    finally:
        outbox.close_transport(transport)
    return report.claimed


# Retention is counted in days: a run every ten minutes is plenty, and cheap (an indexed
# query per process when nothing is due).
RETENTION_INTERVAL_SECONDS = 600.0


def apply_retention(privacy: Privacy) -> int:
    # Read records a busy SQLite left buffered are written here too, at the latest.
    privacy.flush_accesses()
    return privacy.run_retention().instances


def make_scheduler(
    timers: Timing,
    unit: Unit,
    *,
    privacy: Privacy | None = None,
    blocking: bool = False,
    interval_seconds: float = 5.0,
    extra_jobs: dict[str, Callable[[], Any]] | None = None,
) -> BaseScheduler:
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
    worker = worker_id()
    mail_settings = MailSettings.from_env(instance_dir=unit.settings.instance_dir)
    mailer = Mailer(unit, mail_settings, worker, poll_seconds=min(interval_seconds, 1.0))
    jobs: dict[str, Callable[[], Any]] = {
        "timers": lambda: fire_timers(timers, worker),
    }
    intervals = {}
    if privacy is not None:
        jobs["retention"] = lambda: apply_retention(privacy)
        intervals["retention"] = max(interval_seconds, RETENTION_INTERVAL_SECONDS)
    jobs.update(extra_jobs or {})
    for name, job in jobs.items():
        # One run at a time per process; a late run is merged, not queued up.
        scheduler.add_job(
            job,
            "interval",
            seconds=intervals.get(name, interval_seconds),
            id=name,
            max_instances=1,
            coalesce=True,
        )

    def on_event(event: SchedulerEvent) -> None:
        if event.code == EVENT_SCHEDULER_START:
            mailer.start()
        else:
            mailer.stop()

    scheduler.add_listener(on_event, EVENT_SCHEDULER_START | EVENT_SCHEDULER_SHUTDOWN)
    scheduler.mailer = mailer  # tests look at its reports
    return scheduler

"""The outbox's senders: threads that drain the outbox while it has work, then wait to be
woken — by a commit that enqueued mail, in this process or (PostgreSQL) in another.

A scheduler process (``chamados scheduler``, or the one embedded in a worker) runs
``MailSettings.senders`` of them (``MAIL_SENDERS``; 2 on PostgreSQL, 1 on SQLite, where
a second sender would mostly wait for the write lock: 15,000 mails/min with one, 3,300
with two, in bench/mail_burst.py). Each has its own SMTP connection, kept across batches
while there is work and closed after ``IDLE_CLOSE_SECONDS`` without any; each claims its
own batches (engine.outbox: ``UPDATE … RETURNING`` under ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, under SQLite's write lock there), so any number of senders in any number of
processes deliver each message once. How they learn of new mail:

* ``outbox.WAKEUP`` is rung after each commit of this process that enqueued mail;
* on PostgreSQL a trigger (migration 0010) sends ``NOTIFY chamados_outbox`` with every
  insert, delivered at commit; :class:`PgListener` holds one connection that ``LISTEN``\\s
  and rings the same wakeup;
* otherwise (SQLite and another process's commit, a listener reconnecting, a back-off
  ending) every ``poll_seconds`` a sender reads whether anything is due (one indexed read
  outside any transaction) and claims only then.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import psycopg

from engine import outbox
from engine.mail import MailSettings
from engine.outbox import DeliveryReport, Transport, Wakeup
from engine.unit import Unit

log = logging.getLogger(__name__)

CHANNEL = "chamados_outbox"  # migration 0010's trigger notifies on it
IDLE_CLOSE_SECONDS = 10.0
BATCH = 50
# After an unexpected error (the database down): wait before trying again.
ERROR_PAUSE_SECONDS = 5.0
# A sender claims again at most this often while mail keeps coming: with PostgreSQL's
# NOTIFY ringing on every enqueue, a busy day would otherwise claim one or two messages
# per write transaction (the claim was half the scheduler's CPU in bench/burst.py);
# waiting gathers what arrived meanwhile into one claim. Mail waits at most this long
# more; a message arriving after a quiet moment goes at once.
COALESCE_SECONDS = 0.5


@dataclass
class Mailer:
    """``senders`` sender threads and, on PostgreSQL, one listener; started and stopped
    with the scheduler (engine.scheduler)."""

    unit: Unit
    settings: MailSettings
    worker: str
    poll_seconds: float = 1.0
    coalesce_seconds: float = COALESCE_SECONDS
    wakeup: Wakeup = field(default_factory=lambda: outbox.WAKEUP)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    # Per sender: what it delivered so far (tests and benchmarks read them).
    reports: list[DeliveryReport] = field(default_factory=list)

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        postgresql = self.unit.db.dialect.name == "postgresql"
        # SQLite has one writer at a time: two senders there mostly wait for each other.
        senders = self.settings.senders or (2 if postgresql else 1)
        for n in range(senders):
            report = DeliveryReport()
            self.reports.append(report)
            transport = outbox.make_transport(self.settings)
            thread = threading.Thread(
                target=self._send_loop,
                args=(transport, f"{self.worker}:{n}", report),
                name=f"chamados-mail-{n}",
                daemon=True,
            )
            self._threads.append(thread)
        if postgresql:
            listener = PgListener(self.unit, self.wakeup, self._stop)
            self._threads.append(
                threading.Thread(target=listener.run, name="chamados-mail-listen", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Let each sender finish the message it is on; then end the threads."""
        self._stop.set()
        self.wakeup.ring()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def _send_loop(self, transport: Transport, worker: str, total: DeliveryReport) -> None:
        unit = self.unit
        seen = self.wakeup.rung
        rung = True  # look at once on start
        idle_since: float | None = None
        while not self._stop.is_set():
            try:
                if rung or unit.read_one(lambda c: outbox.any_due(c, unit.clock())):
                    seen = self.wakeup.rung
                    drained_at = time.monotonic()
                    report = outbox.drain(
                        unit.transaction,
                        transport,
                        unit.clock,
                        worker,
                        batch=BATCH,
                        max_attempts=self.settings.max_attempts,
                        should_stop=self._stop.is_set,
                    )
                    total.add(report)
                    if report.claimed:
                        idle_since = None
                        # Rings during this pause are kept (``seen``): the next claim
                        # takes everything they announced at once.
                        self._stop.wait(self.coalesce_seconds - (time.monotonic() - drained_at))
                        log.info(
                            "e-mails: %d enviados, %d a tentar de novo, %d com falha",
                            report.sent,
                            report.retrying,
                            report.failed,
                        )
            except Exception:  # noqa: BLE001 - a sender must outlive a bad moment
                log.exception("entrega de e-mails falhou; nova tentativa em instantes")
                outbox.close_transport(transport)
                self._stop.wait(ERROR_PAUSE_SECONDS)
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > IDLE_CLOSE_SECONDS:
                outbox.close_transport(transport)
            now_seen = self.wakeup.wait(seen, self.poll_seconds)
            rung = now_seen != seen
        outbox.close_transport(transport)


class PgListener:
    """``LISTEN chamados_outbox`` on a connection of its own; each notification rings."""

    def __init__(self, unit: Unit, wakeup: Wakeup, stop: threading.Event) -> None:
        self.unit = unit
        self.wakeup = wakeup
        self.stop = stop

    def run(self) -> None:
        pause = 1.0
        while not self.stop.is_set():
            try:
                with self.unit.listening(CHANNEL) as connection:
                    pause = 1.0
                    # Whatever was committed while not listening is found by the poll.
                    self.wakeup.ring()
                    while not self.stop.is_set():
                        for _ in connection.notifies(timeout=1.0, stop_after=1):
                            self.wakeup.ring()
            except psycopg.Error as exc:
                log.warning("LISTEN %s falhou (%s); de novo em %.0f s", CHANNEL, exc, pause)
                self.stop.wait(pause)
                pause = min(pause * 2, 30.0)

"""7. E-mail keeps up with a burst (issue #16, target 5): every receipt reaches the SMTP
server within 60 s of its ticket being sent, at 16,000 tickets in 5 minutes.

Per database kind: a real ``chamados scheduler`` process (its mail senders, ``MAIL_SENDERS``
of them) delivers to an aiosmtpd sink in this process, which notes when each Message-ID
arrives and over which connection. Receipts are enqueued as a ticket's send does: one
transaction each, rendered from the published chamado model's ``chamado_registrado``
templates, to requesters spread over a few domains.

* **Capacity:** a backlog of ``--backlog`` receipts is enqueued before the scheduler
  starts; mails/min from the first to the last arrival.
* **Paced:** receipts enqueued at ``--rate`` per minute (3,200 = 16,000 in 5 minutes) for
  ``--seconds``, the scheduler running; the delay from enqueue (the row's ``created_at``,
  its commit) to the SMTP server's acceptance, p50/p95/max, and the delivered rate.

Beside them, the delivery before issue #16 by construction: 20 messages every 5 s (240 per
minute), one connection per message. Target: ≥ 3,200 mails/min sustained and p95 ≤ 60 s.

    python -m bench.mail_burst [--quick] [--rate 3200] [--seconds 90] [--backlog 3200]
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

from bench import common
from bench.common import fmt, median, note, percentile, table, title, verdict

TARGET_RATE = 3_200  # per minute: 16,000 in 5 minutes
TARGET_P95_S = 60.0
BEFORE_RATE = 240  # 20 every 5 s
DOMAINS = ("gmail.com", "hotmail.com", "yahoo.com.br", "economia.gov.br", "uol.com.br")
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)


class Sink:
    """aiosmtpd handler: when each Message-ID arrived, over which connection."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.duplicates = 0
        self.peers: set[Any] = set()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        now = time.time()
        found = _MESSAGE_ID.search(envelope.content)
        key = found.group(1).decode() if found else f"?{now}"
        with self.lock:
            if key in self.arrived:
                self.duplicates += 1
            else:
                self.arrived[key] = now
            self.peers.add(session.peer)
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)


@dataclass
class Receipts:
    """Enqueues receipts as a ticket's send does; remembers when each was committed."""

    svc: Any
    chamado_id: int
    templates: Any
    labels: Any
    protocolo: str
    enqueued: dict[str, float] = field(default_factory=dict)
    n: int = 0

    def one(self) -> None:
        from engine import outbox

        self.n += 1
        svc = self.svc
        with svc.unit.transaction() as session:
            row = outbox.enqueue(
                session,
                "chamado_registrado",
                f"pessoa{self.n}@{DOMAINS[self.n % len(DOMAINS)]}",
                {
                    "protocolo": self.protocolo,
                    "nome": f"Pessoa {self.n}",
                    "processo": "Chamado",
                    "situacao": "Em análise",
                    "servico": "Emissão de certidão",
                    "tracking_url": f"/chamados/{self.chamado_id}",
                },
                chamado_id=self.chamado_id,
                base_url="https://chamados.example.gov.br",
                now=svc.clock(),
                templates=self.templates,
                catalogs=self.labels,
            )
            assert row is not None
            message_id, created = row.message_id, row.created_at
        self.enqueued[message_id] = created.timestamp()


def _receipts(svc: Any) -> Receipts:
    from sqlalchemy import select

    from engine import catalogs
    from engine.models import ProcessVersion
    from engine.service import ActorRef

    person = common.add_person(svc, common.MARIA, "Maria da Silva")
    view = svc.requests.start_chamado(ActorRef(person.id, frozenset()), "chamado")
    with svc.unit.transaction() as session:
        version_id = session.scalar(
            select(ProcessVersion.id)
            .where(ProcessVersion.process_id == "chamado")
            .order_by(ProcessVersion.id.desc())
            .limit(1)
        )
        bundle = svc.unit.bundle(session, version_id)
        labels = catalogs.labels_of(catalogs.all_catalogs(session))
    assert "mail/chamado_registrado.txt" in bundle.mail_templates
    return Receipts(svc, view.id, bundle.mail_templates, labels, view.protocolo)


def _wait_for(sink: Sink, n: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while sink.count() < n:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run_one(kind: str, backlog: int, rate: int, seconds: float, senders: int) -> dict[str, Any]:
    with common.workdir(f"mail-{kind}") as work, common.TempDatabase(kind, work) as db:
        instance = work / "instance"
        instance.mkdir()
        svc = common.make_service(db.url, instance)
        sink = Sink()
        controller = Controller(sink, hostname="127.0.0.1", port=common.free_port())
        controller.start()
        proc = None
        try:
            receipts = _receipts(svc)
            # Capacity: a backlog, then the scheduler starts.
            t0 = time.monotonic()
            for _ in range(backlog):
                receipts.one()
            enqueue_rate = backlog / (time.monotonic() - t0) * 60
            proc = common.scheduler(
                db.url,
                instance,
                controller.port,
                **({"MAIL_SENDERS": str(senders)} if senders else {}),
            )
            complete = _wait_for(sink, backlog, timeout=max(120.0, backlog / 20))
            times = sorted(sink.arrived.values())
            span = times[-1] - times[0] if len(times) > 1 else float("nan")
            capacity = (len(times) - 1) / span * 60 if span and span > 0 else float("nan")

            # Paced: the burst's rate, scheduler running.
            paced_ids_start = len(receipts.enqueued)
            interval = 60.0 / rate
            total = int(seconds * rate / 60)
            started = time.monotonic()
            behind = 0
            for i in range(total):
                due = started + i * interval
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -1.0:
                    behind += 1
                receipts.one()
            enqueue_elapsed = time.monotonic() - started
            paced_complete = _wait_for(sink, backlog + total, timeout=120.0)
            paced_ids = list(receipts.enqueued)[paced_ids_start:]
            delays = [
                sink.arrived[m] - receipts.enqueued[m] for m in paced_ids if m in sink.arrived
            ]
            missing = total - len(delays)
            arrivals = sorted(sink.arrived[m] for m in paced_ids if m in sink.arrived)
            first_enqueue = min(receipts.enqueued[m] for m in paced_ids)
            delivered_rate = (
                len(arrivals) / (arrivals[-1] - first_enqueue) * 60 if arrivals else 0.0
            )
            return {
                "database": kind,
                "backlog": backlog,
                "backlog_complete": complete,
                "capacity_per_min": capacity,
                "enqueue_per_min": enqueue_rate,
                "paced_total": total,
                "paced_rate_target": rate,
                "paced_enqueue_per_min": total / enqueue_elapsed * 60,
                "paced_enqueue_behind": behind,
                "paced_delivered_per_min": delivered_rate,
                "paced_complete": paced_complete,
                "missing": missing,
                "duplicates": sink.duplicates,
                "connections": len(sink.peers),
                "delay_p50_s": median(delays) if delays else float("nan"),
                "delay_p95_s": percentile(delays, 95) if delays else float("nan"),
                "delay_max_s": max(delays) if delays else float("nan"),
                "scheduler_cpu_s": common.cpu_seconds(proc.pid),
                "mails": backlog + total,
            }
        finally:
            if proc is not None:
                common.stop(proc)
            controller.stop()
            svc.unit.dispose()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="contagens reduzidas (~1 min)")
    parser.add_argument("--rate", type=int, default=TARGET_RATE, help="recibos por minuto")
    parser.add_argument("--seconds", type=float, default=None, help="duração do ritmo")
    parser.add_argument("--backlog", type=int, default=None, help="fila inicial")
    parser.add_argument(
        "--senders", type=int, default=0, help="MAIL_SENDERS (0: o padrão, 2 no PG, 1 no SQLite)"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--profile", action="store_true", help="(sem efeito aqui)")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (30.0 if args.quick else 90.0)
    backlog = args.backlog if args.backlog is not None else (1_600 if args.quick else 3_200)

    title("7. E-mail numa rajada: recibos até o servidor SMTP (meta: ≤ 60 s a 16.000 por 5 min)")
    note(
        f"fila inicial de {fmt(backlog)} recibos, depois {fmt(args.rate)} por minuto durante "
        f"{seconds:.0f} s; `chamados scheduler` com {args.senders or 'os'} remetentes "
        "(padrão: 2 no PostgreSQL, 1 no SQLite); "
        "servidor SMTP aiosmtpd neste processo."
    )
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    if "postgresql" in kinds and (why := common.postgres_available()):
        note(f"PostgreSQL indisponível ({why}): só SQLite.")
        kinds.remove("postgresql")
    results = [run_one(k, backlog, args.rate, seconds, args.senders) for k in kinds]

    table(
        [
            "banco",
            "capacidade/min",
            "× antes (240/min)",
            "ritmo enfileirado/min",
            "entregue/min",
            "atraso p50 s",
            "p95 s",
            "máx s",
            "faltando",
            "duplicados",
            "conexões SMTP",
            "CPU agendador ms/e-mail",
        ],
        [
            [
                r["database"],
                f"{r['capacity_per_min']:,.0f}",
                f"{r['capacity_per_min'] / BEFORE_RATE:.1f}×",
                f"{r['paced_enqueue_per_min']:,.0f}",
                f"{r['paced_delivered_per_min']:,.0f}",
                f"{r['delay_p50_s']:.2f}",
                f"{r['delay_p95_s']:.2f}",
                f"{r['delay_max_s']:.2f}",
                r["missing"],
                r["duplicates"],
                r["connections"],
                f"{r['scheduler_cpu_s'] / r['mails'] * 1000:.2f}",
            ]
            for r in results
        ],
    )
    note(
        "antes da issue #16: 20 mensagens a cada 5 s (240/min), uma conexão por mensagem — "
        "a 3.200/min a fila cresce ~2.960 por minuto e o atraso não tem limite."
    )
    verdicts = []
    for r in results:
        met = (
            r["capacity_per_min"] >= TARGET_RATE
            and r["delay_p95_s"] <= TARGET_P95_S
            and r["missing"] == 0
            and r["duplicates"] == 0
        )
        why = (
            f"capacidade {r['capacity_per_min']:,.0f}/min, p95 {r['delay_p95_s']:.1f} s, "
            f"{r['missing']} sem chegar, {r['duplicates']} duplicados"
        )
        verdicts.append(
            verdict(
                met,
                f"{r['database']}: e-mail ≥ 3.200/min sustentado e atraso p95 ≤ 60 s "
                f"(medido: {r['capacity_per_min']:,.0f}/min, p95 {r['delay_p95_s']:.2f} s)",
                why,
            )
        )
    common.save_results("mail", {"results": results})
    return {"verdicts": verdicts, "results": results}


if __name__ == "__main__":
    main()

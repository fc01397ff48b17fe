"""11. A burst (issue #16, target 4): requesters open and send chamados as analysts work.

Target: 32,000 requesters each open and send a chamado within 5 minutes while 20 analysts
work the queue, on the product's server (``chamados serve``: gunicorn when the issue was
filed, granian since) + PostgreSQL + one ``chamados scheduler``, driven from loopback: 0
errors, p95 ≤ 300 ms, every protocol number unique, one receipt per ticket in the outbox,
worker RSS flat.

The load tool is an asyncio client in this one process (plain asyncio streams, HTTP/1.1,
``Connection: close``: each requester a new client, as on the day a service breaks):

* **Requesters, open loop:** they arrive at a fixed rate (``--levels``: requesters per
  5 minutes), each one a different person with an API token; an arrival never waits for
  earlier ones. Each: ``POST /processes/chamado/instances`` (201), then ``POST
  /tasks/<id>/submit`` with the registration form (the ticket is sent: protocol number,
  receipt in the outbox).
* **Analysts, closed loop:** ``--analysts`` of them, all the time: ``GET
  /queue?view=disponiveis``, claim one of the page's tasks at random (a 409 when another
  analyst got it first is counted as a conflict, not an error: the API says so and changes
  nothing), resolve it (``submit`` with ``decisao=resolver``), pause ``--analyst-pause`` s
  (as long, at least 0.5 s, when the queue is empty).

Each level runs ``--minutes`` (5 by default: the issue's figure), then waits for its
requesters' last answers. Measured per level: arrivals/min and sent/min achieved, errors
(any other non-2xx, timeout or refused connection), p50/p95/p99 of all calls and per call,
machine CPU (/proc/stat), each server worker's CPU and RSS (sampled every 2 s), the
scheduler's, PostgreSQL's backends for this database, and this load tool's own CPU and how
late it started arrivals (a late tool would flatter the server). Where the time goes: each
worker's wall time on a CPU / waiting for a CPU / blocked (``/proc/<pid>/task/*/schedstat``),
this database's PostgreSQL connections by state and wait event (pg_stat_activity every
0.2 s: idle in a transaction waiting for the worker, a commit's WAL flush, a row lock…), and
the CPU per HTTP call and per ticket sent. At the end the database is
asked: every protocol number unique, each sent ticket exactly one receipt
(``chamado_registrado``) in the outbox. The knee: the first level whose p95 > 300 ms or
with errors.

``--configs`` compares server configurations on the same levels, one after another on one
database: ``2`` (the product's default: 2 workers, one request at a time each), ``3``,
``2x4`` (2 workers × 4 threads), …

The scheduler delivers mail to an aiosmtpd sink in a process of its own (the test extras).

    python -m bench.burst [--quick] [--levels 2000,8000,16000,32000] [--minutes 5]
                          [--configs 2,3,4,2x4] [--analysts 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import common
from bench.common import fmt, note, percentile, table, title, verdict

TARGET_LEVEL = 32_000  # requesters in 5 minutes
TARGET_P95_MS = 300.0
DEFAULT_LEVELS = (2_000, 8_000, 16_000, 32_000)
QUICK_LEVELS = (2_000, 16_000)
FIRST_CPF = 600_000_000  # apart from the other benchmarks' people
RESOLVE_BODY = common.RESOLVE
RSS_FLAT_MB = 10.0
PG = "PostgreSQL (conexões deste banco)"
SCHEDULER = "agendador"  # growth of a worker's RSS from its first level's end to the run's end


# --- the server configurations -------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    name: str
    workers: int
    threads: int = 1  # requests at a time per worker (granian's blocking threads)

    @property
    def serve_args(self) -> list[str]:
        return ["--threads", str(self.threads)]

    @staticmethod
    def parse(text: str) -> Config:
        """``2`` → 2 workers, one request at a time each; ``2x4`` → 2 workers × 4 threads."""
        text = text.strip()
        workers, sep, threads = text.partition("x")
        threads = threads if sep else "1"
        if workers.isdigit() and threads.isdigit() and int(workers) > 0 and int(threads) > 0:
            return Config(text, int(workers), int(threads))
        raise argparse.ArgumentTypeError(f"configuração inválida: {text!r} (2, 3, 2x4)")


# --- HTTP/1.1 over asyncio streams ---------------------------------------------------------


class CallFailed(Exception):
    """A refused connection or a malformed answer (timeouts are asyncio.TimeoutError)."""


async def http(
    port: int, method: str, path: str, token: str, payload: bytes | None
) -> tuple[int, bytes]:
    """One request on a fresh connection; reads the answer to the server's close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Authorization: Bearer {token}\r\n"
        )
        if payload is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        elif method != "GET":
            head += "Content-Length: 0\r\n"
        writer.write(head.encode("ascii") + b"\r\n" + (payload or b""))
        raw = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    end = raw.find(b"\r\n\r\n")
    if not raw.startswith(b"HTTP/1.") or end < 0:
        raise CallFailed(f"resposta malformada: {raw[:80]!r}")
    headers, body = raw[:end].lower(), raw[end + 4 :]
    if b"transfer-encoding: chunked" in headers:
        body = _unchunk(body)
    return int(raw[9:12]), body


def _unchunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        eol = body.index(b"\r\n", pos)
        size = int(body[pos:eol].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


# --- one level's figures -------------------------------------------------------------------


@dataclass
class Level:
    requesters_per_5min: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    arrivals: int = 0
    created: int = 0
    sent: int = 0
    accepted_202: int = 0
    resolved: int = 0
    conflicts: int = 0
    lag_max: float = 0.0
    lagging: int = 0  # arrivals started > 100 ms late
    protocols: list[str] = field(default_factory=list)
    started: float = 0.0
    last_sent: float = 0.0


@dataclass
class Run:
    port: int
    timeout: float
    level: Level
    stop: bool = False

    async def call(
        self,
        label: str,
        method: str,
        path: str,
        token: str,
        body: Any = None,
        ok: tuple[int, ...] = (200,),
        tolerated: tuple[int, ...] = (),
    ) -> tuple[int, Any]:
        """(status, decoded JSON) or (0, None) on an error, which is counted."""
        level = self.level
        payload = None if body is None else json.dumps(body).encode("utf-8")
        started = time.perf_counter()
        try:
            status, raw = await asyncio.wait_for(
                http(self.port, method, "/api/v1" + path, token, payload), self.timeout
            )
        except TimeoutError:
            level.errors[f"{label}: tempo esgotado ({self.timeout:.0f} s)"] += 1
            return 0, None
        except (OSError, CallFailed, ValueError) as exc:
            level.errors[f"{label}: {type(exc).__name__}"] += 1
            if len(level.error_samples) < 5:
                level.error_samples.append(f"{label}: {exc}")
            return 0, None
        level.latencies.setdefault(label, []).append(time.perf_counter() - started)
        if status in ok or status in tolerated:
            try:
                return status, (json.loads(raw) if raw else None)
            except ValueError:
                level.errors[f"{label}: JSON inválido"] += 1
                return 0, None
        level.errors[f"{label}: HTTP {status}"] += 1
        if len(level.error_samples) < 5:
            level.error_samples.append(f"{label}: HTTP {status} {raw[:200]!r}")
        return 0, None


async def requester(run: Run, level: Level, token: str, form: dict[str, Any]) -> None:
    status, started = await run.call(
        "criar", "POST", "/processes/chamado/instances", token, ok=(201,)
    )
    if not status:
        return
    level.created += 1
    chamado, task = started["chamado"], started["task"]
    if chamado.get("protocolo"):
        level.protocols.append(chamado["protocolo"])
    else:
        level.errors["criar: sem número de protocolo"] += 1
    status, _sent = await run.call(
        "enviar",
        "POST",
        f"/tasks/{task['id']}/submit",
        token,
        {"data": form, "version": chamado["version"]},
        ok=(200, 202),
    )
    if status:
        level.sent += 1
        level.accepted_202 += status == 202
        level.last_sent = time.monotonic()


async def analyst(run: Run, number: int, token: str, pause: float) -> None:
    rnd = random.Random(number)
    while not run.stop:
        status, page = await run.call("fila", "GET", "/queue?view=disponiveis", token)
        items = [i for i in (page or {}).get("items", []) if i.get("task")] if status else []
        if not items:
            await asyncio.sleep(max(pause, 0.5))
            continue
        item = rnd.choice(items)
        task = item["task"]["id"]
        status, _ = await run.call(
            "assumir", "POST", f"/tasks/{task}/claim", token, ok=(204,), tolerated=(409,)
        )
        if status == 409:
            run.level.conflicts += 1
            continue
        if status:
            done, _ = await run.call(
                "resolver",
                "POST",
                f"/tasks/{task}/submit",
                token,
                {"data": RESOLVE_BODY, "version": item["chamado"]["version"]},
            )
            run.level.resolved += bool(done)
        if pause:
            await asyncio.sleep(pause)


# --- /proc readings ------------------------------------------------------------------------


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def safe_cpu(pid: int) -> float | None:
    try:
        return common.cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return None


def sched_seconds(pid: int) -> tuple[float, float] | None:
    """(on a CPU, runnable but waiting for one) in seconds, summed over the process's
    threads (/proc/<pid>/task/*/schedstat); None when the kernel does not keep them."""
    run = wait = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (task / "schedstat").read_text().split()
                run += int(fields[0])
                wait += int(fields[1])
    except OSError:
        return None
    return run / 1e9, wait / 1e9


def safe_rss(pid: int) -> float | None:
    try:
        return common.rss_mb(pid)
    except (OSError, RuntimeError, ValueError):
        return None


@dataclass
class Snapshot:
    at: float
    machine: tuple[int, int]
    own_cpu: float
    cpu: dict[str, float]  # process label -> CPU seconds
    rss: dict[str, float]
    sched: dict[str, tuple[float, float]]  # workers: (on CPU, waiting for a CPU) seconds


@dataclass
class Watcher:
    """The processes to read: the server's workers, the scheduler, the SMTP sink, PostgreSQL."""

    server: common.Server
    scheduler_pid: int
    sink_pid: int
    pg_pids: list[int] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)

    def processes(self) -> dict[str, int]:
        procs = {f"worker {pid}": pid for pid in self.server.worker_pids()}
        procs[SCHEDULER] = self.scheduler_pid
        procs["SMTP (sorvedouro)"] = self.sink_pid
        return procs

    def snapshot(self) -> Snapshot:
        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        sched: dict[str, tuple[float, float]] = {}
        for label, pid in self.processes().items():
            if (c := safe_cpu(pid)) is not None:
                cpu[label] = c
            if (r := safe_rss(pid)) is not None:
                rss[label] = r
            if label.startswith("worker") and (st := sched_seconds(pid)) is not None:
                sched[label] = st
        pg = [c for pid in self.pg_pids if (c := safe_cpu(pid)) is not None]
        if pg:
            cpu[PG] = sum(pg)
        return Snapshot(time.monotonic(), machine_jiffies(), time.process_time(), cpu, rss, sched)

    async def sample(self, run: Run, every: float = 2.0) -> None:
        """RSS over time (and CPU), into ``series``, until the run stops."""
        t0 = time.monotonic()
        while not run.stop:
            snap = self.snapshot()
            self.series.append(
                {
                    "t": round(snap.at - t0, 1),
                    "level": run.level.requesters_per_5min,
                    "rss_mb": {k: round(v, 1) for k, v in snap.rss.items()},
                    "cpu_s": {k: round(v, 2) for k, v in snap.cpu.items()},
                }
            )
            await asyncio.sleep(every)


def cpu_between(a: Snapshot, b: Snapshot) -> dict[str, Any]:
    wall = max(b.at - a.at, 1e-9)
    busy = b.machine[0] - a.machine[0]
    total = max(b.machine[1] - a.machine[1], 1)
    cores = os.cpu_count() or 1
    return {
        "wall_s": wall,
        "machine_cores": busy / total * cores,
        "load_tool_cores": (b.own_cpu - a.own_cpu) / wall,
        "processes_cores": {k: (b.cpu[k] - a.cpu[k]) / wall for k in b.cpu if k in a.cpu},
        # Each worker's wall time: on a CPU, waiting for one (the machine is full), and the
        # rest — blocked: on the database, on a client's socket, or idle between requests.
        "workers_time": {
            k: {
                "on_cpu": (b.sched[k][0] - a.sched[k][0]) / wall,
                "cpu_queue": (b.sched[k][1] - a.sched[k][1]) / wall,
                "blocked": max(
                    0.0,
                    1 - (b.sched[k][0] - a.sched[k][0] + b.sched[k][1] - a.sched[k][1]) / wall,
                ),
            }
            for k in b.sched
            if k in a.sched
        },
    }


# --- people --------------------------------------------------------------------------------


def bulk_people(svc: Any, count: int, first: int, batch: int = 500) -> list[str]:
    """``count`` requesters (engine.users) with an API token each (engine.tokens), a batch
    per transaction; returns their tokens."""
    from engine import tokens, users
    from engine.identity import Identity

    found: list[str] = []
    for start in range(0, count, batch):
        with svc.unit.transaction() as session:
            now = svc.clock()
            for i in range(start, min(count, start + batch)):
                cpf = common.cpf_from(first + i)
                user = users.upsert_user(
                    session,
                    Identity(cpf=cpf, name=f"Solicitante {i}", email=f"{cpf}@example.gov.br"),
                )
                plaintext, _row = tokens.create_token(session, user.id, "rajada", user.id, now)
                found.append(plaintext)
    return found


# --- the side processes --------------------------------------------------------------------


@contextlib.contextmanager
def side_processes(url: str, instance: Path) -> Iterator[tuple[int, int]]:
    """An aiosmtpd sink and one ``chamados scheduler`` delivering to it: (scheduler, sink)."""
    smtp_port = common.free_port()
    sink = common.spawn(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{smtp_port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        dict(os.environ),
        instance / "smtp.log",
    )
    scheduler = common.scheduler(url, instance, smtp_port)
    try:
        yield scheduler.pid, sink.pid
    finally:
        common.stop(scheduler)
        common.stop(sink)


def pg_backend_pids(url: str) -> list[int]:
    """The server processes of this database's connections (the workers' and scheduler's)."""
    if not url.startswith("postgresql"):
        return []
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                int(p)
                for p in conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = :d "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"d": make_url(url).database},
                ).scalars()
            ]
    finally:
        engine.dispose()


class PgWaits:
    """What this database's server processes are doing, sampled from pg_stat_activity every
    ``every`` s in a thread of its own: on a CPU (active, no wait event), waiting on I/O
    (e.g. IO:WALSync — a commit's flush), on a lock (Lock:transactionid — another
    transaction's row), on an internal lock (LWLock:WALWrite), or idle inside a transaction
    (Client:ClientRead — waiting for the worker's Python between two statements)."""

    def __init__(self, url: str, every: float = 0.2) -> None:
        self.url = url
        self.every = every
        self.counts: Counter[str] = Counter()
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        if self.url.startswith("postgresql"):
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def snapshot(self) -> tuple[int, Counter[str]]:
        return self.ticks, Counter(self.counts)

    def _run(self) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        query = text(
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = :d AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        name = make_url(self.url).database
        try:
            with engine.connect() as conn:
                while not self._stop.wait(self.every):
                    for state, kind, event in conn.execute(query, {"d": name}).all():
                        if state == "idle":
                            continue
                        if state == "active" and kind is None:
                            key = "na CPU (ativo, sem espera)"
                        elif state == "active":
                            key = f"esperando {kind}:{event}"
                        else:
                            key = f"{state} ({kind}:{event})"
                        self.counts[key] += 1
                    self.ticks += 1
        finally:
            engine.dispose()


def pg_waits_between(a: tuple[int, Counter[str]], b: tuple[int, Counter[str]]) -> dict[str, float]:
    """The average number of this database's backends in each state over an interval."""
    ticks = b[0] - a[0]
    if ticks <= 0:
        return {}
    delta = b[1] - a[1]
    return {k: v / ticks for k, v in delta.most_common()}


# --- a configuration over its levels -------------------------------------------------------


@dataclass
class Plan:
    levels: list[int]
    seconds: float
    analysts: list[str]
    pause: float
    timeout: float
    warmup: float


def level_arrivals(per_5min: int, seconds: float) -> int:
    return round(per_5min / 300 * seconds)


async def drive(
    server: common.Server, watcher: Watcher, plan: Plan, tokens: Iterator[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    loop = asyncio.get_running_loop()
    form = common.registration()
    warm = Level(0, plan.warmup)
    run = Run(server.port, plan.timeout, warm)
    sampler = asyncio.create_task(watcher.sample(run))
    waits = PgWaits(server.database_url)
    waits.start()
    analysts = [
        asyncio.create_task(analyst(run, n, token, plan.pause))
        for n, token in enumerate(plan.analysts)
    ]
    results: list[dict[str, Any]] = []
    protocols: list[str] = []
    try:
        # Warm-up (not measured): a few requesters, the analysts already at work.
        warm_tasks = [
            asyncio.create_task(requester(run, warm, next(tokens), form))
            for _ in range(max(1, round(plan.warmup * 2)))
        ]
        await asyncio.sleep(plan.warmup)
        await asyncio.gather(*warm_tasks)
        protocols += warm.protocols
        watcher.pg_pids = await asyncio.to_thread(pg_backend_pids, server.database_url)
        for per_5min in plan.levels:
            level = Level(per_5min, plan.seconds)
            run.level = level
            count = max(1, level_arrivals(per_5min, plan.seconds))
            interval = plan.seconds / count
            before = watcher.snapshot()
            waits_before = waits.snapshot()
            level.started = time.monotonic()
            t0 = loop.time()
            pending: list[asyncio.Task[None]] = []
            for k in range(count):
                late = loop.time() - (t0 + k * interval)
                if late < 0:
                    await asyncio.sleep(-late)
                else:
                    level.lag_max = max(level.lag_max, late)
                    level.lagging += late > 0.1
                pending.append(asyncio.create_task(requester(run, level, next(tokens), form)))
                level.arrivals += 1
            arrivals_done = time.monotonic()
            await asyncio.gather(*pending)
            after = watcher.snapshot()
            protocols += level.protocols
            results.append(summarize(level, before, after, arrivals_done))
            results[-1]["pg_backends"] = pg_waits_between(waits_before, waits.snapshot())
            report_level(results[-1])
    finally:
        waits.stop()
        run.stop = True
        await asyncio.gather(*analysts, return_exceptions=True)
        await sampler
    return results, protocols


def summarize(
    level: Level, before: Snapshot, after: Snapshot, arrivals_done: float
) -> dict[str, Any]:
    everything = [v for values in level.latencies.values() for v in values]
    wall = after.at - level.started
    cpu = cpu_between(before, after)
    server_cores = sum(
        v
        for k, v in cpu["processes_cores"].items()
        if k.startswith("worker") or k in (PG, SCHEDULER)
    )
    return {
        "requesters_per_5min": level.requesters_per_5min,
        "seconds": level.seconds,
        "arrivals": level.arrivals,
        "arrivals_per_min": level.arrivals / max(arrivals_done - level.started, 1e-9) * 60,
        "created": level.created,
        "sent": level.sent,
        "sent_per_min": level.sent / max(wall, level.seconds) * 60,
        "accepted_202": level.accepted_202,
        "drain_s": after.at - arrivals_done,
        "resolved": level.resolved,
        "claim_conflicts": level.conflicts,
        "errors": sum(level.errors.values()),
        "error_kinds": dict(level.errors),
        "error_samples": level.error_samples,
        "calls": len(everything),
        "p50_ms": percentile(everything, 50) * 1000,
        "p95_ms": percentile(everything, 95) * 1000,
        "p99_ms": percentile(everything, 99) * 1000,
        "per_call": {
            label: {
                "n": len(values),
                "p50_ms": percentile(values, 50) * 1000,
                "p95_ms": percentile(values, 95) * 1000,
                "p99_ms": percentile(values, 99) * 1000,
            }
            for label, values in sorted(level.latencies.items())
        },
        # Workers + this database's PostgreSQL backends + the scheduler, per ticket sent
        # (the analysts' calls included: they are part of the burst's work).
        "server_cpu_ms_per_sent": server_cores * cpu["wall_s"] * 1000 / max(level.sent, 1),
        # The server's workers alone, per HTTP call answered (requesters' and analysts').
        "worker_cpu_ms_per_call": sum(
            v for k, v in cpu["processes_cores"].items() if k.startswith("worker")
        )
        * cpu["wall_s"]
        * 1000
        / max(len(everything), 1),
        "load_tool_lag_max_s": level.lag_max,
        "load_tool_late_arrivals": level.lagging,
        "cpu": cpu,
        "rss_mb_start": before.rss,
        "rss_mb_end": after.rss,
    }


def report_level(r: dict[str, Any]) -> None:
    cpu = r["cpu"]
    workers = {k: v for k, v in cpu["processes_cores"].items() if k.startswith("worker")}
    note(
        f"nível {fmt(r['requesters_per_5min'])}/5 min: {fmt(r['arrivals'])} chegadas "
        f"({r['arrivals_per_min']:,.0f}/min), {fmt(r['sent'])} enviados "
        f"({r['sent_per_min']:,.0f}/min), {r['errors']} erros, p95 {r['p95_ms']:.0f} ms, "
        f"máquina {cpu['machine_cores']:.2f} núcleos, workers "
        + " ".join(f"{v:.2f}" for v in workers.values())
        + f" ({r['worker_cpu_ms_per_call']:.1f} ms de CPU por chamada)"
        + f", ferramenta {cpu['load_tool_cores']:.2f} núcleo (atraso máx. "
        f"{r['load_tool_lag_max_s'] * 1000:.0f} ms), esvaziar {r['drain_s']:.1f} s"
    )
    if r["error_kinds"]:
        note("erros: " + "; ".join(f"{k} ×{v}" for k, v in r["error_kinds"].items()))
        for sample in r["error_samples"]:
            note(f"  ex.: {sample}")


def check_database(url: str, protocols: list[str]) -> dict[str, Any]:
    """Every protocol number unique (in the answers and in the table); each sent ticket
    exactly one receipt in the outbox; how far the mail got."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            q = conn.execute
            chamados, distinct, missing = q(
                text(
                    "SELECT count(*), count(DISTINCT protocolo), "
                    "count(*) FILTER (WHERE protocolo IS NULL) FROM chamados"
                    if url.startswith("postgresql")
                    else "SELECT count(*), count(DISTINCT protocolo), "
                    "sum(protocolo IS NULL) FROM chamados"
                )
            ).one()
            sent = q(text("SELECT count(*) FROM chamados WHERE submitted_at IS NOT NULL")).scalar()
            receipts = q(
                text(
                    "SELECT count(*), count(DISTINCT chamado_id) FROM outbox_messages "
                    "WHERE kind = 'chamado_registrado'"
                )
            ).one()
            without = q(
                text(
                    "SELECT count(*) FROM chamados c WHERE c.submitted_at IS NOT NULL AND NOT "
                    "EXISTS (SELECT 1 FROM outbox_messages o WHERE o.chamado_id = c.id "
                    "AND o.kind = 'chamado_registrado')"
                )
            ).scalar()
            outbox: dict[str, int] = {
                str(status): int(n)
                for status, n in q(
                    text("SELECT status, count(*) FROM outbox_messages GROUP BY status")
                ).all()
            }
    finally:
        engine.dispose()
    return {
        "chamados": int(chamados),
        "protocols_distinct": int(distinct),
        "protocols_null": int(missing or 0),
        "answers_protocols": len(protocols),
        "answers_protocols_distinct": len(set(protocols)),
        "sent": int(sent or 0),
        "receipts": int(receipts[0]),
        "receipt_tickets": int(receipts[1]),
        "sent_without_receipt": int(without or 0),
        "outbox_by_status": outbox,
    }


def run_config(
    config: Config, db: common.TempDatabase, instance: Path, plan: Plan, tokens: Iterator[str]
) -> dict[str, Any]:
    title_line = f"{config.name}: {config.workers} workers × {config.threads} threads"
    note(f"— {title_line}; carga da máquina: {_loadavg()}")
    with (
        side_processes(db.url, instance) as (scheduler_pid, sink_pid),
        common.Server(
            db.url, instance, workers=config.workers, extra_args=config.serve_args
        ) as server,
    ):
        watcher = Watcher(server, scheduler_pid, sink_pid)
        levels, protocols = asyncio.run(drive(server, watcher, plan, tokens))
        series = watcher.series
    return {
        "config": config.name,
        "workers": config.workers,
        "threads": config.threads,
        "levels": levels,
        "protocols": protocols,
        "rss_series": series,
        "loadavg_end": _loadavg(),
    }


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def others_cores(cpu: dict[str, Any]) -> float:
    """What the machine did besides this benchmark's processes: other sessions, PostgreSQL's
    own background processes (WAL writer, checkpointer), the kernel."""
    ours = sum(cpu["processes_cores"].values()) + cpu["load_tool_cores"]
    return max(0.0, cpu["machine_cores"] - ours)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def knee(levels: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in levels if r["p95_ms"] > TARGET_P95_MS or r["errors"]), None)


def rss_growth(result: dict[str, Any]) -> float:
    """The largest growth of a worker's RSS from the end of the first level to the end of
    the last (MB); the warm-up and the first level are where imports and caches settle."""
    levels = result["levels"]
    first, last = levels[0]["rss_mb_end"], levels[-1]["rss_mb_end"]
    growth = [last[k] - first[k] for k in last if k.startswith("worker") and k in first]
    return max(growth) if growth else float("nan")


def print_config(result: dict[str, Any]) -> None:
    rows = []
    for r in result["levels"]:
        cpu = r["cpu"]
        workers = [v for k, v in cpu["processes_cores"].items() if k.startswith("worker")]
        rss0 = [v for k, v in r["rss_mb_start"].items() if k.startswith("worker")]
        rss1 = [v for k, v in r["rss_mb_end"].items() if k.startswith("worker")]
        rows.append(
            [
                fmt(r["requesters_per_5min"]),
                f"{r['arrivals_per_min']:,.0f}",
                f"{r['sent_per_min']:,.0f}",
                r["errors"],
                r["claim_conflicts"],
                f"{r['p50_ms']:.0f}",
                f"{r['p95_ms']:.0f}",
                f"{r['p99_ms']:.0f}",
                f"{cpu['machine_cores']:.2f}",
                f"{others_cores(cpu):.2f}",
                " ".join(f"{w:.2f}" for w in workers),
                f"{cpu['processes_cores'].get(PG, 0):.2f}",
                f"{cpu['processes_cores'].get(SCHEDULER, 0):.2f}",
                f"{r['server_cpu_ms_per_sent']:.1f}",
                f"{cpu['load_tool_cores']:.2f}",
                f"{sum(rss0):.0f}→{sum(rss1):.0f}",
                r["resolved"],
            ]
        )
    table(
        [
            "solicitantes/5 min",
            "chegadas/min",
            "enviados/min",
            "erros",
            "conflitos 409",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "CPU máquina (núcleos)",
            "CPU fora da rajada",
            "CPU por worker",
            "CPU PostgreSQL",
            "CPU agendador",
            "CPU servidor ms/enviado",
            "CPU ferramenta",
            "RSS workers MB",
            "resolvidos",
        ],
        rows,
    )
    print(
        "\n  Tempo de parede dos workers (média; /proc/<pid>/task/*/schedstat, somado nas "
        "threads: com mais de uma passa de 100 %):"
    )
    table(
        [
            "solicitantes/5 min",
            "na CPU %",
            "esperando CPU %",
            "bloqueado (banco, socket ou ocioso) %",
        ],
        [
            [fmt(r["requesters_per_5min"])]
            + [
                f"{100 * _mean([w[part] for w in r['cpu']['workers_time'].values()]):.0f}"
                for part in ("on_cpu", "cpu_queue", "blocked")
            ]
            for r in result["levels"]
        ],
    )
    states = sorted(
        {k for r in result["levels"] for k in r.get("pg_backends", {})},
        key=lambda k: -max(r.get("pg_backends", {}).get(k, 0) for r in result["levels"]),
    )[:8]
    if states:
        print("\n  Conexões do PostgreSQL deste banco, em média por estado (pg_stat_activity):")
        table(
            ["estado", *(fmt(r["requesters_per_5min"]) for r in result["levels"])],
            [
                [k, *(f"{r.get('pg_backends', {}).get(k, 0):.2f}" for r in result["levels"])]
                for k in states
            ],
        )
    labels = sorted({k for r in result["levels"] for k in r["per_call"]})
    print("\n  p95 por chamada (ms):")
    table(
        ["solicitantes/5 min", *labels],
        [
            [fmt(r["requesters_per_5min"])]
            + [f"{r['per_call'][k]['p95_ms']:.0f}" if k in r["per_call"] else "–" for k in labels]
            for r in result["levels"]
        ],
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="níveis 2.000 e 16.000 por 5 min, 30 s cada (~2–3 min)",
    )
    parser.add_argument(
        "--levels",
        default=None,
        help="solicitantes por 5 minutos, separados por vírgula (padrão 2000,8000,16000,32000)",
    )
    parser.add_argument(
        "--minutes", type=float, default=None, help="duração de cada nível (padrão 5)"
    )
    parser.add_argument(
        "--configs",
        default="2",
        help="configurações do servidor: workers[xthreads]; 2 (padrão do produto), 3, 2x4…",
    )
    parser.add_argument("--analysts", type=int, default=20, help="analistas em laço fechado")
    parser.add_argument(
        "--analyst-pause", type=float, default=1.0, help="pausa de cada analista após resolver (s)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="limite por chamada (s)")
    parser.add_argument("--warmup", type=float, default=None, help="aquecimento (s)")
    parser.add_argument("--backend", default="postgresql", choices=("postgresql", "sqlite"))
    parser.add_argument("--profile", action="store_true", help="(sem efeito aqui)")
    args = parser.parse_args(argv)
    levels = (
        [int(v) for v in args.levels.split(",") if v.strip()]
        if args.levels
        else list(QUICK_LEVELS if args.quick else DEFAULT_LEVELS)
    )
    minutes = args.minutes if args.minutes is not None else (0.5 if args.quick else 5.0)
    warmup = args.warmup if args.warmup is not None else (5.0 if args.quick else 15.0)
    configs = [Config.parse(c) for c in args.configs.split(",") if c.strip()]

    title("11. Rajada: solicitantes abrem e enviam chamados enquanto analistas atendem a fila")
    note(
        f"níveis (solicitantes por 5 min): {', '.join(fmt(n) for n in levels)}; "
        f"{minutes:g} min por nível; {args.analysts} analistas em laço fechado "
        f"(pausa {args.analyst_pause:g} s após resolver); chegadas em laço aberto; "
        f"configurações: {', '.join(c.name for c in configs)}; banco {args.backend}; "
        f"um `chamados scheduler` entregando a um sorvedouro SMTP."
    )
    note(f"carga da máquina (uptime) no início: {_loadavg()}")
    backend = args.backend
    if backend == "postgresql" and (why := common.postgres_available()):
        note(f"PostgreSQL indisponível ({why}): SQLite.")
        backend = "sqlite"
    # Open loop: at the knee thousands of connections may wait at once.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    seconds = minutes * 60
    per_config = sum(max(1, level_arrivals(n, seconds)) for n in levels) + round(warmup * 2) + 1
    results: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    with common.workdir("burst") as work, common.TempDatabase(backend, work) as db:
        instance = work / "instance"
        instance.mkdir()
        svc = common.make_service(db.url, instance)
        try:
            t0 = time.monotonic()
            tokens = bulk_people(svc, per_config * len(configs), FIRST_CPF)
            analysts = [
                common.add_person(
                    svc, common.cpf_from(FIRST_CPF + 5_000_000 + i), f"Analista {i}", "analyst"
                ).token
                for i in range(args.analysts)
            ]
            note(
                f"{fmt(len(tokens))} solicitantes e {len(analysts)} analistas criados em "
                f"{time.monotonic() - t0:.0f} s"
            )
        finally:
            svc.unit.dispose()
        plan = Plan(levels, seconds, analysts, args.analyst_pause, args.timeout, warmup)
        source = iter(tokens)
        all_protocols: list[str] = []
        for config in configs:
            result = run_config(config, db, instance, plan, source)
            all_protocols += result.pop("protocols")
            results.append(result)
        checks = check_database(db.url, all_protocols)

    for result in results:
        print(f"\n  {result['config']} (carga ao fim: {result['loadavg_end']}):")
        print_config(result)
    unique = (
        checks["protocols_distinct"] == checks["chamados"]
        and checks["protocols_null"] == 0
        and checks["answers_protocols_distinct"] == checks["answers_protocols"]
    )
    receipts_ok = (
        checks["sent_without_receipt"] == 0
        and checks["receipts"] == checks["receipt_tickets"] == checks["sent"]
    )
    note(
        f"banco ao fim: {fmt(checks['chamados'])} chamados, {fmt(checks['protocols_distinct'])} "
        f"protocolos distintos ({checks['protocols_null']} sem número); "
        f"{fmt(checks['sent'])} enviados, {fmt(checks['receipts'])} recibos para "
        f"{fmt(checks['receipt_tickets'])} chamados, {checks['sent_without_receipt']} enviados "
        f"sem recibo; caixa de saída: "
        + ", ".join(f"{k} {fmt(v)}" for k, v in sorted(checks["outbox_by_status"].items()))
    )
    verdicts = []
    for result in results:
        levels_done = result["levels"]
        k = knee(levels_done)
        growth = rss_growth(result)
        note(
            f"{result['config']}: joelho "
            + (
                f"em {fmt(k['requesters_per_5min'])} solicitantes/5 min "
                f"(p95 {k['p95_ms']:.0f} ms, {k['errors']} erros)"
                if k
                else "não alcançado nos níveis medidos"
            )
            + f"; RSS dos workers cresceu no máximo {growth:.1f} MB do fim do 1º nível ao fim"
        )
        top = max(levels_done, key=lambda r: r["requesters_per_5min"])
        flat = growth <= RSS_FLAT_MB
        met = (
            top["requesters_per_5min"] >= TARGET_LEVEL
            and top["seconds"] >= 300
            and top["errors"] == 0
            and top["p95_ms"] <= TARGET_P95_MS
            and unique
            and receipts_ok
            and flat
        )
        shortfall = []
        if top["requesters_per_5min"] < TARGET_LEVEL or top["seconds"] < 300:
            shortfall.append(
                f"maior nível medido {fmt(top['requesters_per_5min'])}/5 min por "
                f"{top['seconds'] / 60:g} min, não 32.000 em 5 min"
            )
        if top["errors"]:
            shortfall.append(f"{top['errors']} erros")
        if top["p95_ms"] > TARGET_P95_MS:
            shortfall.append(f"p95 {top['p95_ms']:.0f} ms")
        if not unique:
            shortfall.append("protocolos repetidos ou ausentes")
        if not receipts_ok:
            shortfall.append("recibos faltando ou repetidos")
        if not flat:
            shortfall.append(f"RSS cresceu {growth:.1f} MB")
        verdicts.append(
            verdict(
                met,
                f"{result['config']}: 32.000 solicitantes em 5 min com 0 erros, p95 ≤ 300 ms, "
                f"protocolos únicos, um recibo por chamado, RSS plano (medido no nível "
                f"{fmt(top['requesters_per_5min'])}: {top['errors']} erros, p95 "
                f"{top['p95_ms']:.0f} ms)",
                "; ".join(shortfall),
            )
        )
    common.save_results(
        "burst",
        {
            "backend": backend,
            "analysts": args.analysts,
            "analyst_pause_s": args.analyst_pause,
            "minutes_per_level": minutes,
            "results": results,
            "database": checks,
        },
    )
    return {"verdicts": verdicts, "results": results, "database": checks}


if __name__ == "__main__":
    main()

"""2. HTTP: the full chamado over the REST API under ``chamados serve`` (2 workers), SQLite and
PostgreSQL.

One server per database, both up for the whole run; the measured lifecycles run in
rounds that alternate between them (side by side). Each lifecycle is the ten calls of
bench.common.api_lifecycle, by ``--clients`` concurrent clients (each its own requester
and analyst with bearer tokens). Reported per database: lifecycles per second, p50/p95
of each call, and the server's CPU per lifecycle, read from the server workers'
/proc/<pid>/stat (utime + stime) before and after each round. On PostgreSQL the
database backends' own CPU is shown too (not part of the target).

Target (issue #16): at most 20 ms of server CPU per full lifecycle.

    python -m bench.http_lifecycle [--lifecycles 300] [--clients 2] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import common
from bench.common import median, note, percentile, table, title, verdict

# Issue #16, target 2 (was 40 ms before it).
TARGET_CPU_MS = 20.0
CALL_ORDER = ("criar", "enviar", "fila", "assumir", "decidir", "acompanhar", "reenviar")
CALLS_PER_LIFECYCLE = 10


@dataclass
class Backend:
    kind: str
    server: common.Server
    db_url: str
    db_name: str | None
    people: list[tuple[common.Person, common.Person]]
    lifecycles: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _postgres_pids(db_name: str) -> list[int]:
    from sqlalchemy import create_engine, text

    admin = create_engine(common.PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            rows = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": db_name}
            )
            return [int(r[0]) for r in rows]
    finally:
        admin.dispose()


def _db_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += common.cpu_seconds(pid)
    return total


def run_block(backend: Backend, per_client: int, deadline: float) -> None:
    """``per_client`` lifecycles by each client, concurrently; accumulates the figures."""
    pg_pids = _postgres_pids(backend.db_name) if backend.db_name else []
    cpu0, db0 = backend.server.cpu(), _db_cpu(pg_pids)
    r = common.drive_lifecycles(backend.server.port, backend.people, per_client, deadline)
    backend.server_cpu += backend.server.cpu() - cpu0
    backend.db_cpu += _db_cpu(pg_pids) - db0
    backend.wall += r.wall
    backend.lifecycles += r.done
    for label, values in r.latencies.items():
        backend.latencies.setdefault(label, []).extend(values)
    backend.errors += r.errors


@contextlib.contextmanager
def open_backend(kind: str, wd: Path, clients: int, workers: int) -> Iterator[Backend]:
    with common.TempDatabase(kind, wd) as db:
        svc = common.make_service(db.url, wd)
        people = common.client_pairs(svc, clients, 100_000)
        svc.unit.db.dispose()
        instance = wd / kind
        instance.mkdir(exist_ok=True)
        with common.Server(db.url, instance, workers=workers) as server:
            yield Backend(kind, server, db.url, db._pg_name, people)


def engine_cpu_per_lifecycle(n: int) -> float:
    """CPU ms of one lifecycle through the use cases alone, in-process (no HTTP, no auth)."""
    from bench.engine_overhead import EngineLifecycle

    with common.workdir("engine-cpu") as wd, common.TempDatabase("sqlite", wd) as db:
        svc = common.make_service(db.url, wd)
        runner = EngineLifecycle(
            svc,
            common.add_person(svc, common.MARIA, "Maria"),
            common.add_person(svc, common.ANA, "Ana", "analyst"),
        )
        for _ in range(5):
            runner.run()
        samples = []
        for _ in range(n):
            t = time.process_time()
            runner.run()
            samples.append(time.process_time() - t)
        svc.unit.db.dispose()
    return median(samples) * 1000


def attribute_inprocess(app: Any, run_lifecycle: Any, n: int) -> common.Attribution:
    """``n`` API lifecycles through the test client with the server's parts wrapped."""
    import logging

    from engine import catalogs, forms, outbox, runtime, tasks, timers
    from web import api as web_api

    svc = app.extensions["chamados"]
    attr = common.Attribution()
    attr.wrap(app, "wsgi_app", "Flask/Werkzeug, rotas, before/after_request (resto)")
    attr.wrap(web_api, "bearer_user", "autenticação: bearer_user (sem ORM/SQL)")
    # Every use case the API calls (start_instance hands back the first task; the
    # others are read by chamado_json and the views), on the facade's use-case objects.
    for uses, name in (
        (svc.requests, "start_chamado"),
        (svc.requests, "start_instance"),
        (svc.requests, "requester_task"),
        (svc.requests, "complete_task"),
        (svc.analysis, "claim"),
        (svc.analysis, "queue"),
        (svc.requests, "tracking"),
        (svc.analysis, "analysis"),
        (svc.analysis, "chamado_orgao"),
        (svc.analysis, "orgao_label"),
    ):
        attr.wrap(uses, name, "casos de uso: código do produto e sessões (resto)")
    attr.wrap(runtime, "load", "SpiffWorkflow: load + complete/start + dump")
    attr.wrap(runtime, "dump", "SpiffWorkflow: load + complete/start + dump")
    attr.wrap(runtime, "complete", "SpiffWorkflow: load + complete/start + dump")
    attr.wrap(runtime, "start", "SpiffWorkflow: load + complete/start + dump")
    attr.wrap(tasks, "sync", "tasks.sync + timers.sync (sem SQL)")
    attr.wrap(timers, "sync", "tasks.sync + timers.sync (sem SQL)")
    attr.wrap(forms, "validate", "forms.validate (jsonschema)")
    attr.wrap(catalogs, "all_catalogs", "catálogos: all_catalogs + resolve_catalogs")
    attr.wrap(forms, "resolve_catalogs", "catálogos: all_catalogs + resolve_catalogs")
    attr.wrap(outbox, "enqueue", "e-mail: outbox.enqueue (Jinja2 + linha)")
    attr.wrap(app.json, "dumps", "JSON das respostas (app.json.dumps)")
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_chamados_json", False):
            attr.wrap(handler, "handle", "logs JSON (observability)")
    attr.wrap_orm()
    attr.watch_sql(svc.unit.db, "SQL: driver (execute)")
    try:
        for _ in range(n):
            run_lifecycle()
    finally:
        attr.restore()
    return attr


def profile_inprocess(kind: str, lifecycles: int, server_ms: float) -> dict[str, Any]:
    """The same API lifecycle in-process (Flask's test client, no server): CPU per
    lifecycle by part (instrumented), SQL per call, and a cProfile by function."""
    with common.workdir("http-profile") as wd, common.TempDatabase(kind, wd) as db:
        svc = common.make_service(db.url, wd)
        maria = common.add_person(svc, common.MARIA, "Maria")
        ana = common.add_person(svc, common.ANA, "Ana", "analyst")
        svc.unit.db.dispose()
        with common.inprocess_app(db.url, wd) as app:
            api = common.ApiClient(transport=common.flask_transport(app.test_client()))

            def lifecycle() -> None:
                common.api_lifecycle(api, maria, ana)

            for _ in range(5):
                lifecycle()
            app_svc = app.extensions["chamados"]
            with common.count_sql(app_svc.unit.db) as sql:
                api.sql_counter = sql
                lifecycle()
                api.sql_counter = None
            per_call = {label: sum(v) / len(v) for label, v in api.sql.items()}
            samples = []
            for _ in range(lifecycles):
                t = time.process_time()
                lifecycle()
                samples.append(time.process_time() - t)
            inprocess_ms = median(samples) * 1000
            attr = attribute_inprocess(app, lifecycle, lifecycles)
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(lifecycles):
                lifecycle()
            profiler.disable()
    print()
    note(
        f"{kind}: onde vai a CPU do servidor. Em processo (cliente de teste do Flask, sem "
        f"servidor): {inprocess_ms:.1f} ms por ciclo; no servidor: {server_ms:.1f} ms; "
        f"{sql['statements']} comandos SQL, {sql['commits']} commits e {sql['checkouts']} "
        "conexões tiradas do pool por ciclo."
    )
    table(
        ["chamada", "comandos SQL"],
        [(label, per_call[label]) for label in CALL_ORDER if label in per_call],
    )
    print()
    note(f"{kind}: CPU por parte, instrumentado ({lifecycles} ciclos em processo):")
    parts = attr.report(lifecycles, "ciclo", inprocess_ms)
    outside = server_ms - inprocess_ms
    note(
        f"fora da aplicação Flask (servidor: HTTP, sockets) ≈ {outside:.1f} ms "
        "por ciclo (CPU no servidor − CPU em processo: diferença de duas medidas, ruidosa)."
    )
    report: dict[str, Any] = {
        "inprocess_cpu_ms_per_lifecycle": inprocess_ms,
        "outside_flask_ms_per_lifecycle": outside,
        "attribution": parts,
        "sql_statements_per_call": per_call,
        "sql_statements_per_lifecycle": sql["statements"],
        "commits_per_lifecycle": sql["commits"],
        "pool_checkouts_per_lifecycle": sql["checkouts"],
    }
    if kind == "sqlite":
        note(
            f"Perfil (cProfile) de {lifecycles} ciclos em processo, por função (frações de CPU; "
            "superestima código Python de muitas chamadas frente a C):"
        )
        report["profile"] = common.profile_report(
            profiler, lifecycles, "ciclo", top=20, show=("product", "own")
        )
    return report


def run(
    lifecycles: int,
    clients: int,
    workers: int,
    rounds: int,
    warmup: int,
    kinds: list[str],
    profile: bool,
    time_budget: float,
) -> dict[str, Any]:
    title(f"2. HTTP: ciclo completo pela API REST, servidor com {workers} workers")
    if "postgresql" in kinds:
        why = common.postgres_available()
        if why:
            note(f"ATENÇÃO: PostgreSQL indisponível ({why}); medindo só SQLite.")
            kinds = [k for k in kinds if k != "postgresql"]
    result: dict[str, Any] = {"workers": workers, "clients": clients, "backends": {}}
    with contextlib.ExitStack() as stack:
        wd = stack.enter_context(common.workdir("http"))
        backends = [stack.enter_context(open_backend(k, wd, clients, workers)) for k in kinds]
        per_client_warm = max(1, warmup // clients)
        for b in backends:
            run_block(b, per_client_warm, time.monotonic() + 120)
            if b.errors:
                raise RuntimeError(
                    f"{b.kind}: erro no aquecimento: {b.errors[0]}\n{b.server.tail()}"
                )
            b.lifecycles, b.wall, b.server_cpu, b.db_cpu, b.latencies = 0, 0.0, 0.0, 0.0, {}
        per_block = max(1, -(-lifecycles // (rounds * clients)))
        deadline = time.monotonic() + time_budget
        for _ in range(rounds):
            for b in backends:
                run_block(b, per_block, deadline)
        note(
            f"{clients} clientes simultâneos, {CALLS_PER_LIFECYCLE} chamadas por ciclo, "
            f"{rounds} rodadas alternando os bancos; aquecimento de {per_client_warm * clients} "
            "ciclos por banco fora da medida."
        )
        rows, lat_rows = [], []
        for b in backends:
            if b.errors:
                note(f"ERRO em {b.kind}: {b.errors[0]}")
            n = max(1, b.lifecycles)
            all_calls = [v for values in b.latencies.values() for v in values]
            log_lines = _log_lines(b.server)
            fig = {
                "lifecycles": b.lifecycles,
                "lifecycles_per_s": b.lifecycles / b.wall if b.wall else 0.0,
                "server_cpu_ms_per_lifecycle": b.server_cpu * 1000 / n,
                "server_cpu_ms_per_call": b.server_cpu * 1000 / (n * CALLS_PER_LIFECYCLE),
                "db_cpu_ms_per_lifecycle": b.db_cpu * 1000 / n if b.db_name else None,
                "call_ms": {
                    "p50": percentile(all_calls, 50) * 1000,
                    "p95": percentile(all_calls, 95) * 1000,
                },
                "calls": {
                    label: {
                        "count": len(v),
                        "p50": percentile(v, 50) * 1000,
                        "p95": percentile(v, 95) * 1000,
                    }
                    for label, v in b.latencies.items()
                },
                "log_lines_per_lifecycle": log_lines / n if log_lines else None,
                "worker_rss_mb": [round(common.rss_mb(p), 1) for p in b.server.worker_pids()],
                "errors": b.errors,
            }
            result["backends"][b.kind] = fig
            rows.append(
                (
                    b.kind,
                    b.lifecycles,
                    fig["lifecycles_per_s"],
                    fig["call_ms"]["p50"],
                    fig["call_ms"]["p95"],
                    fig["server_cpu_ms_per_lifecycle"],
                    fig["server_cpu_ms_per_call"],
                    "—"
                    if fig["db_cpu_ms_per_lifecycle"] is None
                    else fig["db_cpu_ms_per_lifecycle"],
                )
            )
            for label in CALL_ORDER:
                if label in fig["calls"]:
                    c = fig["calls"][label]
                    lat_rows.append((f"{b.kind}: {label}", c["count"], c["p50"], c["p95"]))
        table(
            [
                "banco",
                "ciclos",
                "ciclos/s",
                "p50 chamada ms",
                "p95 chamada ms",
                "CPU servidor ms/ciclo",
                "ms/chamada",
                "CPU do PG ms/ciclo",
            ],
            rows,
        )
        print()
        table(["chamada", "n", "p50 ms", "p95 ms"], lat_rows)

    engine_ms = engine_cpu_per_lifecycle(20)
    result["engine_cpu_ms_per_lifecycle_inprocess"] = engine_ms
    print()
    comp = [("motor em processo (casos de uso, SQLite, sem HTTP)", engine_ms, 1.0)]
    for kind, fig in result["backends"].items():
        cpu = fig["server_cpu_ms_per_lifecycle"]
        comp.append((f"servidor HTTP, {kind}", cpu, cpu / engine_ms))
    comp.append(("SpiffArena (ENGINE-NOTES, modelo menor)", 274.0, 274.0 / engine_ms))
    table(["CPU por ciclo completo", "ms", "× motor"], comp)
    if len(result["backends"]) == 2:
        s, p = (result["backends"][k] for k in ("sqlite", "postgresql"))
        result["pg_over_sqlite_cpu"] = (
            p["server_cpu_ms_per_lifecycle"] / s["server_cpu_ms_per_lifecycle"]
        )
        result["pg_over_sqlite_throughput"] = p["lifecycles_per_s"] / s["lifecycles_per_s"]
        note(
            f"PostgreSQL / SQLite: CPU do servidor {result['pg_over_sqlite_cpu']:.2f}×, "
            f"vazão {result['pg_over_sqlite_throughput']:.2f}×."
        )
    for kind, fig in result["backends"].items():
        rss = ", ".join(f"{v:.0f} MB" for v in fig["worker_rss_mb"])
        note(f"{kind}: RSS dos workers ao fim: {rss}.")
        if fig["log_lines_per_lifecycle"]:
            note(
                f"{kind}: {fig['log_lines_per_lifecycle']:.0f} linhas de log JSON por ciclo "
                "no log do servidor (registros INFO)."
            )

    verdicts = []
    for kind, fig in result["backends"].items():
        cpu = fig["server_cpu_ms_per_lifecycle"]
        verdicts.append(
            verdict(
                cpu <= TARGET_CPU_MS and not fig["errors"],
                f"{kind}: CPU do servidor ≤ {TARGET_CPU_MS:.0f} ms por ciclo "
                f"(medido: {cpu:.1f} ms)",
                f"{cpu / TARGET_CPU_MS:.1f}× a meta; o motor sozinho já gasta {engine_ms:.1f} ms"
                if not fig["errors"]
                else "houve erros na medida",
            )
        )
    result["verdicts"] = verdicts
    if profile or not all(v["met"] for v in verdicts):
        result["profile"] = {
            kind: profile_inprocess(kind, 30, fig["server_cpu_ms_per_lifecycle"])
            for kind, fig in result["backends"].items()
        }
    common.save_results("http_lifecycle", result)
    return result


def _log_lines(server: common.Server) -> int:
    if server.log_path is None or not server.log_path.exists():
        return 0
    with server.log_path.open("rb") as f:
        return sum(1 for _ in f)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=300, help="medidos, por banco")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--time-budget", type=float, default=300, help="segundos, no máximo")
    parser.add_argument("--quick", action="store_true", help="40 ciclos por banco")
    args = parser.parse_args(argv)
    if args.quick:
        args.lifecycles, args.rounds, args.warmup = min(args.lifecycles, 40), 2, 6
    return run(
        args.lifecycles,
        args.clients,
        args.workers,
        args.rounds,
        args.warmup,
        [k.strip() for k in args.backends.split(",") if k.strip()],
        args.profile,
        args.time_budget,
    )


if __name__ == "__main__":
    main()

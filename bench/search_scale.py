"""7. Staff search at scale: "Buscar chamados" with 10,000 and with 1,000,000 tickets on
PostgreSQL (issue #12: under 100 ms at 1,000,000).

One database per size. A real ticket through the engine (Maria's: her CPF, its protocol,
an affected NUP), then the rest generated inside PostgreSQL: about ten tickets per
requester, each with its analysis task and its searchable text — thirty words drawn
from a 3,000-word vocabulary with a skewed (Zipf-like) frequency, so "comum" words
appear in a large share of the tickets and "rara" ones in a handful — then ANALYZE, as
autovacuum would. Every query runs through the use case (``svc.search.tickets``) as a
supervisor (every ticket) and as an analyst (only their groups' tickets), the two sizes
alternately; figures are medians in milliseconds.

    python -m bench.search_scale [--sizes 10000,1000000] [--requests 15]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import common
from bench.common import fmt, median, note, table, title, verdict

TARGET_MS = 100.0
VOCABULARY = 3000


def _load(svc: Any, total: int) -> dict[str, str]:
    """Fill the database up to ``total`` tickets; returns the queries to measure."""
    from sqlalchemy import select, text

    from engine.models import Chamado, ProcessVersion

    maria = common.add_person(svc, common.MARIA, "Maria da Silva")
    started = svc.requests.start_chamado(maria.actor, "chamado")
    with svc.unit.reading() as s:
        task_id = s.execute(
            text("SELECT id FROM human_tasks WHERE chamado_id = :c"), {"c": started.id}
        ).scalar_one()
    svc.requests.complete_task(maria.actor, task_id, common.registration(), started.version)
    with svc.unit.transaction() as s:
        version_id = s.scalar(
            select(ProcessVersion.id).where(ProcessVersion.process_id == "chamado")
        )
        real = s.get(Chamado, started.id)
        assert real is not None
        requesters = max(1, total // 10)
        s.execute(
            text(
                "INSERT INTO users (cpf, kind, name, created_at) "
                "SELECT '8' || lpad(i::text, 10, '0'), 'pessoa', 'Pessoa ' || i, now() "
                "FROM generate_series(1, :n) AS i"
            ),
            {"n": requesters},
        )
        first_user = s.execute(text("SELECT min(id) FROM users WHERE cpf LIKE '8%'")).scalar()
        s.execute(
            text(
                "INSERT INTO chamados (protocolo, requester_id, process_version_id, status, "
                "version, workflow_state, orgao_id, categoria, servico, status_label, "
                "adjustment_rounds, analysis_seconds, overdue, created_at, submitted_at, "
                "updated_at) "
                "SELECT 'CH-2025-' || lpad(i::text, 7, '0'), :u + (i % :r), :v, "
                "'em_analise', 1, '', :orgao, 'erro_api', 'Serviço ' || (i % 300), "
                "'Em análise', 0, 0, false, "
                "now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval, "
                "now() FROM generate_series(1, :n) AS i"
            ),
            {
                "u": first_user,
                "r": requesters,
                "v": version_id,
                "orgao": real.orgao_id,
                "n": total - 1,
            },
        )
        # Thirty words each; word k drawn with probability ~ 1/k (random()^3 skews).
        s.execute(
            text(
                "INSERT INTO search_entries (chamado_id, form, body, updated_at) "
                "SELECT c.id, 'registrar-chamado-schema.json', "
                "c.protocolo || ' pessoa ' || (c.requester_id) || ' ' || ("
                "  SELECT string_agg('palavra' || floor(:w * power(random(), 3))::int, ' ') "
                "  FROM generate_series(1, 30) AS g WHERE g > 0 * c.id"
                "), now() FROM chamados c WHERE c.id <> :real"
            ),
            {"w": VOCABULARY, "real": real.id},
        )
        s.execute(
            text(
                'INSERT INTO human_tasks (chamado_id, task_guid, task_name, title, "group", '
                "state, created_at) "
                "SELECT c.id, md5(c.id::text), 'analisar_chamado', 'Analisar chamado', "
                "CASE WHEN c.id % 10 = 0 THEN 'equipe-tecnica' ELSE 'analyst' END, "
                "'completed', c.created_at FROM chamados c WHERE c.id <> :real"
            ),
            {"real": real.id},
        )
    with svc.unit.db.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return {
        "protocolo": real.protocolo,
        "CPF": "390.533.447-05",
        "NUP": "23037.001462/2021-65",
        "palavra rara": f"palavra{VOCABULARY - 7}",
        "palavra comum": "palavra1",
        "duas palavras": "palavra2 palavra5",
        "prefixo": "palavra299",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="10 000 e 100 000; 7 pedidos")
    parser.add_argument("--profile", action="store_true", help="(sem efeito aqui)")
    args = parser.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    requests = 7 if args.quick else args.requests
    title(f"7. Busca de chamados no PostgreSQL: {' vs '.join(fmt(n) for n in sizes)} chamados")
    why = common.postgres_available()
    if why:
        note(f"PostgreSQL indisponível ({why}): nada medido.")
        return {"verdicts": []}
    with common.workdir("search") as work:
        dbs = [common.TempDatabase("postgresql", work) for _ in sizes]
        for db in dbs:
            db.__enter__()
        try:
            services, queries = [], {}
            for size, db in zip(sizes, dbs, strict=True):
                t0 = time.monotonic()
                svc = common.make_service(db.url, work / f"i{size}")
                queries = _load(svc, size)
                sofia = common.add_person(svc, "86288366757", "Sofia", "supervisor")
                ana = common.add_person(svc, common.ANA, "Ana", "analyst")
                services.append((svc, {"supervisor": sofia.actor, "analista": ana.actor}))
                note(f"{fmt(size)} chamados carregados em {time.monotonic() - t0:.0f} s")
            timings: dict[tuple[str, str, int], list[float]] = {}
            hits: dict[tuple[str, str, int], int] = {}
            for _ in range(requests):
                for label, q in queries.items():
                    for who in ("supervisor", "analista"):
                        for size, (svc, actors) in zip(sizes, services, strict=True):
                            t0 = time.perf_counter()
                            found = svc.search.tickets(actors[who], q)
                            elapsed = (time.perf_counter() - t0) * 1000
                            timings.setdefault((label, who, size), []).append(elapsed)
                            hits[(label, who, size)] = len(found.items)
            rows, worst = [], 0.0
            for label in queries:
                for who in ("supervisor", "analista"):
                    small = median(timings[(label, who, sizes[0])])
                    big = median(timings[(label, who, sizes[-1])])
                    worst = max(worst, big)
                    rows.append(
                        [f"{label} ({who})", small, big, big / small, hits[(label, who, sizes[-1])]]
                    )
            table(
                ["busca", f"ms a {fmt(sizes[0])}", f"ms a {fmt(sizes[-1])}", "razão", "achados"],
                rows,
            )
            met = verdict(
                worst < TARGET_MS,
                f"toda busca abaixo de {TARGET_MS:.0f} ms com {fmt(sizes[-1])} chamados",
                f"a mais lenta levou {worst:.1f} ms",
            )
            for svc, _actors in services:
                svc.unit.dispose()
        finally:
            for db in dbs:
                db.__exit__(None, None, None)
    result = {"verdict": met, "worst_ms": worst, "sizes": sizes}
    common.save_results("search", result)
    return result


if __name__ == "__main__":
    main()

"""10. Painel at scale: every figure with 10,000 and with 1,000,000 tickets on PostgreSQL
(issue #12: within 1.5× of its time at 10,000).

One database per size, both holding the same last 100 days: 10,000 tickets, 100 a day
(órgãos, services, problem types and two processes mixed; one analysis task each,
claimed minutes to a day after the ticket was sent — the ticket's ``first_analysis_at``,
written with its row, as a live claim keeps it; most closed, a few overdue, the last
month's ninth ones still open; satisfaction answered on a third of the closed). The
million adds 990,000 older tickets — a platform that has run for years, its history all
closed and answered: the month before the common 100 days at the same pace (a pace
changes over months, not overnight), then a thousand a day over the 987 days before.
That month matters: a ticket sent before a period and closed (and answered) inside it
counts in the period's times to result, adjustment rounds and satisfaction, so the days
just before the 100 days decide how many of them the 100-day view reads; at a thousand a
day right up to the 100 days, as this loader had it until 2026-12-06, the million's
100-day view read 18 % more closed tickets and 20 % more answers than the 10,000's (the
table's last columns show how many each size reads). Rows go in in the order the
tickets were created, as production inserts them (ids and heap pages follow time).
Everything is generated inside PostgreSQL (generate_series), then VACUUM ANALYZE, as
autovacuum would (so its run after a million inserts does not share the measured minutes).

Each view runs through the use case (``svc.dashboard.panel``: the page, the API and the
CSV export all read it) as an admin (every process) and as a supervisor (the processes of
their groups), the two sizes alternately; figures are medians in milliseconds. The views
under the target read a period inside the common 100 days, as the page's default (the
last 30 days) does. One more line, outside the target and measured after the others
(its pages would push theirs out of the cache), reads a whole year: there the million's
database holds 274,000 tickets of the period against 10,000 — the work follows the
tickets of the period, which is the design (engine/dashboard.py's docstring).

    python -m bench.dashboard_scale [--sizes 10000,1000000] [--requests 15] [--keep]
    python -m bench.dashboard_scale --drop      # the databases --keep left

With ``--keep`` the databases stay after the run, one per size
(``chamados_bench_dashboard_<size>``), and the next run with ``--keep`` measures them
again without loading them (the million's load takes minutes): their "now" is the
load's, so reuse them within the hour. ``--drop`` drops them.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from bench import common
from bench.common import fmt, median, note, table, title, verdict

TARGET_RATIO = 1.5
RECENT = 10_000  # tickets of the last 100 days, in every database
RECENT_DAYS = 100
# The older tickets of the million: the month before the 100 days at their pace (100 a
# day, one every 864 s; longer than any loaded ticket stays open, 4.6 days), then
# OLD_PER_DAY a day.
SAME_PACE = 3000
OLD_PER_DAY = 1000
CATEGORIES = ("erro", "erro_integracao", "erro_api", "erro_roteamento", "lentidao", "outros")


def _load(svc: Any, total: int) -> dict[str, Any]:
    """Fill the database up to ``total`` tickets; returns what the views filter on."""
    from sqlalchemy import select, text

    from engine.models import Orgao, ProcessVersion

    with svc.unit.transaction() as s:
        versions = dict(
            s.execute(
                select(ProcessVersion.process_id, ProcessVersion.id).where(
                    ProcessVersion.published_at.is_not(None)
                )
            ).all()
        )
        orgaos = list(s.scalars(select(Orgao.id).order_by(Orgao.id).limit(50)))
        s.execute(
            text(
                "INSERT INTO users (cpf, kind, name, created_at) "
                "SELECT '7' || lpad(i::text, 10, '0'), 'pessoa', 'Pessoa ' || i, now() "
                "FROM generate_series(1, 1000) AS i"
            )
        )
        first_user = s.execute(text("SELECT min(id) FROM users WHERE cpf LIKE '7%'")).scalar()
        old = total - RECENT
        # i = 1 … RECENT: the last 100 days, one every 864 s; then the older ones, at
        # the same pace over SAME_PACE, one every 86.4 s before that. "age" is how long
        # ago the ticket was sent. Inserted oldest first (ORDER BY i DESC), as production
        # inserts them; what varies per ticket follows i, not the id, so a ticket of the
        # common 100 days is the same in every database.
        s.execute(
            text(
                "INSERT INTO chamados (protocolo, requester_id, process_version_id, status, "
                "status_label, version, workflow_state, orgao_id, categoria, servico, "
                "adjustment_rounds, analysis_seconds, overdue, created_at, submitted_at, "
                "updated_at, closed_at, first_analysis_at) "
                "SELECT 'CH-2020-' || lpad(i::text, 7, '0'), :u + (i % 1000), "
                "CASE WHEN i % 10 = 0 THEN :pedido ELSE :chamado END, "
                "CASE WHEN closed THEN 'resolvido' ELSE 'em_analise' END, "
                "CASE WHEN closed THEN 'Resolvido' ELSE 'Em análise' END, 1, '', "
                "(CAST(:orgaos AS integer[]))[1 + i % :n_orgaos], "
                "(CAST(:categorias AS text[]))[1 + i % 6], "
                "'Serviço ' || (i % 40), (i % 11) / 8, 0, i % 13 = 0, "
                "now() - age - interval '10 minutes', now() - age, now(), "
                "CASE WHEN closed THEN LEAST(now(), now() - age "
                "  + ((i::bigint * 7919) % 400000 + 600) * interval '1 second') END, "
                "now() - age + ((i::bigint * 104729) % 86400) * interval '1 second' "
                "FROM ("
                "  SELECT i, CASE WHEN i <= :steady THEN i * interval '864 seconds' "
                "    ELSE :steady * interval '864 seconds' "
                "      + (i - :steady) * (interval '1 day' / :per_day) END AS age,"
                "    (i % 9 <> 0 OR i > 3000) AS closed "
                "  FROM generate_series(1, :total) AS i"
                ") AS g ORDER BY i DESC"
            ),
            {
                "u": first_user,
                "pedido": versions["pedido_automacao"],
                "chamado": versions["chamado"],
                "orgaos": orgaos,
                "n_orgaos": len(orgaos),
                "categorias": list(CATEGORIES),
                "steady": RECENT + SAME_PACE,
                "per_day": OLD_PER_DAY,
                "total": RECENT + old,
            },
        )
        s.execute(
            text(
                'INSERT INTO human_tasks (chamado_id, task_guid, task_name, title, "group", '
                "state, created_at, claimed_at, completed_at) "
                "SELECT c.id, md5(c.id::text), 'analisar', 'Analisar', "
                "CASE WHEN c.process_version_id = :pedido THEN 'supervisao' ELSE 'analyst' END, "
                "CASE WHEN c.closed_at IS NULL THEN 'ready' ELSE 'completed' END, "
                "c.submitted_at, "
                "c.first_analysis_at, "
                "c.closed_at FROM chamados c ORDER BY c.id"
            ),
            {"pedido": versions["pedido_automacao"]},
        )
        s.execute(
            text(
                "INSERT INTO satisfaction_surveys (chamado_id, token_hash, created_at, rating, "
                "comment, answered_at, changed_at, channel) "
                "SELECT c.id, md5(c.id::text) || md5('s' || c.id::text), c.closed_at, "
                "1 + c.i % 5, CASE WHEN c.i % 6 = 0 THEN 'Comentário' END, "
                "c.closed_at + interval '1 hour', c.closed_at + interval '1 hour', 'email' "
                "FROM (SELECT id, closed_at, CAST(right(protocolo, 7) AS integer) AS i "
                "  FROM chamados WHERE closed_at IS NOT NULL) AS c "
                "WHERE c.i % 3 = 0 ORDER BY c.closed_at"
            )
        )
    with svc.unit.db.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return _values(svc)


def _values(svc: Any) -> dict[str, Any]:
    """What the filtered views choose: the fourth órgão the loader spreads tickets over."""
    from sqlalchemy import select

    from engine.models import Orgao

    with svc.unit.reading() as s:
        orgaos = list(s.scalars(select(Orgao.id).order_by(Orgao.id).limit(50)))
    return {"orgao": orgaos[3], "servico": "Serviço 7", "processo": "chamado"}


def _loaded(svc: Any) -> int:
    from sqlalchemy import func, select

    from engine.models import Chamado

    with svc.unit.reading() as s:
        return int(s.scalar(select(func.count()).select_from(Chamado)) or 0)


def _kept_name(size: int) -> str:
    return f"chamados_bench_dashboard_{size}"


class _Statements:
    """Times every statement a panel runs (SQLAlchemy's cursor events), keyed by its
    position in the panel's sequence: the same view runs the same statements in the same
    order at every size, so position i at 10,000 and at a million is the same query."""

    def __init__(self) -> None:
        self.current: list[tuple[str, Any, float]] | None = None
        self.samples: dict[tuple[str, str, int, int], list[float]] = {}
        self.sql: dict[tuple[str, str, int, int], tuple[str, Any]] = {}

    def attach(self, engine: Any) -> None:
        from sqlalchemy import event

        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.current is not None:
            elapsed = (time.perf_counter() - conn.info.pop("bench_t0")) * 1000
            self.current.append((statement, params, elapsed))

    def record(self, label: str, who: str, size: int, ran: list[tuple[str, Any, float]]) -> None:
        for n, (statement, params, elapsed) in enumerate(ran):
            self.samples.setdefault((label, who, size, n), []).append(elapsed)
            self.sql[(label, who, size, n)] = (statement, params)


def _short(statement: str) -> str:
    """A statement in a table cell: what it selects from, and how it groups."""
    flat = " ".join(statement.split())
    found = flat[flat.find(" FROM ") + 6 :][:70] if " FROM " in flat else flat[:70]
    return found


def _explain(services: list[Any], sizes: list[int], stmts: _Statements, label: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement of one view, with its real values,
    at every size: where the time of the big database goes."""
    from sqlalchemy import text

    for who in ("admin", "supervisora"):
        n = 0
        while (label, who, sizes[0], n) in stmts.sql:
            for size, (svc, _actors) in zip(sizes, services, strict=True):
                statement, params = stmts.sql[(label, who, size, n)]
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                with svc.unit.db.connect() as conn:
                    conn.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
                    plan = conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
                    ).scalars()
                    print(f"  --- {label} ({who}) #{n} @{fmt(size)}: {_short(statement)}")
                    for line in plan:
                        print("    " + line)
                    conn.execute(text("RESET plan_cache_mode"))
            n += 1


def _breakdown(stmts: _Statements, sizes: list[int], labels: list[str]) -> None:
    """Per view and person, each statement's median at both sizes (what the cursor took,
    the rows fetched included)."""
    for label in labels:
        for who in ("admin", "supervisora"):
            rows, n = [], 0
            while (label, who, sizes[0], n) in stmts.samples:
                small = median(stmts.samples[(label, who, sizes[0], n)])
                big = median(stmts.samples.get((label, who, sizes[-1], n), []))
                statement = stmts.sql[(label, who, sizes[0], n)][0]
                rows.append([f"#{n} {_short(statement)}", small, big, big - small])
                n += 1
            print(f"\n  {label} ({who}), por consulta:")
            heads = ["consulta", f"ms a {fmt(sizes[0])}", f"ms a {fmt(sizes[-1])}", "diferença"]
            table(heads, rows)


def _staff(svc: Any) -> dict[str, Any]:
    carlos = common.add_person(svc, "52998224725", "Carlos", "admin")
    sofia = common.add_person(svc, "71460238001", "Sofia", "supervisor")
    return {"admin": carlos.actor, "supervisora": sofia.actor}


def _views(today: Any, values: dict[str, Any]) -> dict[str, dict[str, str]]:
    last30 = {"de": (today - timedelta(days=29)).isoformat(), "ate": today.isoformat()}
    return {
        "30 dias por dia (padrão)": dict(last30),
        "100 dias por semana": {
            "de": (today - timedelta(days=99)).isoformat(),
            "ate": today.isoformat(),
            "agrupamento": "semana",
        },
        "30 dias, um órgão": {**last30, "orgao": str(values["orgao"])},
        "30 dias, um serviço": {**last30, "servico": values["servico"]},
        "30 dias, um processo": {**last30, "processo": values["processo"]},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="10 000 e 100 000; 5 pedidos")
    parser.add_argument("--profile", action="store_true", help="(sem efeito aqui)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="mantém os bancos ao fim (chamados_bench_dashboard_<tamanho>) e os reusa, "
        "sem carregar de novo, se já existirem",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="mediana de cada consulta de cada visão, nos dois tamanhos",
    )
    parser.add_argument(
        "--explain",
        metavar="VISÃO",
        default="",
        help="EXPLAIN (ANALYZE, BUFFERS) de cada consulta dessa visão (por exemplo, "
        "'100 dias por semana'), com os valores reais, nos dois tamanhos",
    )
    parser.add_argument(
        "--drop", action="store_true", help="apaga os bancos que --keep manteve e sai"
    )
    args = parser.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    if args.drop:
        for size in sizes:
            common.drop_postgres_database(_kept_name(size))
        note(f"bancos apagados: {', '.join(_kept_name(n) for n in sizes)}")
        return {"verdicts": []}
    requests = 5 if args.quick else args.requests
    title(f"10. Painel no PostgreSQL: {' vs '.join(fmt(n) for n in sizes)} chamados")
    why = common.postgres_available()
    if why:
        note(f"PostgreSQL indisponível ({why}): nada medido.")
        return {"verdicts": []}
    if min(sizes) < RECENT:
        raise SystemExit(f"cada tamanho precisa de ao menos {RECENT} chamados")
    from engine import dashboard

    with common.workdir("dashboard") as work:
        dbs = [
            common.TempDatabase("postgresql", work, keep_as=_kept_name(n) if args.keep else None)
            for n in sizes
        ]
        for db in dbs:
            db.__enter__()
        try:
            services, values = [], {}
            for size, db in zip(sizes, dbs, strict=True):
                t0 = time.monotonic()
                svc = common.make_service(db.url, work / f"i{size}")
                if db.reused and _loaded(svc) == size:
                    values = _values(svc)
                    note(f"{fmt(size)} chamados: banco {_kept_name(size)} reusado")
                    services.append((svc, _staff(svc)))
                    continue
                if db.reused:  # a load that did not finish: start over
                    raise SystemExit(
                        f"{_kept_name(size)} está incompleto: rode com --drop e de novo"
                    )
                values = _load(svc, size)
                services.append((svc, _staff(svc)))
                note(f"{fmt(size)} chamados carregados em {time.monotonic() - t0:.0f} s")
            today = dashboard.local_day(services[0][0].clock())
            views = _views(today, values)
            year = {"de": (today - timedelta(days=364)).isoformat(), "ate": today.isoformat()}
            timings: dict[tuple[str, str, int], list[float]] = {}
            opened: dict[tuple[str, str, int], tuple[str, str, str]] = {}
            stmts = _Statements()
            for svc, _actors in services:
                stmts.attach(svc.unit.db)

            def measure(chosen: dict[str, dict[str, str]], rounds: int) -> None:
                for _ in range(rounds):
                    for label, raw in chosen.items():
                        for who in ("admin", "supervisora"):
                            for size, (svc, actors) in zip(sizes, services, strict=True):
                                stmts.current = []
                                t0 = time.perf_counter()
                                filters = svc.dashboard.filters(actors[who], raw)
                                panel = svc.dashboard.panel(actors[who], filters)
                                elapsed = (time.perf_counter() - t0) * 1000
                                timings.setdefault((label, who, size), []).append(elapsed)
                                stmts.record(label, who, size, stmts.current)
                                stmts.current = None
                                # What the view read: sent, closed and answered in
                                # the period (the same at both sizes, or the ratio
                                # compares different work).
                                opened[(label, who, size)] = (
                                    panel.metric("abertos").summary[0][1],
                                    panel.metric("ajustes").summary[0][1],
                                    panel.metric("satisfacao").summary[0][1],
                                )

            # One unmeasured round: each process parses its models once, each database
            # reads the period's pages into its cache once.
            measure(views, 1)
            timings.clear()
            stmts.samples.clear()
            measure(views, requests)
            # The year last, on its own: its quarter of a million tickets would push
            # the other views' pages out of PostgreSQL's cache (128 MB here) between them.
            measure({"um ano (fora da meta)": year}, max(3, requests // 3))
            measured = {**views, "um ano (fora da meta)": year}
            rows, worst = [], 0.0
            for label in measured:
                for who in ("admin", "supervisora"):
                    small = median(timings[(label, who, sizes[0])])
                    big = median(timings[(label, who, sizes[-1])])
                    ratio = big / small
                    if label in views:
                        worst = max(worst, ratio)
                    rows.append(
                        [
                            f"{label} ({who})",
                            small,
                            big,
                            ratio,
                            *(
                                f"{opened[(label, who, sizes[0])][k]} / "
                                f"{opened[(label, who, sizes[-1])][k]}"
                                for k in range(3)
                            ),
                        ]
                    )
            table(
                [
                    "visão",
                    f"ms a {fmt(sizes[0])}",
                    f"ms a {fmt(sizes[-1])}",
                    "razão",
                    "abertos no período",
                    "concluídos",
                    "respostas",
                ],
                rows,
            )
            if args.statements:
                _breakdown(stmts, sizes, list(measured))
            if args.explain:
                _explain(services, sizes, stmts, args.explain)
            met = verdict(
                worst <= TARGET_RATIO,
                f"todo indicador a {fmt(sizes[-1])} em até {TARGET_RATIO}× do tempo a "
                f"{fmt(sizes[0])}",
                f"a pior razão foi {worst:.2f}×",
            )
            for svc, _actors in services:
                svc.unit.dispose()
        finally:
            for db in dbs:
                db.__exit__(None, None, None)
    result = {
        "verdict": met,
        "worst_ratio": worst,
        "sizes": sizes,
        "medians_ms": {
            f"{label} ({who}) @{size}": median(samples)
            for (label, who, size), samples in timings.items()
        },
    }
    common.save_results("dashboard", result)
    return result


if __name__ == "__main__":
    main()

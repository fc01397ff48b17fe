"""CPU of one queue call in process: GET /api/v1/queue?view=disponiveis through Flask's
test client on SQLite (1,000 tickets, as bench.queue_scale loads them), and the share of
it spent in the queue use case (statements built, bound, run, rows loaded).

    python -m bench.queue_cpu [--calls 400] [--rounds 5]

Prints the median over rounds of the CPU milliseconds per call (time.process_time).
Run it on two checkouts to compare them (the figures are this process's, not a server's).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import common
from bench.common import median, note, table, title


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--path", default="/api/v1/queue?view=disponiveis")
    args = parser.parse_args(argv)
    from bench.queue_scale import bulk_load

    title(f"CPU em processo de GET {args.path} (SQLite, {args.tickets} chamados)")
    with common.workdir("queue-cpu") as wd, common.TempDatabase("sqlite", wd) as db:
        svc = common.make_service(db.url, wd)
        ana = common.add_person(svc, common.ANA, "Ana Souza", "analyst")
        bulk_load(svc, args.tickets, [ana.id])
        svc.unit.db.dispose()
        with common.inprocess_app(db.url, wd) as app:
            client = app.test_client()
            headers = {"Authorization": f"Bearer {ana.token}"}
            analysis = app.extensions["chamados"].analysis
            queue = analysis.queue
            spent = [0.0]

            def timed(*a: Any, **k: Any) -> Any:
                t0 = time.process_time()
                try:
                    return queue(*a, **k)
                finally:
                    spent[0] += time.process_time() - t0

            analysis.queue = timed
            for _ in range(50):
                assert client.get(args.path, headers=headers).status_code == 200
            per_call, in_queue = [], []
            for _ in range(args.rounds):
                spent[0] = 0.0
                t0 = time.process_time()
                for _ in range(args.calls):
                    client.get(args.path, headers=headers)
                per_call.append((time.process_time() - t0) * 1000 / args.calls)
                in_queue.append(spent[0] * 1000 / args.calls)
    result = {"cpu_ms_per_call": median(per_call), "cpu_ms_in_queue_use_case": median(in_queue)}
    table(
        ["medida", "ms de CPU por chamada"],
        [
            ("pedido inteiro (Flask, autenticação, JSON, caso de uso)", result["cpu_ms_per_call"]),
            ("dentro de svc.analysis.queue", result["cpu_ms_in_queue_use_case"]),
        ],
    )
    note(f"mediana de {args.rounds} rodadas de {args.calls} chamadas")
    return result


if __name__ == "__main__":
    main()

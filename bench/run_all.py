"""All the benchmarks, in order (``make bench``). Each prints its table and a verdict line
per target; the figures go to bench/results/latest.json.

    python -m bench.run_all            # the full run: about an hour on 2 cores
    python -m bench.run_all --quick    # shortened counts: about 14 minutes
    python -m bench.run_all --only engine,queue,history --profile

The full run's counts (issue #16's targets need the million-ticket queue and the
five-minute burst levels, the two longest parts):
  1. engine: 200 lifecycles of each kind, interleaved (~1 min); then the same lifecycle's
     instructions against the bare engine's, counted by callgrind (~4 min; quick: ~2);
  2. HTTP: 240 measured lifecycles per database, 2 clients, 3 rounds (~3–4 min);
  3. queue: every analyst call with 1,000 and 1,000,000 tickets on PostgreSQL (loaded in
     the database, ~3–4 min) and 1,000 and 100,000 on SQLite, 25 / 20 requests per call
     (~10 min; --quick: 100,000 and 10,000);
  4. memory: 10,000 lifecycles against one worker, capped at 15 minutes — when the
     machine is too busy to get there, the output says how many were done;
  5. requester history: every call of a requester with 10 and of one with 10,000 past
     tickets, both databases (~2 min).
  6. bounds: the worst requests a requester can send vs a normal submit, 15 rounds (~20 s).
  7. mail: a backlog of 3,200 receipts, then 3,200 a minute for 90 s, through a real
     scheduler to an aiosmtpd sink, both databases (~4 min; quick: 1,600 and 30 s).
  8. two tasks: a start → A → B → end model over the REST API vs bare SpiffWorkflow, one
     worker, both databases, 300 instances each (~1 min; quick: 100); then the same
     instance's instructions in process against the floor's, counted by callgrind, which
     this machine's noise does not move (~3 min; `python -m bench.instructions --base REV`
     compares two commits).
  9. search: staff search with 10,000 and 1,000,000 tickets on PostgreSQL, 15 requests
     per query (~4 min, most of it loading the million; --quick: 100,000).
  10. dashboard: the Painel with 10,000 and 1,000,000 tickets on PostgreSQL, 15 requests
     per view (~6 min, most of it loading the million; --quick: 100,000).
  11. burst: requesters arriving at 2,000 / 8,000 / 16,000 / 32,000 per 5 minutes (open
     loop) with 20 analysts working the queue, ``chamados serve`` + PostgreSQL + a
     scheduler, 5 min per level (~22 min; --quick: 2,000 and 16,000, 30 s each, ~2 min).
Benchmarks print verdicts; they never fail on a missed target (exit 1 only on errors).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import traceback
from datetime import datetime
from typing import Any

from bench import (
    bounds,
    burst,
    common,
    dashboard_scale,
    engine_overhead,
    http_lifecycle,
    instructions,
    mail_burst,
    memory,
    queue_scale,
    requester_history,
    search_scale,
    two_tasks,
)

ORDER = (
    "engine",
    "engine_instructions",
    "http",
    "two_tasks",
    "instructions",
    "queue",
    "memory",
    "history",
    "bounds",
    "mail",
    "search",
    "dashboard",
    "burst",
)

# Issue #16's targets and the benchmarks that judge each.
ISSUE_16 = (
    ("1. instância de duas tarefas ≤ 13 ms de CPU e ≤ 8× o piso", ("two_tasks",)),
    ("2. ciclo pelos casos de uso ≤ 1,5× o motor puro; pela API ≤ 20 ms", ("engine", "http")),
    ("3. plano com histórico: cada chamada ≤ 1,2×", ("queue", "history")),
    ("4. rajada de 32.000 em 5 min, p95 ≤ 300 ms, sem erros", ("burst",)),
    ("5. e-mail acompanha a rajada", ("mail",)),
)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() + ("+alterações locais" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="contagens reduzidas (~5 min)")
    parser.add_argument("--only", default=",".join(ORDER), help=",".join(ORDER))
    parser.add_argument(
        "--profile", action="store_true", help="perfil mesmo se a meta for atingida"
    )
    parser.add_argument(
        "--memory-lifecycles", type=int, default=10_000, help="ciclos do teste de memória"
    )
    args = parser.parse_args(argv)
    chosen = [name for name in ORDER if name in {s.strip() for s in args.only.split(",")}]

    started = time.monotonic()
    when = datetime.now().astimezone()
    info = common.machine()
    common.title("Chamados — benchmarks")
    common.note(f"data: {when:%Y-%m-%d %H:%M %Z}; commit {_git_commit()}")
    common.note(f"máquina: {info['cpus']} núcleos ({info['cpu_model']}), Python {info['python']}")
    common.note(
        "máquina ruidosa: compare as razões medidas lado a lado nesta execução, não os absolutos."
    )
    if common.RESULTS.exists():
        common.RESULTS.unlink()  # this run's figures only
    quick = ["--quick"] if args.quick else []
    prof = ["--profile"] if args.profile else []
    m = args.memory_lifecycles
    runs: dict[str, Any] = {
        "engine": lambda: engine_overhead.main([*quick, *prof]),
        "http": lambda: http_lifecycle.main(
            [*quick, *prof] if args.quick else ["--lifecycles", "240", *prof]
        ),
        "queue": lambda: queue_scale.main(
            [*quick, *prof] if args.quick else ["--requests", "20", *prof]
        ),
        "history": lambda: requester_history.main([*quick, *prof]),
        "memory": lambda: memory.main(
            [*quick, *prof]
            if args.quick
            else [
                "--checkpoints",
                ",".join(str(c) for c in sorted({min(c, m) for c in (1000, 2500, 5000, m)})),
                "--time-budget",
                "900",
                *prof,
            ]
        ),
        "bounds": lambda: bounds.main(quick),
        "mail": lambda: mail_burst.main(quick),
        "two_tasks": lambda: two_tasks.main(quick),
        "instructions": lambda: instructions.main(["--instances", "10" if args.quick else "20"]),
        "engine_instructions": lambda: instructions.main(
            ["--flow", "chamado", "--instances", "5" if args.quick else "10"]
        ),
        "search": lambda: search_scale.main(quick),
        "dashboard": lambda: dashboard_scale.main(quick),
        "burst": lambda: burst.main(quick),
    }
    failures: list[str] = []
    results: dict[str, Any] = {}
    for name in chosen:
        t0 = time.monotonic()
        try:
            results[name] = runs[name]()
        except Exception:  # noqa: BLE001 - one benchmark's crash must not hide the others
            failures.append(name)
            print(f"\n  ERRO em {name}:", flush=True)
            traceback.print_exc()
        common.note(f"({name}: {(time.monotonic() - t0) / 60:.1f} min)")

    common.title("Resumo")
    lines = []
    for name in chosen:
        r = results.get(name)
        if r is None:
            lines.append(f"{name}: ERRO (veja acima)")
            continue
        for v in [r["verdict"]] if "verdict" in r else r.get("verdicts", []):
            lines.append(v["line"])
        if r.get("shortened"):
            lines.append(r["shortened"])
    for line in lines:
        print(f"  {line}")
    print("\n  Issue #16, por meta (atingida só se todas as linhas dos seus benchmarks o forem):")
    for target, names in ISSUE_16:
        ran = [name for name in names if name in results]
        if not ran:
            continue
        verdicts = [
            v
            for name in ran
            for v in (
                [results[name]["verdict"]]
                if "verdict" in results[name]
                else results[name].get("verdicts", [])
            )
        ]
        met = bool(verdicts) and all(v["met"] for v in verdicts)
        print(f"  {'ATINGIDA' if met else 'NÃO ATINGIDA'}: {target} ({', '.join(ran)})")
    total = (time.monotonic() - started) / 60
    where = common.RESULTS.relative_to(common.ROOT)
    common.note(f"duração total: {total:.1f} min; números em {where}")
    common.save_results(
        "run",
        {
            "started_at": when.isoformat(timespec="seconds"),
            "commit": _git_commit(),
            "args": sys.argv[1:] if argv is None else argv,
            "minutes": total,
            "summary": lines,
            "errors": failures,
        },
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""4. Memory: RSS of a server worker over 10,000 full lifecycles over the REST API.

One server worker (``chamados serve --workers 1``) on SQLite; ``--clients`` concurrent
clients keep it busy with the lifecycle of bench.common.api_lifecycle. The worker's
VmRSS (/proc/<pid>/status) is read after the warm-up and at each checkpoint (1,000,
2,500, 5,000, 10,000 lifecycles by default); the worker's pid is checked to be the same
throughout (the server never recycled it).

Targets: RSS under 150 MB at the end, and not growing: at most 5 % more between the
second checkpoint and the last one. The run stops at its time budget: when that cuts it
short, the output and the JSON say how many lifecycles were actually done.

    python -m bench.memory [--lifecycles 10000] [--checkpoints 1000,2500,5000,10000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench import common
from bench.common import fmt, note, table, title, verdict

TARGET_RSS_MB = 150.0
TARGET_GROWTH = 0.05


def vm(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def leak_profile(lifecycles: int) -> dict[str, Any]:
    """tracemalloc in-process (Flask test client, SQLite): what grew between two snapshots."""
    with common.workdir("memory-profile") as wd, common.TempDatabase("sqlite", wd) as db:
        svc = common.make_service(db.url, wd)
        maria = common.add_person(svc, common.MARIA, "Maria")
        ana = common.add_person(svc, common.ANA, "Ana", "analyst")
        svc.unit.db.dispose()
        with common.inprocess_app(db.url, wd) as app:
            api = common.ApiClient(transport=common.flask_transport(app.test_client()))
            for _ in range(30):
                common.api_lifecycle(api, maria, ana)
            tracemalloc.start(8)
            first = tracemalloc.take_snapshot()
            for _ in range(lifecycles):
                common.api_lifecycle(api, maria, ana)
                api.latencies.clear()
            second = tracemalloc.take_snapshot()
            tracemalloc.stop()
    diff = second.compare_to(first, "traceback")[:12]
    note(f"tracemalloc: o que cresceu em {lifecycles} ciclos em processo (top 12):")
    rows, out = [], []
    for stat in diff:
        frames = [
            f"{f.filename.split('site-packages/')[-1].split('/main/')[-1]}:{f.lineno}"
            for f in stat.traceback
        ]
        rows.append((frames[-1][:70], stat.size_diff / 1024, stat.count_diff))
        out.append({"traceback": frames, "kb": stat.size_diff / 1024, "blocks": stat.count_diff})
    table(["alocado em (quadro mais interno)", "KB a mais", "blocos a mais"], rows)
    return {"lifecycles": lifecycles, "top": out}


def run(
    checkpoints: list[int],
    clients: int,
    kind: str,
    warmup: int,
    profile: bool,
    time_budget: float,
) -> dict[str, Any]:
    target = checkpoints[-1]
    title(f"4. Memória: RSS de um worker do servidor ao longo de {fmt(target)} ciclos")
    result: dict[str, Any] = {"backend": kind, "clients": clients, "requested": target}
    with common.workdir("memory") as wd, common.TempDatabase(kind, wd) as db:
        svc = common.make_service(db.url, wd)
        people = common.client_pairs(svc, clients, 500_000)
        svc.unit.db.dispose()
        with common.Server(db.url, wd, workers=1) as server:
            (pid,) = server.worker_pids()
            boot_rss = common.rss_mb(pid)
            warm = common.drive_lifecycles(
                server.port, people, max(1, warmup // clients), time.monotonic() + 120
            )
            if warm.errors:
                raise RuntimeError(f"erro no aquecimento: {warm.errors[0]}\n{server.tail()}")
            rows = [("aquecimento", warm.done, common.rss_mb(pid), "", "", "")]
            points = [{"lifecycles": 0, "rss_mb": common.rss_mb(pid)}]
            done, errors = 0, []
            deadline = time.monotonic() + time_budget
            started = time.perf_counter()
            for checkpoint in checkpoints:
                need = checkpoint - done
                if need <= 0:
                    continue
                cpu0 = common.cpu_seconds(pid)
                r = common.drive_lifecycles(server.port, people, -(-need // clients), deadline)
                done += r.done
                errors += r.errors
                if server.worker_pids() != [pid]:
                    raise RuntimeError("o worker foi reiniciado durante a medida")
                rss = common.rss_mb(pid)
                cpu_ms = (common.cpu_seconds(pid) - cpu0) * 1000 / max(1, r.done)
                points.append(
                    {
                        "lifecycles": done,
                        "rss_mb": rss,
                        "hwm_mb": vm(pid, "VmHWM"),
                        "lifecycles_per_s": r.done / r.wall if r.wall else 0.0,
                        "cpu_ms_per_lifecycle": cpu_ms,
                    }
                )
                rows.append(
                    (
                        fmt(done),
                        r.done,
                        rss,
                        rss - points[-2]["rss_mb"],
                        r.done / r.wall if r.wall else 0.0,
                        cpu_ms,
                    )
                )
                if errors or time.monotonic() > deadline:
                    break
            elapsed = time.perf_counter() - started
            note(
                f"{kind}, 1 worker, {clients} clientes; RSS logo após iniciar: {boot_rss:.1f} MB; "
                f"{fmt(done)} ciclos em {elapsed / 60:.1f} min."
            )
            table(
                ["após ciclos", "ciclos no trecho", "RSS MB", "Δ MB", "ciclos/s", "CPU ms/ciclo"],
                rows,
            )
    result.update(
        {
            "done": done,
            "elapsed_s": elapsed,
            "boot_rss_mb": boot_rss,
            "checkpoints": points,
            "errors": errors,
        }
    )
    short = done < target
    if short:
        msg = (
            f"ATENÇÃO: só {fmt(done)} dos {fmt(target)} ciclos pedidos couberam no orçamento de "
            f"{time_budget / 60:.0f} min"
            + (f" (erro: {errors[0]})" if errors else "")
            + "; os números valem para esses ciclos."
        )
        note(msg)
        result["shortened"] = msg
    final = points[-1]["rss_mb"]
    reference = points[2] if len(points) > 3 else None  # the 2nd checkpoint
    verdicts = [
        verdict(
            final < TARGET_RSS_MB and not errors,
            f"RSS do worker < {TARGET_RSS_MB:.0f} MB após {fmt(done)} ciclos "
            f"(medido: {final:.1f} MB)",
            "houve erros" if errors else f"{final - TARGET_RSS_MB:.1f} MB acima",
        )
    ]
    if reference is None:
        verdicts.append(
            verdict(False, "RSS não cresce", "ciclos insuficientes para comparar dois pontos")
        )
        growth = None
    else:
        growth = (final - reference["rss_mb"]) / reference["rss_mb"]
        verdicts.append(
            verdict(
                growth <= TARGET_GROWTH,
                f"RSS não cresce: ≤ {TARGET_GROWTH:.0%} entre {fmt(reference['lifecycles'])} e "
                f"{fmt(done)} ciclos (medido: {growth:+.1%}, "
                f"{final - reference['rss_mb']:+.1f} MB)",
                f"{(final - reference['rss_mb']) * 1000 / (done - reference['lifecycles']):.2f} "
                "MB por 1 000 ciclos",
            )
        )
    result["growth"] = growth
    result["verdicts"] = verdicts
    if profile or not all(v["met"] for v in verdicts):
        result["profile"] = leak_profile(300)
    common.save_results("memory", result)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="1000,2500,5000,10000")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--time-budget", type=float, default=780, help="segundos, no máximo")
    parser.add_argument("--quick", action="store_true", help="pontos 100, 250, 500")
    args = parser.parse_args(argv)
    if args.quick:
        args.checkpoints = "100,250,500"
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    return run(checkpoints, args.clients, args.backend, args.warmup, args.profile, args.time_budget)


if __name__ == "__main__":
    main()

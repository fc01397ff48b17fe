"""Instructions per two-task instance (valgrind's callgrind): this tree, ``--base`` and the floor.

CPU time on this machine moves by 10–25 % from one run to the next, and by up to 2× within
hours: more than most single changes save (bench/compare.py alternates rounds to cancel it,
and still needs many). callgrind counts the instructions the process runs, which do not
depend on what else the machine is doing: the same code gives the same count within a
fraction of a percent. It runs the program about 50× slower, so it measures in process:
the six API calls of bench/two_tasks.py through Flask's test client (server and test
client; no server, no sockets), on SQLite (or ``--backend postgresql``: this process's
instructions only — the driver's, not the server's, nor the kernel's socket work), and the
floor (bare SpiffWorkflow with JSON save/load, the same file).

``--flow chamado`` counts target 2's measure instead: the chamado's lifecycle through the
use cases (bench/engine_overhead.py: create, send, claim, adjustment, resend, claim,
resolve; SQLite) against its floor there (bare SpiffWorkflow, same model, JSON save/load).

Each count is the difference between a run of ``--instances`` + 2 instances and a run of 2
(start-up, migrations and warm-up cancel out), divided by ``--instances``. Runs go two at a
time (two cores); about 5 minutes with ``--base``.

    python -m bench.instructions [--base main~3] [--instances 20] [--backend postgresql]
                                 [--flow chamado]

Not a target's measure (target 1 is CPU time in the server's worker), but how a change is judged
when the machine is noisy: README "Desempenho" cites both.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common
from bench.common import note, table, title

WARM = 2
# Run in the measured tree (its own code): N instances of a flow after WARM, or its floor's.
# A --base tree is an older commit: the driver uses only what older trees have too, which
# is why the chamado's setup is written out here rather than taken from engine_overhead.
_DRIVER = """
import sys
from bench import common, two_tasks
kind, n, backend = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kind == "floor":
    floor = two_tasks.Floor()
    for _ in range(n):
        floor.instance()
    raise SystemExit(0)
if kind == "chamado-floor":
    from bench.engine_overhead import BareLifecycle
    bare = BareLifecycle()
    for _ in range(n):
        bare.run()
    raise SystemExit(0)
if kind == "chamado":
    from bench.engine_overhead import EngineLifecycle
    with common.workdir("instrucoes") as work, common.TempDatabase(backend, work) as db:
        svc = common.make_service(db.url, work)
        maria = common.add_person(svc, common.MARIA, "Maria da Silva")
        ana = common.add_person(svc, common.ANA, "Ana Souza", "analyst")
        lifecycle = EngineLifecycle(svc, maria, ana)
        for _ in range(n):
            lifecycle.run()
    raise SystemExit(0)
with common.workdir("instrucoes") as work, common.TempDatabase(backend, work) as db:
    svc = common.make_service(db.url, work)
    two_tasks.publish(svc, work)
    common.client_pairs(svc, 1, 200_000)
    svc.unit.db.dispose()
    with common.inprocess_app(db.url, work) as app:
        svc = app.extensions["chamados"]
        maria, ana = common.client_pairs(svc, 1, 300_000)[0]
        api = common.ApiClient(transport=common.flask_transport(app.test_client()))
        for _ in range(n):
            two_tasks.api_instance(api, maria, ana)
"""
_COLLECTED = re.compile(r"Collected : (\d+)")


def _count(tree: Path, kind: str, n: int, backend: str) -> int:
    """Instructions of one run of the driver in ``tree``."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            _DRIVER,
            kind,
            str(n),
            backend,
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind em {tree} ({kind}, {n}) falhou:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def _per_instance(
    tree: Path, kind: str, instances: int, pool: ThreadPoolExecutor, backend: str
) -> Any:
    few = pool.submit(_count, tree, kind, WARM, backend)
    many = pool.submit(_count, tree, kind, WARM + instances, backend)
    return lambda: (many.result() - few.result()) / instances


@dataclass(frozen=True)
class _Flow:
    kind: str  # the driver's kinds: the flow's own and its floor's
    floor_kind: str
    what: str  # per what, in the title and the table
    unit: str
    remark: str
    section: str  # in bench/results/latest.json


FLOWS = {
    "two_tasks": _Flow(
        "api",
        "floor",
        "instância de duas tarefas",
        "instância",
        "inclui o cliente de teste do Flask (o mesmo nas duas árvores), não o servidor HTTP.",
        "instructions",
    ),
    "chamado": _Flow(
        "chamado",
        "chamado-floor",
        "ciclo do chamado nos casos de uso",
        "ciclo",
        "conta também as 4 consultas da tarefa entre os passos (fora do tempo medido em "
        "engine_overhead); CPU e instruções não andam juntas: ver README, Desempenho.",
        "instructions_chamado",
    ),
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="commit de comparação (git rev)")
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument(
        "--flow",
        default="two_tasks",
        choices=tuple(FLOWS),
        help="two_tasks: a instância de duas tarefas pela API (meta 1); chamado: o ciclo do "
        "chamado nos casos de uso (meta 2)",
    )
    args = parser.parse_args(argv)
    flow = FLOWS[args.flow]
    database = "PostgreSQL: só o processo cliente" if args.backend == "postgresql" else "SQLite"
    title(f"Instruções por {flow.what} (callgrind, em processo, {database})")
    if shutil.which("valgrind") is None:
        note("valgrind não está instalado: nada medido.")
        return {"verdicts": [], "skipped": "valgrind"}
    here_rev = common.git("rev-parse", "--short", "HEAD")
    trees = {f"este ({here_rev})": common.ROOT}
    base_rev = common.git("rev-parse", "--short", args.base) if args.base else None
    with contextlib.ExitStack() as stack:
        if base_rev is not None:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chamados-")))
            trees[f"base ({base_rev})"] = stack.enter_context(
                common.worktree(base_rev, scratch / "tree-base")
            )
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = {
                name: _per_instance(tree, flow.kind, args.instances, pool, args.backend)
                for name, tree in trees.items()
            }
            floor_pending = _per_instance(
                common.ROOT, flow.floor_kind, args.instances, pool, "sqlite"
            )
            counts = {name: get() for name, get in pending.items()}
            floor = floor_pending()
    table(
        ["árvore", f"milhões de instruções/{flow.unit}", "× piso"],
        [[name, f"{c / 1e6:.2f}", f"{c / floor:.2f}×"] for name, c in counts.items()]
        + [["piso (SpiffWorkflow puro)", f"{floor / 1e6:.2f}", "1.00×"]],
    )
    result: dict[str, Any] = {
        "head": here_rev,
        "instances": args.instances,
        "backend": args.backend,
        "flow": args.flow,
        "instructions": counts,
        "floor": floor,
    }
    if base_rev is not None:
        here, base = counts[f"este ({here_rev})"], counts[f"base ({base_rev})"]
        note(f"este − base: {(here - base) / 1e6:+.2f} milhões ({(here - base) / base:+.1%})")
        result["base"] = base_rev
        result["difference"] = (here - base) / base
    note(flow.remark)
    common.save_results(flow.section, result)
    return {"verdicts": [], **result}


if __name__ == "__main__":
    main()

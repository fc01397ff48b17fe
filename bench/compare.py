"""Two commits side by side: the server CPU of one two-task instance (bench/two_tasks.py)
on this checkout and on ``--base``, in alternating rounds on the same machine.

On this noisy 2-core machine one benchmark run moves by ±15 % from the next, more than most
single changes save. Here both versions serve at the same time, each from its own tree,
database and server worker; rounds alternate (A B, B A, …), so both see the same load,
and the verdict is the median of the per-round differences, with their spread.

    python -m bench.compare --base main~3 [--rounds 10] [--per 40] [--backend sqlite]

The base is checked out with ``git worktree`` into a temporary folder (removed at the
end); each tree creates and migrates its own database with its own code, publishes the
model and makes its own people (a base older than bench/two_tasks.py cannot be compared).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import common, two_tasks
from bench.common import median, note, table, title

# Run in each tree (its own code): database, model and people; prints the people.
_SETUP = """
import json, sys
from pathlib import Path
from bench import common, two_tasks
url, work = sys.argv[1], Path(sys.argv[2])
svc = common.make_service(url, work)
two_tasks.publish(svc, work)
maria, ana = common.client_pairs(svc, 1, 200_000)[0]
svc.unit.db.dispose()
print(json.dumps([[p.id, p.cpf, sorted(p.roles), p.token] for p in (maria, ana)]))
"""


def _setup(tree: Path, url: str, work: Path) -> tuple[common.Person, common.Person]:
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _SETUP, url, str(work)],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"preparação em {tree} falhou:\n{done.stderr[-2000:]}")
    people = json.loads(done.stdout.strip().splitlines()[-1])
    maria, ana = (common.Person(i, cpf, frozenset(roles), token) for i, cpf, roles, token in people)
    return maria, ana


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="commit de comparação (git rev)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per", type=int, default=40, help="instâncias por rodada")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    base_rev = common.git("rev-parse", "--short", args.base)
    here_rev = common.git("rev-parse", "--short", "HEAD")
    title(f"Comparação: {here_rev} (este checkout) contra {base_rev}")
    with common.workdir("compare") as work:
        with (
            common.worktree(base_rev, work / "tree-base") as base_tree,
            common.TempDatabase(args.backend, work) as db_base,
            common.TempDatabase(args.backend, work) as db_here,
        ):
            trees = {"base": base_tree, "este": common.ROOT}
            urls = {"base": db_base.url, "este": db_here.url}
            samples = _measure(trees, urls, work, args.rounds, args.per)
    differences = [h - b for b, h in zip(samples["base"], samples["este"], strict=True)]
    base_ms, here_ms = median(samples["base"]), median(samples["este"])
    table(
        ["versão", "CPU ms/instância (mediana)", "rodadas"],
        [
            [name, f"{median(values):.2f}", ", ".join(f"{v:.1f}" for v in values)]
            for name, values in samples.items()
        ],
    )
    diff = median(differences)
    note(
        f"diferença por rodada (este − base): mediana {diff:+.2f} ms ({diff / base_ms:+.1%}), "
        f"de {min(differences):+.2f} a {max(differences):+.2f} ms; "
        f"medianas {here_ms:.2f} contra {base_ms:.2f} ms ({here_ms / base_ms:.3f}×)"
    )
    result = {
        "base": base_rev,
        "head": here_rev,
        "backend": args.backend,
        "samples": samples,
        "median_difference_ms": diff,
    }
    common.save_results("compare", result)
    return result


def _measure(
    trees: dict[str, Path], urls: dict[str, str], work: Path, rounds: int, per: int
) -> dict[str, list[float]]:
    people = {name: _setup(tree, urls[name], work / f"data-{name}") for name, tree in trees.items()}
    servers = {
        name: common.Server(urls[name], work / f"{name}-server", workers=1, root=tree)
        for name, tree in trees.items()
    }
    for server in servers.values():
        server.instance_dir.mkdir()
        server.start()
    try:
        apis = {name: common.ApiClient(server.port) for name, server in servers.items()}
        for name, api in apis.items():  # warm-up: specs parsed, caches filled
            for _ in range(15):
                two_tasks.api_instance(api, *people[name])
        samples: dict[str, list[float]] = {name: [] for name in trees}
        names = list(trees)
        for round_ in range(rounds):
            for name in names if round_ % 2 == 0 else names[::-1]:
                server, api = servers[name], apis[name]
                before = server.cpu()
                for _ in range(per):
                    two_tasks.api_instance(api, *people[name])
                samples[name].append((server.cpu() - before) / per * 1000)
        return samples
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The LGPD inventory (data/lgpd_inventory.json) as the README's table.

The JSON file is the inventory; README's "Dados pessoais (LGPD)" section holds this
script's output between its markers, and tests/test_lgpd_inventory.py fails when they
differ, or when a column that looks personal has no entry. After editing the JSON:

    python3 scripts/lgpd_inventory.py --write     # rewrites README's table
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "data" / "lgpd_inventory.json"
README = ROOT / "README.md"
BEGIN = "<!-- lgpd-inventario:inicio (gerado por scripts/lgpd_inventory.py) -->"
END = "<!-- lgpd-inventario:fim -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(entries: list[dict[str, object]]) -> str:
    personal = [e for e in entries if e.get("pessoal")]
    other = [e for e in entries if not e.get("pessoal")]
    lines = [
        "| Onde | Dado | Finalidade | Base legal | Quem vê | Por quanto tempo |",
        "|---|---|---|---|---|---|",
    ]
    for e in personal:
        cells = [f"`{e['onde']}`"] + [
            _cell(str(e[k])) for k in ("dado", "finalidade", "base_legal", "quem_ve", "retencao")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Colunas de texto que não guardam dados pessoais (verificadas pelo mesmo teste): "
        + "; ".join(f"`{e['onde']}` ({_cell(str(e['motivo'])).lower()})" for e in other)
        + "."
    )
    return "\n".join(lines)


def block() -> str:
    entries = json.loads(INVENTORY.read_text("utf-8"))
    return f"{BEGIN}\n{render(entries)}\n{END}"


def readme_block(text: str) -> str | None:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        return None
    return text[start : end + len(END)]


def main(argv: list[str]) -> int:
    fresh = block()
    if "--write" in argv:
        text = README.read_text("utf-8")
        current = readme_block(text)
        if current is None:
            print("README sem os marcadores do inventário", file=sys.stderr)
            return 1
        README.write_text(text.replace(current, fresh), "utf-8")
        return 0
    print(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""The public corpus's run (corpus/report.json, written by tests/test_corpus.py) as
README's "Corpus público" section.

README holds this script's output between its markers; tests/test_corpus.py fails when
they differ. After the corpus run changed (``CORPUS_WRITE=1 pytest tests/test_corpus.py``):

    python3 scripts/corpus_report.py --write     # rewrites README's section
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "corpus" / "report.json"
README = ROOT / "README.md"
BEGIN = "<!-- corpus:inicio (gerado por scripts/corpus_report.py de corpus/report.json) -->"
END = "<!-- corpus:fim -->"

_RUN = {
    "ran_to_end": "até o fim",
    "incident": "incidente técnico",
    "stuck": "parado",
    "not_started": "não iniciou",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def render(report: dict[str, Any]) -> str:
    c = report["counts"]
    sources = sorted({m["model"].split("/")[0] for m in report["models"]})
    lines = [
        BEGIN,
        f"**{c['models']} models** from {len(sources)} public sources "
        f"({', '.join(f'`{s}`' for s in sources)}; repositories, commits and licences in "
        "[`corpus/SOURCES.md`](corpus/SOURCES.md)), kept byte for byte as published: "
        f"**{c['deployed']} deployed** unchanged by `chamados models deploy`, "
        f"**{c['refused']} refused** (each on its element, in Portuguese; 0 crashes). "
        f"Of the deployed, **{c['ran_to_end']} ran to their end** through the REST API, "
        f"{c['incident']} stopped in a technical incident, {c['stuck']} stuck and "
        f"{c['not_started']} could not be started.",
        "",
        "| Modelo | Implantação | Execução pela API |",
        "|---|---|---|",
    ]
    for m in report["models"]:
        if m["deployed"]:
            run = _RUN[m["run"]]
            if m.get("detail"):
                run += f": {_cell(m['detail'])}"
            lines.append(f"| `{m['model']}` | publicado (`{m['process_id']}`) | {run} |")
        else:
            first = _cell(m["problems"][0])
            more = len(m["problems"]) - 1
            why = f"recusado: {first}" + (f" (e mais {more})" if more else "")
            lines.append(f"| `{m['model']}` | {why} | — |")
    lines.append(END)
    return "\n".join(lines)


def section_of(text: str) -> str | None:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        return None
    return text[start : end + len(END)]


def main(argv: list[str]) -> int:
    fresh = render(json.loads(REPORT.read_text("utf-8")))
    if "--write" in argv:
        text = README.read_text("utf-8")
        current = section_of(text)
        if current is None:
            print("README sem os marcadores do corpus", file=sys.stderr)
            return 1
        README.write_text(text.replace(current, fresh), "utf-8")
        return 0
    print(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

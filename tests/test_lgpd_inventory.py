"""The LGPD inventory covers every column that looks personal, and README shows it."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from sqlalchemy import JSON, Column, Integer, LargeBinary, MetaData, String, Table, Text

from engine.models import Base

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lgpd_inventory", ROOT / "scripts/lgpd_inventory.py")
assert _spec and _spec.loader
inventory_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(inventory_script)

# A name that says the column may hold something about a person.
PERSONAL_NAME = re.compile(
    r"cpf|e_?mail|to_addr|phone|telefone|name|nome|descri|comment|coment|answer|resposta"
    r"|^data$|draft|details|message|mensagem|body|subject|assunto|user_agent|filename"
    r"|^content$|outcome|summary|note|^state$|_state$|subject_id|reliability"
    # Who did something, kept as text (a CPF), not as a user id.
    r"|_by$",
    re.IGNORECASE,
)
_REQUIRED = ("dado", "finalidade", "base_legal", "quem_ve", "retencao")


def looks_personal(metadata: MetaData) -> set[str]:
    """Every column named like personal data, and every free-text or JSON column."""
    found = set()
    for table in metadata.sorted_tables:
        for column in table.columns:
            free = isinstance(column.type, Text | JSON | LargeBinary)
            if free or PERSONAL_NAME.search(column.name):
                found.add(f"{table.name}.{column.name}")
    return found


def entries() -> list[dict[str, object]]:
    return json.loads((ROOT / "data" / "lgpd_inventory.json").read_text("utf-8"))


def test_every_column_that_looks_personal_has_an_entry() -> None:
    listed = {str(e["onde"]) for e in entries()}
    missing = sorted(looks_personal(Base.metadata) - listed)
    assert missing == [], f"sem entrada em data/lgpd_inventory.json: {missing}"


def test_the_check_fails_for_a_new_personal_column() -> None:
    planted = MetaData()
    Table("pesquisas", planted, Column("id", Integer, primary_key=True), Column("cpf", String))
    Table("avaliacoes", planted, Column("id", Integer, primary_key=True), Column("x", JSON))
    listed = {str(e["onde"]) for e in entries()}
    assert looks_personal(planted) - listed == {"pesquisas.cpf", "avaliacoes.x"}


def test_entries_are_complete_and_name_real_columns() -> None:
    columns = {f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.columns}
    for entry in entries():
        where = str(entry["onde"])
        if "." in where and not where.startswith(("arquivo:", "logs")):
            assert where in columns, f"{where}: coluna inexistente"
        if entry["pessoal"]:
            assert all(str(entry.get(k, "")).strip() for k in _REQUIRED), where
        else:
            assert str(entry.get("motivo", "")).strip(), where


def test_readme_shows_the_inventory() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "## Dados pessoais (LGPD)" in readme
    assert inventory_script.readme_block(readme) == inventory_script.block(), (
        "README desatualizado: rode python3 scripts/lgpd_inventory.py --write"
    )
